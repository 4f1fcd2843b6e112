"""Copy a run's final model into ``assets/`` for shipping: weights stored in float16 (half the bytes; the
panel loads them back as float32 for CPU speed), processor files and the model card, plus a measured-results
section appended to the card.

    python scripts/export.py RUN/final assets/models/attending --role attending --command "mmedtui train ..." \
        --notes assets/notes/attending.md
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

_KEEP = ("chat_template.jinja", "generation_config.json", "processor_config.json", "tokenizer.json",
         "tokenizer_config.json", "README.md")


def export(source: Path, target: Path, role: str, command: str, notes: Path | None = None) -> Path:
    """``notes``: a hand-kept Markdown file (measured accuracy, what the model can tell apart) appended to the
    card, so a rebuild regenerates the card without losing it."""
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
    card = (tmp / "README.md").read_text(encoding="utf-8") if (tmp / "README.md").is_file() else f"# {role}\n"
    card += (f"\n## Shipped copy\n\n- Role in the embedded panel: {role}\n- Architecture: Qwen2.5-VL "
             f"(`Qwen2_5_VLForConditionalGeneration`), {params / 1e6:.2f} M parameters, stored as float16 "
             f"safetensors (loaded as float32).\n- Produced by: `{command}`\n- Limits: a few million "
             "parameters trained from scratch on a few thousand radiology questions; it learns question "
             "priors and coarse image cues, not medicine. Research and teaching only; never clinical use.\n")
    if notes is not None and notes.is_file():
        card += "\n" + notes.read_text(encoding="utf-8")
    (tmp / "README.md").write_text(card, encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--role", required=True)
    parser.add_argument("--command", default="")
    parser.add_argument("--notes", type=Path, help="Markdown appended to the model card (kept across rebuilds).")
    args = parser.parse_args()
    print(export(args.source, args.target, args.role, args.command, args.notes))


if __name__ == "__main__":
    main()
