"""A real, local OpenAI-compatible chat server for tests: 127.0.0.1, port 0, a daemon thread, no network.

    def test_x(fake_openai):  # the fixture, from tests/conftest.py
        fake_openai.mode = "500-then-ok"
        backend = OpenAIBackend(name="t", base_url=fake_openai.url, model="m")

Modes (set ``server.mode`` before the requests):
- ``echo``          200, ``<think>saw N image(s)</think><answer>{user text}</answer>`` (echoing the text
                     lets tests check order);
- ``500-then-ok``   first request HTTP 500, then ``echo``;
- ``always-500``    every request HTTP 500;
- ``429-then-ok``   first request HTTP 429 with ``Retry-After: {server.retry_after}``, then ``echo``;
- ``stall``         waits ``server.stall_s`` (longer than the client timeout) before answering;
- ``malformed``     200 with a body that is not JSON;
- ``no-choices``    200 with JSON lacking ``choices``;
- ``empty``         200 with empty message content;
- ``400``           HTTP 400 (must not be retried);
- ``400-leaky``     HTTP 400 whose message echoes the request's Authorization header (tests key scrubbing);
- ``reply``         200 with ``server.reply`` as the content, and token log-probabilities when the request
                     asks for them (``server.token_logprobs``: ``[(token, logprob), ...]`` spelling the reply);
- ``no-logprobs``   HTTP 400 "logprobs are not supported" for a request that asks for them, else ``reply``.

Every request is recorded in ``server.requests`` (path, headers, parsed body); ``server.max_active`` is the
most requests seen in flight at once (each answer waits ``server.delay_s`` so overlap is observable).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler must never block interpreter exit

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is expected here, not a test failure


class FakeOpenAI:
    def __init__(self) -> None:
        self.mode = "echo"
        self.retry_after = "0"
        self.stall_s = 5.0
        self.reply = "<think>r</think><answer>yes</answer>"
        self.token_logprobs: list[tuple[str, float]] | None = None
        self.delay_s = 0.0
        self.requests: list[dict] = []
        self.max_active = 0
        self._active = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()  # releases stalled handlers at shutdown
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering -----------------------------------------------------------------------------------------

    def _failure(self, mode: str, first: bool, headers: dict) -> tuple[int, dict[str, str], bytes] | None:
        """The failure shapes both fake servers share (``first``: the mode's first request), else None."""
        if mode == "always-500" or (mode == "500-then-ok" and first):
            return 500, {}, json_body({"error": {"message": "internal error"}})
        if mode == "429-then-ok" and first:
            return 429, {"Retry-After": self.retry_after}, json_body({"error": {"message": "slow down"}})
        if mode == "400":
            return 400, {}, json_body({"error": {"message": "bad request: unknown field"}})
        if mode == "400-leaky":
            return 400, {}, json_body({"error": {"message": f"bad key {headers.get('authorization')}"}})
        if mode == "malformed":
            return 200, {}, b"{not json"
        if mode == "no-choices":
            return 200, {}, json_body({"object": "chat.completion"})
        return None

    def _answer(self, n: int, body: dict, headers: dict) -> tuple[int, dict[str, str], bytes]:
        """Status, extra headers and body bytes for the n-th (0-based) request."""
        mode = self.mode
        failure = self._failure(mode, n == 0, headers)
        if failure is not None:
            return failure
        if mode == "stall" and self._stop.wait(self.stall_s):
            return 503, {}, b""  # shutting down
        if mode == "empty":
            return 200, {}, completion_body("")
        if mode == "no-logprobs" and body.get("logprobs"):
            return 400, {}, json_body({"error": {"message": "logprobs are not supported by this model"}})
        if mode in ("reply", "no-logprobs"):
            tokens = self.token_logprobs if body.get("logprobs") else None
            return 200, {}, completion_body(self.reply, tokens)
        user = body.get("messages", [{}, {}])[-1].get("content", [])
        text = next((p["text"] for p in user if p.get("type") == "text"), "")
        n_images = sum(p.get("type") == "image_url" for p in user)
        return 200, {}, completion_body(f"<think>saw {n_images} image(s)</think><answer>{text}</answer>")


def json_body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def completion_body(content: str, token_logprobs: list[tuple[str, float]] | None = None) -> bytes:
    choice: dict = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    if token_logprobs is not None:  # the OpenAI shape: logprobs.content[] of {token, logprob, bytes, top_logprobs}
        choice["logprobs"] = {
            "content": [
                {"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []} for t, lp in token_logprobs
            ]
        }
    return json_body(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "choices": [choice],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
    )


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            with server._lock:
                n = len(server.requests)
                server.requests.append({"path": self.path, "headers": headers, "body": body})
                server._active += 1
                server.max_active = max(server.max_active, server._active)
            try:
                server._stop.wait(server.delay_s)
                if self.path != "/v1/chat/completions":
                    status, extra, payload = 404, {}, json_body({"error": {"message": "not found"}})
                else:
                    status, extra, payload = server._answer(n, body, headers)
            finally:
                with server._lock:
                    server._active -= 1
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    return Handler
