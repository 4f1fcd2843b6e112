"""Run the specialist panel over a training set once and keep every opinion: the attending's prompt material and
the curriculum's input (paper: opinions are generated once, before RL, so RL stays single-turn).

The consultation ``Pipeline`` (triage -> specialists, attending off) does the work, in batches. Results go to a
JSONL cache keyed by (model, image, question): the triage decision by (triage model, image hash, question), each
opinion by (specialist model + sampling, department, image hash, question). A "model" is its backend spec plus,
for local folders, the size and mtime of its weight files, so retrained weights are asked again. Lines are
appended whole (an interrupted collection resumes where it stopped); backend failures (timeouts) are not cached.
Test splits are refused.

    mmedtui train opinions --data-root ../shared/data --panel assets/panel.yaml --cache runs/opinions.jsonl
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from mmedtui.agents import roles
from mmedtui.agents.locate import LOCAL_BACKENDS, model_folder, weights_stamp
from mmedtui.agents.nearest_image_backend import NearestImageBackend
from mmedtui.agents.panel import DEFAULT_PANEL, AgentSpec, Panel, load_panel
from mmedtui.fileio import append_jsonl, read_jsonl
from trainer.data.images import ImageCache
from trainer.data.items import PanelCase, item_case, item_key, refuse_test

if TYPE_CHECKING:
    from mmedtui.tasks.base import Item
    from trainer.sections import OpinionsSection

# Outcomes worth caching, the same every time they are asked (these, and a backend's declines); anything else
# (timeouts, HTTP errors) is asked again next time.
_CACHEABLE_ERRORS = {None, "empty answer"}


def default_cache() -> Path:
    base = os.environ.get("MMEDTUI_CACHE_DIR") or Path.home() / ".cache" / "mmedtui"
    return Path(base) / "opinions.jsonl"


def cache_path(section: OpinionsSection) -> Path:
    return Path(section.cache).expanduser() if section.cache else default_cache()


def panel_for(section: OpinionsSection) -> Panel:
    return load_panel(section.panel or DEFAULT_PANEL)


# --- keys -----------------------------------------------------------------------------------------
def model_fingerprint(panel: Panel, spec: AgentSpec) -> str:
    """The backend spec (paths made absolute, weights stamped) plus the agent's sampling."""
    backend = dict(panel.models[spec.model])
    if backend.get("backend") in LOCAL_BACKENDS and "path" in backend:
        p = model_folder(backend["path"], panel.base_dir)
        if p.exists():
            backend["path"] = str(p.resolve())
            backend["weights"] = weights_stamp(p)
    backend.pop("api_key_env", None)
    sampling = asdict(spec.sampling())
    return hashlib.sha256(json.dumps([backend, sampling], sort_keys=True, default=str).encode()).hexdigest()[:24]


def entry_key(kind: str, model: str, department: str, image: str, question: str) -> str:
    return hashlib.sha256(json.dumps([kind, model, department, image, question]).encode()).hexdigest()[:32]


class OpinionStore:
    """The JSONL cache, loaded into memory; later lines win."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict[str, dict] = {r["key"]: r for r in read_jsonl(self.path) if "key" in r}

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def add(self, records: list[dict]) -> None:
        if not records:
            return
        append_jsonl(self.path, records)
        for r in records:
            self.entries[r["key"]] = r


# --- collection -----------------------------------------------------------------------------------
class Collector:
    def __init__(self, panel: Panel, store: OpinionStore, images: ImageCache):
        self.panel, self.store, self.images = panel, store, images
        self.triage_fp = model_fingerprint(panel, panel.triage)
        self._fps: dict[str, str] = {}

    def _fp(self, spec: AgentSpec) -> str:
        if spec.name not in self._fps:
            self._fps[spec.name] = model_fingerprint(self.panel, spec)
        return self._fps[spec.name]

    def _keys(self, item: Item) -> tuple[str, str]:
        case = item_case(item, self.images.full(item))
        return self.images.hash(item), roles.question_text(case)

    def cached(self, item: Item) -> PanelCase | None:
        image, question = self._keys(item)
        triage = self.store.get(entry_key("triage", self.triage_fp, "", image, question))
        if triage is None:
            return None
        department = triage["department"]
        opinions = []
        for spec in self.panel.specialists_for(department):
            hit = self.store.get(entry_key("specialist", self._fp(spec), department, image, question))
            if hit is None or "valid" not in hit:  # stored before answers were scored against the options
                return None
            opinions.append(
                roles.Opinion(
                    spec.name,
                    department,
                    hit.get("answer", ""),
                    hit.get("reasoning", ""),
                    hit.get("raw", ""),
                    hit.get("error"),
                    hit.get("invalid"),
                    hit.get("probability"),
                    bool(hit.get("constrained")),
                    # entries stored before the flag existed: their refusals are the backend's declines
                    bool(hit.get("declined", hit.get("error") in NearestImageBackend.REFUSALS)),
                )
            )
        return PanelCase(item, opinions, department)

    def run(self, items: Sequence[Item]) -> dict[str, PanelCase]:
        from mmedtui.consult import Pipeline
        from mmedtui.consult.pipeline import PipelineOptions

        cases = [item_case(item, self.images.full(item)) for item in items]
        records = Pipeline(self.panel, PipelineOptions(attending=False)).run(cases)
        out, lines, now = {}, [], round(time.time(), 3)
        for item, record in zip(items, records):
            image, question = self._keys(item)
            department = record.triage.department
            base = {
                "image": image,
                "question": question,
                "task": item.task,
                "split": item.split,
                "item_id": item.id,
                "time": now,
            }
            if record.triage.error is None:  # a failed triage's fallback department is asked again next run
                lines.append(
                    {
                        "key": entry_key("triage", self.triage_fp, "", image, question),
                        "kind": "triage",
                        "model": self.triage_fp,
                        "department": department,
                        "rationale": record.triage.rationale,
                        "fallback": record.triage.fallback,
                        **base,
                    }
                )
            specs = self.panel.specialists_for(department)
            for spec, op in zip(specs, record.specialists):
                if op.error not in _CACHEABLE_ERRORS and not op.declined:
                    continue
                lines.append(
                    {
                        "key": entry_key("specialist", self._fp(spec), department, image, question),
                        "kind": "specialist",
                        "model": self._fp(spec),
                        "name": spec.name,
                        "department": department,
                        "answer": op.answer,
                        "reasoning": op.reasoning,
                        "raw": op.raw,
                        "error": op.error,
                        "valid": op.valid,
                        "invalid": op.invalid,
                        "probability": op.probability,
                        "constrained": op.constrained,
                        "declined": op.declined,
                        **base,
                    }
                )
            out[item_key(item)] = PanelCase(item, list(record.specialists), department)
        self.store.add(lines)
        return out


def collect(
    items: Sequence[Item],
    panel: Panel,
    store: OpinionStore,
    images: ImageCache,
    *,
    batch_size: int = 16,
    console=None,
    only_cached: bool = False,
) -> dict[str, PanelCase]:
    """Opinions for every item, by ``item_key``: from the cache, else asked now (unless ``only_cached``), in
    batches."""
    for item in items:
        refuse_test(item.split, "opinion collection")
    collector = Collector(panel, store, images)
    result: dict[str, PanelCase] = {}
    missing = []
    for item in items:
        hit = collector.cached(item)
        if hit is None:
            missing.append(item)
        else:
            result[item_key(item)] = hit
    if missing and not only_cached:
        with _progress(console, len(items), len(items) - len(missing)) as advance:
            for start in range(0, len(missing), batch_size):
                batch = missing[start : start + batch_size]
                result.update(collector.run(batch))
                advance(len(batch))
    return result


class _progress:
    def __init__(self, console, total: int, done: int):
        self.console, self.total, self.done = console, total, done
        self.progress = None

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = self.console or Console(stderr=True)
        if console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold cyan]opinions"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
            )
            self.progress.start()
            self.task = self.progress.add_task("opinions", total=self.total, completed=self.done)
        else:
            console.print(f"collecting specialist opinions: {self.total - self.done} of {self.total} cases to ask")
        self._console = console
        return self.advance

    def advance(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done)
        elif self.done == self.total or self.done % 200 < n:
            self._console.print(f"  opinions {self.done}/{self.total}")

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False
