"""`mmedtui data list|verify|fetch` through the real entry point."""

from support.cli import run_cli
from support.paths import SHARED_DATA, needs_shared_data


def test_list_names_every_benchmark_and_how_to_get_the_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_cli(capsys, monkeypatch, "data", "list", "--data-root", str(tmp_path))
    assert code == 0, err
    for name in ("vqa-rad", "slake", "pathvqa", "omnimedvqa", "mmmu-med"):
        assert name in out
    assert "mmedtui data fetch pathvqa" in out.replace("\n", " ")


def test_verify_a_missing_benchmark_exits_2(tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(capsys, monkeypatch, "data", "verify", "vqa-rad", "--data-root", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "vqa-rad" in err


def test_fetch_offline_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = run_cli(capsys, monkeypatch, "data", "fetch", "slake", "--data-root", str(tmp_path))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


@needs_shared_data()
def test_verify_the_real_vqa_rad(capsys, monkeypatch):
    code, out, err = run_cli(capsys, monkeypatch, "data", "verify", "vqa-rad", "--data-root", str(SHARED_DATA))
    assert code == 0, err
    assert "451" in out and "1797" in out.replace(",", "")


def test_verify_without_a_name_says_each_problem_once_on_stderr(tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(capsys, monkeypatch, "data", "verify", "--data-root", str(tmp_path))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "no benchmark found" in err
    code, out, err = run_cli(capsys, monkeypatch, "data", "verify", "vqa-rad", "--data-root", str(tmp_path))
    assert code == 2 and "not found" in err and "not found" not in out


@needs_shared_data(SHARED_DATA / "vqa-rad")
def test_verify_without_a_name_checks_every_benchmark_found(capsys, monkeypatch):
    code, out, err = run_cli(capsys, monkeypatch, "data", "verify", "--data-root", str(SHARED_DATA))
    assert code == 0, err
    assert "vqa-rad test" in out and "slake" in out and "not found under" in out and err == ""


def test_list_shows_the_training_only_sources(tmp_path, capsys, monkeypatch):
    import numpy as np

    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "breastmnist").mkdir()
    np.savez(
        tmp_path / "breastmnist" / "breastmnist.npz",
        train_images=np.zeros((5, 28, 28), np.uint8),
        test_images=np.zeros((2, 28, 28), np.uint8),
    )
    code, out, err = run_cli(capsys, monkeypatch, "data", "list", "--data-root", str(tmp_path))
    assert code == 0, err
    assert "breastmnist" in out and "train 5, test 2" in out
    assert "bccd" in out and "Shenggan/BCCD_Dataset" in out.replace("\n", "")
