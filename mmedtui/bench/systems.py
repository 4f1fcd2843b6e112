"""The bench's systems (the rows of Table 1) and the baseline / ablation checkpoints a panel file names.

Every system reads shared per-item agent outputs called *units*, so each agent answers an item once:

    unit            what it holds                                   systems reading it
    panel           triage decision + the triaged specialists       specialist:<name>, majority-vote
    attending       the panel's attending on those opinions         mmedagent-rl
    tts             N sampled attending answers, majority           mmedagent-rl-tts
    static          the untrained attending on the same opinions    static-pipeline
    no-curriculum   an attending trained without the curriculum     no-curriculum
    no-triage       specialists as "General physician" + attending  no-triage
    no-specialists  the attending alone (no opinions)               no-specialists
    self-consistency one model alone, sampled N times, majority     self-consistency

The attending-type units (attending, tts, static, no-curriculum) are computed on top of ``panel``.
A ``specialist:<name>`` row scores only the items whose department called that specialist (with a
``default`` list, all of them). No-specialists skips triage: the attending's prompt never sees the department.
A panel file names the extra checkpoints in an optional ``baselines:`` mapping (``Panel`` ignores it):

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
from mmedtui.errors import ConfigError, UserError

SPECIALIST_PREFIX = "specialist:"
BASELINES = ("majority-vote", "self-consistency", "static-pipeline")
OURS = ("mmedagent-rl", "mmedagent-rl-tts")
ABLATIONS = ("no-triage", "no-specialists", "no-curriculum")
FIXED_SYSTEMS = BASELINES + OURS + ABLATIONS
ATTENDING_UNITS = ("attending", "tts", "static", "no-curriculum")  # computed on the panel unit's opinions

SYSTEM_UNIT = {"majority-vote": "panel", "self-consistency": "self-consistency", "static-pipeline": "static",
               "mmedagent-rl": "attending", "mmedagent-rl-tts": "tts", "no-triage": "no-triage",
               "no-specialists": "no-specialists", "no-curriculum": "no-curriculum"}


def unit_of(system: str) -> str:
    return "panel" if system.startswith(SPECIALIST_PREFIX) else SYSTEM_UNIT[system]


@dataclass(frozen=True)
class Baselines:
    """The agents behind the baseline and ablation rows; ``unavailable`` says why a row cannot run."""

    static_attending: AgentSpec | None = None
    no_curriculum_attending: AgentSpec | None = None
    sc_agent: AgentSpec | None = None
    sc_samples: int | None = None
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
    """Why a transformers checkpoint is clearly absent (a local-looking path that is not there), else None."""
    model = panel.models[spec.model]
    if model.get("backend") != "transformers" or "path" not in model:
        return None
    raw = str(model["path"])
    path = Path(raw).expanduser()
    resolved = path if path.is_absolute() else panel.base_dir / path
    # Same rule as TransformersBackend: "org/name" may be a hub id, loadable only when online.
    hub_id = raw.count("/") == 1 and not raw.startswith((".", "/", "~"))
    if not resolved.is_dir() and (not hub_id or os.environ.get("HF_HUB_OFFLINE") == "1"):
        return f"checkpoint {resolved} not found"
    return None


def parse_baselines(data: dict | None, panel: Panel) -> Baselines:
    data = data or {}
    raw = data.get("baselines") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{panel.source}: 'baselines' must map system names to settings")
    unknown = sorted(set(raw) - {"static-pipeline", "no-curriculum", "self-consistency"})
    if unknown:
        raise ConfigError(f"{panel.source}: baselines: unknown system(s) {', '.join(unknown)}")

    def entry(system: str, key: str) -> AgentSpec | None:
        section = raw.get(system) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{panel.source}: baselines.{system} must be a mapping")
        return _agent(section[key], f"baselines.{system}.{key}", panel) if key in section else None

    static = entry("static-pipeline", "attending")
    if static is None and data.get("attending_base") is not None:
        static = _agent(data["attending_base"], "attending_base", panel)
    nocurr = entry("no-curriculum", "attending")
    sc_agent = entry("self-consistency", "agent")
    samples = (raw.get("self-consistency") or {}).get("samples")
    if samples is not None and (not isinstance(samples, int) or samples < 1):
        raise ConfigError(f"{panel.source}: baselines.self-consistency.samples must be a positive integer")
    unavailable = {}
    for system, spec in (("static-pipeline", static), ("no-curriculum", nocurr)):
        why = f"needs baselines.{system}.attending in the panel file" if spec is None else _missing_checkpoint(panel, spec)
        if why:
            unavailable[system] = why
    return Baselines(static, nocurr, sc_agent, samples, unavailable)


def load_bench_panel(path: str | Path | None) -> tuple[Panel, Baselines]:
    """The panel plus its ``baselines:`` (read from the same YAML, which ``load_panel`` already validated)."""
    from mmedtui.agents.panel import load_panel

    panel = load_panel(path)
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
