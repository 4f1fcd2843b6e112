"""Computing units (see ``registry``) for a batch of cases with the one consultation ``Pipeline``.

The bench does not re-implement any stage: every unit is a ``Pipeline`` run with switches, and the
attending-type units re-run only the attending stage on stored triage + specialist outputs, so the
specialists answer each item once for every system that reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from mmedtui.agents.panel import AgentSpec, Panel
from mmedtui.agents.priors import load_prior
from mmedtui.agents.roles import Opinion, TriageDecision
from mmedtui.bench.registry import ALL_STAGES, unit_owner
from mmedtui.bench.systems import Baselines
from mmedtui.bench.work import digest, weights_stamp
from mmedtui.consult import Case, ConsultRecord, Pipeline
from mmedtui.consult.events import Event
from mmedtui.consult.pipeline import PipelineOptions
from mmedtui.errors import error_line

# Errors that mean "the model answered, badly": scored wrong, not counted as a failed item.
GARBAGE_ERRORS = frozenset({"empty answer"})


@dataclass(frozen=True)
class Settings:
    samples: int = 5  # TTS and self-consistency draws
    temperature: float = 1.0  # their sampling temperature (the paper's 1.0)
    seed: int = 0


def backend_error(error: str | None, declined: bool = False) -> bool:
    """A failure worth asking again: not a garbage answer, not a backend's deliberate decline."""
    return bool(error) and not declined and error not in GARBAGE_ERRORS


def unit_failures(data: dict) -> list[str]:
    """Backend errors inside a unit's output (garbage answers are not failures)."""
    errors = [data["error"]] if data.get("error") else []
    triage = data.get("triage") or {}
    if triage.get("error"):  # a fallback department after a failure: worth asking again next run
        errors.append(triage["error"])
    errors += [o["error"] for o in data.get("specialists") or [] if backend_error(o.get("error"), o.get("declined"))]
    attending = data.get("attending") or {}
    if backend_error(attending.get("error")):
        errors.append(attending["error"])
    return errors


def _record(case: Case, panel_data: dict | None) -> ConsultRecord:
    """A consultation rebuilt from a stored panel unit, ready for the attending stage."""
    record = ConsultRecord(case)
    if panel_data:
        t = panel_data.get("triage") or {}
        record.triage = TriageDecision(
            t.get("department", ""), t.get("rationale", ""), fallback=t.get("fallback"), error=t.get("error")
        )
        record.specialists = [Opinion.from_dict(o) for o in panel_data.get("specialists") or []]
    return record


def _dump(record: ConsultRecord, parts: tuple[str, ...]) -> dict:
    out: dict = {}
    if "triage" in parts:
        out["triage"] = record.triage.to_dict() if record.triage else None
    if "specialists" in parts:
        out["specialists"] = [o.to_dict() for o in record.specialists]
    if "attending" in parts:
        out["attending"] = record.attending.to_dict() if record.attending else None
    return out


class Units:
    """What each unit runs, and the configuration digest that keys its cached outputs."""

    def __init__(self, panel: Panel, baselines: Baselines, settings: Settings) -> None:
        self.panel, self.baselines, self.settings = panel, baselines, settings
        self._priors: dict = {}  # non-agent models, loaded once per run

    # -- configuration ---------------------------------------------------------------------------
    def attending_spec(self, unit: str) -> AgentSpec:
        """The unit's answering agent: its row's baseline agent, else its fallback's, else the panel's attending."""
        owner, agents = unit_owner(unit), self.baselines.agents
        return agents.get(owner.name) or (owner.fallback and agents.get(owner.fallback)) or self.panel.attending

    def options(self, unit: str) -> PipelineOptions:
        s, owner = self.settings, unit_owner(unit)
        switches = {} if owner.on_opinions else {stage: False for stage in ALL_STAGES if stage not in owner.stages}
        if not owner.sampled:
            return PipelineOptions(seed=s.seed, **switches)
        own = self.baselines.agents.get(owner.name)  # a baseline agent's own temperature wins over the bench's
        temperature = own.temperature if own and own.temperature > 0 else s.temperature
        return PipelineOptions(
            **switches,
            attending_samples=self.baselines.samples.get(owner.name) or s.samples,
            sample_temperature=temperature,
            seed=s.seed,
        )

    def _agent(self, spec: AgentSpec) -> dict:
        model = self.panel.models[spec.model]
        return {"spec": spec, "model": model, "weights": weights_stamp(model, self.panel.base_dir)}

    def fingerprint(self, unit: str) -> str:
        """Digest of everything besides the case that decides the unit's output."""
        p, owner = self.panel, unit_owner(unit)
        asks = set() if owner.on_opinions else set(owner.stages)
        agents: list = [self._agent(p.triage)] if "triage" in asks else []
        if "specialists" in asks:
            agents += [{k: [self._agent(s) for s in v]} for k, v in sorted(p.specialists.items())]
        if owner.on_opinions or "attending" in asks:
            agents.append(self._agent(self.attending_spec(unit)))
        if owner.checkpoint:
            folder = self.baselines.checkpoints[owner.name]
            agents.append({"checkpoint": weights_stamp({"backend": "transformers", "path": str(folder)}, folder)})
        prompts = {
            r: resources.files("mmedtui.agents").joinpath(f"prompts/{r}.txt").read_text(encoding="utf-8")
            for r in ("triage", "specialist", "attending")
        }
        return digest(
            {
                "unit": unit,
                "agents": agents,
                "options": self.options(unit),
                "departments": p.departments,
                "prompts": prompts,
            }
        )

    # -- computing -------------------------------------------------------------------------------
    def compute(
        self, unit: str, cases: list[Case], deps: list[dict | None], emit: Callable[[Event], None] | None = None
    ) -> list[dict]:
        """One output dict per case; a stage that raises marks every case of the batch failed."""
        try:
            return self._compute(unit, cases, deps, emit)
        except Exception as exc:  # noqa: BLE001 - e.g. a checkpoint that will not load: the bench goes on
            return [{"error": error_line(exc)} for _ in cases]

    def _compute(
        self, unit: str, cases: list[Case], deps: list[dict | None], emit: Callable[[Event], None] | None
    ) -> list[dict]:
        owner = unit_owner(unit)
        if owner.answer == "prior":  # a non-agent model: no pipeline
            if unit not in self._priors:
                self._priors[unit] = load_prior(self.baselines.checkpoints[owner.name])
            answers = self._priors[unit].answer(cases)
            return [{"prior": {"answer": a, "probability": round(p, 4)}} for a, p in answers]
        pipeline = Pipeline(self.panel, self.options(unit), attending=self.attending_spec(unit))
        if owner.on_opinions:
            records = [_record(c, d) for c, d in zip(cases, deps)]
            # The attending stage alone, on opinions computed once for every system (see module doc).
            pipeline.attend(records, emit or (lambda e: None))
        else:
            records = pipeline.run(cases, emit)
        return [_dump(r, owner.parts) for r in records]
