"""Systems x tasks: load each benchmark, ask the agents in chunks, score every system on the shared outputs.

How many times an item is asked: once per metric that covers it, i.e. at most twice — with options (``mc``
for closed / native-MC items, ``open_mc`` for open ones) and without (``closed`` / ``open``). The default
``--metrics mc`` asks the closed items once and never touches the open ones. Within one ask, each unit
(see ``registry``) runs once and feeds every system that reads it. Chunks of ``chunk_size`` cases go through
the pipeline together (it batches per stage); each finished chunk is appended to the work cache, so a
killed run resumes after its last whole chunk and ends with the same results as an uninterrupted one.
With ``blank_images`` each chunk is asked a second time with every scan flat grey (same size), scored into
``<metric>_blank`` cells; those answers are cached under keys of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from mmedtui import DISCLAIMER
from mmedtui.agents.case import Case, case_of
from mmedtui.agents.panel import Panel
from mmedtui.bench.registry import needed_units, unit_owner
from mmedtui.bench.score import METRICS, Cell, Outcome, outcome, score
from mmedtui.bench.systems import Baselines
from mmedtui.bench.units import Settings, Units, unit_failures
from mmedtui.bench.work import WorkCache, digest
from mmedtui.errors import DamagedData, DataError, error_line
from mmedtui.tasks import TASKS
from mmedtui.tasks.base import Item
from mmedtui.tasks.choices import mc_set, open_mc_set

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

Sink = Callable[[dict], None]
BLANK = "_blank"  # suffix of a metric scored with every scan replaced by flat grey (--blank-images)
GREY = (128, 128, 128)


@dataclass(frozen=True)
class BenchConfig:
    data_root: Path
    tasks: tuple[str, ...]
    systems: tuple[str, ...]
    split: str | None = None  # None: each task's default split
    metrics: tuple[str, ...] = ("mc",)
    limit: int | None = None  # at most this many items per (task, metric), in split order
    settings: Settings = field(default_factory=Settings)
    chunk_size: int = 32
    mc_protocol: str = "huatuo"
    n_boot: int = 1000
    work_dir: Path | None = None  # None: no resumable cache (in memory only)
    blank_images: bool = False  # also score every case with its scans flat grey (the image gain)


@dataclass
class Entry:
    """One case to ask: an item under one metric, with the options it is asked with (None: free text)."""

    item: Item
    metric: str
    options: list[str] | None


@dataclass
class TaskResult:
    task: str
    split: str
    in_domain: bool
    missing: str | None = None  # why the benchmark could not run (shown in the table's footer)
    layout: str = ""
    notes: list[str] = field(default_factory=list)
    n_items: int = 0  # items in the split
    n_cases: int = 0  # cases asked (items x metrics covering them)
    computed: int = 0  # cases that needed the models (the rest came from the work cache)
    outputs: int = 0  # agent outputs the rows read (cases x units)
    outputs_computed: int = 0  # of those, computed by this run (the rest came from the work cache)
    seconds: float = 0.0
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    @property
    def items_per_second(self) -> float | None:
        return self.computed / self.seconds if self.computed and self.seconds > 0 else None


def entries_for(
    items: list[Item], metrics: tuple[str, ...], limit: int | None, seed: int, protocol: str
) -> list[Entry]:
    """The cases of one task: per metric, the first ``limit`` items it covers."""
    out: list[Entry] = []
    for metric in METRICS:
        if metric not in metrics:
            continue
        if metric == "mc":
            chosen = [Entry(it, metric, opts) for it, opts in mc_set(items, protocol).entries]
        elif metric == "open_mc":  # distractors from the whole split, whatever the limit
            chosen = [Entry(it, metric, opts) for it, opts in open_mc_set(items, seed=seed).entries]
        else:
            chosen = [Entry(it, metric, None) for it in items if it.kind == metric]
        out += chosen[:limit] if limit is not None else chosen
    return out


def _case(entry: Entry, blank: bool = False) -> Case:
    images = entry.item.image_ref.load()
    if not images:
        raise DataError("no image")
    if blank:  # same size, no content: what is left is the question (and the dataset's modality label)
        images = [Image.new("RGB", image.size, GREY) for image in images]
    return case_of(entry.item, images, entry.options)


class Runner:
    def __init__(
        self,
        panel: Panel,
        baselines: Baselines,
        config: BenchConfig,
        progress: Progress | None = None,
        sink: Sink | None = None,
    ) -> None:
        self.panel, self.config, self.sink = panel, config, sink
        self.units = Units(panel, baselines, config.settings)
        self.progress = progress  # drawn on stderr by the CLI
        self.needed = needed_units(config.systems)
        self.fingerprints = {u: self.units.fingerprint(u) for u in self.needed}

    def run(self) -> list[TaskResult]:
        return [self.run_task(name) for name in self.config.tasks]

    def run_task(self, name: str) -> TaskResult:
        task = TASKS[name]
        split = self.config.split or task.default_split
        result = TaskResult(name, split, task.in_domain)
        fallback_note = None
        try:
            loaded = task.load(self.config.data_root, split)
        except DamagedData:  # there but unreadable: the user must hear of it, not see the task "missing"
            raise
        except DataError as exc:
            why = str(exc).removeprefix(f"{name}: ")
            loaded = None
            if self.config.split is None and split != "validation":
                # No split asked for and the default one is absent (SLAKE's test.json is often missing):
                # score the validation split instead, and say so in the column header and the notes.
                try:
                    loaded = task.load(self.config.data_root, "validation")
                except DataError:
                    loaded = None
            if loaded is None:
                result.missing = why if task.how_to_get in why else f"{why} {task.how_to_get}"
                return result
            fallback_note = f"{split} split not found ({why}); scored the validation split instead"
            split = result.split = "validation"
        result.layout, result.notes, result.n_items = loaded.layout, loaded.notes, len(loaded.items)
        if fallback_note:
            result.notes = [fallback_note, *result.notes]
        s = self.config.settings
        entries = entries_for(loaded.items, self.config.metrics, self.config.limit, s.seed, self.config.mc_protocol)
        passes = (False, True) if self.config.blank_images else (False,)  # real scans, then grey ones
        result.n_cases = len(entries) * len(passes)
        cache = WorkCache(self.config.work_dir / f"{name}-{split}.jsonl" if self.config.work_dir else None)
        bar = self.progress.add_task(f"{name}/{split}", total=len(entries)) if self.progress else None
        size = max(1, self.config.chunk_size)
        for start in range(0, len(entries), size):
            chunk = entries[start : start + size]
            for blank in passes:
                started = time.perf_counter()
                data, computed = self._chunk(chunk, name, split, cache, bar, blank, result)
                cache.flush()
                if computed:
                    result.seconds += time.perf_counter() - started
                    result.computed += computed
                self._score(chunk, data, name, split, result, BLANK if blank else "")
            if bar is not None:
                self.progress.update(bar, advance=len(chunk), description=f"{name}/{split}")
        return result

    def _chunk(
        self,
        chunk: list[Entry],
        task: str,
        split: str,
        cache: WorkCache,
        bar: TaskID | None,
        blank: bool = False,
        result: TaskResult | None = None,
    ) -> tuple[list[dict], int]:
        """Every needed unit of every case: from the cache, else computed in one batched pipeline run (counted
        in ``result``'s outputs)."""
        # Grey-image answers get keys of their own: the cache never serves one for the other.
        case_fps = [
            digest(
                [task, split, e.item.id, e.item.question, e.options, e.item.image_ref.names]
                + (["grey images"] if blank else [])
            )
            for e in chunk
        ]
        data: list[dict] = [{} for _ in chunk]
        cases: dict[int, Case | str] = {}  # loaded lazily: a fully cached chunk decodes no image
        touched: set[int] = set()
        for unit in self.needed:
            on_opinions = unit_owner(unit).on_opinions  # keyed by the opinions it was computed from, too
            keys = [
                digest([self.fingerprints[unit], fp, data[i].get("panel") if on_opinions else None])
                for i, fp in enumerate(case_fps)
            ]
            todo = []
            for i, key in enumerate(keys):
                hit = cache.get(key)
                if hit is not None:
                    data[i][unit] = hit
                else:
                    todo.append(i)
            if result is not None:
                result.outputs += len(keys)
                result.outputs_computed += len(todo)
            if not todo:
                continue
            if bar is not None:
                self.progress.update(bar, description=f"{task}/{split} [dim]{unit}{' (grey)' if blank else ''}[/]")
            for i in todo:
                if i not in cases:
                    try:
                        cases[i] = _case(chunk[i], blank)
                    except Exception as exc:  # noqa: BLE001 - an unreadable image fails that item only
                        cases[i] = f"image: {error_line(exc)}"
            runnable = [i for i in todo if isinstance(cases[i], Case)]
            outputs = (
                self.units.compute(unit, [cases[i] for i in runnable], [data[i].get("panel") for i in runnable])
                if runnable
                else []
            )
            for i, out in zip(runnable, outputs):
                data[i][unit] = out
                cache.put(keys[i], out, item_id=chunk[i].item.id, unit=unit, persist=not unit_failures(out))
            for i in todo:
                if not isinstance(cases[i], Case):
                    data[i][unit] = {"error": cases[i]}
            touched.update(todo)
        return data, len(touched)

    def _score(
        self, chunk: list[Entry], data: list[dict], task: str, split: str, result: TaskResult, suffix: str = ""
    ) -> None:
        """Add every system's verdicts to the cells of ``metric + suffix`` (``BLANK``: the grey-image pass)."""
        for entry, units in zip(chunk, data):
            for system in self.config.systems:
                out = outcome(system, units, entry.options)
                if out is None:  # a specialist this item's department did not call
                    continue
                scored = score(entry.metric, entry.item, entry.options, out)
                metric = entry.metric + suffix
                result.cells.setdefault((system, metric), Cell()).add(entry.item.id, scored, out.failed)
                if self.sink is not None:
                    self.sink(_sample(task, split, system, entry, out, scored, metric))


def _sample(task: str, split: str, system: str, entry: Entry, out: Outcome, scored: dict, metric: str) -> dict:
    """One line of samples.jsonl: the case as asked, every agent's output, the target and the verdict."""
    item = entry.item
    return {
        "task": task,
        "split": split,
        "id": item.id,
        "system": system,
        "metric": metric,
        "kind": item.kind,
        "question": item.question,
        "options": entry.options,
        "target": item.answer,
        "answer": out.answer,
        **{k: v for k, v in scored.items() if k != "correct"},
        "correct": {metric: scored["correct"]},
        "failed": out.failed,
        "error": out.error,
        "agents": out.agents,
        "disclaimer": DISCLAIMER,
    }
