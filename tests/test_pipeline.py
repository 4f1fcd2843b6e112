import pytest

from mmedtui.consult import Case, Pipeline
from mmedtui.consult.pipeline import PipelineOptions
from support.panels import scripted_panel


def test_full_consultation_streams_events_in_order(scan_image):
    panel = scripted_panel()
    events = []
    record = Pipeline(panel).run([Case(scan_image, "Is there a lesion?")], emit=events.append)[0]
    assert [(e.step, e.status) for e in events][:2] == [("triage", "started"), ("triage", "done")]
    assert [e.step for e in events if e.status == "done"] == ["triage"] + ["specialist"] * 3 + ["attending"]
    assert record.triage.department == "Radiologist"
    assert [o.answer for o in record.specialists] == ["yes", "yes", "no"]
    assert record.attending.answer == "yes"
    assert record.attending.followed == ["Specialist A", "Specialist B"]
    assert record.attending.overruled == ["Specialist C"]
    out = record.to_dict(image="scan.png")
    assert out["disclaimer"].startswith("Research use only")
    assert {"image", "question", "triage", "specialists", "attending"} <= set(out)


def test_a_failing_specialist_is_reported_and_the_attending_proceeds(scan_image):
    panel = scripted_panel()
    panel.models["s1"] = {"backend": "scripted", "error": "timeout after 3 tries"}
    events = []
    record = Pipeline(panel).run([Case(scan_image, "q?")], emit=events.append)[0]
    failed = [e for e in events if e.status == "failed"]
    assert [(e.step, e.index, e.error) for e in failed] == [("specialist", 1, "timeout after 3 tries")]
    assert record.specialists[1].error == "timeout after 3 tries"
    assert record.attending.answer == "yes"
    attending_prompt = panel.backend("attending").calls[0].user
    assert "Specialist B" not in attending_prompt and "Specialist A" in attending_prompt


def test_garbage_answers_degrade_visibly(scan_image):
    panel = scripted_panel(specialist_replies=["", "<think>only thinking</think>", "ok"])
    panel.models["triage"] = {"backend": "scripted", "replies": ["I cannot tell"], "scores": [0, 5, 1, 0, 0, 0, 0]}
    record = Pipeline(panel).run([Case(scan_image, "q?")])[0]
    assert record.triage.department == "Radiologist" and record.triage.fallback == "scored"
    assert [o.error for o in record.specialists] == ["empty answer", "empty answer", None]


def test_triage_falls_back_to_the_modality_default_when_unscorable(scan_image):
    panel = scripted_panel()
    panel.models["triage"] = {"backend": "scripted", "replies": ["???"]}
    record = Pipeline(panel).run([Case(scan_image, "q?", meta={"modality": "OP"})])[0]
    assert (record.triage.department, record.triage.fallback) == ("Ophthalmologist", "default")


def test_a_raising_backend_does_not_sink_the_run(scan_image, monkeypatch):
    panel = scripted_panel()
    backend = panel.backend("attending")
    monkeypatch.setattr(backend, "generate", lambda prompts, sampling: 1 / 0)
    record = Pipeline(panel).run([Case(scan_image, "q?")])[0]
    assert record.attending.error.startswith("ZeroDivisionError")


def test_batches_share_one_call_per_backend(scan_image):
    panel = scripted_panel()
    records = Pipeline(panel).run([Case(scan_image, f"question {i}?") for i in range(5)])
    assert len(records) == 5
    assert len(panel.backend("s0").calls) == 5  # one batched call of five prompts
    assert all(r.attending.answer == "yes" for r in records)


def test_ablations_switch_stages_off(scan_image):
    panel = scripted_panel()
    rec = Pipeline(panel, PipelineOptions(triage=False, specialists=False)).run([Case(scan_image, "q?")])[0]
    assert rec.specialists == [] and rec.triage.fallback == "default"
    assert panel.backend("triage").calls == []
    assert "no specialist opinion" in panel.backend("attending").calls[0].user


def test_test_time_scaling_takes_the_majority(scan_image):
    panel = scripted_panel()
    panel.models["attending"] = {
        "backend": "scripted",
        "replies": [
            "<think>1</think><answer>No</answer>",
            "<think>2</think><answer>yes</answer>",
            "<think>3</think><answer>no.</answer>",
        ],
    }
    rec = Pipeline(panel, PipelineOptions(attending_samples=3)).run([Case(scan_image, "q?")])[0]
    assert rec.attending.answer.lower().startswith("no") and len(rec.attending.votes) == 3


def test_multiple_choice_options_reach_the_prompt(scan_image):
    panel = scripted_panel()
    Pipeline(panel).run([Case(scan_image, "Which organ?", options=["lung", "liver"])])
    assert "A. lung\nB. liver" in panel.backend("s0").calls[0].user


@pytest.mark.parametrize("size", [(64, 48), (600, 300)])
def test_real_tiny_model_end_to_end(tiny_model_dir, size):
    from PIL import Image

    from mmedtui.agents.panel import parse_panel

    panel = parse_panel(
        {
            "models": {"t": {"backend": "transformers", "path": str(tiny_model_dir)}},
            "triage": {"model": "t", "max_new_tokens": 8},
            "attending": {"model": "t", "max_new_tokens": 8},
            "specialists": {"default": [{"name": n, "model": "t", "max_new_tokens": 8} for n in "ABC"]},
        }
    )
    record = Pipeline(panel).run([Case(Image.new("RGB", size, (90, 90, 90)), "Is this normal?")])[0]
    assert record.triage.department in panel.departments
    assert len(record.specialists) == 3
    assert record.attending is not None


def test_every_image_of_a_case_reaches_the_agents(scan_image):
    panel = scripted_panel()
    second = scan_image.rotate(90)
    Pipeline(panel).run([Case(scan_image, "Compare <image 1> and <image 2>.", extra_images=(second,))])
    assert panel.backend("s0").calls[0].images == (scan_image, second)
