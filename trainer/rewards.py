"""GRPO rewards, the paper's: format (0.5 when the reply is ``<think>…</think><answer>…</answer>``) plus accuracy
(1.0 when right). The attending's accuracy is ``mmedtui.tasks.scoring.is_correct`` on the parsed answer, the very
scorer the bench reports; the triage doctor's is "the one department named is the labelled one".

TRL calls each function with the completions and every extra dataset column as keyword arguments; the function's
``__name__`` names its metric (``rewards/accuracy_reward/mean`` is the logged accuracy).
"""

from __future__ import annotations

import json
from functools import lru_cache

from mmedtui.agents.parsing import format_reward as _format_reward
from mmedtui.agents.parsing import parse_tagged
from mmedtui.departments import match_department


def completion_text(completion) -> str:
    """TRL passes conversational completions as ``[{"role": "assistant", "content": str | parts}]``."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else completion[-1]
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content or "")
    return ""


def format_reward(completions, **_) -> list[float]:
    return [_format_reward(completion_text(c)) for c in completions]


@lru_cache(maxsize=65536)
def _item(text: str):
    from trainer.data.items import item_from_json

    return item_from_json(text)


def answer_correct(text: str, item_text: str) -> bool:
    from mmedtui.tasks.scoring import is_correct

    return bool(is_correct(parse_tagged(text).answer, _item(item_text)))


def accuracy_reward(completions, item, **_) -> list[float]:
    """1.0 when the parsed ``<answer>`` is right for the row's item (``is_correct``), else 0."""
    return [1.0 if answer_correct(completion_text(c), it) else 0.0 for c, it in zip(completions, item)]


def named_departments(text: str, departments) -> list[str]:
    return [d for d in departments if match_department(text, (d,))]


def department_reward(completions, department, departments, **_) -> list[float]:
    """1.0 when the answer names exactly one department and it is the labelled one (no credit for hedging)."""
    out = []
    for c, gold, names in zip(completions, department, departments):
        named = named_departments(parse_tagged(completion_text(c)).answer, json.loads(names))
        out.append(1.0 if named == [gold] else 0.0)
    return out


def for_role(role: str) -> list:
    if role == "triage":
        return [format_reward, department_reward]
    return [format_reward, accuracy_reward]
