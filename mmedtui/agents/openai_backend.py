"""A backend for any OpenAI-compatible chat endpoint: a vLLM or SGLang server, Ollama, or a hosted API.

    OpenAIBackend(name="gpt4o", base_url="https://api.openai.com/v1", model="gpt-4o",
                  api_key_env="OPENAI_API_KEY")
    OpenAIBackend(name="local", base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-VL-7B-Instruct")

Prompts in a batch go out concurrently (bounded), with timeouts and bounded retries. Every failure comes back
in-band as ``Generation(error=...)`` with a short one-line reason; nothing is raised per item.

The API key is read from the environment variable *named* in the config and sent only as the
``Authorization`` header: it never appears in ``repr``, logs, errors or ``Generation.meta``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from PIL import Image

from mmedtui.agents.base import Backend, Generation, Prompt, Sampling
from mmedtui.errors import ConfigError

log = logging.getLogger(__name__)

#: Long side, in pixels, an image is shrunk to before upload (unless min_pixels / max_pixels are set).
MAX_IMAGE_SIDE = 1024
#: Qwen2-VL's image sides are multiples of this: patch 14 x merge 2.
QWEN_FACTOR = 28
#: Longest wait a server's ``Retry-After`` may impose, in seconds (a bench must not stall for minutes).
MAX_RETRY_AFTER = 30.0
#: Longest exponential-backoff wait, in seconds.
MAX_BACKOFF = 30.0
#: Largest answer body read, in bytes (a chat completion is a few KiB; a runaway server must not fill memory).
MAX_RESPONSE_BYTES = 16 * 1024**2


def qwen_size(width: int, height: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) a Qwen2-VL image processor resizes to: sides multiples of ``QWEN_FACTOR``, area within
    [min_pixels, max_pixels], aspect kept (transformers' ``smart_resize``, which the local backend runs)."""
    f = QWEN_FACTOR
    w, h = round(width / f) * f, round(height / f) * f
    if w * h > max_pixels:
        beta = math.sqrt(width * height / max_pixels)
        w, h = max(f, math.floor(width / beta / f) * f), max(f, math.floor(height / beta / f) * f)
    elif w * h < min_pixels:
        beta = math.sqrt(min_pixels / (width * height))
        w, h = math.ceil(width * beta / f) * f, math.ceil(height * beta / f) * f
    return w, h


def image_data_url(image: Image.Image, pixels: tuple[int, int] | None = None) -> str:
    """The image as a ``data:image/png;base64,...`` URL (PNG: lossless, so the server decodes our pixels).

    ``pixels=(min, max)``: resized as a Qwen2-VL processor with those bounds resizes it (RGB, then bicubic to
    ``qwen_size``), so a served Qwen model's processor, finding the size already right, leaves the pixels
    alone and sees exactly what the local backend's does. Else shrunk to at most ``MAX_IMAGE_SIDE`` on its
    long side: a full-resolution scan as base64 PNG runs to many megabytes, which breaks request-size limits
    on many servers and dominates latency, while vision-language models resize to about this size anyway.
    """
    if pixels is not None:
        img = image.convert("RGB")  # as the processor does (do_convert_rgb) before resizing
        size = qwen_size(img.width, img.height, *pixels)
        if size != img.size:
            img = img.resize(size, Image.Resampling.BICUBIC)
    else:
        img = image if image.mode in ("RGB", "L") else image.convert("RGB")
        long_side = max(img.size)
        if long_side > MAX_IMAGE_SIDE:
            scale = MAX_IMAGE_SIDE / long_side
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            img = img.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _with_reasoning(message: dict, content: str, finished: bool = True) -> str:
    """The reply with the reasoning that servers with a reasoning parser (``transformers serve``, vLLM, several
    hosted APIs) return apart, as ``reasoning_content`` or ``reasoning``, put back as ``<think>..</think>``. A
    reply cut off inside its reasoning (``finished`` False: the token budget ran out) keeps it open, as the model
    wrote it."""
    if "<think>" in content.lower():
        return content
    for field in ("reasoning_content", "reasoning"):
        reasoning = message.get(field)
        if isinstance(reasoning, str) and reasoning.strip():
            close = "</think>" if finished or content.strip() else ""
            return f"<think>{reasoning.strip()}{close}{content}"
    return content


def _one_line(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, capped; None if absent or not a number (HTTP dates fall back to backoff)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or seconds != seconds:  # "nan" parses, and would make time.sleep raise
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _token_logprobs(choice: object) -> list[list] | None:
    """``[[token, logprob], ...]`` of the answer's content from an OpenAI-style ``logprobs`` field, else None."""
    try:
        content = choice["logprobs"]["content"]  # type: ignore[index]
        out = [[str(t["token"]), float(t["logprob"])] for t in content]
    except (KeyError, TypeError, ValueError):
        return None
    return out or None


class _TooLarge(Exception):
    """The answer body went over ``MAX_RESPONSE_BYTES``."""


class OpenAIBackend(Backend):
    """Chat completions over HTTP. ``max_retries`` counts retries after the first try (0 = try once)."""

    remote = True

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        concurrency: int = 4,
        extra_body: dict | None = None,
        logprobs: bool = True,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"backend {name!r}: base_url must start with http:// or https://")
        if timeout <= 0 or max_retries < 0 or backoff < 0 or concurrency < 1:
            raise ConfigError(f"backend {name!r}: need timeout > 0, max_retries >= 0, backoff >= 0, concurrency >= 1")
        pixels = None if max_pixels is None or min_pixels is None else (min_pixels, max_pixels)
        if (min_pixels is None) != (max_pixels is None) or (pixels and not 0 < pixels[0] <= pixels[1]):
            raise ConfigError(f"backend {name!r}: min_pixels and max_pixels go together, 0 < min_pixels <= max_pixels")
        headers: dict[str, str] = {}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:  # name the variable, never echo a value
                raise ConfigError(f"backend {name!r}: environment variable {api_key_env} is unset or empty")
            headers["Authorization"] = f"Bearer {key}"
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})
        # A served Qwen-VL model's processor bounds: images go out at the size the local backend would use.
        self.pixels = pixels
        # Token log-probabilities give the answer's probability; off after a server refuses them (see _one).
        self.logprobs = logprobs
        # The key lives only in the client's default headers (no attribute of ours holds it).
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(name={self.name!r}, base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    @property
    def cache_identity(self) -> str:
        """What, besides the prompt and sampling, decides the answer: used by ``CachedBackend`` keys."""
        extra = json.dumps(self.extra_body, sort_keys=True, default=str)
        return f"openai|{self.base_url}|{self.model}|{extra}" + (f"|pixels={self.pixels}" if self.pixels else "")

    def generate(self, prompts: list[Prompt], sampling: Sampling = Sampling()) -> list[Generation]:
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(lambda p: self._safe_one(p, sampling), prompts))  # map keeps order

    def close(self) -> None:
        self._client.close()

    # -- one prompt ---------------------------------------------------------------------------------------

    def _body(self, prompt: Prompt, sampling: Sampling) -> dict:
        # Images before the text, as the local backend and the training template order them: a model served
        # elsewhere then sees the same prompt, and gives the same greedy answer.
        content: list[dict] = [
            {"type": "image_url", "image_url": {"url": image_data_url(im, self.pixels)}} for im in prompt.images
        ]
        content.append({"type": "text", "text": prompt.user})
        body: dict = {
            "model": self.model,
            "messages": [{"role": "system", "content": prompt.system}, {"role": "user", "content": content}],
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if self.logprobs:
            body["logprobs"] = True
        body.update(self.extra_body)  # server-specific knobs (e.g. vLLM's chat_template_kwargs) win
        return body

    def _safe_one(self, prompt: Prompt, sampling: Sampling) -> Generation:
        try:
            return self._one(prompt, sampling)
        except Exception as exc:  # a bug or bad image must cost one item, not the whole batch
            return Generation(text="", error=_one_line(self._scrub(f"{type(exc).__name__}: {exc}")))

    def _one(self, prompt: Prompt, sampling: Sampling) -> Generation:
        body = self._body(prompt, sampling)  # encode images once, outside the retry loop
        start = time.monotonic()
        tries = 1 + self.max_retries
        # Every wait (backoff, a server's Retry-After) fits in timeout x tries: `timeout: 2` means seconds, not a
        # minute of Retry-After sleeps.
        deadline = start + self.timeout * tries
        reason = ""

        def meta(attempt: int) -> dict:
            return {
                "backend": self.name,
                "model": self.model,
                "tries": attempt,
                "latency_s": round(time.monotonic() - start, 3),
            }

        attempt = 0
        while attempt < tries:
            attempt += 1
            wait = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF) * random.uniform(1.0, 1.25)  # jitter
            try:
                resp = self._post(body)
            except _TooLarge:  # a misbehaving server: asking again would only repeat it
                return Generation(text="", error="response too large", meta=meta(attempt))
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError:  # refused, reset, DNS, protocol errors
                reason = "connection error"
            else:
                if resp.status_code == 400 and body.get("logprobs") and "logprob" in resp.text.lower():
                    # A server without log-probabilities: ask again at once without them (a free try), and
                    # never ask this backend for them again.
                    self.logprobs = False
                    body = {k: v for k, v in body.items() if k != "logprobs"}
                    reason, wait, tries = "log-probabilities refused", 0.0, tries + 1
                elif resp.status_code == 429 or resp.status_code >= 500:
                    reason = "rate limited (HTTP 429)" if resp.status_code == 429 else f"HTTP {resp.status_code}"
                    retry_after = _retry_after(resp.headers.get("Retry-After"))  # sent with 429 and 503
                    wait = wait if retry_after is None else retry_after
                elif resp.status_code >= 300:  # our request or URL is wrong: retrying cannot help
                    return Generation(text="", error=self._http_error(resp), meta=meta(attempt))
                else:
                    return self._parse(resp, meta(attempt))
            if attempt < tries:
                log.debug("backend %s: %s on try %d, retrying in %.2fs", self.name, reason, attempt, wait)
                left = deadline - time.monotonic()
                if left <= 0:
                    return Generation(
                        text="",
                        error=f"{reason}; gave up after {attempt} of {tries} tries (time "
                        f"budget {self.timeout * tries:g} s)",
                        meta=meta(attempt),
                    )
                time.sleep(min(wait, left))
        return Generation(text="", error=f"{reason} after {tries} {'try' if tries == 1 else 'tries'}", meta=meta(tries))

    def _post(self, body: dict) -> httpx.Response:
        """POST and read the whole answer. httpx's timeout bounds each wait for bytes; this also bounds the
        whole try, so a server that trickles its answer a byte at a time cannot hold a bench for ever."""
        deadline = time.monotonic() + self.timeout
        with self._client.stream("POST", "/chat/completions", json=body) as resp:
            data = bytearray()
            for chunk in resp.iter_bytes():  # decoded bytes: a gzip bomb counts at its unpacked size
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    raise _TooLarge
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("answer not complete within the timeout", request=resp.request)
            # Already decoded: keep the headers that matter (Retry-After, the charset), not the encodings.
            headers = [
                (k, v)
                for k, v in resp.headers.multi_items()
                if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
            ]
            return httpx.Response(resp.status_code, headers=headers, content=bytes(data), request=resp.request)

    def _parse(self, resp: httpx.Response, meta: dict) -> Generation:
        try:
            data = resp.json()
            choice = data["choices"][0]
            message = choice["message"]
            content = message["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return Generation(text="", error="malformed response", meta=meta)
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        if content is None:  # a reply that is all reasoning (cut off inside it) has no content at all
            content = ""
        finished = not (isinstance(choice, dict) and choice.get("finish_reason") == "length")
        content = _with_reasoning(message, content, finished) if isinstance(content, str) else content
        if not isinstance(content, str) or not content.strip():
            return Generation(text="", error="empty answer", meta=meta)
        usage = data.get("usage") if isinstance(data, dict) else None
        if isinstance(usage, dict):
            meta["usage"] = {k: v for k, v in usage.items() if isinstance(v, int)}
        if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
            meta["finish_reason"] = choice["finish_reason"]
        tokens = _token_logprobs(choice)
        if tokens:
            meta["token_logprobs"] = tokens
        return Generation(text=content, meta=meta)

    def _http_error(self, resp: httpx.Response) -> str:
        try:
            detail = resp.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = resp.text
        return _one_line(self._scrub(f"HTTP {resp.status_code}: {detail}"))  # scrub before cutting

    def _scrub(self, text: str) -> str:
        """Remove the key from text that came from elsewhere (a server may echo request headers)."""
        key = self._client.headers.get("Authorization", "").removeprefix("Bearer ")
        return text.replace(key, "***") if key else text
