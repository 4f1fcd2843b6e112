"""Specialist SFT rows on images outside VQA-RAD / SLAKE: what a specialist says of a blood smear, a breast
ultrasound, a fundus photograph or a histology slide.

Trained on radiology scans alone, a specialist shown a fundus photograph wrote "An axial axial axial ..." until
its token budget ran out and never answered. These rows show it such images (the triage doctor's sources,
``trainer.data.triage.image_sources``, without ``skimage.data.retina()``: that is the shipped sample
``retina-fundus.jpg``, kept unseen) with closed questions that only the image answers, in the form of the
generated ones (``image_labels.generated_items``): "Is this image taken via CT?" No, "Is this a study of the
chest?" No, "Does the picture contain liver?" No, and its own modality Yes. The reasoning target names what the
image is: "The question asks about CT. A fundus photograph of the eye."
"""

from __future__ import annotations

import random
from pathlib import Path

from mmedtui.agents import roles
from mmedtui.agents.case import Case
from mmedtui.tasks.base import ImageRef, Item
from trainer.data import image_labels
from trainer.data.images import downscale, encode_image
from trainer.data.items import item_json
from trainer.data.rows import assistant_message, prompt_messages
from trainer.data.triage import augment, image_sources

WHAT = {  # a source's kind -> (what the image is, the modality a question names)
    "blood smear": ("A blood smear under the microscope.", "microscopy"),
    "ultrasound": ("An ultrasound of the breast.", "ultrasound"),
    "fundus": ("A fundus photograph of the eye.", "fundus photography"),
    "histology": ("A stained histology slide.", "microscopy"),
}
ORGANS = ("liver", "lung", "heart", "brain", "kidney", "spleen", "colon", "bladder")


def _questions(kind: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """Two of: another modality (No), a body region (No), an organ (No), its own modality (Yes)."""
    _, own = WHAT[kind]
    other = image_labels.modality_words(rng.choice(image_labels.MODALITIES))
    region = rng.choice(image_labels.REGIONS)
    organ = rng.choice(ORGANS)
    pool = [
        (f"Is this image taken via {other}?", "No", other),
        (f"Is this a study of the {region}?", "No", f"the {region}"),
        (f"Does the picture contain {organ}?", "No", organ),
        (f"Is this image taken via {own}?", "Yes", own),
    ]
    return rng.sample(pool, 2)


def sft_rows(root: Path | None, per_source: int, max_side: int | None, seed: int = 0) -> tuple[list[dict], list[str]]:
    """``per_source`` augmented images of each source, two questions each: (rows, notes on skipped sources)."""
    rng = random.Random(seed)
    rows: list[dict] = []
    notes: list[str] = []
    for source in image_sources(root, retina=False):
        if not source.loaders:
            notes.append(f"other images {source.name}: not found, skipped")
            continue
        seen, _ = WHAT[source.kind]
        for n in range(per_source):
            image = downscale(augment(rng.choice(source.loaders)(), rng), max_side)
            cell = encode_image(image)
            for k, (question, answer, about) in enumerate(_questions(source.kind, rng)):
                item = Item(
                    f"other:{source.name}",
                    "train",
                    f"{n}-{k}",
                    question,
                    answer,
                    "closed",
                    ["yes", "no"],
                    source.modality,
                    source.department,
                    ImageRef(()),
                    {"generated": True},
                )
                prompt = roles.specialist_prompt(Case(image, question, ["yes", "no"]), source.department)
                target = f"<think>The question asks about {about}. {seen}</think><answer>{answer.lower()}</answer>"
                rows.append(
                    {
                        "prompt": prompt_messages(prompt),
                        "image": cell,
                        "completion": assistant_message(target),
                        "item": item_json(item),
                    }
                )
    return rows, notes
