"""OpenAIBackend and CachedBackend against a real local HTTP server (tests/fake_openai_server.py); no network."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from mmedtui.agents import cache as cache_mod
from mmedtui.agents import openai_backend as ob
from mmedtui.agents.base import Generation, Prompt, Sampling
from mmedtui.agents.cache import CachedBackend, cache_key, cacheable
from mmedtui.agents.openai_backend import OpenAIBackend
from mmedtui.errors import ConfigError
from support.fake_openai import FakeOpenAI

KEY_ENV = "MMEDTUI_TEST_API_KEY"
SECRET = "sk-test-PLANTED-0123456789abcdef"
ANSWER = "<think>saw {n} image(s)</think><answer>{text}</answer>"


def make(server: FakeOpenAI, **kw: object) -> OpenAIBackend:
    """A backend with tiny backoff so failure paths take milliseconds; a stall test passes its own short timeout
    (an answering server given 0.3 s read as a timeout on a loaded machine)."""
    opts: dict = {
        "name": "spec",
        "base_url": server.url,
        "model": "fake-vl",
        "timeout": 1.5,
        "max_retries": 2,
        "backoff": 0.01,
        "concurrency": 4,
    }
    opts.update(kw)
    return OpenAIBackend(**opts)


def scan(w: int = 64, h: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> Image.Image:
    return Image.new("RGB", (w, h), color)


def prompt(text: str = "Is there a fracture?", images: tuple[Image.Image, ...] = ()) -> Prompt:
    return Prompt(system="You are a radiologist.", user=text, images=images)


# -- the request -------------------------------------------------------------------------------------------


def test_echo_request_shape_image_and_auth(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    backend = make(fake_openai, api_key_env=KEY_ENV, extra_body={"chat_template_kwargs": {"x": 1}})
    [gen] = backend.generate([prompt(images=(scan(2048, 1024),))], Sampling(max_new_tokens=32, seed=7))
    backend.close()

    assert gen.ok and gen.text == ANSWER.format(n=1, text="Is there a fracture?")
    assert gen.meta["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert gen.meta["tries"] == 1 and gen.meta["latency_s"] >= 0 and gen.meta["finish_reason"] == "stop"

    [req] = fake_openai.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {SECRET}"
    body = req["body"]
    assert body["model"] == "fake-vl" and body["max_tokens"] == 32 and body["seed"] == 7
    assert body["temperature"] == 0.0 and body["top_p"] == 1.0
    assert body["chat_template_kwargs"] == {"x": 1}
    system, user = body["messages"]
    assert system == {"role": "system", "content": "You are a radiologist."}
    # the image first, then the text: the order of the local backend and of the training template
    assert user["role"] == "user" and user["content"][1] == {"type": "text", "text": "Is there a fracture?"}
    url = user["content"][0]["image_url"]["url"]
    assert user["content"][0]["type"] == "image_url" and url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(png))
    img.load()
    assert img.format == "PNG" and img.size == (1024, 512)  # long side shrunk, aspect kept


def test_no_key_no_auth_header_and_no_seed_when_unset(fake_openai: FakeOpenAI) -> None:
    backend = make(fake_openai)
    [gen] = backend.generate([prompt()])
    assert gen.ok and gen.text == ANSWER.format(n=0, text="Is there a fracture?")
    req = fake_openai.requests[0]
    assert "authorization" not in req["headers"] and "seed" not in req["body"]
    assert backend.remote is True


def test_pixel_bounds_send_the_qwen_processor_size(fake_openai: FakeOpenAI) -> None:
    """With a served Qwen-VL model's bounds the image goes out at the size its processor would resize to."""
    backend = make(fake_openai, min_pixels=12544, max_pixels=50176)
    backend.generate([prompt(images=(scan(2048, 1536).convert("L"),))])
    backend.close()
    url = fake_openai.requests[0]["body"]["messages"][1]["content"][0]["image_url"]["url"]
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.format == "PNG" and img.size == (252, 168) and img.mode == "RGB"
    assert "pixels=(12544, 50176)" in backend.cache_identity  # a cached answer was for this size


@pytest.mark.parametrize("bounds", [{"min_pixels": 100}, {"max_pixels": 100}, {"min_pixels": 200, "max_pixels": 100}])
def test_pixel_bounds_go_together(bounds: dict) -> None:
    with pytest.raises(ConfigError, match="min_pixels"):
        OpenAIBackend(name="x", base_url="http://127.0.0.1:9/v1", model="m", **bounds)


def test_missing_key_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV):
        OpenAIBackend(name="x", base_url="http://127.0.0.1:9/v1", model="m", api_key_env=KEY_ENV)
    monkeypatch.setenv(KEY_ENV, "")
    with pytest.raises(ConfigError, match="unset or empty"):
        OpenAIBackend(name="x", base_url="http://127.0.0.1:9/v1", model="m", api_key_env=KEY_ENV)


def test_bad_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        OpenAIBackend(name="x", base_url="127.0.0.1:8000", model="m")
    with pytest.raises(ConfigError):
        OpenAIBackend(name="x", base_url="http://h/v1", model="m", concurrency=0)


# -- batching ----------------------------------------------------------------------------------------------


def test_order_kept_and_concurrency_bounded(fake_openai: FakeOpenAI) -> None:
    fake_openai.delay_s = 0.05  # long enough that requests overlap
    backend = make(fake_openai, concurrency=3)
    texts = [f"question {i}" for i in range(12)]
    gens = backend.generate([prompt(t) for t in texts])
    assert [g.text for g in gens] == [ANSWER.format(n=0, text=t) for t in texts]
    assert len(fake_openai.requests) == 12
    assert 2 <= fake_openai.max_active <= 3
    assert backend.generate([]) == []


# -- retries and failures ----------------------------------------------------------------------------------


def test_500_then_ok_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "500-then-ok"
    [gen] = make(fake_openai).generate([prompt()])
    assert gen.ok and gen.meta["tries"] == 2 and len(fake_openai.requests) == 2


def test_always_500_gives_up_after_bounded_tries(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "always-500"
    [gen] = make(fake_openai, max_retries=2).generate([prompt()])
    assert gen.text == "" and gen.error == "HTTP 500 after 3 tries"
    assert len(fake_openai.requests) == 3


def test_429_honours_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "429-then-ok"
    start = time.monotonic()
    [gen] = make(fake_openai, backoff=5.0).generate([prompt()])  # backoff alone would wait 5+ s
    assert gen.ok and len(fake_openai.requests) == 2
    assert time.monotonic() - start < 2.0


def test_retry_after_is_capped(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ob, "MAX_RETRY_AFTER", 0.05)
    fake_openai.mode, fake_openai.retry_after = "429-then-ok", "3600"
    start = time.monotonic()
    [gen] = make(fake_openai).generate([prompt()])
    assert gen.ok and time.monotonic() - start < 2.0


def test_stall_times_out_with_a_short_reason(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "stall"
    start = time.monotonic()
    [gen] = make(fake_openai, timeout=0.2, max_retries=1).generate([prompt()])
    assert gen.error == "timeout after 2 tries" and gen.text == ""
    assert len(fake_openai.requests) == 2 and time.monotonic() - start < 2.0


def test_connection_refused() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(
        name="x", base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout=0.3, max_retries=1, backoff=0.01
    )
    [gen] = backend.generate([prompt()])
    assert gen.error == "connection error after 2 tries"


def test_400_is_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "400"
    [gen] = make(fake_openai).generate([prompt()])
    assert gen.error == "HTTP 400: bad request: unknown field"
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("malformed", "malformed response"),
        ("no-choices", "malformed response"),
        ("empty", "empty answer"),
    ],
)
def test_bad_bodies_are_in_band_errors(fake_openai: FakeOpenAI, mode: str, error: str) -> None:
    fake_openai.mode = mode
    gens = make(fake_openai).generate([prompt("a"), prompt("b")])
    assert [(g.text, g.error) for g in gens] == [("", error), ("", error)]
    assert len(fake_openai.requests) == 2  # not retried: the server answered, just badly


def test_one_bad_item_does_not_sink_the_batch(fake_openai: FakeOpenAI) -> None:
    class Broken:  # not an image: encoding fails for this prompt only
        mode = "RGB"
        size = (1, 1)

        def save(self, *a: object, **k: object) -> None:
            raise OSError("cannot encode")

    gens = make(fake_openai).generate([prompt("fine"), prompt("bad", images=(Broken(),))])  # type: ignore[arg-type]
    assert gens[0].ok and gens[1].error == "OSError: cannot encode"


# -- secrets -----------------------------------------------------------------------------------------------


def test_api_key_never_leaks(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, SECRET)
    backend = make(fake_openai, api_key_env=KEY_ENV, timeout=0.2, max_retries=1)
    cached = CachedBackend(backend, tmp_path)
    outputs: list[Generation] = []
    for mode in ["echo", "400-leaky", "always-500", "stall", "malformed", "empty"]:
        fake_openai.mode = mode
        outputs += cached.generate([prompt(f"q {mode}")])
    assert any(g.ok for g in outputs) and any("***" in (g.error or "") for g in outputs)  # leaky one scrubbed
    assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in fake_openai.requests)

    seen = [repr(backend), str(backend), repr(cached), caplog.text]
    seen += [f"{g.text}|{g.error}|{json.dumps(g.meta)}|{g!r}" for g in outputs]
    seen += [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    for text in seen:
        assert SECRET not in text and SECRET[-12:] not in text
    assert KEY_ENV in repr(backend)  # the variable's name is fine to show


# -- the response cache ------------------------------------------------------------------------------------


def test_cache_second_run_makes_no_http_calls(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    prompts = [prompt(f"q{i}", images=(scan(color=(i, i, i)),)) for i in range(5)]
    first = CachedBackend(make(fake_openai), tmp_path)
    gens1 = first.generate(prompts)
    assert (first.hits, first.misses) == (0, 5) and len(fake_openai.requests) == 5
    assert first.remote is True and first.name == "spec"

    second = CachedBackend(make(fake_openai), tmp_path)  # a fresh process would look like this
    gens2 = second.generate(prompts)
    assert (second.hits, second.misses) == (5, 0) and len(fake_openai.requests) == 5
    assert [g.text for g in gens2] == [g.text for g in gens1]
    assert all(g.ok and g.meta["cached"] for g in gens2)

    # A mixed batch: hits come from disk, the misses go out together, order is kept.
    mixed = [prompts[0], prompt("new one"), prompts[3]]
    gens3 = second.generate(mixed)
    assert [g.text for g in gens3] == [gens1[0].text, ANSWER.format(n=0, text="new one"), gens1[3].text]
    assert (second.hits, second.misses) == (7, 1) and len(fake_openai.requests) == 6


def test_cache_files_layout_and_atomic_writes(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    cached = CachedBackend(make(fake_openai), tmp_path)
    cached.generate([prompt("a"), prompt("b")])
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert len(files) == 2
    for f in files:
        assert f.suffix == ".json" and len(f.stem) == 64 and f.parent.name == f.stem[:2]
        assert json.loads(f.read_text())["text"].startswith("<think>")
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_cache_write_failure_leaves_no_temp_and_keeps_answer(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.os, "replace", fail)
    [gen] = CachedBackend(make(fake_openai), tmp_path).generate([prompt()])
    assert gen.ok
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_errors_are_not_cached(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    cached = CachedBackend(make(fake_openai, max_retries=0), tmp_path)
    fake_openai.mode = "always-500"
    [bad] = cached.generate([prompt()])
    assert not bad.ok and not list(tmp_path.rglob("*.json"))
    fake_openai.mode = "echo"
    [good] = cached.generate([prompt()])
    assert good.ok and cached.misses == 2 and len(list(tmp_path.rglob("*.json"))) == 1


def test_unseeded_sampling_is_not_cached(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    cached = CachedBackend(make(fake_openai), tmp_path)
    hot = Sampling(temperature=0.7)
    assert not cacheable(hot) and cacheable(Sampling()) and cacheable(Sampling(temperature=0.7, seed=1))
    cached.generate([prompt()], hot)
    cached.generate([prompt()], hot)
    assert len(fake_openai.requests) == 2 and cached.bypassed == 2 and not list(tmp_path.rglob("*.json"))

    seeded = Sampling(temperature=0.7, seed=1)
    cached.generate([prompt()], seeded)
    cached.generate([prompt()], seeded)
    assert len(fake_openai.requests) == 3 and cached.hits == 1


def test_cache_key_covers_every_input() -> None:
    base = cache_key("id", prompt(images=(scan(),)), Sampling())
    assert base == cache_key("id", prompt(images=(scan(),)), Sampling())  # equal pixels, equal key
    variants = [
        cache_key("other", prompt(images=(scan(),)), Sampling()),
        cache_key("id", Prompt("other system", "Is there a fracture?", (scan(),)), Sampling()),
        cache_key("id", prompt("other question", images=(scan(),)), Sampling()),
        cache_key("id", prompt(images=(scan(color=(0, 0, 0)),)), Sampling()),
        cache_key("id", prompt(images=(scan(), scan())), Sampling()),
        cache_key("id", prompt(images=(scan(),)), Sampling(max_new_tokens=7)),
        cache_key("id", prompt(images=(scan(),)), Sampling(seed=1)),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_damaged_cache_entry_is_a_miss(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    cached = CachedBackend(make(fake_openai), tmp_path)
    cached.generate([prompt()])
    [entry] = tmp_path.rglob("*.json")
    entry.write_text("{trunc")
    [gen] = cached.generate([prompt()])
    assert gen.ok and cached.misses == 2 and json.loads(entry.read_text())["text"] == gen.text


def test_backend_identity_separates_servers_and_models(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    a = CachedBackend(make(fake_openai, model="m1"), tmp_path)
    b = CachedBackend(make(fake_openai, model="m2"), tmp_path)
    a.generate([prompt()])
    b.generate([prompt()])
    assert b.misses == 1 and len(fake_openai.requests) == 2
    assert os.fspath(tmp_path) in repr(a)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_returned_apart_is_put_back_as_think(field: str) -> None:
    """Servers with a reasoning parser (transformers serve, vLLM) return the <think> text apart from the answer."""
    backend = OpenAIBackend(name="t", base_url="http://127.0.0.1:9/v1", model="m")
    message = {"role": "assistant", "content": "<answer>yes</answer>", field: "An axial CT of the chest."}
    resp = httpx.Response(200, json={"choices": [{"index": 0, "message": message}]})
    gen = backend._parse(resp, {})
    backend.close()
    assert gen.ok and gen.text == "<think>An axial CT of the chest.</think><answer>yes</answer>"


@pytest.mark.parametrize(
    ("content", "finish", "text"),
    [
        (None, "length", "<think>An axial axial axial"),  # cut off inside the reasoning: kept open, as written
        ("", "length", "<think>An axial axial axial"),
        (None, "stop", "<think>An axial axial axial</think>"),  # reasoned, then stopped without an answer
    ],
)
def test_a_reply_that_is_all_reasoning_is_the_reasoning_not_an_empty_answer(content, finish, text) -> None:
    """What the local backend returns for the same tokens, so the parser sees the same text in both."""
    backend = OpenAIBackend(name="t", base_url="http://127.0.0.1:9/v1", model="m")
    message = {"role": "assistant", "content": content, "reasoning_content": "An axial axial axial"}
    gen = backend._parse(httpx.Response(200, json={"choices": [{"message": message, "finish_reason": finish}]}), {})
    backend.close()
    assert gen.ok and gen.text == text


def test_a_reply_with_neither_answer_nor_reasoning_is_an_empty_answer() -> None:
    backend = OpenAIBackend(name="t", base_url="http://127.0.0.1:9/v1", model="m")
    message = {"role": "assistant", "content": None, "reasoning_content": "  "}
    gen = backend._parse(httpx.Response(200, json={"choices": [{"message": message}]}), {})
    backend.close()
    assert not gen.ok and gen.error == "empty answer"


def test_reasoning_inside_content_is_not_doubled() -> None:
    backend = OpenAIBackend(name="t", base_url="http://127.0.0.1:9/v1", model="m")
    message = {"content": "<think>own</think><answer>no</answer>", "reasoning_content": "apart"}
    gen = backend._parse(httpx.Response(200, json={"choices": [{"message": message}]}), {})
    backend.close()
    assert gen.text == "<think>own</think><answer>no</answer>"
