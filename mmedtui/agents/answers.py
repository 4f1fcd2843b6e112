"""What an agent's answer is worth: which option it is, how likely the model thought it, and whether it is valid.

With options, a backend that can score text (the local transformers one) answers with exactly one option,
as lm-evaluation-harness scores multiple choice: after the model's own reasoning (its reply up to
``<answer>``), each ``<answer>{option}</answer>`` is scored as the continuation; the softmax over the options'
summed log-probabilities is the answer's probability. A generated answer that already names an option is kept
(its probability read from the same softmax); any other is replaced by the likeliest option (``constrained``).
Without options, the probability of a free-text answer is that of ``<answer>{answer}</answer>`` there.

A backend that cannot score (a remote API) keeps its answer, and an answer that names no option, is empty or
loops is marked invalid, never mapped onto an option. Its probability comes from the server's token
log-probabilities where it sent them (``Generation.meta["token_logprobs"]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mmedtui.agents.base import Backend, Continuations, Generation, Prompt
from mmedtui.agents.parsing import degenerate, parse_tagged
from mmedtui.tasks.scoring import parse_choice

NO_OPTION = "names no option"
DEGENERATE = "degenerate answer (repeated text)"


@dataclass(frozen=True)
class OptionScores:
    """The options' probabilities for one generation (softmax over their summed log-probabilities)."""

    probs: tuple[float, ...]


@dataclass(frozen=True)
class AnswerScore:
    """A free-text answer's probability: exp of the log-likelihood of ``<answer>{answer}</answer>`` after the
    model's reasoning (no options to normalise over)."""

    probability: float


@dataclass(frozen=True)
class Settled:
    """One generation's final answer."""

    answer: str
    probability: float | None = None
    constrained: bool = False  # True: the generated answer named no option; the likeliest one was taken
    invalid: str | None = None  # why the answer is not valid (None: valid)
    option: int | None = None  # index of the option the answer is, when there are options


def invalid_reason(answer: str, options: Sequence[str] | None) -> str | None:
    """Why ``answer`` is not a valid answer (None when it is): empty, degenerate, or naming no option."""
    if not answer.strip():
        return "empty answer"
    if degenerate(answer):
        return DEGENERATE
    if options and parse_choice(answer, options) is None:
        return NO_OPTION
    return None


def reply_prefix(text: str) -> str:
    """The reply up to where the answer goes: before ``<answer>``, else after the last ``</think>``, else ''."""
    lower = text.lower()
    at = lower.find("<answer>")
    if at >= 0:
        return text[:at]
    end = lower.rfind("</think>")
    return text[: end + len("</think>")] if end >= 0 else ""


def _softmax(scores: Sequence[float]) -> tuple[float, ...]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return tuple(e / total for e in exps)


def score_answers(
    backend: Backend, prompts: Sequence[Prompt], gens: Sequence[Generation], options: Sequence[Sequence[str] | None]
) -> list[OptionScores | AnswerScore | None]:
    """One batched scoring call for every successful generation: its case's options, or else its own answer."""
    todo, requests = [], []
    for i, (gen, opts) in enumerate(zip(gens, options)):
        if not gen.ok:
            continue
        if opts:
            texts = tuple(f"<answer>{o}</answer>" for o in opts)
        else:
            answer = parse_tagged(gen.text).answer
            if invalid_reason(answer, None):
                continue
            texts = (f"<answer>{answer}</answer>",)
        todo.append(i)
        requests.append(Continuations(prompts[i], reply_prefix(gen.text), texts))
    if not todo:
        return [None] * len(gens)
    try:
        scores = backend.score_continuations(requests)
    except Exception:  # noqa: BLE001 - scoring is an extra: a backend that fails it keeps its plain answers
        scores = [None] * len(requests)
    out: list[OptionScores | AnswerScore | None] = [None] * len(gens)
    for i, request, s in zip(todo, requests, scores):
        if s and len(s) == len(request.continuations) and all(math.isfinite(x) for x in s):
            out[i] = OptionScores(_softmax(s)) if options[i] else AnswerScore(math.exp(s[0]))
    return out


def settle(
    gen: Generation, answer: str, options: Sequence[str] | None, scores: OptionScores | AnswerScore | None = None
) -> Settled:
    """The final answer of one successful generation whose parsed answer is ``answer``."""
    reason = invalid_reason(answer, options)
    if options and isinstance(scores, OptionScores):
        named = parse_choice(answer, options) if reason is None else None
        if named is not None:
            return Settled(answer, scores.probs[named], option=named)
        best = max(range(len(options)), key=scores.probs.__getitem__)
        return Settled(options[best], scores.probs[best], constrained=True, option=best)
    option = parse_choice(answer, options) if options and reason is None else None
    if reason is not None:
        probability = None
    elif isinstance(scores, AnswerScore) and not options:
        probability = scores.probability
    else:
        probability = answer_probability(gen, answer)
    return Settled(answer, probability, invalid=reason, option=option)


def answer_probability(gen: Generation, answer: str) -> float | None:
    """exp(sum of the log-probabilities of the tokens that spell ``answer``) from a server's logprobs, or the
    probability a backend states itself (``meta["probability"]``: a nearest-image model's share of votes)."""
    if gen.meta.get("probability") is not None:
        return float(gen.meta["probability"])
    tokens = gen.meta.get("token_logprobs")
    if not tokens or not answer:
        return None
    try:
        pieces = [(str(t), float(lp)) for t, lp in tokens]
    except (TypeError, ValueError):
        return None
    text = "".join(t for t, _ in pieces)
    tag = text.lower().rfind("<answer>")
    start = text.find(answer, tag + len("<answer>")) if tag >= 0 else text.rfind(answer)
    if start < 0:
        return None
    end, at, total = start + len(answer), 0, 0.0
    for token, logprob in pieces:  # every token that overlaps the answer's characters
        if at < end and at + len(token) > start:
            total += logprob
        at += len(token)
    return math.exp(total) if math.isfinite(total) else None
