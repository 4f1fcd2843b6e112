"""Copy a run's final model into ``assets/`` for shipping: weights stored in float16 (half the bytes; the
panel loads them back as float32 for CPU speed), processor files and the model card, plus a shipped-copy
section and the hand-kept notes appended to the card.

    python scripts/export.py RUN/final assets/models/attending --role attending --command "mmedtui train ..." \\
        --notes assets/notes/attending.md
    python scripts/export.py --recard assets/models/attending --notes assets/notes/attending.md  # card only

The card opens with Hugging Face front matter (``trainer.model_card``): the run's own, plus a model-index of
the ``results:`` that the notes' front matter lists (the measured bench figures). No machine paths.
"""

from __future__ import annotations

import argparse
import filecmp
import math
import os
import re
import shutil
from pathlib import Path

from trainer.model_card import ROLE_TAGS, front_matter, hub_datasets, portable, split_front_matter

_KEEP = (
    "chat_template.jinja",
    "generation_config.json",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "README.md",
)
_SHIPPED = "\n## Shipped copy\n"


def build_card(run_card: str, name: str, role: str, command: str, params: int, notes: str | None) -> str:
    """The shipped card: ``run_card`` (the card the run wrote) with the notes' measured results merged into its
    front matter, then the shipped-copy section and the notes' Markdown."""
    meta, body = split_front_matter(run_card)
    measured, remarks = split_front_matter(notes) if notes else ({}, "")
    head = front_matter(
        name, meta.get("datasets", []), measured.get("results", []), meta.get("base_model"), meta.get("tags", [])
    )
    card = (
        f"{body.rstrip()}\n{_SHIPPED}\n- Role in the embedded panel: {role}\n- Architecture: Qwen2.5-VL "
        f"(`Qwen2_5_VLForConditionalGeneration`), {params / 1e6:.2f} M parameters, stored as float16 "
        f"safetensors (loaded as float32).\n- Produced by: `{command}`\n- Limits: a few million "
        "parameters trained from scratch on a few thousand radiology questions; it learns question "
        "priors and coarse image cues, not medicine. Research and teaching only; never clinical use.\n"
    )
    if remarks:
        card += "\n" + remarks
    return head + portable(card)


def export(source: Path, target: Path, role: str, command: str, notes: Path | None = None) -> Path:
    """``notes``: a hand-kept Markdown file (measured accuracy, what the model can tell apart; its front matter's
    ``results:`` go into the model-index) appended to the card, so a rebuild regenerates the card without
    losing it."""
    import torch
    from transformers import AutoModelForImageTextToText

    import mmedtui.agents.qwen_processor  # noqa: F401 - registers the image-only processor

    model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch.float32, use_safetensors=True)
    params = sum(p.numel() for p in model.parameters())
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.to(torch.float16).save_pretrained(tmp, safe_serialization=True)
    for name in _KEEP:
        if (source / name).is_file():
            shutil.copy2(source / name, tmp / name)
    run_card = (tmp / "README.md").read_text(encoding="utf-8") if (tmp / "README.md").is_file() else f"# {role}\n"
    (tmp / "README.md").write_text(
        build_card(run_card, f"mmedtui-{target.name}", role, command, params, _read(notes)), encoding="utf-8"
    )
    _keep_unchanged_stamps(tmp, target)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _keep_unchanged_stamps(new: Path, old: Path) -> None:
    """A file the re-export wrote byte for byte as before keeps its old mtime: the bench's and the opinions'
    caches key on the weights' stamps (``locate.weights_stamp``), and an unchanged model must not miss them."""
    for path in new.iterdir():
        before = old / path.name
        if path.is_file() and before.is_file() and filecmp.cmp(path, before, shallow=False):
            stat = before.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def recard(folder: Path, notes: Path | None = None, command: str | None = None) -> Path:
    """Rewrite the card of an exported ``folder`` from its own run card, role and parameter count, with the
    current notes: a notes change reaches the card without a re-export."""
    from safetensors import safe_open

    text = (folder / "README.md").read_text(encoding="utf-8")
    meta, body = split_front_matter(text)
    run_card, _, shipped = body.partition(_SHIPPED)
    role = re.search(r"^- Role in the embedded panel: (.+)$", shipped, re.M)
    produced = re.search(r"^- Produced by: `(.+)`$", shipped, re.M)
    if role is None:
        raise SystemExit(f"{folder / 'README.md'}: no shipped-copy section to rebuild from")
    params = 0
    for weights in sorted(folder.glob("*.safetensors")):
        with safe_open(str(weights), framework="pt") as f:
            params += sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())
    if not meta:  # a card from before the front matter: its training data and role are in its lines
        trained_role = re.search(r"^- Role: (\w+);", run_card, re.M)
        meta = {
            "datasets": hub_datasets(re.findall(r"^- ([\w-]+) \(\w+ split\)", run_card, re.M)),
            "tags": ROLE_TAGS.get(trained_role.group(1), []) if trained_role else [],
        }
    front = front_matter(
        f"mmedtui-{folder.name}", meta.get("datasets", []), (), meta.get("base_model"), meta.get("tags", [])
    )
    card = build_card(
        front + run_card,
        f"mmedtui-{folder.name}",
        role.group(1),
        command or (produced.group(1) if produced else ""),
        params,
        _read(notes),
    )
    (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


def _read(path: Path | None) -> str | None:
    return path.read_text(encoding="utf-8") if path is not None and path.is_file() else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="A run's final model folder (with --recard: an exported one).")
    parser.add_argument("target", type=Path, nargs="?")
    parser.add_argument("--role", help="Its role in the embedded panel, as the card names it.")
    parser.add_argument("--command", default=None, help="The command that produced it, for the card.")
    parser.add_argument("--notes", type=Path, help="Markdown appended to the model card (kept across rebuilds).")
    parser.add_argument("--recard", action="store_true", help="Only rewrite the card of an exported folder.")
    args = parser.parse_args(argv)
    if args.recard:
        print(recard(args.source, args.notes, args.command))
        return
    if args.target is None or not args.role:
        parser.error("TARGET and --role are required unless --recard")
    print(export(args.source, args.target, args.role, args.command or "", args.notes))


if __name__ == "__main__":
    main()
