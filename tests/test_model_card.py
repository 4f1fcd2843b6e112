"""Model cards: Hugging Face front matter (license, datasets, tags, model-index) and no machine paths, in the
cards a run writes, the export script writes and the repository ships."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from trainer.model_card import front_matter, hub_datasets, hub_id, model_ref, portable, split_front_matter

ROOT = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(?<![\w/:.])/(?:work|home|tmp|root|Users|mnt|private)/")


def test_front_matter_parses_back_with_the_model_index():
    text = front_matter(
        "mmedtui-attending",
        hub_datasets(["vqa-rad", "slake", "no-such-task"]),
        [{"task": "vqa-rad", "split": "test", "value": 54.2}],
        base_model="Qwen/Qwen2.5-VL-7B-Instruct",
        tags=["grpo"],
    )
    meta, body = split_front_matter(text + "# card\n")
    assert body == "# card\n"
    assert meta["license"] == "apache-2.0" and "grpo" in meta["tags"] and "qwen2_5_vl" in meta["tags"]
    assert meta["datasets"] == ["BoKelvin/SLAKE", "flaviagiammarino/vqa-rad"]
    assert meta["base_model"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    (result,) = meta["model-index"][0]["results"]
    assert result["dataset"] == {"type": "flaviagiammarino/vqa-rad", "name": "vqa-rad", "split": "test"}
    assert result["metrics"][0]["value"] == 54.2


def test_no_results_no_model_index_and_a_card_without_front_matter_is_all_body():
    meta, _ = split_front_matter(front_matter("m", [], transformers=False))
    assert "model-index" not in meta and "library_name" not in meta and "qwen2_5_vl" not in meta["tags"]
    assert split_front_matter("# plain\n---\n") == ({}, "# plain\n---\n")


def test_paths_are_cut_to_their_last_two_parts_and_hub_ids_kept(tmp_path):
    assert model_ref("/srv/me/runs/specB/final") == "specB/final"
    assert model_ref("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert hub_id("Qwen/Qwen2.5-VL-3B-Instruct") and not hub_id(str(tmp_path)) and not hub_id("./a/b")
    text = portable("- Starting model: /srv/me/runs/specB/final.\nsee https://hf.co/a/b and `~/x/y/z.txt`.")
    assert text == "- Starting model: specB/final.\nsee https://hf.co/a/b and `y/z.txt`."


def test_a_run_writes_a_card_with_front_matter_and_no_machine_path(tmp_path):
    from trainer.config import load_config
    from trainer.outputs import write_model_card
    from trainer.run import RunDir

    start = tmp_path / "deep" / "specB" / "final"
    start.mkdir(parents=True)
    cfg = load_config("attending", "tiny", sets=[f"model.path={start}"])
    write_model_card(cfg, RunDir(tmp_path / "run"), tmp_path, [SimpleNamespace(task="vqa-rad")], ["Validation: 50 %"])
    meta, body = split_front_matter((tmp_path / "README.md").read_text(encoding="utf-8"))
    assert meta["datasets"] == ["flaviagiammarino/vqa-rad"] and "curriculum-learning" in meta["tags"]
    assert "base_model" not in meta  # a local folder is not a Hub model
    assert "Starting model: specB/final." in body and str(tmp_path) not in body


def test_the_export_card_merges_the_notes_results_and_keeps_their_text():
    from export import build_card

    run_card = front_matter("x", ["flaviagiammarino/vqa-rad"], tags=["sft"]) + "# run card\n- from /srv/me/a/b\n"
    notes = "---\nresults:\n- {task: slake, split: validation, value: 61.5}\n---\n## Measured\n\n61.5 %\n"
    card = build_card(run_card, "mmedtui-specialist-a", "specialist", "bash build.sh", 1_234_567, notes)
    meta, body = split_front_matter(card)
    assert meta["datasets"] == ["flaviagiammarino/vqa-rad"] and "sft" in meta["tags"]
    assert meta["model-index"][0]["results"][0]["metrics"][0]["value"] == 61.5
    assert body.startswith("# run card\n- from a/b\n") and "1.23 M parameters" in body
    assert body.rstrip().endswith("## Measured\n\n61.5 %") and "results:" not in body


@pytest.mark.parametrize("card", sorted((ROOT / "assets" / "models").glob("*/README.md")), ids=lambda p: p.parent.name)
def test_every_shipped_card_opens_with_front_matter_and_names_no_machine_path(card):
    text = card.read_text(encoding="utf-8")
    meta, body = split_front_matter(text)
    assert meta["license"] == "apache-2.0" and meta["datasets"] and "mmedtui" in meta["tags"], card
    assert not MACHINE_PATH.search(text), MACHINE_PATH.search(text)
    notes = ROOT / "assets" / "notes" / f"{card.parent.name}.md"
    measured = split_front_matter(notes.read_text(encoding="utf-8"))[0] if notes.is_file() else {}
    shipped = [r["metrics"][0]["value"] for e in meta.get("model-index", []) for r in e["results"]]
    assert shipped == [r["value"] for r in measured.get("results", [])]  # the card is in step with its notes


def test_recard_rebuilds_a_shipped_card_as_shipped(tmp_path):
    from export import recard

    pytest.importorskip("safetensors")
    folder = shutil.copytree(ROOT / "assets" / "models" / "triage", tmp_path / "triage")
    before = (folder / "README.md").read_text(encoding="utf-8")
    recard(folder, ROOT / "assets" / "notes" / "triage.md")
    assert (folder / "README.md").read_text(encoding="utf-8") == before
    assert yaml.safe_load(before.split("---\n")[1])["pipeline_tag"] == "image-text-to-text"


def test_reexporting_an_unchanged_model_keeps_its_weight_stamps(tmp_path):
    from export import export
    from mmedtui.agents.locate import weights_stamp

    pytest.importorskip("safetensors")
    source = ROOT / "assets" / "models" / "specialist-c"
    target = export(source, tmp_path / "c", "specialist", "make it")
    before = weights_stamp(target)
    assert any(name == "model.safetensors" for name, *_ in before)
    export(source, target, "specialist", "make it again")  # a new card, the same weights
    assert weights_stamp(target) == before
    (tmp_path / "other").mkdir()
    for name, *_ in before:  # a changed file is not given the old stamp
        shutil.copy2(target / name, tmp_path / "other" / name)
    weights = tmp_path / "other" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")
    export(source, tmp_path / "other", "specialist", "make it")
    assert weights_stamp(tmp_path / "other") != before
