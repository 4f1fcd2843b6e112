"""Multiple-choice versions of the free-text benchmarks (benchmarks.md §1.4, §7).

``mc`` (paper-comparable) covers closed questions and native MC only:
- yes/no -> ``["yes", "no"]`` in that FIXED order (A = yes, B = no). HuatuoGPT's order is unconfirmed;
  a fixed order keeps runs comparable and lets a report state the chance level (50 %).
- "A or B (or C)?" closed questions -> the alternatives named in the question (``alternatives``); the
  gold must be one of them, else the item is left out of ``mc`` and counted.
- OmniMedVQA / MMMU -> their own options.
Protocol ``"huatuo"`` (default) reproduces the HuatuoGPT-Vision bundle: A-or-B questions only for SLAKE
(VQA-RAD test -> its 251 yes/no, SLAKE-en test -> yes/no + A-or-B; PathVQA closed is all yes/no; MMMU open
questions are not MC). ``"closed"`` uses A-or-B everywhere. The parser reads English "or"/"vs" only:
Chinese SLAKE "…还是…" questions get no options and are counted as skipped.

``open_mc`` covers the open questions: gold + k-1 distractors drawn, seeded by the item id, from the
same task+split's answers (same ``content_type``/``question_type`` first), never anything that
normalises like the gold. Build the pool from the *whole* split, even when benching with ``--limit``.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from mmedtui.tasks.base import Item
from mmedtui.tasks.scoring import gold_index, normalize

YES_NO = ["yes", "no"]
PROTOCOLS = ("huatuo", "closed")
HUATUO_ALTERNATIVES = frozenset({"slake"})  # tasks whose A-or-B closed questions the bundle kept
_WH = ("which", "what", "who", "where", "whose")
_TOKEN = re.compile(r"[\w'+/-]+|,")
_OR = ("or", "vs", "vs.", "versus")
# Words that end an alternative: function words, then the nouns an alternative is often followed by.
_FUNCTION = frozenset("of in on at than to used seen taken located relative shown highlighted found".split())
_STOP = _FUNCTION | frozenset("image images scan scans view side sides film picture".split())


def _strip_article(words: list[str]) -> list[str]:
    return words[1:] if len(words) > 1 and words[0].lower() in ("a", "an", "the") else words


def _cut(words: list[str], stop: frozenset[str]) -> list[str]:
    """``words`` up to the first stop word ("FLAIR image" -> "FLAIR"; "both sides of the lung" -> "both")."""
    out: list[str] = []
    for w in words:
        if out and w.lower() in stop:
            break
        out.append(w)
    return out


def _suffix(alts: list[list[str]]) -> int:
    """Words every alternative ends with ("T1 weighted" / "T2 weighted" -> 1)."""
    k = 0
    while all(len(a) > k + 1 for a in alts) and len({a[-k - 1].lower() for a in alts}) == 1:
        k += 1
    return k


def alternatives(question: str, gold: str | None) -> list[str] | None:
    """The alternatives an "A or B (or C)?" question names, in question order, if the gold is one of them
    (``gold`` None: the first wording found).

    The alternatives come from the question alone; the gold only picks the *phrasing granularity* among
    symmetric variants (["T1 weighted", "T2 weighted"] or ["T1", "T2"]; ["left", "right"] or
    ["left side", "right side"]), so every option is worded alike and none gives the answer away.
    Handles "Is this an MRI or a CT scan?", "Which is bigger in this image, lung, liver or heart?" (a
    wh-question whose list follows a comma) and "a T1 weighted, T2 weighted, or FLAIR image?".
    """
    tokens = _TOKEN.findall(question.replace("?", " ").replace("？", " "))
    ors = [i for i, t in enumerate(tokens) if t.lower() in _OR]
    if not ors:
        return None
    o = ors[-1]
    segments: list[list[str]] = [[]]
    for t in tokens[:o]:
        segments.append([]) if t == "," else segments[-1].append(t)
    segments = [seg for seg in segments if seg]
    right = _strip_article([t for t in tokens[o + 1 :] if t != ","])
    if not segments or not right:
        return None
    if len(segments) >= 2 and segments[0][0].lower() in _WH:  # stem, then a clean list
        return _pick([[_strip_article(m) for m in segments[1:]] + [_cut(right, _STOP)]], gold)
    if len(segments) >= 2:  # "a T1 weighted, T2 weighted, or FLAIR image": the middle items set the width
        middle = [_strip_article(m) for m in segments[1:]]
        head = _strip_article(segments[0][-len(middle[0]) :])
        return _pick([[head, *middle, _cut(right[: len(middle[0])], _STOP)]], gold)
    left = segments[0]
    width = next(
        (w for w in (3, 2) if len(left) >= w and len(right) >= w and left[-1].lower() == right[w - 1].lower()), 1
    )  # "contrast CT or non-contrast CT"
    alts = [_strip_article(left[-width:]), right[:width]]
    variants = [alts]
    if k := _suffix(alts):
        variants.append([a[:-k] for a in alts])
    tail = _cut(right[width:], _FUNCTION)  # "left or right side" -> ["left side", "right side"] too
    variants += [[a + tail[:m] for a in alts] for m in (1, 2) if len(tail) >= m]
    return _pick(variants, gold)


def same_answer(a: str, b: str) -> bool:
    """Normalised equality, also ignoring spaces ("Hypodense" vs "hypo dense")."""
    na, nb = normalize(a), normalize(b)
    return bool(na) and (na == nb or na.replace(" ", "") == nb.replace(" ", ""))


def _pick(variants: list[list[list[str]]], gold: str | None) -> list[str] | None:
    """The first variant of >= 2 distinct alternatives that contains the gold (any, when there is no gold)."""
    for alts in variants:
        texts = [" ".join(a) for a in alts if a]
        norm = {normalize(t).replace(" ", "") for t in texts}
        if len(texts) >= 2 and len(norm) == len(texts) and (gold is None or any(same_answer(t, gold) for t in texts)):
            return texts
    return None


_AUXILIARIES = frozenset(
    "is are am was were do does did can could has have had will would should shall may might must".split()
)


def question_options(question: str) -> list[str] | None:
    """The options a user's closed question implies, as the ``mc`` protocol words them: the alternatives of an
    "A or B?" question, ["yes", "no"] for a question that opens with an auxiliary verb ("Is there ...?"),
    else None (an open question). Used where a question arrives without options (``consult``)."""
    if alts := alternatives(question, None):
        return alts
    words = question.strip().split(maxsplit=1)
    return list(YES_NO) if words and words[0].lower() in _AUXILIARIES else None


def closed_options(item: Item, protocol: str = "huatuo") -> list[str] | None:
    """Options for a closed item under ``protocol``, or None when it has no fair MC form."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown mc protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")
    if normalize(item.answer) in YES_NO:
        return list(YES_NO)
    if protocol == "huatuo" and item.task not in HUATUO_ALTERNATIVES:
        return None
    return alternatives(item.question, item.answer)


@dataclass
class AnswerPool:
    """Distinct answers of one task+split, overall and per content_type/question_type (sorted: reproducible)."""

    by_group: dict[str, list[str]] = field(default_factory=dict)
    overall: list[str] = field(default_factory=list)


def _group(item: Item) -> str | None:
    value = item.meta.get("content_type") or item.meta.get("question_type")
    return str(value) if value else None


def build_pool(items: Iterable[Item]) -> AnswerPool:
    texts: dict[str, str] = {}  # normalised -> one representative text (the smallest, for determinism)
    groups: dict[str, set[str]] = defaultdict(set)
    for it in items:
        key = normalize(it.answer)
        if not key or key in YES_NO or it.kind == "mc":
            continue
        texts[key] = min(texts.get(key, it.answer), it.answer)
        if (grp := _group(it)) is not None:
            groups[grp].add(key)
    return AnswerPool({g: sorted(texts[k] for k in keys) for g, keys in groups.items()}, sorted(texts.values()))


def _draw(rng: random.Random, candidates: list[str], need: int, ok) -> list[str]:
    """Up to ``need`` distinct acceptable candidates. Big pools are probed at random (O(need) per item,
    the reward path must stay fast); small ones are filtered then sampled."""
    out: list[str] = []
    if len(candidates) > 64:
        for _ in range(20 * need):
            c = candidates[rng.randrange(len(candidates))]
            if ok(c, out):
                out.append(c)
                if len(out) == need:
                    return out
    rest = [c for c in candidates if ok(c, out)]
    return out + rng.sample(rest, min(need - len(out), len(rest)))


def open_options(item: Item, pool: AnswerPool, seed: int = 0, k: int = 4) -> list[str] | None:
    """Gold + up to k-1 distractors, shuffled; seeded by (seed, task, split, id). None if no distractor."""
    g = normalize(item.answer)
    g_set = set(g.split())

    def ok(c: str, chosen: list[str]) -> bool:  # not the gold, not a reordering of it, not a repeat
        n = normalize(c)
        return n != g and set(n.split()) != g_set and all(normalize(p) != n for p in chosen)

    rng = random.Random(f"{seed}:{item.task}:{item.split}:{item.id}")  # str seeds are stable across runs
    picked: list[str] = []
    for candidates in (pool.by_group.get(_group(item) or "", []), pool.overall):
        # Bound now: the picks of the earlier pools, which a candidate must not repeat either.
        picked += _draw(rng, candidates, k - 1 - len(picked), lambda c, out, before=picked: ok(c, before + out))
        if len(picked) >= k - 1:
            break
    if not picked:
        return None
    options = picked + [item.answer]
    rng.shuffle(options)
    return options


def mc_options(
    item: Item, pool: AnswerPool | None = None, seed: int = 0, *, protocol: str = "huatuo", k: int = 4
) -> list[str] | None:
    """The options the item is asked with: native, closed (``protocol``), or open (needs ``pool``)."""
    if item.kind == "mc":
        return list(item.options or []) or None
    if item.kind == "closed":
        return closed_options(item, protocol)
    return open_options(item, pool, seed, k) if pool is not None else None


@dataclass
class MCSet:
    entries: list[tuple[Item, list[str]]]
    skipped: int  # items of the right kind that have no fair MC form

    def __len__(self) -> int:
        return len(self.entries)


def mc_set(items: Iterable[Item], protocol: str = "huatuo") -> MCSet:
    """The ``mc`` metric's items: closed + native MC (open questions are not part of it)."""
    entries, skipped = [], 0
    for it in items:
        if it.kind == "open":
            continue
        opts = mc_options(it, protocol=protocol)
        if opts and gold_index(it, opts) is not None:
            entries.append((it, opts))
        else:
            skipped += 1
    return MCSet(entries, skipped)


def open_mc_set(items: list[Item], k: int = 4, seed: int = 0, pool: AnswerPool | None = None) -> MCSet:
    """The ``open_mc`` metric's items: the open questions with distractors from ``pool`` (default: ``items``)."""
    pool = pool or build_pool(items)
    entries, skipped = [], 0
    for it in items:
        if it.kind != "open":
            continue
        opts = open_options(it, pool, seed, k)
        if opts:
            entries.append((it, opts))
        else:
            skipped += 1
    return MCSet(entries, skipped)
