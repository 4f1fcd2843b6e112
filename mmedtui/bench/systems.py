"""The baseline / ablation agents a panel file names, and the bench's rows for a panel (see ``registry``).

A panel file names the extra agents in an optional ``baselines:`` mapping (``Panel`` ignores it), one entry
per registry system with an ``agent`` key:

    baselines:
      static-pipeline: {attending: {name: Attending (base), model: base}}    # the attending before RL
      no-curriculum:   {attending: {model: attending-nocurr}}                # RL without C-MARL / entropy
      self-consistency: {agent: {model: base, temperature: 1.0}, samples: 5} # all optional, see below
    attending_base: {model: base}     # shorthand for baselines.static-pipeline.attending

Self-consistency asks one model alone (no triage, no opinions) ``samples`` times (default ``--samples``) and
takes the majority; its model defaults to static-pipeline's attending (the base model), else the panel's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mmedtui.agents.panel import AgentSpec, Panel, parse_panel
from mmedtui.bench.registry import FIXED_SYSTEMS, SPECIALIST_PREFIX, SYSTEMS
from mmedtui.errors import ConfigError, UserError
from mmedtui.resources import asset_path

__all__ = [
    "FIXED_SYSTEMS",
    "SPECIALIST_PREFIX",
    "Baselines",
    "available_systems",
    "load_bench_panel",
    "panel_with_baselines",
    "parse_baselines",
    "resolve_systems",
    "specialist_names",
]


@dataclass(frozen=True)
class Baselines:
    """The agents behind the baseline and ablation rows by system name; ``unavailable`` says why a row cannot run."""

    agents: dict[str, AgentSpec] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)  # a sampled row's own number of draws
    checkpoints: dict[str, Path] = field(default_factory=dict)  # non-agent models (question-only, nearest-image)
    unavailable: dict[str, str] = field(default_factory=dict)


def _agent(raw: object, where: str, panel: Panel) -> AgentSpec:
    if not isinstance(raw, dict) or "model" not in raw:
        raise ConfigError(f"{panel.source}: {where} needs a 'model' entry")
    if raw["model"] not in panel.models:
        raise ConfigError(f"{panel.source}: {where}: unknown model {raw['model']!r} (known: {', '.join(panel.models)})")
    try:
        return AgentSpec(**{"name": where} | raw)
    except TypeError as exc:
        raise ConfigError(f"{panel.source}: {where}: {exc}") from exc


def _missing_checkpoint(panel: Panel, spec: AgentSpec) -> str | None:
    """Why a local checkpoint is clearly absent (a local-looking path that is not there; a nearest-image model is
    never a hub id), else None."""
    from mmedtui.agents.locate import LOCAL_BACKENDS, looks_like_hub_id, model_folder

    model = panel.models[spec.model]
    if model.get("backend") not in LOCAL_BACKENDS or "path" not in model:
        return None

    resolved = model_folder(model["path"], panel.base_dir)
    hub = model["backend"] == "transformers" and looks_like_hub_id(model["path"])
    if not resolved.is_dir() and (not hub or os.environ.get("HF_HUB_OFFLINE") == "1"):
        return f"checkpoint {resolved} not found"
    return None


def _checkpoint(section: dict, shipped: tuple[str, ...], where: str, panel: Panel) -> tuple[Path, str | None]:
    """A non-agent model's folder (the panel's ``path``, relative to the panel file, else the shipped one), and
    why it cannot run (None: it can)."""
    from mmedtui.agents.priors import prior_present

    raw = section.get("path")
    if raw is not None and not isinstance(raw, str):
        raise ConfigError(f"{panel.source}: {where} must be a folder path")
    from mmedtui.agents.locate import model_folder

    folder = model_folder(raw, panel.base_dir) if raw else asset_path(*shipped)
    return folder, None if prior_present(folder) else f"model {folder} not found"


def parse_baselines(data: dict | None, panel: Panel) -> Baselines:
    data = data or {}
    raw = data.get("baselines") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{panel.source}: 'baselines' must map system names to settings")
    named = {s.name: s for s in SYSTEMS if s.agent or s.checkpoint}
    unknown = sorted(set(raw) - set(named))
    if unknown:
        raise ConfigError(f"{panel.source}: baselines: unknown system(s) {', '.join(unknown)}")
    agents, samples, checkpoints, unavailable = {}, {}, {}, {}
    for name, system in named.items():
        section = raw.get(name) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{panel.source}: baselines.{name} must be a mapping")
        if system.checkpoint:
            checkpoints[name], why = _checkpoint(section, system.checkpoint, f"baselines.{name}.path", panel)
            if why:
                unavailable[name] = why
            continue
        if system.agent in section:
            agents[name] = _agent(section[system.agent], f"baselines.{name}.{system.agent}", panel)
        elif name == "static-pipeline" and data.get("attending_base") is not None:
            agents[name] = _agent(data["attending_base"], "attending_base", panel)
        if system.sampled and section.get("samples") is not None:
            if not isinstance(section["samples"], int) or section["samples"] < 1:
                raise ConfigError(f"{panel.source}: baselines.{name}.samples must be a positive integer")
            samples[name] = section["samples"]
        if system.required:
            spec = agents.get(name)
            why = (
                f"needs baselines.{name}.{system.agent} in the panel file"
                if spec is None
                else _missing_checkpoint(panel, spec)
            )
            if why:
                unavailable[name] = why
    return Baselines(agents, samples, checkpoints, unavailable)


def load_bench_panel(path: str | Path | None, trust_remote_code: bool = False) -> tuple[Panel, Baselines]:
    """The panel plus its ``baselines:`` (read from the same YAML, which ``load_panel`` already validated)."""
    from mmedtui.agents.panel import load_panel

    panel = load_panel(path, trust_remote_code)
    data = yaml.safe_load(Path(panel.source).read_text(encoding="utf-8"))
    return panel, parse_baselines(data, panel)


def panel_with_baselines(data: dict, base_dir: Path | None = None) -> tuple[Panel, Baselines]:
    """In-memory variant (tests, demos): one dict holding the panel and its ``baselines:``."""
    panel = parse_panel(data, base_dir=base_dir)
    return panel, parse_baselines(data, panel)


def specialist_names(panel: Panel) -> list[str]:
    """Every panel member once, in file order (a member may serve several departments)."""
    seen: dict[str, None] = {}
    for specs in panel.specialists.values():
        for s in specs:
            seen.setdefault(s.name, None)
    return list(seen)


def available_systems(panel: Panel, baselines: Baselines) -> list[str]:
    """The default rows: every panel member, then baselines, ours, ablations (those that can run)."""
    rows = [SPECIALIST_PREFIX + n for n in specialist_names(panel)]
    return rows + [s for s in FIXED_SYSTEMS if s not in baselines.unavailable]


def _slug(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def resolve_systems(requested: list[str], panel: Panel, baselines: Baselines) -> list[str]:
    """Canonical names for ``--system`` values (case and spaces forgiven), in table order."""
    known = {_slug(s): s for s in [SPECIALIST_PREFIX + n for n in specialist_names(panel)] + list(FIXED_SYSTEMS)}
    chosen = []
    for name in requested:
        canon = known.get(_slug(name))
        if canon is None:
            raise UserError(f"--system: unknown system {name!r} (choose from {', '.join(known.values())})")
        if canon in baselines.unavailable:
            raise UserError(f"--system {canon}: {baselines.unavailable[canon]}")
        chosen.append(canon)
    order = list(known.values())
    return sorted(set(chosen), key=order.index)
