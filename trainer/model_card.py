"""Model cards as the Hugging Face Hub reads them: YAML front matter (license, datasets, tags, a model-index with
measured results) above the Markdown, and no machine paths in either.

A result is a mapping ``{task, split, value}`` (``task`` a benchmark name of ``mmedtui.tasks``, ``value`` a
closed-question accuracy in %) plus optional ``metric`` (default ``mc``) and ``name``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

LICENSE = "apache-2.0"
TAGS = ("mmedtui", "medical", "visual-question-answering", "research-only")
ROLE_TAGS = {"specialist": ["sft"], "triage": ["grpo"], "attending": ["grpo", "curriculum-learning"]}  # the method
_FENCE = "---\n"


def front_matter(
    model_name: str,
    datasets: Iterable[str],
    results: Sequence[dict] = (),
    base_model: str | None = None,
    tags: Iterable[str] = (),
    transformers: bool = True,
) -> str:
    """The ``---`` block that opens a card: ``datasets`` (Hub ids, ``hub_datasets``), ``tags`` after the
    project's own, ``results`` as a model-index (omitted when nothing was measured). ``transformers=False``:
    not a Qwen2.5-VL checkpoint (no library or pipeline named)."""
    from mmedtui.tasks import get_task

    meta: dict = {"license": LICENSE}
    if transformers:
        meta |= {"library_name": "transformers", "pipeline_tag": "image-text-to-text"}
        tags = ["qwen2_5_vl", *tags]
    meta |= {"tags": list(dict.fromkeys([*TAGS, *tags])), "datasets": sorted(set(datasets))}
    if base_model:
        meta["base_model"] = base_model
    if results:
        meta["model-index"] = [{"name": model_name, "results": [_result(r, get_task(r["task"])) for r in results]}]
    return _FENCE + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + _FENCE


def hub_datasets(tasks: Iterable[str]) -> list[str]:
    """The Hub ids of the benchmarks ``tasks`` (names this version does not know are left out)."""
    from mmedtui.tasks import get_task

    ids = set()
    for name in tasks:
        try:
            ids.add(get_task(name).hf_id)
        except Exception:  # noqa: BLE001 - a card must not fail a run
            continue
    return sorted(ids)


def _result(result: dict, task) -> dict:
    metric = result.get("metric", "mc")
    return {
        "task": {"type": "visual-question-answering", "name": "Medical visual question answering"},
        "dataset": {"type": task.hf_id, "name": task.name, "split": result["split"]},
        "metrics": [
            {
                "type": "accuracy",
                "value": float(result["value"]),
                "name": result.get("name", f"closed-question accuracy ({metric}, %)"),
            }
        ],
    }


def split_front_matter(text: str) -> tuple[dict, str]:
    """(the front matter as a mapping, the Markdown after it); ({}, text) for a card without one."""
    if not text.startswith(_FENCE) or (end := text.find("\n" + _FENCE, len(_FENCE) - 1)) < 0:
        return {}, text
    meta = yaml.safe_load(text[len(_FENCE) : end + 1]) or {}
    return (meta if isinstance(meta, dict) else {}), text[end + 1 + len(_FENCE) :].lstrip("\n")


def hub_id(path_or_id: str | None) -> str | None:
    """``path_or_id`` when it names a Hub model (owner/name, not a local folder), else None."""
    from mmedtui.agents.locate import looks_like_hub_id

    text = str(path_or_id or "")
    return text if looks_like_hub_id(text) and not Path(text).exists() else None


def model_ref(path_or_id: str) -> str:
    """A starting model as a card may name it: a Hub id as is, a local folder by its last two parts
    (``/home/me/runs/specB/final`` -> ``specB/final``), never the machine's absolute path."""
    if hub_id(path_or_id):
        return path_or_id
    return "/".join(Path(path_or_id).expanduser().resolve().parts[-2:])


_ABSOLUTE = re.compile(r"(?<![\w/:.~])~?/(?:[\w.+-]+/)+[\w.+-]+")


def portable(text: str) -> str:
    """``text`` with every absolute (or ``~``) path cut to its last two parts, as ``model_ref`` cuts them."""

    def cut(match: re.Match) -> str:
        path = match.group(0)
        stop = len(path.rstrip("."))  # a sentence's full stop is not part of the path
        return "/".join(path[:stop].split("/")[-2:]) + path[stop:]

    return _ABSOLUTE.sub(cut, text)
