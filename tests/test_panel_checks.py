"""A panel file is untrusted: it cannot run code, leak a variable, send a key in clear or exhaust memory."""

from __future__ import annotations

import json
import sys
import time

import pytest
import yaml

from mmedtui.agents.panel import load_panel, parse_panel
from mmedtui.errors import ConfigError


def _panel(models: dict) -> dict:
    first = next(iter(models))
    return {
        "models": models,
        "triage": {"model": first},
        "attending": {"model": first},
        "specialists": {"default": [{"model": first}]},
    }


def _openai(**spec) -> dict:
    return _panel({"remote": {"backend": "openai", "model": "m", **spec}})


def _write(tmp_path, data, name="panel.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _consult(monkeypatch, capsys, *args, command: str = "consult") -> tuple[int, str]:
    from mmedtui import cli

    monkeypatch.setattr(sys, "argv", ["mmedtui", command, *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return done.value.code, capsys.readouterr().err


def test_a_panel_file_cannot_turn_on_remote_code(tmp_path, monkeypatch, capsys, scan_image):
    image = tmp_path / "scan.png"
    scan_image.save(image)
    panel = _write(tmp_path, _panel({"local": {"backend": "transformers", "path": "m", "trust_remote_code": True}}))
    code, err = _consult(monkeypatch, capsys, str(image), "--json", "--agents", str(panel))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "trust_remote_code" in err and "--trust-remote-code" in err
    # The bench reads panel files by the same rule.
    code, err = _consult(
        monkeypatch, capsys, "--agents", str(panel), "--limit", "1", "--data-root", str(tmp_path), command="bench"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--trust-remote-code" in err, err


def test_the_flag_allows_it_and_says_what_will_run(tmp_path, capsys):
    model = tmp_path / "m"
    model.mkdir()
    (model / "modeling_evil.py").write_text("import os\n")
    (model / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "modeling_evil.EvilModel"}}))
    panel = _write(tmp_path, _panel({"local": {"backend": "transformers", "path": "m", "trust_remote_code": True}}))
    loaded = load_panel(panel, trust_remote_code=True)
    assert loaded.models["local"]["trust_remote_code"] is True
    err = capsys.readouterr().err
    assert err.strip() == (
        "--trust-remote-code: model 'local' (m) will run modeling_evil.py (auto_map: modeling_evil.EvilModel)"
    )


@pytest.mark.parametrize(
    "env, ok",
    [
        ("HOME", False),
        ("PATH", False),
        ("OPENAI_API_KEY", True),
        ("HF_TOKEN", True),
        ("MY_KEY", True),
        ("KEY", False),
        ("A_KEY_X", False),
    ],
)
def test_api_key_env_must_name_a_key(env, ok):
    data = _openai(base_url="https://api.example.com/v1", api_key_env=env)
    if ok:
        parse_panel(data)
    else:
        with pytest.raises(ConfigError, match="api_key_env must name a variable ending in _API_KEY"):
            parse_panel(data)


@pytest.mark.parametrize(
    "url, insecure, ok",
    [
        ("http://api.example.com/v1", False, False),
        ("http://10.0.0.5:8000/v1", False, False),
        ("http://api.example.com/v1", True, True),
        ("http://127.0.0.1:8000/v1", False, True),
        ("http://localhost:8000/v1", False, True),
        ("http://[::1]:8000/v1", False, True),
        ("https://api.example.com/v1", False, True),
    ],
)
def test_a_key_never_goes_over_plain_http_to_another_host(url, insecure, ok):
    data = _openai(base_url=url, api_key_env="OPENAI_API_KEY", **({"allow_insecure": True} if insecure else {}))
    if ok:
        parse_panel(data)
    else:
        with pytest.raises(ConfigError, match="will not send OPENAI_API_KEY over plain http://"):
            parse_panel(data)
    parse_panel(_openai(base_url=url))  # no key, nothing to leak


@pytest.mark.parametrize("value", ["sk-é", "sk 1", "sk\n1"])
def test_a_key_no_header_can_carry_is_refused_in_one_line(value, tmp_path, monkeypatch):
    monkeypatch.setenv("ODD_API_KEY", value)
    panel = _write(tmp_path, _openai(base_url="https://api.example.com/v1", api_key_env="ODD_API_KEY"))
    with pytest.raises(ConfigError, match="ODD_API_KEY holds characters an API key cannot have") as exc:
        load_panel(panel)
    assert value not in str(exc.value)
    monkeypatch.setenv("ODD_API_KEY", "sk-fine")
    built = load_panel(panel)
    monkeypatch.setenv("ODD_API_KEY", value)  # changed after the panel was read: refused when the backend is built
    with pytest.raises(ConfigError, match="holds characters"):
        built.backend("remote")


def test_alias_bombs_big_files_and_deep_nesting_are_refused_fast(tmp_path):
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    base = yaml.safe_dump(_openai(base_url="https://api.example.com/v1"))
    path = _write(tmp_path, "\n".join(bomb) + "\n" + base, "bomb.yaml")
    start = time.monotonic()
    with pytest.raises(ConfigError, match="aliases expand past"):
        load_panel(path)
    assert time.monotonic() - start < 2
    big = _write(tmp_path, base + "# " + "x" * 1_000_001 + "\n", "big.yaml")
    with pytest.raises(ConfigError, match="over 1 MB"):
        load_panel(big)
    deep = _write(tmp_path, "x: " + "[" * 100_000 + "]" * 100_000 + "\n" + base, "deep.yaml")
    with pytest.raises(ConfigError, match="nested"):
        load_panel(deep)
    shared = (
        "defaults: &d {timeout: 5, max_retries: 1}\nmodels:\n  remote: {backend: openai, model: m, "
        "base_url: 'https://api.example.com/v1', <<: *d}\ntriage: {model: remote}\nattending: {model: "
        "remote}\nspecialists: {default: [{model: remote}]}\n"
    )
    assert load_panel(_write(tmp_path, shared, "ok.yaml")).models["remote"]["timeout"] == 5  # a few aliases: fine
