"""Write the measured tables of ``assets/README.md`` and the shipped models' measured figures (their notes and
cards) from the result files, so no figure is copied by hand.

    python scripts/results_page.py --bench runs/bench-all/results.json --runs runs/embedded   # keep + regenerate
    python scripts/results_page.py                                                            # regenerate only

The speed section comes from ``assets/results/speed.json``, which the speed scripts write (``--output``), and the
table by question type from ``assets/results/by_type.json`` (``scripts/by_type.py --output``).
``--bench`` and ``--runs`` first copy the bench's ``results.json`` and the figures of the build's runs (vision
pre-training, each finished attending run's ``state.json``) into ``assets/results/``: towers are added to
those kept, the attending runs replace the kept ones as a set (one build's). The page is then generated from
those files. Each generated block sits between ``<!-- generated:NAME -->`` and ``<!-- /generated -->``
markers; the prose around them is kept. Each model of ``assets/panel.yaml`` gets its bench row (the first
system that runs it: a specialist's own row, the attending's ``mmedagent-rl``, a baseline's) in
``assets/notes/NAME.md``, its model-index and a generated sentence, and its card is rebuilt from the notes
(``export.recard``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import yaml

from export import recard
from mmedtui.bench.difficulty import LEVELS  # easy / medium / hard: how many specialists were right (all, some, none)
from mmedtui.bench.latency import WARM
from trainer.model_card import portable, split_front_matter

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "assets" / "results"
PAGE = ROOT / "assets" / "README.md"
PANEL = ROOT / "assets" / "panel.yaml"
NOTES = ROOT / "assets" / "notes"
README = ROOT / "README.md"  # only its headline table
TASK_NAMES = {("vqa-rad", "test"): "VQA-RAD test", ("slake", "validation"): "SLAKE validation"}


def _command(doc: dict) -> str:
    """The bench command that wrote ``doc``, as a user types it."""
    return " ".join(doc.get("run", {}).get("command") or ["mmedtui", "bench", "--all"])


def _cell(row: dict | None, metric: str = "mc") -> str:
    if not row or row["metrics"].get(metric) is None:
        return "–"
    lo_hi = (row.get("ci95") or {}).get(metric)
    ci = f" [{lo_hi[0]:.1f}, {lo_hi[1]:.1f}]" if lo_hi else ""
    return f"{row['metrics'][metric]:.1f}{ci}"


def bench_table(doc: dict) -> str:
    rows = doc["results"]
    tasks = [k for k in TASK_NAMES if any((r["task"], r["split"]) == k for r in rows)]
    systems = list(dict.fromkeys(r["system"] for r in rows))
    by = {(r["system"], r["task"], r["split"]): r for r in rows}
    gain = any("image_gain" in r["metrics"] for r in rows)
    head = ["system"] + [f"{TASK_NAMES[t]} (n={by.get((systems[0], *t), {}).get('n', '?')})" for t in tasks]
    head += ["in-domain avg"] + ([f"image gain, {TASK_NAMES[t]}" for t in tasks] if gain else [])
    head += ["invalid answers"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    averages = doc.get("averages", {}).get("systems", {})
    for system in systems:
        cells = [_cell(by.get((system, *t))) for t in tasks]
        avg = averages.get(system, {}).get("in_domain")
        cells.append("–" if avg is None else f"{avg:.1f}")
        if gain:
            cells += [_cell(by.get((system, *t)), "image_gain") for t in tasks]
        cells.append(str(sum((by.get((system, *t)) or {}).get("invalid", {}).get("mc", 0) for t in tasks)))
        name = f"**{system}**" if system == "mmedagent-rl" else system
        lines.append("| " + " | ".join([name] + cells) + " |")
    return "\n".join(lines)


def _wall(doc: dict) -> str:
    """The run's wall time, and how much of its work a work cache spared (a resumed run computes only part)."""
    tasks = doc.get("tasks", [])
    wall = f"{doc.get('run', {}).get('seconds', 0):.0f} s wall"
    if tasks and all("outputs" in t for t in tasks):  # agent outputs: a case may be part cached, part computed
        total, computed = sum(t["outputs"] for t in tasks), sum(t["outputs_computed"] for t in tasks)
        what = "agent outputs"
    else:
        total, computed = sum(t.get("cases", 0) for t in tasks), sum(t.get("computed", 0) for t in tasks)
        what = "cases"
    return wall if computed >= total else f"{wall}, {computed} of {total} {what} computed, the rest from its work cache"


def headline_table(doc: dict) -> str:
    """The README's one table, under the command that measured it: ``mc`` per benchmark (no intervals), the
    in-domain average and the image gain."""
    rows = doc["results"]
    tasks = [k for k in TASK_NAMES if any((r["task"], r["split"]) == k for r in rows)]
    by = {(r["system"], r["task"], r["split"]): r for r in rows}
    averages = doc.get("averages", {}).get("systems", {})
    lines = [
        f"`{_command(doc)}` ({_wall(doc)} on the 2-core CPU, beside whatever else ran; speed figures: "
        "assets/README.md):",
        "",
        "| system | " + " | ".join(TASK_NAMES[t] for t in tasks) + " | in-domain avg | image gain |",
        "|---|" + "---:|" * (len(tasks) + 2),
    ]
    for system in dict.fromkeys(r["system"] for r in rows):
        cells = [f"{by[(system, *t)]['metrics']['mc']:.1f}" if (system, *t) in by else "–" for t in tasks]
        avg = averages.get(system, {})
        cells += [
            f"{avg['in_domain']:.1f}" if avg.get("in_domain") is not None else "–",
            f"{avg['image_gain']:+.1f}" if avg.get("image_gain") is not None else "–",
        ]
        name = f"**{system}**" if system == "mmedagent-rl" else system
        lines.append("| " + " | ".join([name] + cells) + " |")
    return "\n".join(lines)


def paired_table(doc: dict) -> str:
    pairs = doc.get("paired") or []
    tasks = [k for k in TASK_NAMES if any((p["task"], p["split"]) == k for p in pairs)]
    lines = [
        "| mmedagent-rl minus | " + " | ".join(TASK_NAMES[t] for t in tasks) + " |",
        "|---|" + "---:|" * len(tasks),
    ]
    for other in dict.fromkeys(p["minus"] for p in pairs):
        cells = []
        for t in tasks:
            p = next((p for p in pairs if p["minus"] == other and (p["task"], p["split"]) == t), None)
            cells.append("–" if p is None else f"{p['diff']:+.1f} [{p['ci95'][0]:+.1f}, {p['ci95'][1]:+.1f}]")
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def difficulty_table(doc: dict) -> str:
    """Each system on the easy / medium / hard items (how many specialists were right), per benchmark."""
    rows = doc.get("difficulty") or []
    tasks = [k for k in TASK_NAMES if any((r["task"], r["split"]) == k for r in rows)]
    by = {(r["system"], r["task"], r["split"]): r for r in rows}
    first = {t: next(r for r in rows if (r["task"], r["split"]) == t) for t in tasks}
    head = [f"{TASK_NAMES[t]} {level} (n={first[t][level]['n']})" for t in tasks for level in LEVELS]
    lines = ["| system | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for system in dict.fromkeys(r["system"] for r in rows):
        cells = []
        for t in tasks:
            row = by.get((system, *t)) or {}
            for level in LEVELS:
                acc = (row.get(level) or {}).get("accuracy")
                cells.append("–" if acc is None else f"{acc:.1f}")
        name = f"**{system}**" if system == "mmedagent-rl" else system
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def vision_table(training: dict) -> str:
    lines = [
        "| tower | images | epochs | wall | modality | body region | plane | organ answers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, info in sorted(training.get("vision", {}).items()):
        h = info.get("held_out", {})
        lines.append(
            f"| {name} | {info['images']} | {info['epochs']} | {info['seconds'] / 60:.1f} min | "
            f"{h.get('modality', '–')} | {h.get('region', '–')} | {h.get('plane', '–')} | "
            f"{h.get('organ_answers', '–')} (n={h.get('n_organ_answers', '?')}) |"
        )
    return "\n".join(lines)


BY_TYPE_SYSTEMS = ("question-only", "nearest-image", "majority-vote", "static-pipeline", "mmedagent-rl")


def by_type_table(figures: dict, task: str, least: int = 10) -> str:
    """Rows: the specialists and the main systems; columns: the benchmark's question types with at least
    ``least`` closed questions; a cell: `mc` on the scans and, in brackets, minus the same on grey images."""
    systems = figures["by_type"][task]
    counts: dict[str, int] = {}
    for kinds in systems.values():
        for kind, row in kinds.items():
            counts[kind] = max(counts.get(kind, 0), row["n"])
    kinds = sorted((k for k, n in counts.items() if n >= least), key=lambda k: -counts[k])
    names = [s for s in systems if s.startswith("specialist:")] + [s for s in BY_TYPE_SYSTEMS if s in systems]
    lines = [
        "| system | " + " | ".join(f"{k} (n={counts[k]})" for k in kinds) + " |",
        "|---|" + "---:|" * len(kinds),
    ]
    for name in names:
        cells = []
        for kind in kinds:
            row = systems[name].get(kind, {})
            gain = f" ({row['gain']:+.1f})" if "gain" in row else ""
            cells.append(f"{row['mc']:.1f}{gain}" if "mc" in row else "–")
        lines.append(f"| {'**' + name + '**' if name == 'mmedagent-rl' else name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _minutes(seconds) -> str:
    return f"{seconds / 60:.1f} min" if isinstance(seconds, (int, float)) else "–"


def _gamma(stage: dict) -> str:
    gamma = stage.get("gamma")  # the entropy bonus; none for the SFT warm-up
    return "–" if gamma is None else f"{gamma:g}"


def stage_table(training: dict) -> str:
    """Per run and stage, what its state.json recorded: entropy bonus, steps, held-back accuracy after the stage,
    and the dynamic sampling's figures (cases, kept, mean pass rate, all-equal groups before filtering)."""
    lines = [
        "| run | stage | γ | steps | wall | held-back VQA-RAD / SLAKE | easy / medium / hard | cases | kept "
        "| mean pass rate | all-equal groups |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = training.get("runs", {})
    panel: dict[tuple, list[str]] = {}  # (system, accuracy) -> the runs whose opinions gave it
    for run, state in sorted(runs.items()):
        for name in state.get("order", []):
            stage = state["stages"][name]
            val = stage.get("validation") or {}
            acc = " / ".join(f"{val[t]['accuracy']:.1f}" for t in ("vqa-rad", "slake") if t in val) or "–"
            groups = stage.get("validation_difficulty") or {}
            hard = " / ".join(f"{groups[g]['accuracy']:.1f}" if g in groups else "–" for g in LEVELS)
            ds = stage.get("dynamic_sampling") or {}
            share = f"{100 * ds['groups_filtered'] / ds['cases']:.0f} %" if ds.get("cases") else "–"
            lines.append(
                f"| {run} | {name} | {_gamma(stage)} | {stage.get('steps', '–')} | "
                f"{_minutes(stage.get('seconds'))} | {acc} | "
                f"{hard if groups else '–'} | "
                f"{stage.get('cases', '–')} | "
                f"{ds.get('kept', '–')} | {ds.get('mean_pass_rate', '–')} | {share} |"
            )
        # The same held-back cases without an attending: majority vote and each specialist, from the run's opinions.
        for system, val in ((state.get("curriculum") or {}).get("validation") or {}).get("panel", {}).items():
            acc = " / ".join(f"{val[t]['accuracy']:.1f}" for t in ("vqa-rad", "slake") if t in val) or "–"
            panel.setdefault((system, acc), []).append(run)
    for (system, acc), where in panel.items():  # once for runs that share their opinions
        run = "all runs" if len(where) == len(runs) > 1 else ", ".join(where)
        lines.append(f"| {run} | {system} (their opinions) | – | – | – | {acc} | – | – | – | – | – |")
    return "\n".join(lines)


def _when(entry: dict) -> str:
    return f"{entry['date']}, {entry.get('commit') or '?'}"


def speed_table(speed: dict) -> str:
    """The speed scripts' entries (scripts/measured.py), one row per figure, each with its command and date."""
    lines = ["| what | figure | command | measured |", "|---|---:|---|---|"]
    if "latency" in speed:
        e = speed["latency"]
        f, cmd, when = e["figures"], f"`{e['command']}`", _when(e)
        lines += [
            f"| `mmedtui --help` | {f['help_s']:.2f} s (no torch import) | {cmd} | {when} |",
            f"| one `consult --json` process | {f['consult_s']:.2f} s median of {f['repeats']} "
            f"({f['consult_min_s']:.2f}–{f['consult_max_s']:.2f}) | same | |",
            f"| a process that only imports torch + transformers' Qwen2.5-VL classes | {f['imports_s']:.2f} s | "
            "same | |",
            f"| peak memory of `consult --json` | {f['peak_mib']} MiB | same | |",
        ]
        lines += [f"| in one process: {what} | {seconds:.2f} s | same | |" for what, seconds in f["phases"]]
    if "tui" in speed:
        e = speed["tui"]
        f = e["figures"]
        runs = ", ".join(f"{d:.1f}" for d in f["decision_runs_s"])
        lines.append(
            f"| the app (`consult --sample {f['sample']}`, {f['size']}): launch to first screen / to the "
            f"decision on screen | {f['first_screen_s']:.2f} s / {f['decision_s']:.2f} s (median; {runs}) | "
            f"`{e['command']}` | {_when(e)} |"
        )
    for key, e in sorted(speed.items()):
        if key.startswith("speed"):
            f = e["figures"]
            setting = (
                ", ".join(
                    f"{name} {f[k]}" for name, k in (("threads", "threads"), ("batch size", "batch_size")) if f.get(k)
                )
                or "the panel's threads and batch sizes"
            )
            lines.append(
                f"| full pipeline, {f['cases']} cases, batched ({f['chunk']} a run) vs one at a time; "
                f"{setting} | {f['batched']:.2f} vs {f['unbatched']:.2f} items/s = **{f['ratio']:.2f}×** | "
                f"`{e['command']}` | {_when(e)} |"
            )
    return "\n".join(lines)


def speed_summary(speed: dict) -> str:
    """The README's speed sentence: the headline figures, each from the same entries as the table."""
    parts = []
    if "latency" in speed:
        e = speed["latency"]
        f = e["figures"]
        parts.append(
            f"a `consult --json` process {f['consult_s']:.2f} s median (mostly importing torch), a warm "
            f"consultation {dict(f['phases']).get(WARM, float('nan')):.2f} s, {f['peak_mib']} MiB peak "
            f"(`{e['command']}`, {e['date']})"
        )
    if "tui" in speed:
        f = speed["tui"]["figures"]
        parts.append(
            f"the app shows its first screen after {f['first_screen_s']:.1f} s and its decision after "
            f"{f['decision_s']:.1f} s"
        )
    ratios = [e["figures"]["ratio"] for k, e in speed.items() if k.startswith("speed")]
    if ratios:
        span = f"{min(ratios):.1f}–{max(ratios):.1f}×" if len(ratios) > 1 else f"{ratios[0]:.1f}×"
        parts.append(f"a batched bench {span} as fast as one case at a time (`scripts/speed.py`)")
    return (
        "2-core CPU, embedded panel, idle machine: " + "; ".join(parts) + ". Details: "
        "[assets/README.md](assets/README.md#speed-and-memory-2-core-cpu-no-gpu)."
    )


def model_systems(panel: dict) -> dict[str, str]:
    """Shipped model folder name -> the first bench system that runs it, read from the panel file."""
    folder = {key: Path(spec["path"]).name for key, spec in panel["models"].items() if spec.get("path")}
    pairs = [(s["model"], f"specialist:{s['name']}") for specs in panel["specialists"].values() for s in specs]
    pairs.append((panel["attending"]["model"], "mmedagent-rl"))
    for system, spec in (panel.get("baselines") or {}).items():
        role = spec.get("attending") or spec.get("agent") or {}
        if role.get("model"):
            pairs.append((role["model"], system))
    found: dict[str, str] = {}
    for key, system in pairs:
        if key in folder:
            found.setdefault(folder[key], system)
    return found


def measured_note(doc: dict, system: str) -> tuple[list[dict], str]:
    """A model's model-index results and the sentence that states them, from the bench's rows of ``system``."""
    rows = [r for r in doc["results"] if r["system"] == system and (r["task"], r["split"]) in TASK_NAMES]
    results = [{"task": r["task"], "split": r["split"], "value": round(r["metrics"]["mc"], 1)} for r in rows]
    parts = [f"{TASK_NAMES[(r['task'], r['split'])]} {_cell(r)} (n={r['n']})" for r in rows]
    gains = [f"{r['metrics']['image_gain']:+.1f}" for r in rows if r["metrics"].get("image_gain") is not None]
    text = (
        f"`{_command(doc)}` as the bench system `{system}`, metric `mc` (closed questions as multiple choice; "
        f"chance 50 % on yes/no), % with the 95 % bootstrap interval: {', '.join(parts)}."
    )
    if len(gains) == len(rows):
        text += f" Image gain (the same minus a flat grey image): {' / '.join(gains)} points."
    return results, text


def write_notes(doc: dict) -> list[str]:
    """Each shipped model's notes get their measured figures; then its card is rebuilt. Returns the models."""
    panel = yaml.safe_load(PANEL.read_text(encoding="utf-8"))
    done = []
    for name, system in model_systems(panel).items():
        notes = NOTES / f"{name}.md"
        if not notes.is_file() or not any(r["system"] == system for r in doc["results"]):
            continue
        results, sentence = measured_note(doc, system)
        _, body = split_front_matter(notes.read_text(encoding="utf-8"))
        head = (
            "---\n# Written by scripts/results_page.py from assets/results/bench.json: the card's model-index.\n"
            + yaml.safe_dump({"results": results}, sort_keys=False, default_flow_style=None)
            + "---\n"
        )
        notes.write_text(head + body, encoding="utf-8")
        render(notes, {"measured": sentence})
        recard(ROOT / "assets" / "models" / name, notes)
        done.append(name)
    return done


def collect(bench: Path | None, runs: list[Path]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    if bench:  # machine paths (the panel file's) cut as the cards cut them
        (RESULTS / "bench.json").write_text(portable(bench.read_text(encoding="utf-8")), encoding="utf-8")
    if runs:  # the vision towers accumulate; the attending runs are one build's, replaced as a set
        training_file = RESULTS / "training.json"
        training = json.loads(training_file.read_text(encoding="utf-8")) if training_file.is_file() else {}
        training.setdefault("vision", {})
        for info in sorted(p for folder in runs for p in folder.glob("*/vision.json")):
            training["vision"][info.parent.name] = json.loads(info.read_text(encoding="utf-8"))
        attending = {}
        for state in sorted(p for folder in runs for p in folder.glob("*/state.json")):
            data = json.loads(state.read_text(encoding="utf-8"))
            if data.get("role") == "attending" and data.get("status") == "done":  # per-stage validation, sampling
                attending[state.parent.name] = {
                    k: data[k] for k in ("role", "order", "stages", "curriculum") if k in data
                }
        if attending:
            training["runs"] = attending
        training_file.write_text(portable(json.dumps(training, indent=1, default=str)) + "\n", encoding="utf-8")


def render(path: Path, blocks: dict[str, str]) -> None:
    page = path.read_text(encoding="utf-8")
    for name, text in blocks.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated -->)", re.S)
        if not pattern.search(page):
            raise SystemExit(f"{path}: no <!-- generated:{name} --> block")
        page = pattern.sub(lambda m, text=text: m.group(1) + text + "\n" + m.group(2), page)
    path.write_text(page, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, help="a bench's results.json to keep in assets/results/")
    parser.add_argument(
        "--runs",
        type=Path,
        action="append",
        default=[],
        help="a build's work folder (runs/embedded) to keep figures of (repeatable)",
    )
    args = parser.parse_args()
    collect(args.bench, args.runs)
    doc = json.loads((RESULTS / "bench.json").read_text(encoding="utf-8"))
    training_file = RESULTS / "training.json"
    training = json.loads(training_file.read_text(encoding="utf-8")) if training_file.is_file() else {}
    speed_file = RESULTS / "speed.json"
    speed = json.loads(speed_file.read_text(encoding="utf-8")) if speed_file.is_file() else {}
    blocks = {"bench": bench_table(doc), "paired": paired_table(doc)}
    if doc.get("difficulty"):
        blocks["difficulty"] = difficulty_table(doc)
    if training:
        blocks |= {"vision": vision_table(training), "stages": stage_table(training)}
    if speed:
        blocks["speed"] = speed_table(speed)
    by_type_file = RESULTS / "by_type.json"
    if by_type_file.is_file():
        figures = json.loads(by_type_file.read_text(encoding="utf-8"))
        blocks |= {f"by-type-{task}": by_type_table(figures, task) for task in figures["by_type"]}
    render(PAGE, blocks)
    render(README, {"headline": headline_table(doc)} | ({"speed": speed_summary(speed)} if speed else {}))
    cards = write_notes(doc)
    print(
        f"wrote {PAGE.relative_to(ROOT)} ({', '.join(blocks)}), the headline table of README.md and the "
        f"measured figures of {len(cards)} models' notes and cards ({', '.join(cards)})"
    )


if __name__ == "__main__":
    main()
