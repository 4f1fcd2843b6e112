"""`mmedtui data list|verify|fetch` through the real entry point."""

from conftest import SHARED_DATA, needs_shared_data
from test_cli_consult import run_cli


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
