"""Hardening: untrusted files on disk. Dataset rows that escape the root or are malformed are skipped and counted;
model folders load from safetensors only and run no remote code unless asked; every file we write survives a
crash mid-write (whole old file or whole new file, never a torn one trusted later, no temp files left over).
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
from PIL import Image

from mmedtui import fileio
from mmedtui.agents import cache as cache_mod
from mmedtui.agents.base import Backend, Generation, Prompt, Sampling
from mmedtui.agents.cache import CachedBackend, cache_key
from mmedtui.bench import run_bench
from mmedtui.bench.runner import BenchConfig
from mmedtui.bench.work import WorkCache
from mmedtui.consult import Case, Pipeline
from mmedtui.errors import ConfigError
from mmedtui.tasks import TASKS
from mmedtui.tui import transcript
from support.bench import ROWS, calls, make_panel, write_vqa_rad
from support.panels import scripted_panel

IMAGE_DIR = "VQA_RAD Image Folder"
JSON_NAME = "VQA_RAD Dataset Public.json"


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# -- 4. dataset rows -----------------------------------------------------------------------------------------


def _add_records(root: Path, records: list) -> None:
    path = root / "vqa-rad" / JSON_NAME
    path.write_text(json.dumps(json.loads(path.read_text()) + records), encoding="utf-8")


def _row(qid, image_name, question="Is there a fracture?", answer="yes"):
    return {
        "qid": qid,
        "image_name": image_name,
        "question": question,
        "answer": answer,
        "answer_type": "CLOSED",
        "phrase_type": "test_freeform",
    }


BAD_NAMES = 12


def escaping_rows(tmp_path: Path) -> list[dict]:
    """Twelve image names that leave (or could leave) the image folder, then one odd but harmless name."""
    outside = tmp_path / "outside.jpg"  # a real image, outside the dataset root: still refused
    Image.new("RGB", (8, 8)).save(outside)
    names = [
        "../outside.jpg",
        "../../outside.jpg",
        str(outside),
        "/etc/passwd",
        "..\\..\\outside.jpg",
        "C:\\Windows\\win.ini",
        "c:/x.jpg",
        "\\\\server\\share\\x.jpg",
        "synpic0.jpg\x00.png",
        f"sub/../../{outside.name}",
        "~/../../etc/passwd/../..",
        ".",
    ]
    assert len(names) == BAD_NAMES
    return [_row(100 + i, name) for i, name in enumerate([*names, "..hidden.jpg"])]  # the last: missing, not bad


MALFORMED = [
    "a string, not a record",
    42,
    None,
    ["a", "list"],
    {"qid": 200, "image_name": "synpic0.jpg", "answer": "yes", "phrase_type": "test_freeform"},  # no question
    _row(201, "synpic0.jpg", question=17),  # question not text
    _row(202, "synpic0.jpg", question="   "),  # blank question
    _row(203, "synpic0.jpg", answer=None),  # no answer
    _row(204, "synpic0.jpg", answer=" "),  # blank answer
    {**_row(None, "synpic0.jpg")},  # no qid
    _row(1, "synpic0.jpg", question="Is it a duplicate qid?"),
    _row(205, "synpic999.jpg"),  # image file missing
    _row(206, IMAGE_DIR),  # names a folder (made below), not a file
]
MALFORMED_REASONS = {
    "not a record": 4,
    "missing question": 3,
    "empty answer": 2,
    "missing qid": 1,
    "duplicate qid": 1,
    "image file missing": 2,
}


def test_rows_whose_image_path_leaves_the_dataset_are_refused_and_counted(tmp_path):
    root = write_vqa_rad(tmp_path / "data")
    rows = escaping_rows(tmp_path)
    _add_records(root, rows)
    loaded = TASKS["vqa-rad"].load(root)
    assert len(loaded.items) == len(ROWS)  # the fixture's six good rows, nothing else
    assert loaded.skip_reasons == {"bad image path": BAD_NAMES, "image file missing": 1}
    assert f"skipped {BAD_NAMES} row(s): bad image path" in loaded.notes
    for item in loaded.items:
        [source] = item.image_ref.sources
        assert source.path.resolve().is_relative_to((root / "vqa-rad" / IMAGE_DIR).resolve())


def test_malformed_rows_are_skipped_and_counted_by_reason(tmp_path):
    root = write_vqa_rad(tmp_path / "data")
    (root / "vqa-rad" / IMAGE_DIR / IMAGE_DIR).mkdir()  # a folder where an image is expected
    _add_records(root, MALFORMED)
    loaded = TASKS["vqa-rad"].load(root)
    assert [i.id for i in loaded.items] == [str(i + 1) for i in range(len(ROWS))]
    assert loaded.skip_reasons == MALFORMED_REASONS
    assert loaded.skipped == sum(MALFORMED_REASONS.values())


def test_a_bench_over_bad_rows_and_an_unreadable_image_completes_and_reports(tmp_path):
    root = write_vqa_rad(tmp_path / "data")
    (root / "vqa-rad" / IMAGE_DIR / IMAGE_DIR).mkdir()
    (root / "vqa-rad" / IMAGE_DIR / "synpic0.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    _add_records(root, MALFORMED + escaping_rows(tmp_path))
    panel, baselines = make_panel()
    out = tmp_path / "run"
    report = run_bench(panel, baselines, BenchConfig(root, ("vqa-rad",), ("mmedagent-rl", "majority-vote")), output=out)
    [task] = report.tasks
    assert task.missing is None and task.n_items == len(ROWS)
    rows = {r["system"]: r for r in report.rows}
    assert rows["mmedagent-rl"]["counts"]["mc"] == 3 and rows["mmedagent-rl"]["failed"]["mc"] == 1
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    broken = [s for s in samples if s["id"] == "1"]
    assert broken and all(
        s["failed"] and s["error"].startswith("image: ") and "synpic0.jpg: unsupported" in s["error"] for s in broken
    )
    # The skip counts reach the results file, per reason.
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    notes = doc["tasks"][0]["notes"]
    assert f"skipped {BAD_NAMES} row(s): bad image path" in notes and "skipped 4 row(s): not a record" in notes
    assert "skipped 3 row(s): image file missing" in notes


# -- 5. model folders ----------------------------------------------------------------------------------------


class _Planted:
    """Unpickling this creates a folder: proof that a pickle was loaded (and could have run anything)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_a_pickle_only_checkpoint_is_refused_and_never_unpickled(tiny_model_dir, tmp_path, monkeypatch):
    import torch

    from mmedtui.agents.transformers_backend import TransformersBackend

    folder = _copy_model(tiny_model_dir, tmp_path / "pickle-only model")
    for weights in folder.glob("*.safetensors*"):
        weights.unlink()
    marker = tmp_path / "UNPICKLED"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": _Planted(marker)}))
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a) or pytest.fail("torch.load called"))
    with pytest.raises(ConfigError) as info:
        TransformersBackend(name="t", path=str(folder), device="cpu")
    message = str(info.value)
    assert message.startswith(f"{folder}: cannot load model") and "\n" not in message
    assert not marker.exists() and loads == []


def test_safetensors_win_over_a_pickle_lying_beside_them(tiny_model_dir, tmp_path):
    from mmedtui.agents.transformers_backend import TransformersBackend

    folder = _copy_model(tiny_model_dir, tmp_path / "both")
    marker = tmp_path / "UNPICKLED"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": _Planted(marker)}))
    backend = TransformersBackend(name="t", path=str(folder), device="cpu")
    assert backend.model is not None and not marker.exists()


def test_remote_code_in_a_model_folder_is_not_run(tiny_model_dir, tmp_path):
    from mmedtui.agents.transformers_backend import TransformersBackend

    folder = _copy_model(tiny_model_dir, tmp_path / "remote-code")
    marker = tmp_path / "REMOTE_CODE_RAN"
    (folder / "evil.py").write_text(
        f"import os\nos.mkdir({str(marker)!r})\n"
        "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil_vlm'\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="evil_vlm",
        auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForImageTextToText": "evil.EvilModel"},
    )
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="cannot load model"):
        TransformersBackend(name="t", path=str(folder), device="cpu")
    assert not marker.exists()


class _Recorder:
    """Stands in for a transformers Auto class: records from_pretrained's keyword arguments."""

    calls: list[tuple[str, dict]] = []

    def __init__(self, name: str) -> None:
        self.name = name

    def register(self, *args, **kwargs) -> None:  # the processor registers itself with AutoProcessor once
        pass

    def from_pretrained(self, path, **kwargs):
        self.calls.append((self.name, kwargs))
        return self

    # what TransformersBackend touches on the results
    model_type = "not-qwen"
    tokenizer = property(lambda self: self)
    padding_side = "right"

    def to(self, device):
        return self

    def eval(self):
        return self

    def forward(self, input_ids=None):  # its signature says which inputs the model takes
        return None


@pytest.mark.parametrize(
    "extra, trusted", [({}, False), ({"trust_remote_code": False}, False), ({"trust_remote_code": True}, True)]
)
def test_trust_remote_code_is_off_unless_the_command_line_allows_it(tmp_path, monkeypatch, extra, trusted):
    # Imported (and so registered with AutoProcessor) before the stand-ins replace the Auto classes: imported
    # first under the patch, it would bind the stand-in and leave the real AutoProcessor unregistered for every
    # later test in the process (a tiny model's processor would then load as a bare tokenizer).
    from mmedtui.agents import qwen_processor

    # Looked up after it: in a fresh process that first import replaces the ``transformers`` module in
    # sys.modules, so a module object taken before it would be patched in vain (the backend reads the new one).
    transformers = importlib.import_module("transformers")

    assert qwen_processor.AutoProcessor is transformers.AutoProcessor
    _Recorder.calls = []
    for name in ("AutoConfig", "AutoProcessor", "AutoModelForImageTextToText"):
        monkeypatch.setattr(transformers, name, _Recorder(name))
    (tmp_path / "model").mkdir()
    from mmedtui.agents.panel import parse_panel

    panel = parse_panel(
        {
            "models": {"local": {"backend": "transformers", "path": "model", "device": "cpu", **extra}},
            "triage": {"model": "local"},
            "attending": {"model": "local"},
            "specialists": {"default": [{"model": "local"}]},
        },
        base_dir=tmp_path,
        trust_remote_code=trusted,
    )  # the --trust-remote-code flag (panel_checks)
    panel.backend("local")
    assert {name for name, _ in _Recorder.calls} == {"AutoConfig", "AutoProcessor", "AutoModelForImageTextToText"}
    for name, kwargs in _Recorder.calls:
        assert kwargs.get("trust_remote_code") is trusted, name
    [(_, model_kwargs)] = [c for c in _Recorder.calls if c[0] == "AutoModelForImageTextToText"]
    assert model_kwargs["use_safetensors"] is True


# -- 6. crash-safe writes ------------------------------------------------------------------------------------


def _failing_replace(real, fail_on: str, exc: BaseException):
    """os.replace that raises when the target's name is ``fail_on``: the crash lands mid-write."""

    def replace(src, dst, *a, **k):
        if Path(dst).name == fail_on:
            raise exc
        return real(src, dst, *a, **k)

    return replace


def _record(scan_image, answer: str):
    panel = scripted_panel()
    panel.models["attending"] = {"backend": "scripted", "replies": [f"<think>r</think><answer>{answer}</answer>"]}
    return Pipeline(panel).run([Case(scan_image, "Is there a lesion?")])[0]


@pytest.mark.parametrize("fail_on", ["visit.md", "visit.json"])
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_transcript_save_that_crashes_leaves_whole_files_and_no_temp(tmp_path, scan_image, monkeypatch, fail_on, exc):
    old = _record(scan_image, "old answer")
    md_path, json_path = transcript.save(old, "scan.png", tmp_path / "visit.md", "x")
    before = {p.name: p.read_text(encoding="utf-8") for p in (md_path, json_path)}
    monkeypatch.setattr(transcript.os, "replace", _failing_replace(os.replace, fail_on, exc))
    with pytest.raises(type(exc)):
        transcript.save(_record(scan_image, "new answer"), "scan.png", tmp_path / "visit.md", "x")
    assert temp_files(tmp_path) == []
    after = {p.name: p.read_text(encoding="utf-8") for p in (md_path, json_path)}
    assert after[fail_on] == before[fail_on]  # the file whose write crashed is the old one, whole
    json.loads(after["visit.json"])  # whole, whichever version
    assert after["visit.md"].rstrip().endswith("Research use only. Not for clinical decisions.")


def _run(root, out, systems=("mmedagent-rl", "majority-vote"), **kw):
    panel, baselines = make_panel()
    report = run_bench(
        panel, baselines, BenchConfig(root, ("vqa-rad",), tuple(systems), chunk_size=2, **kw), output=out
    )
    return report, panel


@pytest.mark.parametrize("fail_on", ["results.json", "results.csv", "samples.jsonl"])
def test_a_bench_that_crashes_while_writing_results_leaves_whole_files_and_no_temp(tmp_path, monkeypatch, fail_on):
    root = write_vqa_rad(tmp_path / "data")
    out = tmp_path / "run"
    first, _ = _run(root, out, metrics=("mc",))
    before = {n: (out / n).read_bytes() for n in ("results.json", "results.csv", "samples.jsonl")}

    monkeypatch.setattr(fileio.os, "replace", _failing_replace(os.replace, fail_on, OSError(28, "disk full")))
    with pytest.raises(OSError):
        _run(root, out, metrics=("mc", "closed"))
    monkeypatch.undo()
    assert temp_files(out) == [], "a crashed write left temporary files behind"
    assert (out / fail_on).read_bytes() == before[fail_on]
    json.loads((out / "results.json").read_text(encoding="utf-8"))  # whichever version, whole
    for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines():
        json.loads(line)

    again, panel = _run(root, out, metrics=("mc", "closed"))  # the rerun completes from the work cache
    assert calls(panel) == 0 and again.tasks[0].computed == 0
    mc = {r["system"]: r["metrics"]["mc"] for r in first.rows}
    assert {r["system"]: r["metrics"]["mc"] for r in again.rows} == mc


def test_a_work_cache_torn_by_a_kill_is_repaired_not_trusted(tmp_path):
    root = write_vqa_rad(tmp_path / "data")
    whole, _ = _run(root, tmp_path / "whole", metrics=("mc", "closed"))
    out = tmp_path / "torn"
    _run(root, out, metrics=("mc", "closed"))
    work = out / ".work" / "vqa-rad-test.jsonl"
    lines = work.read_text(encoding="utf-8").splitlines(keepends=True)
    # Killed mid-append: the last line is cut in half; a stray temp file and junk lie beside it.
    work.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2], encoding="utf-8")
    (out / ".work" / ".vqa-rad-test.jsonl.x1y2.tmp").write_text('{"k": "junk", "data": {}}\n')
    resumed, panel = _run(root, out, metrics=("mc", "closed"))
    assert 0 < calls(panel) <= 5  # only the torn unit was asked again (at most triage + 3 + attending)
    assert resumed.rows == whole.rows
    # The torn fragment stays on a line of its own (ignored); everything after it reads back whole.
    unreadable = []
    for line in work.read_text(encoding="utf-8").splitlines():
        try:
            json.loads(line)
        except ValueError:
            unreadable.append(line)
    assert unreadable == [lines[-1][: len(lines[-1]) // 2]]
    again, panel = _run(root, out, metrics=("mc", "closed"))
    assert calls(panel) == 0 and again.rows == whole.rows


def test_a_work_cache_line_of_the_wrong_shape_is_a_miss_not_a_crash(tmp_path):
    root = write_vqa_rad(tmp_path / "data")
    out = tmp_path / "run"
    whole, _ = _run(root, out)
    work = out / ".work" / "vqa-rad-test.jsonl"
    rows = [json.loads(line) for line in work.read_text(encoding="utf-8").splitlines()]
    junk = [
        {"k": rows[0]["k"], "data": "garbage"},
        {"k": rows[1]["k"], "data": [1, 2]},
        {"k": rows[2]["k"], "data": None},
        {"k": ["unhashable"], "data": {}},
        [1, 2, 3],
        "text",
    ]
    with work.open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(j) + "\n" for j in junk)
    cache = WorkCache(work)
    assert [cache.get(r["k"]) for r in rows[:3]] == [r["data"] for r in rows[:3]]  # junk never overrides
    resumed, panel = _run(root, out)
    assert resumed.rows == whole.rows and calls(panel) == 0


class _Counting(Backend):
    name = "counting"

    def __init__(self) -> None:
        self.asked = 0

    def generate(self, prompts, sampling=Sampling()):
        self.asked += len(prompts)
        return [Generation("<think>fresh</think><answer>yes</answer>") for _ in prompts]


def test_the_response_cache_trusts_no_temp_file_and_no_entry_of_the_wrong_shape(tmp_path, monkeypatch):
    prompt = Prompt("sys", "Is there a fracture?", (Image.new("RGB", (8, 8), (9, 9, 9)),))
    inner = _Counting()
    cached = CachedBackend(inner, tmp_path)
    key = cache_key(cached.identity, prompt, Sampling())
    target = cached.path_for(key)

    # A kill between writing the temp file and renaming it: the temp file is never read back.
    target.parent.mkdir(parents=True)
    (target.parent / f".{key[:16]}.abcd.tmp").write_text(json.dumps({"text": "<answer>STALE</answer>"}))
    [gen] = cached.generate([prompt])
    assert "STALE" not in gen.text and inner.asked == 1

    # A crash (even an interrupt) during the rename leaves neither the target nor a temp file.
    target.unlink()
    for p in target.parent.glob("*.tmp"):
        p.unlink()
    monkeypatch.setattr(cache_mod.os, "replace", _failing_replace(os.replace, target.name, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        cached.generate([prompt])
    monkeypatch.undo()
    assert not target.exists() and temp_files(tmp_path) == []

    # Entries that parse as JSON but are not an answer are misses (and get rewritten), never crashes later.
    for junk in ('{"text": 5}', '{"text": null}', '{"text": "x", "meta": [1]}', "[]", '"text"', '{"meta": {}}'):
        target.write_text(junk)
        asked = inner.asked
        [gen] = cached.generate([prompt])
        assert isinstance(gen.text, str) and gen.ok and inner.asked == asked + 1, junk
        assert json.loads(target.read_text())["text"] == gen.text


def test_a_consultation_over_a_damaged_response_cache_completes(tmp_path, scan_image):
    panel = scripted_panel()
    backend = CachedBackend(panel.backend("s0"), tmp_path)
    panel._backends["s0"] = backend
    Pipeline(panel).run([Case(scan_image, "Is there a lesion?")])
    [entry] = [p for p in tmp_path.rglob("*.json")]
    entry.write_text('{"text": 12345}')
    record = Pipeline(panel).run([Case(scan_image, "Is there a lesion?")])[0]
    assert record.specialists[0].answer == "yes" and record.attending.answer == "yes"


def test_saved_transcripts_and_results_are_ordinary_files(tmp_path, scan_image):
    """Written through private temp files, but the result gets the mode the user's umask gives any new file."""
    mask = os.umask(0o022)
    try:
        md, js = transcript.save(_record(scan_image, "yes"), "scan.png", tmp_path / "visit", "x")
        out = tmp_path / "run"
        _run(write_vqa_rad(tmp_path / "data"), out)
    finally:
        os.umask(mask)
    for path in (md, js, out / "results.json", out / "results.csv", out / "samples.jsonl"):
        assert path.stat().st_mode & 0o777 == 0o644, path.name


def test_a_file_written_in_pieces_is_published_whole_or_not_at_all(tmp_path):
    target = tmp_path / "samples.jsonl"
    target.write_bytes(b"old\n")
    with pytest.raises(KeyboardInterrupt), fileio.AtomicFile(target) as f:
        f.write(b"new, ")
        raise KeyboardInterrupt  # Ctrl-C halfway through
    assert target.read_bytes() == b"old\n" and temp_files(tmp_path) == []
    with fileio.AtomicFile(target) as f:
        f.write(b"new, ")
        f.write(b"whole\n")
        assert target.read_bytes() == b"old\n"  # nothing shows until the block ends
    assert target.read_bytes() == b"new, whole\n" and temp_files(tmp_path) == []
