"""A fake OpenAI-compatible server whose answer is chosen per request by the ``model`` it names, and panels
with one remote specialist per failure shape pointed at it (so one panel file covers every way a backend fails).
"""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import yaml

from support.fake_openai import FakeOpenAI, completion_body, json_body

OK = "<think>looked at it</think><answer>yes</answer>"
TRIES = 2  # max_retries 1 in every panel below


class ModeServer(FakeOpenAI):
    """The shared fake server, with the behaviour chosen per request by the ``model`` field of its body."""

    def __init__(self) -> None:
        super().__init__()
        self.retry_after = "0"
        self.stall_s = 2.0  # longer than any client timeout below; released at shutdown anyway
        self.per_model: Counter[str] = Counter()

    def _answer(self, n: int, body: dict, headers: dict) -> tuple[int, dict[str, str], bytes]:
        mode = str(body.get("model", "ok"))
        with self._lock:
            k = self.per_model[mode]
            self.per_model[mode] += 1
        failure = self._failure(mode, k == 0, headers)
        if failure is not None:
            return failure
        if mode == "always-429":
            return 429, {"Retry-After": self.retry_after}, json_body({"error": {"message": "slow down"}})
        if mode == "503-then-ok" and k == 0:  # overloaded, back in Retry-After seconds
            return 503, {"Retry-After": self.retry_after}, json_body({"error": {"message": "overloaded"}})
        if mode == "stall":
            self._stop.wait(self.stall_s)
            return 503, {}, b""
        if mode == "html":
            return 200, {}, b"<html><body>502 Bad Gateway</body></html>"
        if mode == "choices-empty":
            return 200, {}, json_body({"choices": []})
        if mode == "json-list":
            return 200, {}, json_body([{"choices": "nope"}])
        if mode == "empty":
            return 200, {}, completion_body("   \n ")
        if mode == "null-content":
            return 200, {}, json_body({"choices": [{"message": {"role": "assistant", "content": None}}]})
        if mode == "bad-parts":  # content parts whose "text" is not a string
            return 200, {}, json_body({"choices": [{"message": {"content": [{"type": "text", "text": None}, 7]}}]})
        if mode == "think-only":
            return 200, {}, completion_body("<think>I cannot decide</think>")
        if mode == "control":  # terminal escapes and bidi overrides in model text and in an error
            return 200, {}, completion_body("<think>\x1b[2Jcleared\u202e</think><answer>\x1b]0;pwned\x07yes</answer>")
        if mode == "echo":
            user = body.get("messages", [{}, {}])[-1].get("content", [])
            text = next((p["text"] for p in user if p.get("type") == "text"), "")
            return 200, {}, completion_body(f"<think>echo</think><answer>{text}</answer>")
        return 200, {}, completion_body(OK)  # "ok", "429-then-ok" after its first answer


def free_port() -> int:
    with socket.socket() as s:  # free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openai_model(url: str, mode: str, **extra) -> dict:
    # Short only where the server stalls: an answered mode given 0.3 s read as a timeout on a loaded machine.
    timeout = 0.3 if "stall" in mode else 1.5
    return {
        "backend": "openai",
        "base_url": url,
        "model": mode,
        "timeout": timeout,
        "max_retries": TRIES - 1,
        "backoff": 0.01,
        **extra,
    }


def panel_dict(
    url: str, modes, *, key_env: str | None = None, remote_roles: bool = False, triage: str | None = None
) -> dict:
    """A panel with one openai specialist per mode ("Spec <mode>"); scripted triage and attending unless
    ``remote_roles`` (then triage echoes and the attending answers "yes" over HTTP too); ``triage`` names a
    mode for a remote triage doctor alone."""
    extra = {"api_key_env": key_env} if key_env else {}
    refused = f"http://127.0.0.1:{free_port()}/v1"
    models = {
        "triage": {"backend": "scripted", "replies": ["<think>CT of the head</think><answer>Radiologist</answer>"]},
        "attending": {"backend": "scripted", "replies": ["<think>weighed the panel</think><answer>yes</answer>"]},
    }
    if remote_roles:
        models["triage"] = openai_model(url, "echo", **extra)
        models["attending"] = openai_model(url, "ok", **extra)
    if triage:
        models["triage"] = openai_model(url, triage, **extra)
    specialists = []
    for mode in modes:
        models[f"m-{mode}"] = openai_model(refused if mode == "refused" else url, mode, **extra)
        specialists.append({"name": f"Spec {mode}", "model": f"m-{mode}", "max_new_tokens": 16})
    return {
        "models": models,
        "triage": {"name": "Triage doctor", "model": "triage"},
        "attending": {"name": "Attending physician", "model": "attending"},
        "specialists": {"default": specialists},
    }


def write_panel(path: Path, url: str, modes, **kw) -> Path:
    path.write_text(yaml.safe_dump(panel_dict(url, modes, **kw), sort_keys=False), encoding="utf-8")
    return path
