import pytest

from mmedtui.agents.panel import DEFAULT_PANEL, load_panel, parse_panel
from mmedtui.errors import ConfigError


def test_default_panel_parses():
    panel = load_panel()
    assert panel.source == str(DEFAULT_PANEL)
    assert len(panel.departments) == 7
    for department in panel.departments:
        assert len(panel.specialists_for(department)) >= 3


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1, 2]", "mapping"),
        ("models: {}", "models"),
        ("models: {a: {backend: nope}}", "backend"),
        (
            "models: {a: {backend: scripted}}\nspecialists: {default: [{model: a}]}\ntriage: {model: b}\n"
            "attending: {model: a}",
            "unknown model 'b'",
        ),
        (
            "models: {a: {backend: scripted}}\nspecialists: {default: [{model: a, colour: red}]}\n"
            "triage: {model: a}\nattending: {model: a}",
            "colour",
        ),
        ("models: [", "YAML"),
        (
            "models: {a: {backend: scripted}}\nspecialists: {default: [{model: a}]}\ntriage: {model: a}\n"
            "attending: {model: a}\ndepartments: Radiologist",
            "list of department names",
        ),
        (
            "models: {a: {backend: scripted}}\nspecialists: {default: [{model: a}]}\ntriage: {model: a}\n"
            "attending: {model: a}\ndepartments: [Radiologist, 3]",
            "list of department names",
        ),
        (
            "models: {a: {backend: scripted}}\nspecialists: {default: [{model: a}]}\ntriage: {model: a}\n"
            "attending: {model: a}\ndepartments: 5",
            "list of department names",
        ),
    ],
)
def test_bad_panels_are_config_errors(tmp_path, text, message):
    path = tmp_path / "panel.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_panel(path)


def test_missing_panel_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_panel(tmp_path / "nope.yaml")


def test_models_are_shared_and_built_once():
    panel = parse_panel(
        {
            "models": {"m": {"backend": "scripted"}},
            "triage": {"model": "m"},
            "attending": {"model": "m"},
            "specialists": {"default": [{"name": "A", "model": "m"}, {"name": "B", "model": "m"}]},
        }
    )
    assert panel.backend("m") is panel.backend("m")


def test_a_model_entry_can_put_the_response_cache_in_front(tmp_path):
    from mmedtui.agents.base import Prompt
    from mmedtui.agents.cache import CachedBackend

    (tmp_path / "panel.yaml").write_text(
        "models: {m: {backend: scripted, replies: ['<answer>yes</answer>'], cache: answers}}\n"
        "triage: {model: m}\nattending: {model: m}\nspecialists: {default: [{model: m}]}\n"
    )
    for run in (1, 2):  # a second process reads the first one's answers from disk
        panel = load_panel(tmp_path / "panel.yaml")
        backend = panel.backend("m")
        assert isinstance(backend, CachedBackend) and backend.cache_dir == tmp_path / "answers"
        [gen] = backend.generate([Prompt("s", "u")])
        assert gen.text == "<answer>yes</answer>" and len(backend.inner.calls) == (1 if run == 1 else 0)
        panel.close()


def test_relative_model_paths_resolve_against_the_panel(tmp_path, tiny_model_dir):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny").symlink_to(tiny_model_dir)
    (tmp_path / "panel.yaml").write_text(
        "models: {t: {backend: transformers, path: models/tiny}}\n"
        "triage: {model: t}\nattending: {model: t}\nspecialists: {default: [{model: t}]}\n"
    )
    panel = load_panel(tmp_path / "panel.yaml")
    assert panel.backend("t").path == str(tmp_path / "models" / "tiny")


def test_unknown_model_folder_is_a_config_error(tmp_path):
    panel = parse_panel(
        {
            "models": {"t": {"backend": "transformers", "path": str(tmp_path / "missing")}},
            "triage": {"model": "t"},
            "attending": {"model": "t"},
            "specialists": {"default": [{"model": "t"}]},
        },
        base_dir=tmp_path,
    )
    with pytest.raises(ConfigError, match="not found"):
        panel.backend("t")
