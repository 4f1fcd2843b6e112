"""The consultation pipeline: triage -> panel -> attending over a batch of cases, stage by stage.

Every stage batches its generation across cases (and across specialists that share a backend and a
sampling setting), and reports progress through ``emit(event)``. Where a case has options, each answer is
then scored against them (``agents.answers``): a local model answers with one option and its probability.
A single consultation is a batch of one; the bench runs hundreds. Ablations switch stages off.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mmedtui.agents import roles
from mmedtui.agents.answers import score_answers
from mmedtui.agents.base import Backend, Generation, Prompt, Sampling
from mmedtui.agents.case import Case
from mmedtui.agents.panel import AgentSpec, Panel
from mmedtui.consult.events import Event
from mmedtui.consult.record import ConsultRecord
from mmedtui.departments import department_for_modality
from mmedtui.errors import error_line

Emit = Callable[[Event], None]
GENERAL = "General physician"  # who the specialists role-play when triage is switched off (ablation)


@dataclass(frozen=True)
class PipelineOptions:
    triage: bool = True
    specialists: bool = True
    attending: bool = True
    attending_samples: int = 1  # > 1: test-time scaling, majority over sampled attending answers
    sample_temperature: float = 1.0
    seed: int = 0
    default_department: str = "Radiologist"


def _safe_generate(backend: Backend, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
    """A backend is supposed to report errors in-band; this keeps one that raises from sinking the run."""
    try:
        gens = backend.generate(prompts, sampling)
    except Exception as exc:  # noqa: BLE001 - any backend failure becomes a visible failed step
        return [Generation("", error=error_line(exc)) for _ in prompts]
    if len(gens) != len(prompts):
        return [Generation("", error="backend returned a wrong number of answers") for _ in prompts]
    return gens


class Pipeline:
    def __init__(self, panel: Panel, options: PipelineOptions = PipelineOptions(), attending: AgentSpec | None = None):
        self.panel = panel
        self.options = options
        self.attending_spec = attending or panel.attending

    def run(self, cases: Sequence[Case], emit: Emit | None = None) -> list[ConsultRecord]:
        emit = emit or (lambda event: None)
        started = time.perf_counter()
        records = [ConsultRecord(case) for case in cases]
        self._triage(records, emit)
        if self.options.specialists:
            self._specialists(records, emit)
        if self.options.attending:
            self.attend(records, emit)
        per_case = (time.perf_counter() - started) / max(1, len(cases))
        for record in records:
            record.seconds = per_case
        return records

    # -- stages ----------------------------------------------------------------------------------
    def _triage(self, records: list[ConsultRecord], emit: Emit) -> None:
        departments, spec = self.panel.departments, self.panel.triage
        if not self.options.triage:
            for r in records:
                r.triage = roles.TriageDecision(GENERAL, "triage switched off", fallback="default")
            return
        for i, _ in enumerate(records):
            emit(Event("triage", "started", i, name=spec.name))
        backend = self.panel.backend(spec.model)
        prompts = [roles.triage_prompt(r.case, departments) for r in records]
        gens = _safe_generate(backend, prompts, spec.sampling())
        for i, (r, prompt, gen) in enumerate(zip(records, prompts, gens)):
            default = department_for_modality(r.case.meta.get("modality"), self.options.default_department)
            if gen.ok:
                r.triage = roles.parse_triage(gen, prompt, departments, backend, default)
                emit(Event("triage", "done", i, name=spec.name, result=r.triage))
            else:
                r.triage = roles.TriageDecision(default, "", fallback="default", error=gen.error)
                emit(Event("triage", "failed", i, name=spec.name, result=r.triage, error=gen.error))

    def _specialists(self, records: list[ConsultRecord], emit: Emit) -> None:
        # (case, slot, spec) jobs grouped by (backend, sampling) so each group is one batched call.
        groups: dict[tuple, list[tuple[int, int, AgentSpec]]] = defaultdict(list)
        for i, r in enumerate(records):
            specs = self.panel.specialists_for(r.triage.department)
            r.specialists = [roles.Opinion(s.name, r.triage.department) for s in specs]
            for slot, s in enumerate(specs):
                emit(Event("specialist", "started", i, slot, s.name))
                groups[(s.model, s.sampling())].append((i, slot, s))
        for (model, sampling), jobs in groups.items():
            backend = self.panel.backend(model)
            prompts = [roles.specialist_prompt(records[i].case, records[i].triage.department) for i, _, _ in jobs]
            gens = _safe_generate(backend, prompts, sampling)
            options = [records[i].case.options for i, _, _ in jobs]
            scores = score_answers(backend, prompts, gens, options)
            for (i, slot, s), gen, scored in zip(jobs, gens, scores):
                opinion = roles.parse_opinion(
                    gen, s.name, records[i].triage.department, records[i].case.options, scored
                )
                records[i].specialists[slot] = opinion
                status = "failed" if opinion.error else "done"
                emit(Event("specialist", status, i, slot, s.name, result=opinion, error=opinion.error))

    def attend(self, records: list[ConsultRecord], emit: Emit) -> None:
        """The attending stage alone, over records whose opinions are already there (the bench reuses them)."""
        spec, opts = self.attending_spec, self.options
        for i, _ in enumerate(records):
            emit(Event("attending", "started", i, name=spec.name))
        backend = self.panel.backend(spec.model)
        prompts = [roles.attending_prompt(r.case, r.specialists) for r in records]
        if opts.attending_samples <= 1:
            draws = [_safe_generate(backend, prompts, spec.sampling())]
        else:
            draws = [
                _safe_generate(backend, prompts, spec.sampling(temperature=opts.sample_temperature, seed=opts.seed + k))
                for k in range(opts.attending_samples)
            ]
        options = [r.case.options for r in records]
        scores = [score_answers(backend, prompts, gens, options) for gens in draws]
        for i, r in enumerate(records):
            r.attending = roles.parse_decision(
                [d[i] for d in draws], r.specialists, r.case.options, [s[i] for s in scores]
            )
            status = "failed" if r.attending.error else "done"
            emit(Event("attending", status, i, name=spec.name, result=r.attending, error=r.attending.error))
