"""Image-level labels gathered from the TRAINING items' own annotations, and what is built from them: generated
questions that only the image can answer, the reasoning targets that say what an image shows, and the targets of
the vision pre-training stage (``trainer/vision.py``).

Sources, per image: SLAKE's ``modality`` and ``location`` fields and its ``detection.json`` boxes (organ and
finding names); VQA-RAD's ``image_organ``; and the training questions' own answers (organ presence, the organs
listed, the scanning plane, whether the image is abnormal). Only the items handed in are read, so the caller's
split rules hold (``items.load_items``: train split only, never test, the fit / holdout part): a SLAKE image
that no training question references is never opened, and neither is a validation image's annotation.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmedtui.tasks.base import Item

MODALITIES = ("CT", "MRI", "X-Ray")
REGIONS = ("head", "neck", "chest", "abdomen", "pelvic cavity")
PLANES = ("transverse", "coronal", "sagittal")

_REGION_OF = {  # SLAKE `location` / VQA-RAD `image_organ` -> body region
    "brain": "head",
    "brain_tissue": "head",
    "brain_face": "head",
    "head": "head",
    "neck": "neck",
    "lung": "chest",
    "chest": "chest",
    "chest_lung": "chest",
    "chest_heart": "chest",
    "chest_mediastinal": "chest",
    "abdomen": "abdomen",
    "abd": "abdomen",
    "pelvic cavity": "pelvic cavity",
}
_PRESENCE = [
    re.compile(p)
    for p in (
        r"^does the picture contain (?:the |an? )?(?P<o>[a-z ]+?)\s*\?$",
        r"^does (?:the |an? )?(?P<o>[a-z ]+?) appear in (?:this|the) (?:image|picture)\s*\?$",
        r"^(?:is|are) there (?:an? |any )?(?P<o>[a-z ]+?) in (?:this|the) (?:image|picture)\s*\?$",
    )
]
_LIST_ORGANS = re.compile(r"^(?:what|which) organs? (?:are|is|appears?) (?:in|shown in) (?:this|the) (?:image|picture)")
_ABNORMAL = re.compile(r"^(?:are there abnormalities|is there (?:an? )?abnormality) in (?:this|the) (?:image|picture)")
_NORMAL = re.compile(r"^(?:is|does) (?:this|the) (?:image|picture) (?:look )?(?P<w>normal|abnormal|healthy)")


@dataclass
class ImageLabels:
    """What the training annotations say about one image (None / empty: unknown)."""

    item: Item  # one training item of the image: its image reference, task and split
    modality: str | None = None
    region: str | None = None
    plane: str | None = None
    abnormal: bool | None = None
    organs: set[str] = field(default_factory=set)  # present (detection boxes, "yes" answers, listed organs)
    absent: set[str] = field(default_factory=set)  # said absent by a training answer


def image_key(item: Item) -> tuple:
    return (item.task, item.image_ref.key)


def normal_modality(text: str | None) -> str | None:
    """CT, MRI or X-Ray from a dataset's or an answer's spelling (None: another or unknown)."""
    t = (text or "").strip().lower().replace("-", "").replace(" ", "")
    if t in ("ct", "ctscan", "computedtomography"):
        return "CT"
    if t.startswith("mri") or t == "mr":
        return "MRI"
    if t in ("xray", "radiograph", "plainfilm", "cxr"):
        return "X-Ray"
    return None


def _plane(text: str) -> str | None:
    t = text.strip().lower()
    for plane, words in (
        ("transverse", ("transverse", "axial")),
        ("coronal", ("coronal",)),
        ("sagittal", ("sagittal",)),
    ):
        if any(w in t for w in words):
            return plane
    return None


_SPELLING = {"brian": "brain"}  # one annotation typo in SLAKE's boxes


def _organ(name: str) -> str:
    name = re.sub(r"\s+", " ", name.strip().lower())
    return _SPELLING.get(name, name)


def _is_name(organ: str) -> bool:
    """A short organ or finding name, not a knowledge question's phrase ("organ that secretes ...")."""
    return 0 < len(organ.split()) <= 3 and "organ" not in organ


def _detections(item: Item) -> list[str]:
    """The finding names in the ``detection.json`` beside a SLAKE training image (absent: none)."""
    source = item.image_ref.sources[0] if item.image_ref.sources else None
    if source is None or source.path is None:
        return []
    path = source.path.parent / "detection.json"
    try:
        boxes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = []
    for box in boxes if isinstance(boxes, list) else []:
        if isinstance(box, dict):
            names.extend(_organ(str(k)) for k in box)
    return names


def gather(items: Iterable[Item]) -> dict[tuple, ImageLabels]:
    """One ``ImageLabels`` per image of ``items`` (training items only: see the module docstring)."""
    labels: dict[tuple, ImageLabels] = {}
    for item in items:
        key = image_key(item)
        lab = labels.get(key)
        if lab is None:
            lab = labels[key] = ImageLabels(item)
            if item.task == "slake":
                lab.organs.update(_detections(item))
        lab.modality = lab.modality or normal_modality(item.modality)
        lab.region = lab.region or region_of(item)
        _read_answer(lab, item)
    for lab in labels.values():
        lab.absent -= lab.organs
    return labels


def _read_answer(lab: ImageLabels, item: Item) -> None:
    q, a = item.question.strip().lower(), item.answer.strip().lower()
    kind = str(item.meta.get("content_type") or item.meta.get("question_type") or "").lower()
    if a in ("yes", "no"):
        if _ABNORMAL.match(q):
            lab.abnormal = a == "yes"
        elif m := _NORMAL.match(q):
            lab.abnormal = (a == "yes") == (m["w"] == "abnormal")
        else:
            for pattern in _PRESENCE:
                if (m := pattern.match(q)) and _is_name(_organ(m["o"])):
                    (lab.organs if a == "yes" else lab.absent).add(_organ(m["o"]))
                    break
        return
    if _LIST_ORGANS.match(q):
        lab.organs.update(o for o in map(_organ, re.split(r",|\band\b", a)) if _is_name(o))
    elif "plane" in kind or "plane" in q:
        lab.plane = lab.plane or _plane(a)
    elif "modality" in kind:
        lab.modality = lab.modality or normal_modality(a)


# --- words ---------------------------------------------------------------------------------------
def modality_words(modality: str) -> str:
    """How a sentence names a modality (DICOM codes and dataset spellings alike)."""
    words = {
        "x-ray": "X-ray",
        "xray": "X-ray",
        "mri": "MRI",
        "mr": "MRI",
        "ct": "CT",
        "us": "ultrasound",
        "nm": "nuclear medicine",
        "cr": "X-ray",
        "dx": "X-ray",
    }
    return words.get(modality.strip().lower(), modality)


def region_of(item: Item) -> str | None:
    where = str(item.meta.get("location") or item.meta.get("image_organ") or "").strip().lower()
    return _REGION_OF.get(where)


def with_article(phrase: str) -> str:
    """'a CT', 'an MRI', 'an X-ray', 'an axial CT', 'an ultrasound': by the sound, not the letter."""
    first = phrase.split()[0] if phrase.split() else ""
    vowel_sound = (
        first[:1].lower() in "aeio"
        or first.upper() in ("MRI", "MR", "FLAIR", "NM")
        or first.lower().startswith(("ultra", "x-"))
    )
    return ("an " if vowel_sound else "a ") + phrase


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def describe(lab: ImageLabels | None, max_organs: int = 4) -> str:
    """A grammatical sentence of what the image shows: 'An axial CT of the abdomen; the liver and the spleen
    are visible.' (only what the labels know)."""
    if lab is None or not (lab.modality or lab.region):
        return "A medical image; its modality and region are not certain."
    plane = {"transverse": "axial", "coronal": "coronal", "sagittal": "sagittal"}.get(lab.plane or "")
    what = " ".join(w for w in (plane, modality_words(lab.modality) if lab.modality else "image") if w)
    text = with_article(what)
    if lab.region:
        text += f" of the {lab.region}"
    named = {o for o in lab.organs if o not in FINDINGS}
    # "the left kidney and the right kidney" say more than "the kidney" beside them
    organs = sorted(o for o in named if f"left {o}" not in named and f"right {o}" not in named)[:max_organs]
    if organs:
        verb = "is" if len(organs) == 1 else "are"
        text += f"; {_listed(['the ' + o for o in organs])} {verb} visible"
    findings = sorted(o for o in lab.organs if o in FINDINGS)[:2]
    if findings:
        text += f"; it shows {_listed([with_article(f) if f in _COUNTABLE else f for f in findings])}"
    if lab.abnormal is not None:
        text += "; it looks abnormal" if lab.abnormal else "; it looks normal"
    return text[0].upper() + text[1:] + "."


# Annotated names that are findings, not organs: a sentence says "it shows ..." of them.
FINDINGS = {
    "mass",
    "nodule",
    "pneumonia",
    "effusion",
    "cardiomegaly",
    "atelectasis",
    "infiltration",
    "pneumothorax",
    "brain edema",
    "brain enhancing tumor",
    "brain non-enhancing tumor",
    "brain tumor",
    "tumor",
    "edema",
    "pleural effusion",
    "lung cancer",
    "liver cancer",
    "kidney cancer",
    "consolidation",
    "fibrosis",
}


_COUNTABLE = {
    "mass",
    "nodule",
    "tumor",
    "brain tumor",
    "brain enhancing tumor",
    "brain non-enhancing tumor",
    "pneumothorax",
    "pleural effusion",
    "effusion",
}


def organ_regions(labs: Iterable[ImageLabels]) -> dict[str, set]:
    """Organ or finding -> the body regions of the images that show it."""
    seen_in: dict[str, set] = defaultdict(set)
    for lab in labs:
        for organ in lab.organs:
            seen_in[organ].add(lab.region)
    return seen_in


def safely_absent(lab: ImageLabels, organ: str, seen_in: dict[str, set]) -> bool:
    """Said absent by a training answer, or never seen in this image's body region."""
    return organ in lab.absent or bool(lab.region) and lab.region not in seen_in.get(organ, ())


# --- what a closed question asks about ------------------------------------------------------------
# The wordings under which a yes/no question names one thing to compare with the image (SLAKE's and VQA-RAD's
# own, and the generated ones'): a real question's reasoning target names it as a generated one's does.
_ASKED = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^does (?:the|this) (?:picture|image) (?:contain|show) (?:any |an? )?(?P<t>[^?]+?)\s*\?$",
        r"^is (?:this|the) (?:image|picture|scan) (?:taken )?(?:via|by|with|from) (?:an? )?(?P<t>[^?]+?)\s*\?$",
        r"^is this (?P<t>a study of (?:the )?[^?]+?)\s*\?$",
        r"^is this (?:image )?(?P<t>(?:an? )?(?:ct|mri|x-ray|transverse|coronal|sagittal|axial)\b[^?]*?)\s*\?$",
        r"^can (?P<t>[^?]+?) be (?:observed|seen|found)\b[^?]*\?$",
        r"^(?:is|are)(?:/(?:is|are))? there (?:any |an? )?(?P<t>[^?]+?) in (?:the|this) (?:image|picture)\s*\?$",
        r"^(?:is|are) there (?:(?:evidence of|any|an?) )*(?P<t>[^?]+?)(?: present| seen| visible| shown)?\s*\?$",
        r"^does the patient have (?:any |an? )?(?P<t>[^?]+?)\s*\?$",
    )
]


def asked_term(question: str) -> str | None:
    """What a yes/no question asks the image about ("Can pneumonia be observed?" -> "pneumonia"), or None."""
    for pattern in _ASKED:
        found = pattern.match(question.strip())
        if found and len(found["t"].split()) <= 5:
            term = found["t"].strip()
            if term.startswith("a study of the "):
                return term.removeprefix("a study of ")
            # The question's own article may be wrong ("Is this a X-Ray?"): the target says it by the sound.
            article, _, rest = term.partition(" ")
            return with_article(rest) if article.lower() in ("a", "an") and rest else term
    return None


# --- generated questions -------------------------------------------------------------------------
def generated_items(labels: dict[tuple, ImageLabels], seed: int = 0, organs_per_image: int = 3) -> list[Item]:
    """Closed yes/no questions whose answers differ between images of the same wording, so that only the image
    answers them: organ presence (present organs; absent ones said by a training answer or never seen in the
    image's region), modality, body region, plane and abnormality."""
    rng = random.Random(seed)
    seen_in = organ_regions(labels.values())
    out: list[Item] = []
    for lab in labels.values():
        asked: list[tuple[str, str, str | None]] = []  # question, answer, what it asks about
        present = sorted(lab.organs)
        rng.shuffle(present)
        absent = sorted(lab.absent | {o for o in seen_in if safely_absent(lab, o, seen_in)})
        rng.shuffle(absent)
        asked += [(f"Does the picture contain {o}?", "Yes", o) for o in present[:organs_per_image]]
        # about as many "no" as "yes": an image with few known organs would otherwise teach "no" as a prior
        n_absent = max(1, min(organs_per_image, len(present)))
        asked += [(f"Does the picture contain {o}?", "No", o) for o in absent[:n_absent]]
        if lab.modality:
            other = rng.choice([m for m in MODALITIES if m != lab.modality])
            for m, answer in ((lab.modality, "Yes"), (other, "No")):
                asked.append((f"Is this image taken via {modality_words(m)}?", answer, modality_words(m)))
        if lab.region:
            other = rng.choice([r for r in REGIONS if r != lab.region])
            for r, answer in ((lab.region, "Yes"), (other, "No")):
                asked.append((f"Is this a study of the {r}?", answer, f"the {r}"))
        if lab.plane:
            other = rng.choice([p for p in PLANES if p != lab.plane])
            for p, answer in ((lab.plane, "Yes"), (other, "No")):
                asked.append((f"Is this a {p} section?", answer, f"a {p} section"))
        if lab.abnormal is not None:
            asked.append(("Are there abnormalities in this image?", "Yes" if lab.abnormal else "No", None))
        base = lab.item
        for n, (question, answer, about) in enumerate(asked):
            meta = {**base.meta, "generated": True, **({"asks_about": about} if about else {})}
            out.append(
                replace(
                    base,
                    id=f"{base.id}-gen{n}",
                    question=question,
                    answer=answer,
                    kind="closed",
                    options=["yes", "no"],
                    meta=meta,
                )
            )
    return out
