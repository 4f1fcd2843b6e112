"""The three roles: prompts (templates in ``prompts/``) and what their answers mean.

Each role turns cases into ``Prompt`` objects and ``Generation`` objects back into typed results. Parsing
never raises: malformed text becomes a visible degraded result (an empty answer, a fallback department).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING

from mmedtui.agents.base import Backend, Generation, Prompt
from mmedtui.agents.parsing import parse_tagged
from mmedtui.departments import match_department

if TYPE_CHECKING:
    from mmedtui.consult.case import Case


@dataclass
class TriageDecision:
    department: str
    rationale: str
    raw: str = ""
    fallback: str | None = None  # None: the model named it; "scored": most likely by the model; "default"
    error: str | None = None     # why the triage backend failed (the department is then the fallback)

    def to_dict(self) -> dict:
        return {"department": self.department, "rationale": self.rationale, "fallback": self.fallback,
                "error": self.error}


@dataclass
class Opinion:
    name: str
    department: str
    answer: str = ""
    reasoning: str = ""
    raw: str = ""
    error: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "department": self.department, "answer": self.answer,
                "reasoning": self.reasoning, "error": self.error}


@dataclass
class Decision:
    answer: str
    reasoning: str
    raw: str = ""
    well_formed: bool = False
    followed: list[str] = field(default_factory=list)   # specialists whose answer it agrees with
    overruled: list[str] = field(default_factory=list)  # specialists it disagrees with
    votes: list[str] = field(default_factory=list)      # sampled answers when several were drawn (TTS)
    error: str | None = None

    def to_dict(self) -> dict:
        out = {"answer": self.answer, "reasoning": self.reasoning, "followed": self.followed,
               "overruled": self.overruled, "error": self.error}
        if self.votes:
            out["votes"] = self.votes
        return out


@cache
def template(role: str) -> tuple[Template, Template]:
    """(system, user) templates of a role, split at the ``---`` line of ``prompts/<role>.txt``."""
    text = resources.files("mmedtui.agents").joinpath(f"prompts/{role}.txt").read_text(encoding="utf-8")
    system, _, user = text.partition("\n---\n")
    return Template(system.strip()), Template(user.strip())


def question_text(case: Case) -> str:
    if not case.options:
        return case.question
    letters = "\n".join(f"{chr(65 + i)}. {opt}" for i, opt in enumerate(case.options))
    return f"{case.question}\nOptions:\n{letters}\nAnswer with the option's letter."


def _prompt(role: str, case: Case, **fields: str) -> Prompt:
    system, user = template(role)
    values = {"question": question_text(case), **fields}
    return Prompt(system.safe_substitute(values), user.safe_substitute(values), (case.image, *case.extra_images))


# --- triage -------------------------------------------------------------------------------------
def triage_prompt(case: Case, departments: tuple[str, ...]) -> Prompt:
    return _prompt("triage", case, departments=", ".join(departments))


def parse_triage(gen: Generation, prompt: Prompt, departments: tuple[str, ...], backend: Backend,
                 default: str) -> TriageDecision:
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


def parse_opinion(gen: Generation, name: str, department: str) -> Opinion:
    if not gen.ok:
        return Opinion(name, department, raw=gen.text, error=gen.error)
    tagged = parse_tagged(gen.text)
    if not tagged.answer:
        return Opinion(name, department, reasoning=tagged.reasoning, raw=gen.text, error="empty answer")
    return Opinion(name, department, tagged.answer, tagged.reasoning, gen.text)


# --- attending ----------------------------------------------------------------------------------
def opinions_text(opinions: list[Opinion]) -> str:
    usable = [o for o in opinions if o.error is None]
    if not usable:
        return "(no specialist opinion is available; rely on your own reading)"
    return "\n".join(f"{i}. {o.name} ({o.department}): {o.answer}"
                     + (f" (reasoning: {o.reasoning[:300]})" if o.reasoning else "")
                     for i, o in enumerate(usable, 1))


def attending_prompt(case: Case, opinions: list[Opinion]) -> Prompt:
    return _prompt("attending", case, opinions=opinions_text(opinions))


def parse_decision(gens: list[Generation], opinions: list[Opinion], options: list[str] | None) -> Decision:
    """One or more sampled attending outputs -> a decision (majority answer when several, i.e. TTS)."""
    from mmedtui.consult.voting import answer_key, majority

    good = [g for g in gens if g.ok]
    if not good:
        return Decision("", "", error=gens[0].error if gens else "no output")
    parsed = [(g, parse_tagged(g.text)) for g in good]
    best, keys = majority([t.answer for _, t in parsed], options)
    gen, tagged = parsed[best if best is not None else 0]
    winner = keys[best] if best is not None else ""
    decision = Decision(tagged.answer, tagged.reasoning, gen.text, tagged.well_formed,
                        votes=[t.answer for _, t in parsed] if len(parsed) > 1 else [])
    if not tagged.answer:
        decision.error = "empty answer"
    for o in opinions:
        if o.error is None:
            agree = winner != "" and answer_key(o.answer, options) == winner
            (decision.followed if agree else decision.overruled).append(o.name)
    return decision
