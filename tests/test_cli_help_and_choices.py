"""Help texts and choices of the commands: what a user reads in --help, and which flags are choices."""

from pathlib import Path

from support.cli import run_cli


def test_train_profile_is_a_choice(capsys, monkeypatch):
    code, _, err = run_cli(capsys, monkeypatch, "train", "specialist", "--profile", "huge")
    assert code == 2 and "tiny" in err and "paper" in err


def test_train_specialist_help_shows_an_sft_example(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(capsys, monkeypatch, "train", "specialist", "--help")
    assert code == 0 and "train.learning_rate" in out and "grpo." not in out and "<tiny|paper>" in out
    code, out, _ = run_cli(capsys, monkeypatch, "train", "attending", "--help")
    assert code == 0 and "grpo.temperature" in out
    # What --max-steps counts: the training stage's optimizer steps; a warm-up comes on top.
    assert "warm-up" in " ".join(out.split()) and "comes on top" in " ".join(out.split())


def test_the_train_start_summary_is_short_and_points_at_config_yaml():
    from mmedtui.cli.train import config_summary
    from trainer.config import load_config

    cfg = load_config("specialist", "tiny", None, ["train.max_steps=7"])
    text = config_summary(cfg, Path("runs/x"))
    assert len(text.splitlines()) <= 5 and "steps   7" in text and "runs/x/config.yaml" in text.replace("\\", "/")


def test_help_has_no_braces_or_bool_types_anywhere(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for args in (["data", "verify"], ["data", "fetch"], ["bench"], ["train", "plot"], ["history"]):
        code, out, _ = run_cli(capsys, monkeypatch, *args, "--help")
        assert code == 0 and "<bool>" not in out and "{" not in out.split("\n\n")[0], args
