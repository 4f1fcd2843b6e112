"""The three roles: prompts (templates in ``prompts/``) and what their answers mean.

Each role turns cases into ``Prompt`` objects and ``Generation`` objects back into typed results. Parsing
never raises: malformed text becomes a visible degraded result (an empty answer, a fallback department).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING

from mmedtui.agents.answers import AnswerScore, OptionScores, settle
from mmedtui.agents.base import Backend, Generation, Prompt
from mmedtui.agents.parsing import parse_tagged
from mmedtui.departments import match_department
from mmedtui.tasks.voting import agreement, answer_key, majority

if TYPE_CHECKING:
    from mmedtui.agents.case import Case


@dataclass
class TriageDecision:
    department: str
    rationale: str
    raw: str = ""
    fallback: str | None = None  # None: the model named it; "scored": most likely by the model; "default"
    error: str | None = None  # why the triage backend failed (the department is then the fallback)

    def to_dict(self) -> dict:
        return {
            "department": self.department,
            "rationale": self.rationale,
            "fallback": self.fallback,
            "error": self.error,
        }


@dataclass
class Opinion:
    name: str
    department: str
    answer: str = ""
    reasoning: str = ""
    raw: str = ""
    error: str | None = None
    invalid: str | None = None  # why the answer is not valid: degenerate, names no option (None: valid)
    probability: float | None = None  # the model's probability for its answer, where the backend gives it
    constrained: bool = False  # the answer is the likeliest option, not the one generated
    declined: bool = False  # the backend chose not to answer (``error`` says why): missing, not failed

    @property
    def valid(self) -> bool:
        """A usable answer: no failure, not empty, not degenerate, one of the options when there are some."""
        return self.error is None and self.invalid is None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "department": self.department,
            "answer": self.answer,
            "reasoning": self.reasoning,
            "error": self.error,
            "declined": self.declined,
            **_validity(self),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Opinion:
        """The inverse of ``to_dict`` (stored bench outputs, also those written before validity existed)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Decision:
    answer: str
    reasoning: str
    raw: str = ""
    well_formed: bool = False
    followed: list[str] = field(default_factory=list)  # specialists whose answer it agrees with
    overruled: list[str] = field(default_factory=list)  # specialists it disagrees with
    votes: list[str] = field(default_factory=list)  # sampled answers when several were drawn (TTS)
    error: str | None = None
    invalid: str | None = None
    probability: float | None = None
    constrained: bool = False
    agreement: str | None = None  # the panel's agreement ("2/3 say yes", see voting.agreement), for the views

    @property
    def valid(self) -> bool:
        return self.error is None and self.invalid is None

    def to_dict(self) -> dict:
        out = {
            "answer": self.answer,
            "reasoning": self.reasoning,
            "followed": self.followed,
            "overruled": self.overruled,
            "error": self.error,
            **_validity(self),
        }
        if self.votes:
            out["votes"] = self.votes
        return out


def _validity(result: Opinion | Decision) -> dict:
    probability = None if result.probability is None else round(result.probability, 4)
    return {
        "valid": result.valid,
        "invalid": result.invalid,
        "probability": probability,
        "constrained": result.constrained,
    }


@cache
def template(role: str) -> tuple[Template, Template]:
    """(system, user) templates of a role, split at the ``---`` line of ``prompts/<role>.txt``."""
    text = resources.files("mmedtui.agents").joinpath(f"prompts/{role}.txt").read_text(encoding="utf-8")
    system, _, user = text.partition("\n---\n")
    return Template(system.strip()), Template(user.strip())


def question_text(case: Case) -> str:
    if not case.options:
        return case.question
    from mmedtui.tasks.scoring import lettered

    letters = "\n".join(lettered(case.options))
    return f"{case.question}\nOptions:\n{letters}\nAnswer with the option's letter."


def _prompt(role: str, case: Case, **fields: str) -> Prompt:
    system, user = template(role)
    values = {"question": question_text(case), **fields}
    images = (case.image, *case.extra_images)
    options = tuple(case.options) if case.options else None
    return Prompt(system.safe_substitute(values), user.safe_substitute(values), images, case.question, options)


# --- triage -------------------------------------------------------------------------------------
def triage_prompt(case: Case, departments: tuple[str, ...]) -> Prompt:
    return _prompt("triage", case, departments=", ".join(departments))


def parse_triage(
    gen: Generation, prompt: Prompt, departments: tuple[str, ...], backend: Backend, default: str
) -> TriageDecision:
    """Always one of ``departments``: the one named, else the model's likeliest, else ``default``."""
    tagged = parse_tagged(gen.text)
    named = match_department(tagged.answer, departments) or match_department(gen.text, departments)
    if named:
        return TriageDecision(named, tagged.reasoning, gen.text)
    scores = backend.score_choices(prompt, [f"<answer>{d}</answer>" for d in departments])
    if scores:
        best = max(range(len(departments)), key=scores.__getitem__)
        return TriageDecision(departments[best], tagged.reasoning, gen.text, fallback="scored")
    return TriageDecision(default, tagged.reasoning, gen.text, fallback="default")


# --- specialists --------------------------------------------------------------------------------
def specialist_prompt(case: Case, department: str) -> Prompt:
    return _prompt("specialist", case, department=department)


def parse_opinion(
    gen: Generation,
    name: str,
    department: str,
    options: list[str] | None = None,
    scores: OptionScores | AnswerScore | None = None,
) -> Opinion:
    if not gen.ok:
        return Opinion(name, department, raw=gen.text, error=gen.error, declined=bool(gen.meta.get("declined")))
    tagged = parse_tagged(gen.text)
    final = settle(gen, tagged.answer, options, scores)
    if not final.answer:
        return Opinion(name, department, reasoning=tagged.reasoning, raw=gen.text, error="empty answer")
    return Opinion(
        name,
        department,
        final.answer,
        tagged.reasoning,
        gen.text,
        invalid=final.invalid,
        probability=final.probability,
        constrained=final.constrained,
    )


# --- attending ----------------------------------------------------------------------------------
def opinions_text(opinions: list[Opinion]) -> str:
    usable = [o for o in opinions if o.valid]  # an invalid opinion counts as missing
    if not usable:
        return "(no specialist opinion is available; rely on your own reading)"
    return "\n".join(
        f"{i}. {o.name} ({o.department}): {o.answer}" + (f" (reasoning: {o.reasoning[:300]})" if o.reasoning else "")
        for i, o in enumerate(usable, 1)
    )


def attending_prompt(case: Case, opinions: list[Opinion]) -> Prompt:
    return _prompt("attending", case, opinions=opinions_text(opinions))


def parse_decision(
    gens: list[Generation],
    opinions: list[Opinion],
    options: list[str] | None,
    scores: list[OptionScores | AnswerScore | None] | None = None,
) -> Decision:
    """One or more sampled attending outputs -> a decision (majority answer when several, i.e. TTS).

    Each sample is settled first (an option, its probability, its validity); the vote counts valid samples
    only. With several samples the probability is the winner's mean over the scored samples.
    """
    scores = scores or [None] * len(gens)
    good = [(g, s) for g, s in zip(gens, scores) if g.ok]
    if not good:
        return Decision("", "", error=gens[0].error if gens else "no output", agreement=agreement(opinions, options))
    parsed = [(g, parse_tagged(g.text), s) for g, s in good]
    finals = [settle(g, t.answer, options, s) for g, t, s in parsed]
    best, keys = majority([f.answer if f.invalid is None else "" for f in finals], options)
    pick = best if best is not None else 0
    gen, tagged, _ = parsed[pick]
    final = finals[pick]
    winner = keys[best] if best is not None else ""
    probability = final.probability
    if len(parsed) > 1 and final.option is not None:
        probs = [s.probs[final.option] for _, _, s in parsed if isinstance(s, OptionScores)]
        probability = sum(probs) / len(probs) if probs else probability
    decision = Decision(
        final.answer,
        tagged.reasoning,
        gen.text,
        tagged.well_formed,
        votes=[f.answer for f in finals] if len(parsed) > 1 else [],
        invalid=final.invalid,
        probability=probability,
        constrained=final.constrained,
        agreement=agreement(opinions, options),
    )
    if not final.answer:
        decision.error = "empty answer"
    for o in opinions:
        if o.valid:
            agree = winner != "" and answer_key(o.answer, options) == winner
            (decision.followed if agree else decision.overruled).append(o.name)
    return decision
