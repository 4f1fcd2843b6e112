"""The five benchmarks: one module each (loader + quirks), one shared scorer, MC construction.

``TASKS`` maps the CLI names (``vqa-rad``, ``slake``, ``pathvqa``, ``omnimedvqa``, ``mmmu-med``) to their
``Task`` objects; formats are documented in ``../shared/docs/benchmarks.md``.
"""

from __future__ import annotations

from mmedtui.errors import UserError
from mmedtui.tasks import mmmu_med, omnimedvqa, pathvqa, slake, vqa_rad
from mmedtui.tasks.base import ImageRef, ImageSource, Item, LoadResult, Task, canonical_split

TASKS: dict[str, Task] = {t.name: t for t in (vqa_rad.TASK, slake.TASK, pathvqa.TASK, omnimedvqa.TASK, mmmu_med.TASK)}
IN_DOMAIN = tuple(n for n, t in TASKS.items() if t.in_domain)
OUT_OF_DOMAIN = tuple(n for n, t in TASKS.items() if not t.in_domain)


def get_task(name: str) -> Task:
    """The task called ``name`` (``vqa_rad`` and any case accepted); a UserError names the valid ones."""
    key = name.strip().lower().replace("_", "-")
    if key not in TASKS:
        raise UserError(f"unknown task {name!r} (choose from {', '.join(TASKS)})")
    return TASKS[key]


__all__ = [
    "IN_DOMAIN",
    "OUT_OF_DOMAIN",
    "TASKS",
    "ImageRef",
    "ImageSource",
    "Item",
    "LoadResult",
    "Task",
    "canonical_split",
    "get_task",
]
