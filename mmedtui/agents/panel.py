"""The agent panel file: who plays triage, the specialists per department, and the attending physician.

    departments: [Pathologist, Radiologist, ...]      # optional; the paper's seven by default
    models:                                            # named backends, each loaded once per process
      local: {backend: transformers, path: models/specialist-a, device: auto, dtype: auto}
      gpt4o: {backend: openai, base_url: https://api.openai.com/v1, model: gpt-4o, api_key_env: OPENAI_API_KEY,
              cache: cache/gpt4o}                      # optional: answers kept on disk, reruns are free
      cases: {backend: nearest-image, path: models/nearest-image}   # a case-based specialist, no language model
    triage: {model: local, max_new_tokens: 48}
    specialists:                                       # per department; "default" serves the rest
      default: [{name: Specialist A, model: local}, {name: GPT-4o, model: gpt4o, temperature: 0.2}]
    attending: {model: local, max_new_tokens: 128}

Relative model and cache paths are resolved against the panel file's folder.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from mmedtui.agents.base import Backend, Sampling
from mmedtui.agents.panel_checks import announce_remote_code, api_key, check_models, read_panel_yaml
from mmedtui.departments import DEFAULT_DEPARTMENTS
from mmedtui.errors import ConfigError
from mmedtui.resources import asset_path

DEFAULT_PANEL = asset_path("panel.yaml")  # the embedded panel, in a checkout or a wheel install
BACKEND_KINDS = ("transformers", "openai", "scripted", "nearest-image")


@dataclass(frozen=True)
class AgentSpec:
    name: str
    model: str
    temperature: float = 0.0
    max_new_tokens: int = 96
    seed: int | None = None

    def sampling(self, **override) -> Sampling:
        values = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "seed": self.seed}
        return Sampling(**(values | override))


@dataclass
class Panel:
    models: dict[str, dict]
    triage: AgentSpec
    specialists: dict[str, list[AgentSpec]]
    attending: AgentSpec
    departments: tuple[str, ...] = DEFAULT_DEPARTMENTS
    source: str = "<memory>"
    base_dir: Path = field(default_factory=Path.cwd)
    _backends: dict[str, Backend] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def specialists_for(self, department: str) -> list[AgentSpec]:
        return self.specialists.get(department) or self.specialists.get("default", [])

    def backend(self, key: str) -> Backend:
        """The backend named ``key``, built on first use and shared by every role that names it."""
        with self._lock:
            if key not in self._backends:
                self._backends[key] = build_backend(key, self.models[key], self.base_dir)
            return self._backends[key]

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()


def build_backend(key: str, spec: dict, base_dir: Path) -> Backend:
    """The backend a ``models`` entry describes; ``cache: DIR`` puts the on-disk response cache in front."""
    options = {k: v for k, v in spec.items() if k not in ("backend", "cache")}
    backend = _build_backend(key, spec.get("backend"), options, base_dir)
    if not spec.get("cache"):
        return backend
    from mmedtui.agents.cache import CachedBackend

    cache_dir = Path(str(spec["cache"])).expanduser()
    return CachedBackend(backend, cache_dir if cache_dir.is_absolute() else base_dir / cache_dir)


def _build_backend(key: str, kind: object, options: dict, base_dir: Path) -> Backend:
    try:
        if kind == "transformers":
            from mmedtui.agents.locate import model_folder
            from mmedtui.agents.transformers_backend import TransformersBackend

            path = options.pop("path")
            resolved = model_folder(path, base_dir)
            # A relative path that is not a folder here may be a hub id ("org/name").
            options["path"] = str(resolved) if resolved.exists() or Path(path).expanduser().is_absolute() else str(path)
            return TransformersBackend(name=key, **options)
        if kind == "openai":
            from mmedtui.agents.openai_backend import OpenAIBackend

            options.pop("allow_insecure", None)  # checked with the panel (panel_checks)
            if options.get("api_key_env"):
                api_key(options["api_key_env"], f"model {key!r}")  # refuse a key no HTTP header can carry
            return OpenAIBackend(name=key, **options)
        if kind == "nearest-image":
            from mmedtui.agents.locate import model_folder
            from mmedtui.agents.nearest_image_backend import NearestImageBackend

            options["path"] = str(model_folder(options.pop("path"), base_dir))
            return NearestImageBackend(name=key, **options)
        if kind == "scripted":
            from mmedtui.agents.scripted import ScriptedBackend

            return ScriptedBackend(name=key, **options)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"model {key!r}: bad options ({exc})") from exc
    raise ConfigError(f"model {key!r}: backend must be one of {', '.join(BACKEND_KINDS)}, not {kind!r}")


def _agent(raw, where: str, models: dict) -> AgentSpec:
    if not isinstance(raw, dict) or "model" not in raw:
        raise ConfigError(f"{where}: needs a 'model' entry")
    if raw["model"] not in models:
        raise ConfigError(f"{where}: unknown model {raw['model']!r} (known: {', '.join(models)})")
    try:
        return AgentSpec(**{"name": where} | raw)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def parse_panel(
    data: dict, source: str = "<memory>", base_dir: Path | None = None, trust_remote_code: bool = False
) -> Panel:
    """A panel from its YAML data; ``trust_remote_code``: the command line allowed models that run their own
    code (a panel file alone never can, see panel_checks)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a panel file is a YAML mapping")
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"{source}: 'models' must map names to backends")
    for key, spec in models.items():
        if not isinstance(spec, dict) or spec.get("backend") not in BACKEND_KINDS:
            raise ConfigError(f"{source}: model {key!r} needs backend: {' | '.join(BACKEND_KINDS)}")
    check_models(models, source, trust_remote_code)
    raw_specialists = data.get("specialists")
    if not isinstance(raw_specialists, dict) or not raw_specialists:
        raise ConfigError(f"{source}: 'specialists' must map departments to lists of agents")
    specialists = {
        dept: [_agent(a, f"specialists.{dept}[{i}]", models) for i, a in enumerate(agents or [])]
        for dept, agents in raw_specialists.items()
    }
    departments = data.get("departments") or DEFAULT_DEPARTMENTS
    if not isinstance(departments, (list, tuple)) or not all(isinstance(d, str) and d.strip() for d in departments):
        raise ConfigError(f"{source}: 'departments' must be a list of department names")
    departments = tuple(d.strip() for d in departments)
    return Panel(
        models=models,
        triage=_agent(data.get("triage"), "triage", models),
        specialists=specialists,
        attending=_agent(data.get("attending"), "attending", models),
        departments=departments,
        source=source,
        base_dir=base_dir or Path.cwd(),
    )


def load_panel(path: str | Path | None = None, trust_remote_code: bool = False) -> Panel:
    path = Path(path) if path else DEFAULT_PANEL
    panel = parse_panel(read_panel_yaml(path), str(path), path.resolve().parent, trust_remote_code)
    if trust_remote_code:
        announce_remote_code(panel.models, panel.base_dir)
    return panel
