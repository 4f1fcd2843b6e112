"""Lenient parsing of model output. Nothing here raises, whatever the text (empty, garbage, huge)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

MAX_CHARS = 20_000  # longer outputs are cut before parsing: regexes stay linear and cheap

_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_STRICT = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.S | re.I)
_TAG = re.compile(r"</?(think|answer)>", re.I)
# A loop: a piece of 2-30 characters four or more times in a row ("CT CT CT CT", "cardiacardiacardiacardia"),
# or one character six or more times ("??????"). Ordinary words do neither; digits may ("1000000 cells").
_LOOP = re.compile(r"(\S.{1,29}?)(?:[\s,.;:-]*\1){3,}|(\S)\2{5,}", re.S)
# A loop the local models' decoding rule breaks up ("CT CT face CT CT face face CT CT"): in eight or more words,
# one word (not a little word such as "the") is four in ten of them.
_WORD = re.compile(r"[A-Za-z]+")
_LITTLE = frozenset("the a an and of is are in on to".split())


@dataclass(frozen=True)
class Tagged:
    reasoning: str
    answer: str
    well_formed: bool  # exactly <think>…</think><answer>…</answer>: what the format reward pays for


def parse_tagged(text: str | None) -> Tagged:
    """Split ``<think>…</think><answer>…</answer>``; fall back to the last non-empty line as the answer."""
    text = (text or "")[:MAX_CHARS]
    think = _THINK.search(text)
    answer = _ANSWER.search(text)
    reasoning = think.group(1).strip() if think else ""
    if answer:
        final = answer.group(1).strip()
    else:
        # Unclosed <answer> or no tags at all: take what follows the last tag, else the last line.
        tail = _TAG.split(text)[-1] if _TAG.search(text) else text
        lines = [ln.strip() for ln in tail.strip().splitlines() if ln.strip()]
        final = lines[-1] if lines else ""
        if not think:
            reasoning = _TAG.sub("", text[: len(text) - len(tail)]).strip() if tail != text else ""
    return Tagged(reasoning=reasoning, answer=_TAG.sub("", final).strip()[:500], well_formed=bool(_STRICT.match(text)))


def degenerate(text: str | None) -> bool:
    """True for text caught in a repeated-token loop (a degenerate generation, not an answer)."""
    text = (text or "")[:MAX_CHARS]
    if any(not (m.group(1) or m.group(2)).isdigit() for m in _LOOP.finditer(text)):
        return True
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < 8:
        return False
    top = Counter(w for w in words if w not in _LITTLE).most_common(1)
    return bool(top) and top[0][1] >= 0.4 * len(words)


def format_reward(text: str | None) -> float:
    """0.5 when the output is wrapped as ``<think>…</think><answer>…</answer>``, else 0 (the paper's)."""
    return 0.5 if parse_tagged(text).well_formed else 0.0
