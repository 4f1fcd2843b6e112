"""The Rich table in the shape of the paper's Table 1: systems as rows, benchmarks then domain averages."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mmedtui import DISCLAIMER
from mmedtui.bench.output import GAIN
from mmedtui.bench.registry import GROUPS, SPECIALIST_PREFIX
from mmedtui.bench.registry import system as registry_entry
from mmedtui.bench.runner import TaskResult

TABLE_ORDER = ("vqa-rad", "slake", "pathvqa", "omnimedvqa", "mmmu-med")
TITLES = {
    "vqa-rad": "VQA-RAD",
    "slake": "SLAKE",
    "pathvqa": "PathVQA",
    "omnimedvqa": "OmniMedVQA",
    "mmmu-med": "MMMU-Med",
}
METRIC_WORDS = {
    "mc": "multiple-choice accuracy over closed questions",
    "open_mc": "multiple-choice accuracy over open questions (seeded distractors)",
    "closed": "free-text closed accuracy",
    "open": "free-text open exact match",
}


def _group(system: str) -> int:
    return GROUPS.index(registry_entry(system).group)


def _cell(row: dict | None, metric: str, best: bool) -> Text:
    if row is None or row["metrics"].get(metric) is None:
        return Text("-", style="dim")
    text = Text(f"{row['metrics'][metric]:.1f}", style="bold" if best else "")
    lo, hi = row["ci95"][metric]
    text.append(f"\n[{lo:.1f}, {hi:.1f}]", style="dim")
    if row["failed"][metric]:
        text.append(f"\n{row['failed'][metric]} failed", style="red")
    if row.get("declined", {}).get(metric):  # results written before declines were counted have none
        text.append(f"\n{row['declined'][metric]} declined", style="dim")
    return text


def render(
    rows: list[dict],
    tasks: list[TaskResult],
    systems: tuple[str, ...],
    metric: str,
    avgs: dict[str, dict[str, float | None]],
    paired: list[dict] | None = None,
) -> Group:
    ran = sorted(tasks, key=lambda t: TABLE_ORDER.index(t.task) if t.task in TABLE_ORDER else 99)
    by = {(r["system"], r["task"]): r for r in rows}
    table = Table(title=f"mmedtui bench - {metric}", title_justify="left")
    table.add_column("system", no_wrap=True)
    for t in ran:
        n = max((r["counts"].get(metric, 0) for r in rows if r["task"] == t.task), default=0)
        head = f"{TITLES.get(t.task, t.task)}\n{t.split}" + ("\nmissing" if t.missing else f" n={n}")
        table.add_column(head, justify="right", style="dim" if t.missing else None)
    domains = [
        (key, label)
        for key, label, flag in (("in_domain", "in-domain\navg", True), ("out_of_domain", "out-of-domain\navg", False))
        if any(t.in_domain == flag and not t.missing for t in ran)
    ]
    for _, label in domains:
        table.add_column(label, justify="right")
    grey = any(GAIN in a for a in avgs.values())  # --blank-images
    if grey:
        table.add_column("image\ngain", justify="right")
    best = {
        t.task: max((by[(s, t.task)]["metrics"].get(metric) or -1 for s in systems if (s, t.task) in by), default=None)
        for t in ran
    }
    shown = [s for s in systems if any((s, t.task) in by for t in ran)] or list(systems)
    for i, system in enumerate(shown):
        cells = []
        for t in ran:
            row = by.get((system, t.task))
            cells.append(_cell(row, metric, row is not None and row["metrics"].get(metric) == best[t.task]))
        for key, _ in domains:
            value = avgs.get(system, {}).get(key)
            cells.append(Text("-" if value is None else f"{value:.1f}", style="dim" if value is None else ""))
        if grey:
            gain = avgs.get(system, {}).get(GAIN)
            cells.append(Text("-" if gain is None else f"{gain:+.1f}", style="dim" if gain is None else ""))
        last = i + 1 == len(shown) or _group(shown[i + 1]) != _group(system)
        table.add_row(escape(system), *cells, end_section=last)
    return Group(table, footer(rows, tasks, metric, paired or []))


def _paired_line(task: str, pairs: list[dict], rows: list[dict], metric: str) -> str:
    """One benchmark's gaps: against majority vote, the attending before RL, and the best specialist."""
    acc = {r["system"]: r["metrics"].get(metric) or -1 for r in rows if r["task"] == task}
    specialists = [p for p in pairs if p["minus"].startswith(SPECIALIST_PREFIX)]
    shown = [p for p in pairs if not p["minus"].startswith(SPECIALIST_PREFIX)]
    if specialists:
        shown.append(max(specialists, key=lambda p: acc.get(p["minus"], -1)))
    gaps = ", ".join(f"- {p['minus']} {p['diff']:+.1f} [{p['ci95'][0]:+.1f}, {p['ci95'][1]:+.1f}]" for p in shown)
    return f"{TITLES.get(task, task)}: {pairs[0]['system']} {gaps}"


def footer(rows: list[dict], tasks: list[TaskResult], metric: str, paired: list[dict] | None = None) -> Text:
    text = Text(
        f"{metric}: {METRIC_WORDS.get(metric, metric)} (%), 95 % bootstrap CI in brackets; averages are "
        "unweighted over the benchmarks that ran; failed and declined items count as wrong.",
        style="dim",
    )
    if metric == "mc":
        text.append("\nChance on yes/no items is 50 %.", style="dim")
    if any(GAIN in r["metrics"] for r in rows):
        text.append(
            f"\nimage gain: {metric} minus {metric} with every scan replaced by a flat grey image of the "
            "same size (--blank-images), in points, averaged like the benchmarks; per benchmark in "
            f"results.json ({metric}_blank, image_gain).",
            style="dim",
        )
    by_task: dict[str, list[dict]] = {}
    for p in paired or []:
        by_task.setdefault(p["task"], []).append(p)
    if by_task:
        text.append(
            "\nPaired differences in points (same items; 95 % paired bootstrap CI; the best specialist "
            "shown, all in results.json):",
            style="dim",
        )
        for task, pairs in by_task.items():
            text.append("\n  " + _paired_line(task, pairs, rows, metric), style="dim")
    unparsed = sum(r["unparsed"].get(metric, 0) for r in rows)
    if unparsed:
        text.append(
            f"\n{unparsed} answer(s) over all rows named no option (counted wrong; see samples.jsonl).", style="dim"
        )
    for t in tasks:
        if t.missing:
            text.append(f"\nmissing {t.task} ({t.split}): ", style="yellow")
            text.append(t.missing)
    text.append(f"\n{DISCLAIMER}", style="italic")
    return text
