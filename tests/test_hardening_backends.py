"""Hardening: every way a remote specialist can fail becomes a failed opinion, in every view, and the run goes on.

One local server (``ModeServer``, tests/support/mode_server.py) answers each request according to the
``model`` it names, so one panel file can hold a specialist per failure shape. Triage and attending are scripted.
Tiny timeouts, retries and backoff keep every failure path in the milliseconds.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from mmedtui.agents import openai_backend as ob
from mmedtui.agents.base import Prompt
from mmedtui.agents.openai_backend import OpenAIBackend
from mmedtui.agents.panel import load_panel
from mmedtui.bench import run_bench
from mmedtui.bench.runner import BenchConfig
from mmedtui.bench.systems import load_bench_panel
from mmedtui.consult import Case, Pipeline
from support.bench import write_vqa_rad
from support.cli import run_cli
from support.fake_openai import completion_body
from support.mode_server import OK, TRIES, panel_dict, write_panel

#: mode -> the opinion's error (None: a real answer). "backend" failures count as failed items in the bench;
#: the "garbage" ones ("empty answer": the model answered, with nothing usable) count as wrong answers.
EXPECTED = {
    "ok": None,
    "always-500": f"HTTP 500 after {TRIES} tries",
    "always-429": f"rate limited (HTTP 429) after {TRIES} tries",
    "stall": f"timeout after {TRIES} tries",
    "refused": f"connection error after {TRIES} tries",
    "400": "HTTP 400: bad request: unknown field",
    "malformed": "malformed response",
    "html": "malformed response",
    "no-choices": "malformed response",
    "choices-empty": "malformed response",
    "json-list": "malformed response",
    "empty": "empty answer",
    "null-content": "empty answer",
    "bad-parts": "empty answer",
    "think-only": "empty answer",
}
GARBAGE = {"empty", "null-content", "bad-parts", "think-only"}
FAILING = [m for m, e in EXPECTED.items() if e is not None]


# -- (a) the pipeline ----------------------------------------------------------------------------------------


def test_every_failure_shape_is_a_failed_opinion_and_the_attending_proceeds(mode_server, tmp_path, scan_image):
    panel = load_panel(write_panel(tmp_path / "panel.yaml", mode_server.url, EXPECTED))
    events = []
    try:
        record = Pipeline(panel).run([Case(scan_image, "Is there a lesion?")], emit=events.append)[0]
        attending_prompt = panel.backend("attending").calls[0].user
    finally:
        panel.close()
    assert {o.name.removeprefix("Spec "): o.error for o in record.specialists} == EXPECTED
    ok = record.specialists[0]
    assert (ok.answer, ok.reasoning) == ("yes", "looked at it")
    for o in record.specialists[1:]:
        assert o.answer == "" and "\n" not in o.error and len(o.error) <= 120
    failed = {e.name for e in events if e.step == "specialist" and e.status == "failed"}
    assert failed == {f"Spec {m}" for m in FAILING}
    # The attending still decides, on the one usable opinion, and follows it.
    assert record.attending.error is None and record.attending.answer == "yes"
    assert record.attending.followed == ["Spec ok"] and record.attending.overruled == []
    assert "Spec ok" in attending_prompt and not any(f"Spec {m}" in attending_prompt for m in FAILING)
    # Retries are bounded: retryable failures were tried exactly TRIES times, the rest once.
    for mode in ("always-500", "always-429", "stall"):
        assert mode_server.per_model[mode] == TRIES, mode
    for mode in ("400", "malformed", "html", "no-choices", "empty", "null-content", "think-only"):
        assert mode_server.per_model[mode] == 1, mode


def test_a_panel_where_every_specialist_fails_still_reaches_a_decision(mode_server, tmp_path, scan_image):
    panel = load_panel(write_panel(tmp_path / "panel.yaml", mode_server.url, ["always-500", "malformed", "refused"]))
    try:
        record = Pipeline(panel).run([Case(scan_image, "Is there a lesion?")])[0]
        prompt = panel.backend("attending").calls[0].user
    finally:
        panel.close()
    assert all(o.error for o in record.specialists)
    assert "no specialist opinion is available" in prompt
    assert record.attending.answer == "yes" and record.attending.followed == record.attending.overruled == []


def test_a_batch_keeps_going_when_one_case_s_image_cannot_be_encoded(mode_server, tmp_path, scan_image):
    class Broken:  # not an image: encoding fails for this case's prompt only
        mode, size, width, height = "RGB", (1, 1), 1, 1

        def save(self, *a, **k):
            raise OSError("cannot encode")

    panel = load_panel(write_panel(tmp_path / "panel.yaml", mode_server.url, ["ok"]))
    try:
        records = Pipeline(panel).run([Case(scan_image, "q1?"), Case(Broken(), "q2?"), Case(scan_image, "q3?")])
    finally:
        panel.close()
    assert [r.specialists[0].error for r in records] == [None, "OSError: cannot encode", None]
    assert all(r.attending.answer == "yes" for r in records)


def test_a_failing_triage_falls_back_says_why_and_the_panel_still_runs(
    mode_server, tmp_path, scan_image, capsys, monkeypatch
):
    scan_image.save(tmp_path / "scan.png")
    panel_path = write_panel(tmp_path / "panel.yaml", mode_server.url, ["ok"], triage="always-500")
    code, out, err = run_cli(
        capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), "--json", "--agents", str(panel_path)
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["triage"] == {
        "department": "Radiologist",
        "rationale": "",
        "fallback": "default",
        "error": f"HTTP 500 after {TRIES} tries",
    }
    assert [s["answer"] for s in record["specialists"]] == ["yes"] and record["attending"]["answer"] == "yes"
    code, out, err = run_cli(
        capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), "--plain", "--agents", str(panel_path)
    )
    assert code == 0 and f"failed: HTTP 500 after {TRIES} tries" in out and "(fallback)" in out


# -- retries, Retry-After and deadlines at the backend -------------------------------------------------------


class _Clock:
    """Stands in for the backend module's ``time``: records the waits instead of sleeping them, and lets the
    clock run on by as much."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic() + sum(self.waits)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize(
    "retry_after, expected",
    [
        ("2", 2.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("3600", ob.MAX_RETRY_AFTER),
        ("1e999", ob.MAX_RETRY_AFTER),
        ("nan", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("", None),
    ],
)
def test_429_waits_as_told_within_bounds_and_then_succeeds(mode_server, monkeypatch, retry_after, expected):
    clock = _Clock()
    monkeypatch.setattr(ob, "time", clock)
    mode_server.retry_after = retry_after
    backend = OpenAIBackend(
        name="x", base_url=mode_server.url, model="429-then-ok", timeout=20, max_retries=2, backoff=0.25
    )
    [gen] = backend.generate([Prompt("s", "u")])
    backend.close()
    assert gen.ok and gen.meta["tries"] == 2, gen
    [wait] = clock.waits
    if expected is None:  # no usable Retry-After: exponential backoff with jitter
        assert 0.25 <= wait <= 0.25 * 1.25
    else:
        assert wait == expected


def test_503_with_retry_after_waits_as_told(mode_server, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(ob, "time", clock)
    mode_server.retry_after = "3"
    backend = OpenAIBackend(name="x", base_url=mode_server.url, model="503-then-ok", timeout=5, max_retries=1)
    [gen] = backend.generate([Prompt("s", "u")])
    backend.close()
    assert gen.ok and gen.meta["tries"] == 2 and clock.waits == [3.0]


def test_a_server_that_always_rate_limits_costs_bounded_tries(mode_server, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(ob, "time", clock)
    mode_server.retry_after = "7"
    backend = OpenAIBackend(name="x", base_url=mode_server.url, model="always-429", timeout=10, max_retries=3)
    [gen] = backend.generate([Prompt("s", "u")])
    backend.close()
    assert gen.error == "rate limited (HTTP 429) after 4 tries" and gen.text == ""
    assert mode_server.per_model["always-429"] == 4 and clock.waits == [7.0, 7.0, 7.0]  # no wait after the last try


def test_retry_after_waits_fit_in_timeout_times_tries(mode_server, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(ob, "time", clock)
    mode_server.retry_after = "30"  # the cap a server may ask for; with `timeout: 2` and 3 retries, 8 s in all
    backend = OpenAIBackend(name="x", base_url=mode_server.url, model="always-429", timeout=2, max_retries=3)
    [gen] = backend.generate([Prompt("s", "u")])
    backend.close()
    assert sum(clock.waits) <= 8.0 and len(clock.waits) == 1 and clock.waits[0] > 7.0
    assert gen.error == "rate limited (HTTP 429); gave up after 2 of 4 tries (time budget 8 s)"


class _Trickle(BaseHTTPRequestHandler):
    """Sends a valid answer one byte at a time: never idle long enough to trip a read timeout."""

    payload = completion_body(OK)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        try:
            for i in range(len(self.payload)):
                self.wfile.write(self.payload[i : i + 1])
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the client gave up, as it should

    def log_message(self, *args) -> None:
        pass


class _Gzipped(BaseHTTPRequestHandler):
    """A valid answer, gzip-encoded (as proxies in front of vLLM often send it)."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        payload = gzip.compress(completion_body(OK))
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


def _ask_once(handler: type[BaseHTTPRequestHandler], **kw):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        backend = OpenAIBackend(name="x", base_url=f"http://127.0.0.1:{srv.server_address[1]}/v1", model="m", **kw)
        start = time.monotonic()
        [gen] = backend.generate([Prompt("s", "u")])
        elapsed = time.monotonic() - start
        backend.close()
    finally:
        srv.shutdown()
        srv.server_close()
    return gen, elapsed


def test_a_compressed_answer_is_read_once_and_parsed():
    gen, _ = _ask_once(_Gzipped, timeout=2.0, max_retries=0)
    assert gen.ok and gen.text == OK


def test_the_timeout_bounds_a_whole_try_even_when_the_server_trickles():
    gen, elapsed = _ask_once(_Trickle, timeout=0.3, max_retries=0)
    # The whole answer needs len(payload) * 0.05 s (several seconds); one try may take about twice the timeout.
    assert gen.error == "timeout after 1 try", gen
    assert elapsed < len(_Trickle.payload) * 0.05 / 2


def test_an_oversized_answer_is_refused_not_buffered(mode_server, monkeypatch):
    monkeypatch.setattr(ob, "MAX_RESPONSE_BYTES", 100)  # a normal completion is about 250 bytes
    backend = OpenAIBackend(name="x", base_url=mode_server.url, model="ok", timeout=0.5, max_retries=2)
    [gen] = backend.generate([Prompt("s", "u")])
    backend.close()
    assert gen.error == "response too large" and mode_server.per_model["ok"] == 1  # not retried


# -- (b), (c) the consult command ----------------------------------------------------------------------------


def test_consult_json_reports_each_failure_and_exits_0(mode_server, tmp_path, scan_image, capsys, monkeypatch):
    scan_image.save(tmp_path / "scan.png")
    panel = write_panel(tmp_path / "panel.yaml", mode_server.url, EXPECTED)
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        str(tmp_path / "scan.png"),
        "--json",
        "--agents",
        str(panel),
        "-q",
        "Is there a lesion?",
    )
    assert code == 0, err
    record = json.loads(out)
    assert {s["name"].removeprefix("Spec "): s["error"] for s in record["specialists"]} == EXPECTED
    assert all(s["answer"] == "" for s in record["specialists"] if s["error"])
    assert record["attending"] == {
        "answer": "yes",
        "reasoning": "weighed the panel",
        "followed": ["Spec ok"],
        "overruled": [],
        "error": None,
        "valid": True,
        "invalid": None,
        "probability": None,
        "constrained": False,
    }
    # Only one specialist answered: a failed opinion joins no bloc.
    assert record["agreement"] == f"1/{len(record['specialists'])} say yes"
    assert record["triage"]["department"] == "Radiologist"
    assert "Traceback" not in err


def test_consult_plain_shows_every_failed_opinion(mode_server, tmp_path, scan_image, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one card line per reason, no wrapping
    scan_image.save(tmp_path / "scan.png")
    panel = write_panel(tmp_path / "panel.yaml", mode_server.url, EXPECTED)
    code, out, err = run_cli(
        capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), "--plain", "--agents", str(panel)
    )
    assert code == 0, err
    assert out.count("failed: ") == len(FAILING)
    for mode in FAILING:
        assert f"Spec {mode} - Radiologist" in out
        assert f"failed: {EXPECTED[mode]}" in out, mode
    assert "Attending physician" in out and "Research use only" in out


def test_consult_plain_never_passes_terminal_control_through(mode_server, tmp_path, scan_image, capsys, monkeypatch):
    """Model text and server errors are untrusted: no escape sequence or bidi override reaches the terminal."""
    scan_image.save(tmp_path / "scan[red].png")  # Rich markup in a file name must not break the header either
    data = panel_dict(mode_server.url, ["control", "400"])
    data["attending"] = {"model": "m-control"}
    (tmp_path / "panel.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        str(tmp_path / "scan[red].png"),
        "--plain",
        "--agents",
        str(tmp_path / "panel.yaml"),
        "-q",
        "Is it \x1b[31mred?",
    )
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "scan[red].png" in out and "pwned" in out and "cleared" in out  # shown, defused


TUI_MODES = ["ok", "always-500", "always-429", "malformed", "empty", "refused"]


@pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")  # textual-image 0.12
async def test_the_tui_shows_each_failed_opinion_and_saves_it(mode_server, tmp_path):
    from mmedtui.tui import create_app
    from mmedtui.tui.widgets import DecisionCard, OpinionCard, TriageCard
    from support.tui import plain, settle, synthetic_scan

    panel = load_panel(write_panel(tmp_path / "panel.yaml", mode_server.url, TUI_MODES, triage="always-500"))
    app = create_app(synthetic_scan(), "Is there a lesion?", panel, image_mode="unicode")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            triage = app.cards.query_one(TriageCard)
            assert triage.state == "failed" and "Radiologist" in plain(triage.headline)
            assert f"HTTP 500 after {TRIES} tries" in plain(triage.error)
            cards = list(app.cards.query(OpinionCard))
            assert [c.state for c in cards] == ["done"] + ["failed"] * (len(TUI_MODES) - 1)
            for card, mode in zip(cards[1:], TUI_MODES[1:]):
                assert EXPECTED[mode] in plain(card.error), mode
            verdict = app.cards.query_one(DecisionCard)
            assert verdict.state == "done" and plain(verdict.headline) == "yes"
            md, _ = app.save_transcript(str(tmp_path / "visit.md"))
    finally:
        panel.close()
    text = md.read_text(encoding="utf-8")
    assert text.count("**Failed:**") == len(TUI_MODES)  # the triage and every failed specialist
    assert f"**Failed:** HTTP 500 after {TRIES} tries" in text and "**Answer:** yes" in text


# -- (d) the bench -------------------------------------------------------------------------------------------


BENCH_MODES = ["ok", "always-500", "always-429", "malformed", "refused", "empty", "think-only"]


def test_the_bench_records_each_failure_per_item_and_completes(mode_server, tmp_path):
    root = write_vqa_rad(tmp_path / "data")
    panel_path = write_panel(tmp_path / "panel.yaml", mode_server.url, BENCH_MODES)
    systems = tuple(f"specialist:Spec {m}" for m in BENCH_MODES) + ("majority-vote", "mmedagent-rl")
    out = tmp_path / "run"
    panel, baselines = load_bench_panel(panel_path)
    try:
        report = run_bench(panel, baselines, BenchConfig(root, ("vqa-rad",), systems, chunk_size=2), output=out)
    finally:
        panel.close()
    rows = {r["system"].removeprefix("specialist:Spec "): r for r in report.rows}
    n = 3  # the fixture's yes/no test questions
    for mode in BENCH_MODES:
        failed = rows[mode]["failed"]["mc"]
        if EXPECTED[mode] is None or mode in GARBAGE:
            assert failed == 0, mode
        else:
            assert failed == n and rows[mode]["metrics"]["mc"] == 0.0, mode
    assert rows["think-only"]["unparsed"]["mc"] == n  # a garbage answer is wrong, not failed
    assert rows["majority-vote"]["failed"]["mc"] == 0 and rows["mmedagent-rl"]["failed"]["mc"] == 0

    # Every item of every failing specialist carries its reason in samples.jsonl; the files are all there.
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    for mode in BENCH_MODES:
        mine = [s for s in samples if s["system"] == f"specialist:Spec {mode}"]
        assert len(mine) == n
        if EXPECTED[mode] is not None and mode not in GARBAGE:
            assert all(s["failed"] and s["error"] == EXPECTED[mode] and s["correct"] == {"mc": False} for s in mine)
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {r["system"] for r in doc["results"]} == set(systems)
    assert (out / "results.csv").is_file()

    # Failed units are not kept in the work cache: a rerun asks the failing servers again.
    before = dict(mode_server.per_model)
    panel, baselines = load_bench_panel(panel_path)
    try:
        again = run_bench(panel, baselines, BenchConfig(root, ("vqa-rad",), systems, chunk_size=2), output=out)
    finally:
        panel.close()
    assert mode_server.per_model["always-500"] == before["always-500"] + n * TRIES
    assert again.rows == report.rows


def test_a_bench_retries_items_whose_triage_failed(mode_server, tmp_path):
    """A fallback department after a transient triage failure is not kept in the work cache."""
    root = write_vqa_rad(tmp_path / "data")
    data = panel_dict(mode_server.url, ["ok"], triage="429-then-ok")
    data["models"]["triage"]["max_retries"] = 0  # the first item's triage fails once, on its only try
    (tmp_path / "panel.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    config = BenchConfig(root, ("vqa-rad",), ("mmedagent-rl",), chunk_size=1)
    for _ in range(2):
        panel, baselines = load_bench_panel(tmp_path / "panel.yaml")
        try:
            report = run_bench(panel, baselines, config, output=tmp_path / "run")
        finally:
            panel.close()
    # Run 1: three triage requests (the first one rate limited). Run 2: only the failed item is asked again.
    assert mode_server.per_model["429-then-ok"] == 4
    assert report.tasks[0].computed == 1
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(s["agents"]["triage"]["error"] is None for s in samples)


def test_bench_command_with_failing_specialists_exits_0(mode_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    root = write_vqa_rad(tmp_path / "data")
    panel_path = write_panel(tmp_path / "panel.yaml", mode_server.url, ["ok", "always-500"])
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "bench",
        "--task",
        "vqa-rad",
        "--agents",
        str(panel_path),
        "--data-root",
        str(root),
        "--output",
        str(tmp_path / "run"),
        "--system",
        "specialist:Spec always-500",
        "--system",
        "mmedagent-rl",
    )
    assert code == 0, err
    assert "3 failed" in out
    row = next(
        r
        for r in json.loads((tmp_path / "run" / "results.json").read_text())["results"]
        if r["system"] == "specialist:Spec always-500"
    )
    assert row["failed"] == {"mc": 3}
