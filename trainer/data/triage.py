"""Triage training examples: real images labelled with a department through their modality metadata.

Sources (each optional; a missing one is skipped with a note):
- VQA-RAD / SLAKE train items (CT, MRI, X-ray -> Radiologist) with their own questions;
- ``<data root>/bccd`` blood smears (train/val ids of BCCD's ImageSets only) -> Pathologist;
- ``<data root>/breastmnist/breastmnist.npz`` breast ultrasound (train images) -> Radiologist;
- scikit-image: ``retina()`` fundus -> Ophthalmologist, ``immunohistochemistry()`` slide -> Pathologist;
- pydicom's bundled test files (CT, MR, US, NM) -> Radiologist through their DICOM Modality.
The few-image sources are augmented (crop, flip, small rotation, brightness / contrast), seeded, so a run is
reproducible. Departments with no open images here (Surgeon, Oncologist, Endocrinologist, Dermatologist) get no
examples: the format reward and the other classes still train, and the gap is reported.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from mmedtui.departments import department_for_modality
from trainer.data.images import augment as augment_image
from trainer.data.rows import TriageExample

if TYPE_CHECKING:
    from trainer.sections import DataSection, TriageSection

QUESTIONS = {
    "blood smear": [
        "How many white blood cells are visible?",
        "Are platelets present in this smear?",
        "Is there an abnormal cell in this image?",
        "What type of cell is most numerous?",
        "Are the red blood cells normal in shape?",
    ],
    "ultrasound": [
        "Is the lesion in this breast ultrasound benign?",
        "Is there a mass in this image?",
        "Is this finding malignant?",
        "What does this ultrasound show?",
    ],
    "fundus": [
        "Is there diabetic retinopathy?",
        "Is the optic disc normal?",
        "Are there hemorrhages in the retina?",
        "What abnormality is seen in this eye?",
    ],
    "histology": [
        "What does the staining show?",
        "Is this tissue malignant?",
        "Which cells are stained brown?",
        "Is there abnormal tissue in this slide?",
    ],
    "scan": [
        "Is there an abnormality in this scan?",
        "Which organ is shown?",
        "Is this image normal?",
        "What imaging plane is used?",
        "Is there a mass?",
    ],
}

# Questions that say nothing of the image's kind: with ``triage.generic_share`` some examples of every source ask
# one of these, so the department has to come from the image (a triage doctor trained on each source's own
# wording sent smears to radiology when asked "What does this image show?").
GENERIC = (
    "What does this image show?",
    "What is seen in this image?",
    "Is there an abnormality in this image?",
    "Which specialist should read this image?",
)

PYDICOM_FILES = (
    "693_J2KI.dcm",
    "CT_small.dcm",
    "J2K_pixelrep_mismatch.dcm",
    "JPEG2000.dcm",
    "MR_small.dcm",
    "examples_overlay.dcm",
    "examples_jpeg2k.dcm",
    "examples_palette.dcm",
    "examples_rgb_color.dcm",
)


def augment(image: Image.Image, rng: random.Random) -> Image.Image:
    """The few-image sources' augmentation: stronger than the radiology images' and flipped (no sides to keep)."""
    return augment_image(image, rng, crop=0.75, degrees=12, light=0.2, flip=True, resample=Image.Resampling.BILINEAR)


def _bccd(root: Path) -> list[Callable[[], Image.Image]]:
    folder = root / "bccd" / "BCCD"
    ids: list[str] = []
    for split in ("train", "val", "trainval"):
        f = folder / "ImageSets" / "Main" / f"{split}.txt"
        if f.is_file():
            ids += [ln.strip() for ln in f.read_text().splitlines() if ln.strip()]
    if not ids:
        return []
    test = folder / "ImageSets" / "Main" / "test.txt"
    held = set(test.read_text().split()) if test.is_file() else set()
    from mmedtui.imaging import load_scan  # the project's loader: its size limits apply here too
    from mmedtui.tasks.base import safe_join

    files = [safe_join(folder / "JPEGImages", f"{i}.jpg") for i in sorted(set(ids) - held)]  # ids from a file
    return [(lambda p=p: load_scan(p).image) for p in files if p is not None and p.is_file()]


def _breastmnist(root: Path) -> list[Callable[[], Image.Image]]:
    path = root / "breastmnist" / "breastmnist.npz"
    if not path.is_file():
        return []
    import numpy as np

    with np.load(path) as z:
        images = z["train_images"]
    return [
        (lambda a=a: Image.fromarray(a).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)) for a in images
    ]


def _skimage(name: str) -> list[Callable[[], Image.Image]]:
    try:
        import skimage.data as data
    except ImportError:
        return []

    def load():
        return Image.fromarray(getattr(data, name)()).convert("RGB")

    try:
        load()
    except Exception:  # noqa: BLE001 - a data file missing from this install
        return []
    return [load]


def _pydicom() -> Iterator[tuple[Callable[[], Image.Image], str]]:
    try:
        import pydicom
    except ImportError:
        return
    folder = Path(pydicom.__file__).parent / "data" / "test_files"
    from mmedtui.imaging import load_scan

    for name in PYDICOM_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            scan = load_scan(path)
        except Exception:  # noqa: BLE001 - a codec missing here
            continue
        yield (lambda img=scan.image: img), scan.meta.modality or ""


@dataclass
class ImageSource:
    """Training images of one kind outside VQA-RAD / SLAKE (each loader decodes one image on demand)."""

    name: str
    loaders: list[Callable[[], Image.Image]]
    department: str
    modality: str
    kind: str  # a key of QUESTIONS


def image_sources(root: Path | None, retina: bool = True) -> list[ImageSource]:
    """BCCD's train / val smears and BreastMNIST's train images (with a data root) and scikit-image's fundus
    and histology images. ``retina=False`` leaves out ``skimage.data.retina()``, the shipped sample
    ``retina-fundus.jpg``'s source."""
    sources = []
    if root is not None:
        sources.append(ImageSource("bccd", _bccd(root), "Pathologist", "blood smear microscopy", "blood smear"))
        sources.append(ImageSource("breastmnist", _breastmnist(root), "Radiologist", "ultrasound", "ultrasound"))
    if retina:
        sources.append(
            ImageSource("skimage-retina", _skimage("retina"), "Ophthalmologist", "fundus photograph", "fundus")
        )
    sources.append(
        ImageSource(
            "skimage-microaneurysms", _skimage("microaneurysms"), "Ophthalmologist", "fundus photograph", "fundus"
        )
    )
    sources.append(
        ImageSource("skimage-ihc", _skimage("immunohistochemistry"), "Pathologist", "histology", "histology")
    )
    return sources


def extra_examples(root: Path | None, per_source: int, seed: int = 0) -> tuple[list[TriageExample], list[str]]:
    rng = random.Random(seed)
    out: list[TriageExample] = []
    notes: list[str] = []
    for source in image_sources(root):
        if not source.loaders:
            notes.append(f"triage source {source.name}: not found, skipped")
            continue
        for _ in range(per_source):
            image = augment(rng.choice(source.loaders)(), rng)
            out.append(
                TriageExample(
                    image, rng.choice(QUESTIONS[source.kind]), source.department, source.name, source.modality
                )
            )
    dicom = list(_pydicom())  # one source: CT, MR, NM and US files together, each labelled by its Modality
    if not dicom:
        notes.append("triage source pydicom: no decodable test files, skipped")
    for _ in range(per_source if dicom else 0):
        load, modality = rng.choice(dicom)
        department = department_for_modality(modality, "Radiologist")
        out.append(TriageExample(augment(load(), rng), rng.choice(QUESTIONS["scan"]), department, "pydicom", modality))
    return out, notes


def gather(
    data: DataSection, triage: TriageSection, items: list | None = None
) -> tuple[list[TriageExample], list[str]]:
    """Radiology VQA items (their own questions) + the extra sources, shuffled."""
    from trainer.data.images import ImageCache

    rng = random.Random(data.seed)
    examples: list[TriageExample] = []
    if items:
        from trainer.data.image_labels import gather, image_key

        labels = gather(items)  # a VQA-RAD image's modality, where its training answers say it

        def modality_of(item):
            return item.modality or labels[image_key(item)].modality

        picked = list(items)
        rng.shuffle(picked)
        # Distinct images with a known modality first, then the rest: filled in question order, the cap held
        # 190 VQA-RAD images of unknown modality against 68 SLAKE CT / MRI ones, and the warm-up taught
        # "This is a medical image." for every CT and MRI.
        first: dict = {}
        for item in picked:
            first.setdefault(image_key(item), item)
        rest = [it for it in picked if first[image_key(it)] is not it]
        picked = sorted(first.values(), key=lambda it: modality_of(it) is None) + rest
        if triage.max_radiology is not None:
            picked = picked[: triage.max_radiology]
        images = ImageCache(data.image_max_side)
        for item in picked:
            dept = item.department or department_for_modality(item.modality, "Radiologist")
            examples.append(TriageExample(images.small(item), item.question, dept, item.task, modality_of(item)))
    notes: list[str] = []
    if triage.extra_sources:
        root = None
        try:
            root = data.root_dir
        except Exception:  # noqa: BLE001 - the extra sources work without a data root too
            root = None
        extra, notes = extra_examples(root, triage.per_source, data.seed)
        examples += extra
    if triage.generic_share:
        examples = [
            replace(e, question=rng.choice(GENERIC)) if rng.random() < triage.generic_share else e for e in examples
        ]
    rng.shuffle(examples)
    counts = Counter(e.department for e in examples)
    notes.append("triage examples per department: " + ", ".join(f"{d} {n}" for d, n in counts.most_common()))
    return examples, notes
