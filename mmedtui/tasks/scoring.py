"""THE scorer: the bench's metrics and the RL accuracy reward both call these, so they are pure and fast.

Normalisation follows benchmarks.md §1.3 plus the lmms-eval SLAKE rules (lowercase, drop punctuation and
parentheses, yes/no synonyms in English and Chinese, "x ray"/"x-ray" -> "xray") and the VQA-eval habits
of dropping articles and spelling small numbers as digits. Multiple choice follows §1.2 / §6.5 (MMMU's
parser, last mention wins) but with **no random fallback**: an unparsed answer is ``None`` and scores wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmedtui.tasks.base import Item

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def lettered(options: list[str]) -> list[str]:
    """``["A. yes", "B. no"]``: options as every prompt, screen and transcript shows them."""
    return [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]


_YES = {"yes", "yeah", "yep", "true", "是", "是的", "对", "有", "包含", "存在", "正确", "可以"}
_NO = {"no", "nope", "false", "不是", "否", "不", "没有", "无", "不包含", "不存在", "不对", "错误", "不可以"}
_CJK_NO_PREFIX = ("不是", "没有", "不包含", "不存在", "不可以", "否", "不", "无")
_CJK_YES_PREFIX = ("是", "有", "包含", "存在", "对")
_NUMBERS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
_ARTICLES = {"a", "an", "the"}
_XRAY = re.compile(r"\bx[\s_-]?rays?\b")
_APOSTROPHE = re.compile(r"['’`]")
_PUNCT = re.compile(r"(?<!\d)[.,]|[.,](?!\d)|[^\w\s.,]|_")  # keeps "3.5" and "1,000"


def normalize(text: object) -> str:
    """Canonical answer text: ``"Yes."`` -> ``"yes"``, ``"X-Ray"`` -> ``"xray"``, ``"是的"`` -> ``"yes"``."""
    return _normalize("" if text is None else str(text))


@lru_cache(maxsize=1 << 16)  # the reward scores the same golds over and over
def _normalize(s: str) -> str:
    s = s.strip().lower()
    s = _APOSTROPHE.sub("", s)
    s = _PUNCT.sub(" ", s)  # punctuation of every script (。，？ too) and parentheses
    s = _XRAY.sub("xray", s)  # after the punctuation, so "x.ray" and "x(ray" are caught too (idempotent)
    words = [_NUMBERS.get(w, w) for w in s.split()]
    if len(words) > 1:
        words = [w for w in words if w not in _ARTICLES] or words
    s = " ".join(words)
    if s in _YES:
        return "yes"
    if s in _NO:
        return "no"
    return s


def is_yes_no(answer: object) -> bool:
    return normalize(answer) in ("yes", "no")


def yes_no(pred: object) -> str | None:
    """The yes/no a free-text prediction commits to: the whole answer, the one of yes/no it uses, or the
    first word when it uses both ("Yes, there is no fracture" -> yes). Chinese by prefix (不是 before 是)."""
    text = "" if pred is None else str(pred).strip()
    n = normalize(text)
    if n in ("yes", "no"):
        return n
    words = n.split()
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes != has_no:
        return "yes" if has_yes else "no"
    if words and words[0] in ("yes", "no"):
        return words[0]
    if text.startswith(_CJK_NO_PREFIX):
        return "no"
    if text.startswith(_CJK_YES_PREFIX):
        return "yes"
    return None


def closed_correct(pred: object, gold: object) -> bool:
    """Closed question: yes/no gold compares the committed yes/no; any other gold ("MRI", "Left")
    needs normalised equality (we do not guess which alternative a long answer means)."""
    g = normalize(gold)
    if g in ("yes", "no"):
        return yes_no(pred) == g
    return bool(g) and normalize(pred) == g


def _golds(gold: object) -> list[str]:
    return [str(g) for g in gold] if isinstance(gold, (list, tuple)) else [str(gold)]


def open_exact(pred: object, gold: object) -> bool:
    """Exact match after normalisation; ``gold`` may be a list of acceptable answers (MMMU open)."""
    p = normalize(pred)
    return bool(p) and any(p == normalize(g) for g in _golds(gold))


def open_recall(pred: object, gold: object) -> float:
    """LLaVA-Med recall: the share of gold tokens present in the prediction (best over several golds)."""
    p = set(normalize(pred).split())
    best = 0.0
    for g in _golds(gold):
        tokens = normalize(g).split()
        if tokens:
            best = max(best, sum(t in p for t in tokens) / len(tokens))
    return best


# Case-sensitive on purpose: a lowercase "a." or "answer is a lesion" is an article, not option A.
_EXPLICIT = re.compile(
    r"\(([A-Za-z])\)"  # (A) / (a)
    r"|(?<![A-Za-z0-9.])([A-Z])(?=[.):](?:\s|$))"  # A.  A)  A:
    r"|(?:[Aa]nswer|[Oo]ption|[Cc]hoice)\s*(?:is|:)?\s*\(?([A-Z])(?![\w'-])"
)  # "the answer is C"
_BARE = re.compile(r"(?<![\w'-])([A-Z])(?![\w'-])")


def parse_choice(pred: object, options: Sequence[str]) -> int | None:
    """Index of the option a free-text answer picks, or None (counted as wrong, never randomised).

    Order: the whole answer equals an option's text; a lone letter; an explicit letter ``(A)``/``A.``/
    "answer is A" (last mention); the answer starting with an option's text (yes/no style); a bare
    capital letter (last; a sentence-initial "A"/"I" article/pronoun is ignored); the last option text
    mentioned (longest at a tie, so "left kidney" beats "left").
    """
    if not options or pred is None:
        return None
    text = str(pred).strip()
    valid = LETTERS[: len(options)]
    norm_opts = [normalize(o) for o in options]
    n = normalize(text)
    if n and n in norm_opts:
        return norm_opts.index(n)
    bare = text.strip(" \t\n.:)(*[]")
    if len(bare) == 1 and bare.upper() in valid:
        return valid.index(bare.upper())
    hits = [(m.start(m.lastindex), m.group(m.lastindex).upper()) for m in _EXPLICIT.finditer(text)]
    hits = [h for h in hits if h[1] in valid]
    if hits:
        return valid.index(max(hits)[1])
    starts = [(len(o), i) for i, o in enumerate(norm_opts) if o and (n + " ").startswith(o + " ")]
    if starts:
        return max(starts)[1]
    bare_hits = []
    for m in _BARE.finditer(text):
        letter = m.group(1)
        sentence_start = m.start() == 0 or text[: m.start()].rstrip().endswith((".", "!", "?", "\n"))
        if letter in ("A", "I") and sentence_start and re.match(r"\s+[a-z]", text[m.end() :]):
            continue
        if letter in valid:
            bare_hits.append((m.start(), letter))
    if bare_hits:
        return valid.index(max(bare_hits)[1])
    padded = f" {n} "
    mentions = [(padded.rfind(f" {o} "), len(o), i) for i, o in enumerate(norm_opts) if o and f" {o} " in padded]
    return max(mentions)[2] if mentions else None


def gold_index(item: Item, options: Sequence[str] | None = None) -> int | None:
    """Where the gold answer sits in ``options`` (default: the item's native options)."""
    opts = item.options if options is None else options
    if not opts:
        return None
    letter = item.meta.get("answer_letter")
    if letter and opts == item.options and LETTERS.find(letter) in range(len(opts)):
        return LETTERS.index(letter)  # MMMU: the letter is authoritative even if two options read alike
    g = normalize(item.answer)
    norm = [normalize(o) for o in opts]
    if g in norm:
        return norm.index(g)
    compact = [n.replace(" ", "") for n in norm]  # "Hypodense" vs the question's "hypo dense"
    return compact.index(g.replace(" ", "")) if g and g.replace(" ", "") in compact else None


def is_correct(pred: object, item: Item, options: Sequence[str] | None = None) -> bool:
    """The accuracy reward. With options (native MC, or ``choices.mc_options``): the parsed choice must be
    the gold option. Without: closed -> ``closed_correct``; open -> ``open_exact`` against every accepted
    answer (exact, not recall: a reward must not pay for padding an answer with extra words)."""
    opts = options if options is not None else item.options
    if opts:
        choice = parse_choice(pred, opts)
        return choice is not None and choice == gold_index(item, opts)
    if item.kind == "closed":
        return closed_correct(pred, item.answer)
    return open_exact(pred, item.meta.get("answers") or item.answer)


def bootstrap_ci(correct: Sequence[bool], n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the accuracy, in percent.

    For 0/1 outcomes the number correct in a resample is exactly Binomial(n, p̂), so we draw that
    directly: same distribution as resampling items, O(n_boot) memory even for 89k OmniMedVQA items.
    """
    import numpy as np

    n = len(correct)
    if n == 0:
        return (float("nan"), float("nan"))
    p = float(np.mean(np.asarray(correct, dtype=float)))
    draws = np.random.default_rng(seed).binomial(n, p, size=n_boot) / n * 100.0
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return (float(lo), float(hi))


def paired_bootstrap_ci(
    a: Sequence[bool], b: Sequence[bool], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Accuracy of ``a`` minus accuracy of ``b`` on the same items, in points, with its 95 % paired bootstrap
    interval: resampling items keeps each item's two outcomes together, so the shared difficulty of the items
    cancels (much narrower than comparing the two separate intervals when the systems agree often).

    Each item contributes +1, 0 or -1; a resample is a multinomial draw of those three counts, so memory stays
    O(n_boot) however many items there are (as in ``bootstrap_ci``).
    """
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired outcomes differ in length: {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return (float("nan"), float("nan"), float("nan"))
    d = np.asarray(a, dtype=int) - np.asarray(b, dtype=int)
    p = np.array([np.mean(d == 1), np.mean(d == -1), np.mean(d == 0)])
    counts = np.random.default_rng(seed).multinomial(n, p / p.sum(), size=n_boot)
    draws = (counts[:, 0] - counts[:, 1]) / n * 100.0
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return (float(d.mean() * 100.0), float(lo), float(hi))


def difficulty(right: int, usable: int) -> str:
    """C-MARL's curriculum level of a case by its specialists: easy when every usable opinion is right, hard when
    none is, medium between (the training curriculum and the bench's breakdown both use this)."""
    if usable <= 0 or right <= 0:
        return "hard"
    return "easy" if right >= usable else "medium"
