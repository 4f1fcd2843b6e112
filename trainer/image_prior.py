"""Build the ``nearest-image`` baseline (the image prior; model in ``mmedtui/agents/image_prior.py``).

From the specialists' training split, as ``question-only`` (``trainer.question_only.training_items``): VQA-RAD
train without the MEVF "frame" rows, SLAKE ``train.json``, English; never a test or validation split, and no
SLAKE image that ``train.json`` does not name. One thumbnail per training image, with the questions asked of it
and their answers. No fitting: deterministic for a given data root.

    mmedtui train nearest-image --data-root ../shared/data --output assets/models/nearest-image
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mmedtui.agents.image_prior import SIDE, ImagePrior, question_key, thumbnail
from mmedtui.errors import DataError
from mmedtui.tasks.scoring import normalize
from trainer.model_card import front_matter, hub_datasets
from trainer.question_only import TASKS, training_items

# Voters per question: of 1, 3, 5, 7, 10 and 20 the best on the training split's holdout part, built from its fit
# part (`python scripts/nearest_image.py --choose-k --k 1 3 5 7 10 20`), never on a validation or test split.
K = 3


def build(items: list, k: int = K) -> tuple[ImagePrior, dict]:
    """One thumbnail per image with content (a flat image is skipped) and the answers given to it, and a summary."""
    import torch

    by_image: dict = {}
    for it in items:
        by_image.setdefault(it.image_ref.key, []).append(it)
    thumbs, asked, modality, flat = [], [], [], 0
    for group in by_image.values():
        images = group[0].image_ref.load()
        thumb = thumbnail(images[0]) if images else None
        if thumb is None:
            flat += 1
            continue
        answers: dict[str, Counter] = {}
        for it in group:  # a question asked twice of one image: its more common answer
            answers.setdefault(question_key(it.question), Counter())[normalize(it.answer)] += 1
        thumbs.append(thumb)
        modality.append(group[0].modality)
        asked.append({q: c.most_common(1)[0][0] for q, c in answers.items() if q})
    if not thumbs:
        raise DataError("nearest-image: no training image with content")
    model = ImagePrior(torch.stack(thumbs), asked, k, modality if any(modality) else [])
    summary = {
        "items": len(items),
        "images": len(thumbs),
        "flat_images_skipped": flat,
        "questions": sum(len(a) for a in asked),
        "by_task": dict(sorted(Counter(it.task for it in items).items())),
    }
    return model, summary


def train_nearest_image(
    root: Path | None, output: Path, k: int = K, split: str = "train", part: str = "all", holdout: float = 0.3
) -> dict:
    """Build from the training split under ``root`` and write the model + its card into ``output``. ``part="fit"``
    keeps the images of the split's fit part only (``trainer.data.items.in_part``, the specialists' split), so the
    model's answers on the holdout part are honest opinions, as a panel member's must be for the attending."""
    from mmedtui.tasks.catalog import resolve_data_root
    from trainer.data.items import in_part

    items = training_items(root, split)
    if part != "all":
        items = [it for it in items if in_part(it, part, holdout, resolve_data_root(root))]
    model, summary = build(items, k)
    trained_on = {"split": split, "part": part, "holdout": holdout if part != "all" else None, "tasks": list(TASKS),
                  "slake_lang": "en", "vqa_rad_frame_rows": "excluded"}  # fmt: skip
    model.save(output, {"trained_on": trained_on, "summary": summary})
    meta = front_matter(
        "mmedtui-nearest-image", hub_datasets(TASKS), tags=["baseline", "nearest-neighbour"], transformers=False
    )
    (output / "README.md").write_text(meta + _card(summary, k, part), encoding="utf-8")
    return summary


def _card(summary: dict, k: int, part: str = "all") -> str:
    import textwrap

    tasks = ", ".join(f"{t} {n}" for t, n in summary["by_task"].items())
    if part == "all":
        title = "nearest-image (the image prior)"
        use = (
            " It is the bench row `nearest-image`: what a system scores above it is reading beyond likeness to the"
            " training images."
        )
        which, home = "", "nearest-image"
    else:  # a panel member: its opinions on the other part are honest
        title = f"case-based specialist (nearest images, the training split's {part} part)"
        use = (
            f" Built from the {part} part of the training images only (the specialists' split by image hash), it"
            " sits in a panel as `backend: nearest-image`; its opinions on the other part, which the attending"
            " learns from, are honest."
        )
        which, home = f" --part {part}", "case-based"
    about = textwrap.fill(
        "No language model: the answers given to the **training images most like the scan**. Each image is a"
        f" {SIDE} x {SIDE} grey thumbnail (its own mean removed, standardised per pixel, unit length); of the"
        f" training images asked the same question (the same words), the {k} closest by cosine vote with their"
        " own answers. With none, or for a scan with no content, the question's most common training answer."
        f"{use}",
        width=112,
    )
    return f"""# {title}

{about}

- Built from: VQA-RAD train (without the MEVF "frame" rows) + SLAKE train.json, English; never a test or
  validation split. Items: {summary["items"]} ({tasks}); {summary["images"]} images, {summary["questions"]}
  image-question pairs.
- With options (the bench's `mc`), only votes for an option count; it always names an option.
- Files: `model.safetensors` (thumbnails, float16; per-pixel mean and spread), `index.json` (each image's
  questions and answers; no file names).
- Rebuild: `mmedtui train nearest-image{which} --data-root ../shared/data --output assets/models/{home}`.

Research and teaching only; never clinical use.
"""
