"""The three training runs behind ``mmedtui train``: specialist (SFT), triage (GRPO), attending (C-MARL GRPO).

Each: load the training items (never a test split), build rows with the inference prompts, pick or build the
starting model, run its stages (``trainer.stages``), then leave ``<run>/final`` (model + model card) and
``<run>/panel.yaml`` (a panel that puts the trained model in its role).

    mmedtui train specialist --profile tiny --data-root ../shared/data --output runs/specialist
    mmedtui train triage     --profile tiny --data-root ../shared/data --output runs/triage
    mmedtui train attending  --profile tiny --data-root ../shared/data --output runs/attending --max-steps 6
"""

from __future__ import annotations

import random
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from mmedtui.departments import DEFAULT_DEPARTMENTS
from mmedtui.errors import DataError
from trainer import curriculum, rewards, validation
from trainer.callbacks import Interrupt
from trainer.config import TrainConfig, save_config
from trainer.data import image_labels
from trainer.data.images import ImageCache
from trainer.data.items import PanelCase, item_key, load_items
from trainer.data.rows import attending_rows, corpus, repeat_closed, sft_rows, to_dataset, triage_rows
from trainer.outputs import write_model_card, write_panel
from trainer.run import RunDir
from trainer.stages import Interrupted, Stage, is_main_process, main_first, run_stages


@dataclass
class Result:
    run_dir: Path
    final: Path
    panel: Path | None = None
    notes: list[str] = field(default_factory=list)
    split_sizes: dict | None = None


def train(cfg: TrainConfig, run_dir: Path, resume: bool = False, console=None, callbacks: Sequence = ()) -> Result:
    import torch
    from rich.console import Console

    console = console or Console(stderr=True)
    threads = torch.get_num_threads()
    if cfg.train.torch_threads:
        torch.set_num_threads(cfg.train.torch_threads)
    try:
        run = RunDir(run_dir)
        if is_main_process():
            run.prepare(resume)
            save_config(cfg, run.path)
            run.mark("running")
        runner = {"specialist": _specialist, "triage": _triage, "attending": _attending}[cfg.role]
        Interrupt.last_signal = None
        try:
            result = runner(cfg, run, resume, console, callbacks)
        except Interrupted:
            if is_main_process():
                signum = Interrupt.last_signal
                run.mark("stopped", stopped_by=signal.Signals(signum).name if signum else "request")
            raise
        if is_main_process():
            run.mark("done")
        return result
    finally:
        torch.set_num_threads(threads)


# --- specialist (SFT) -----------------------------------------------------------------------------
def _specialist(cfg, run: RunDir, resume, console, callbacks) -> Result:
    from trainer.models import starting_model
    from trainer.sft import make_sft_trainer

    items = load_items(cfg.data)
    images = ImageCache(cfg.data.image_max_side)
    labels = image_labels.gather(items)
    if cfg.data.generated:
        items = items + image_labels.generated_items(labels, cfg.data.seed)
    rows = sft_rows(items, images, labels, augment=cfg.data.augment)
    other: list[dict] = []
    if cfg.data.other_images:
        from trainer.data import other_images

        other, notes = other_images.sft_rows(
            cfg.data_root, cfg.data.other_images, cfg.data.image_max_side, cfg.data.seed
        )
        for note in notes:
            console.print(f"[dim]{note}[/]")
    start = starting_model(cfg, run, corpus(rows + other))  # the tokenizer sees each question once
    rows = repeat_closed(rows, items, cfg.data.closed_repeat) + other
    console.print(
        f"specialist SFT on {len(rows)} rows ({len(items)} questions) from {', '.join(cfg.data.tasks)} "
        f"({cfg.data.split})"
    )
    ds = to_dataset(rows, run.path / "cache").shuffle(seed=cfg.data.seed)
    stage = Stage("sft", ds, max_steps=cfg.train.max_steps, info={"rows": len(rows)})
    final = run_stages(
        cfg,
        run,
        [stage],
        start,
        make_sft_trainer(cfg),
        resume,
        callbacks,
        console,
        on_saved=lambda target, st: write_model_card(cfg, run, target, items),
    )
    return Result(run.path, final, write_panel(cfg, run, final))


# --- triage (GRPO) --------------------------------------------------------------------------------
def _triage(cfg, run: RunDir, resume, console, callbacks) -> Result:
    from trainer.data import triage
    from trainer.grpo import make_grpo_trainer
    from trainer.models import starting_model

    items = load_items(cfg.data)
    examples, notes = triage.gather(cfg.data, cfg.triage, items)
    departments = _departments(cfg)
    rows = triage_rows(examples, departments, cfg.data.image_max_side)
    for note in notes:
        console.print(f"[dim]{note}[/]")
    start = starting_model(cfg, run, corpus(rows))
    ds = to_dataset(rows, run.path / "cache")
    # The warm-up's rationale names the modality: only examples whose modality is known teach it.
    named = [e for e in examples if e.modality]
    stages = _warmup(cfg, run, lambda: triage_rows(named, departments, cfg.data.image_max_side, targets=True))
    stages.append(Stage("triage", ds, cfg.grpo.entropy_coef, cfg.grpo.beta, cfg.train.max_steps, {"rows": len(rows)}))
    final = run_stages(
        cfg,
        run,
        stages,
        start,
        make_grpo_trainer(cfg, rewards.for_role("triage")),
        resume,
        callbacks,
        console,
        on_saved=lambda target, st: write_model_card(cfg, run, target, items),
    )
    return Result(run.path, final, write_panel(cfg, run, final), notes)


def _warmup(cfg, run: RunDir, make_rows) -> list[Stage]:
    """The optional SFT warm-up stage (``sft.warmup_steps``) on the role's prompts with gold targets."""
    if cfg.sft.warmup_steps <= 0:
        return []
    from trainer.sft import make_sft_trainer

    rows = make_rows()
    ds = to_dataset(rows, run.path / "cache").shuffle(seed=cfg.data.seed)
    return [
        Stage(
            "warmup",
            ds,
            max_steps=cfg.sft.warmup_steps,
            info={"rows": len(rows), "kind": "sft"},
            make=make_sft_trainer(cfg, cfg.sft.warmup_learning_rate),
        )
    ]


def _departments(cfg) -> tuple[str, ...]:
    if cfg.opinions.panel:
        from mmedtui.agents.panel import load_panel

        return load_panel(cfg.opinions.panel).departments
    return DEFAULT_DEPARTMENTS


# --- attending (C-MARL) ---------------------------------------------------------------------------
def attending_groups(cfg, items, console) -> tuple[dict[str, list], list, dict]:
    """Collect (or read) the panel's opinions, split the cases easy / medium / hard, and hold the validation
    share (``data.val_share``) back: (training groups, held-back cases, summary); every case a ``PanelCase``."""
    from trainer import opinions

    panel = opinions.panel_for(cfg.opinions)
    images = ImageCache(cfg.data.image_max_side)
    try:
        with main_first():  # several processes: rank 0 asks the panel, the others then read its cache
            store = opinions.OpinionStore(opinions.cache_path(cfg.opinions))
            found = opinions.collect(
                items,
                panel,
                store,
                images,
                batch_size=cfg.opinions.batch_size,
                console=console,
                only_cached=not (cfg.opinions.collect and is_main_process()),
            )
    finally:
        panel.close()
    cases = list(found.values())
    if not cases:
        raise DataError(
            f"no specialist opinions for the training items in {store.path} "
            "(run `mmedtui train opinions` or set opinions.collect: true)"
        )
    groups, held = validation.split_groups(
        curriculum.split(cases, cfg.curriculum.min_specialists), cfg.data.val_share, cfg.data_root
    )
    if cfg.curriculum.balance_yes_no:  # the training groups only: the held-back cases stay as they are
        rng = random.Random(cfg.data.seed)
        groups = {name: curriculum.balance_yes_no(group, rng) for name, group in groups.items()}
    summary = {
        "sizes": curriculum.sizes(groups),
        "by_task": curriculum.by_task(groups),
        "specialist_accuracy": curriculum.accuracy(e for g in groups.values() for e in g),
        "cases_with_opinions": len(cases),
        "items": len(items),
        "cache": str(store.path),
    }
    if held:
        summary["validation"] = {
            "cases": len(held),
            "scored": len(validation.scored(held)),
            "panel": validation.panel_baselines(held),
        }
    return groups, held, summary


def _attending(cfg, run: RunDir, resume, console, callbacks) -> Result:
    from trainer.grpo import make_grpo_trainer
    from trainer.models import starting_model

    items = load_items(cfg.data)
    groups, held, summary = attending_groups(cfg, items, console)
    for system, table in summary.get("validation", {}).get("panel", {}).items():
        console.print(validation.line(f"validation, {system}", table))
    sizes = summary["sizes"]
    console.print("curriculum split (cases): " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    console.print(
        "specialists right on these cases: " + ", ".join(f"{k} {v}%" for k, v in summary["specialist_accuracy"].items())
    )
    schedule = cfg.stage_schedule()
    rng = random.Random(cfg.data.seed)
    if not cfg.curriculum.enabled:
        pool = [replace(case, stage="all") for s in ("easy", "medium", "hard") for case in groups[s]]
        rng.shuffle(pool)
        groups = {"all": pool}
    names = [spec.name for spec in schedule]
    plan = curriculum.plan_steps(cfg.train.max_steps, names, {n: len(groups[n]) for n in names})
    images = ImageCache(cfg.data.image_max_side)
    labels = image_labels.gather(items)  # the warm-up's reasoning targets say what each image shows
    stage_rows, replayed = {}, {}
    for name in names:
        earlier = curriculum.before(name, cfg.curriculum.reverse)  # in the whole curriculum, run here or not
        replayed[name] = curriculum.rehearse(groups, earlier, len(groups[name]), cfg.curriculum.rehearsal, rng)
        chosen = list(groups[name]) + replayed[name]
        rng.shuffle(chosen)
        stage_rows[name] = attending_rows(chosen, images)
    start = starting_model(cfg, run, corpus(r for rows in stage_rows.values() for r in rows))

    def warm_rows():
        cases = [case for name in names for case in groups[name]]
        cases += solo_cases(cases, cfg.sft.solo_share, random.Random(cfg.data.seed))
        rows = attending_rows(cases, images, targets=True, labels=labels)
        return repeat_closed(rows, [case.item for case in cases], cfg.data.closed_repeat)

    stages = _warmup(cfg, run, warm_rows)
    for spec in schedule:
        rows = stage_rows[spec.name]
        ds = to_dataset(rows, run.path / "cache") if rows else _EmptyDataset()
        stages.append(
            Stage(
                spec.name,
                ds,
                spec.gamma,
                spec.beta,
                plan[spec.name],
                {"split_size": len(groups[spec.name]), "rehearsed": len(replayed[spec.name])},
            )
        )
    if is_main_process():
        state = run.load_state()
        state["curriculum"] = summary
        run.save_state(state)
    held_keys = {item_key(case.item) for case in held}
    trained = [it for it in items if item_key(it) not in held_keys]

    def on_saved(target, stage) -> dict | None:
        if not held:
            write_model_card(cfg, run, target, trained)
            return None
        table, difficulty = validate(cfg, target, stage.name, held, images, console)
        panel = summary["validation"]["panel"]
        write_model_card(
            cfg,
            run,
            target,
            trained,
            [
                validation.line(f"Validation ({len(held)} held-back holdout cases, `mc`), this model", table),
                *(validation.line(f"the same cases, {system}", t) for system, t in panel.items()),
            ],
        )
        return {"validation": table, "validation_difficulty": difficulty}

    final = run_stages(
        cfg,
        run,
        stages,
        start,
        make_grpo_trainer(cfg, rewards.for_role("attending")),
        resume,
        callbacks,
        console,
        on_saved=on_saved,
    )
    return Result(run.path, final, write_panel(cfg, run, final), split_sizes=summary)


def validate(cfg, target: Path, stage: str, held: list, images, console) -> tuple[dict, dict]:
    """The stage's saved attending on the held-back cases, per task and per curriculum group (kept in
    ``state.json`` as stages.<stage>.validation and .validation_difficulty)."""
    outcomes = validation.attending_outcomes(
        target,
        held,
        images,
        device="cpu" if cfg.train.use_cpu else "auto",
        max_new_tokens=cfg.grpo.max_completion_length,
        seed=cfg.data.seed,
    )
    table, difficulty = validation.table(outcomes), validation.by_difficulty(outcomes)
    console.print(validation.line(f"validation after {stage}", table))
    console.print(validation.line(f"validation after {stage}, by difficulty", difficulty))
    return table, difficulty


def solo_cases(cases: list[PanelCase], share: float, rng: random.Random) -> list[PanelCase]:
    """A seeded ``share`` of the warm-up ``cases`` again, with their opinions taken away (``sft.solo_share``)."""
    chosen = rng.sample(range(len(cases)), round(share * len(cases)))
    return [replace(cases[i], opinions=[]) for i in sorted(chosen)]


class _EmptyDataset(list):
    """A stage with no cases (skipped by run_stages)."""
