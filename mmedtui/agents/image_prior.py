"""The ``nearest-image`` row: the image prior, the answers given to the training images most like the scan.

No language model. Each scan becomes a 32 x 32 grey thumbnail (its own mean removed, then standardised per
pixel by the training thumbnails' mean and spread, unit length); of the training images that were asked the same
question (the same words), the ``k`` closest by cosine vote with their own answers, the closest breaking a tie.
No such image, or a scan with no content (a flat grey image): the question's most common training answer, else
the most common training answer overall. Asked with options it always names one of them. ``mmedtui train
nearest-image`` builds it (``trainer/image_prior.py``) from the specialists' training split; it ships in
``assets/models/nearest-image`` as ``model.safetensors`` (thumbnails, mean, spread) and ``index.json`` (each
image's questions and answers). What a system scores above this row is reading beyond "this scan looks like
that one"; its image gain is what likeness alone is worth.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mmedtui.agents.question_prior import WORD
from mmedtui.errors import ConfigError, error_line
from mmedtui.tasks.scoring import normalize

if TYPE_CHECKING:
    import torch
    from PIL import Image

FORMAT = 1
WEIGHTS, INDEX = "model.safetensors", "index.json"
SIDE = 32  # thumbnail side: enough to tell a slice from its neighbours, cheap to compare against every image
FLAT = 1.0  # a thumbnail whose grey levels spread less than this (of 255) has no content to compare


def question_key(question: str) -> str:
    """The question's words, lower-cased: "Is there a Mass?" -> "is there a mass"."""
    return " ".join(WORD.findall(question.lower()))


def thumbnail(image: Image.Image) -> torch.Tensor | None:
    """The scan as SIDE x SIDE grey levels minus their mean, flattened; None for an image with no content."""
    import torch

    pixels = bytearray(image.convert("L").resize((SIDE, SIDE)).tobytes())
    grey = torch.frombuffer(pixels, dtype=torch.uint8).float()
    if float(grey.std()) < FLAT:
        return None
    return grey - grey.mean()


@dataclass
class Reading:
    """What the prior found: the answer, the neighbours' votes (closest first) and their modalities, and where
    the answer came from: ``neighbours``, the ``question``'s training answers, the ``overall`` ones, or ``none``."""

    answer: str
    votes: list[str]
    modalities: list[str | None]
    source: str = "neighbours"

    @property
    def share(self) -> float:
        return self.votes.count(normalize(self.answer)) / len(self.votes) if self.votes else 0.0


@dataclass
class ImagePrior:
    thumbs: torch.Tensor  # [images, SIDE * SIDE], each minus its own mean
    asked: list[dict[str, str]]  # per image: question key -> normalised answer
    k: int = 3
    modality: list[str | None] = field(default_factory=list)  # per image, where the dataset says (SLAKE)
    mean: torch.Tensor | None = None  # per-pixel mean and spread of ``thumbs`` (computed when None)
    scale: torch.Tensor | None = None
    _unit: torch.Tensor | None = field(default=None, repr=False)
    _by_question: dict[str, Counter] = field(default_factory=dict, repr=False)
    _overall: Counter = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        thumbs = self.thumbs.float()
        if self.mean is None or self.scale is None:
            self.mean, self.scale = thumbs.mean(0), thumbs.std(0, correction=0) + 1e-6  # one image: spread 0
        self._unit = self._standard(thumbs)
        for answers in self.asked:
            for key, answer in answers.items():
                self._by_question.setdefault(key, Counter())[answer] += 1
                self._overall[answer] += 1

    def _standard(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean.float()) / self.scale.float()
        return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-9)

    def neighbours(self, image: Image.Image, question: str) -> list[int]:
        """The ``k`` training images most like ``image`` that were asked ``question``, closest first."""
        thumb, key = thumbnail(image), question_key(question)
        if thumb is None:
            return []
        order = (self._unit @ self._standard(thumb)).argsort(descending=True, stable=True)
        return [i for i in order.tolist() if key in self.asked[i]][: self.k]

    def read(self, image: Image.Image, question: str, options: list[str] | None = None) -> Reading:
        """What the training images say about ``question`` on ``image`` (only votes for an option count)."""
        allowed = {normalize(o) for o in options} if options else None
        key = question_key(question)
        voters = [i for i in self.neighbours(image, question) if allowed is None or self.asked[i][key] in allowed]
        if voters:
            votes = [self.asked[i][key] for i in voters]
            counts = Counter(votes)
            best = max(counts, key=lambda a: (counts[a], -votes.index(a)))  # a tie: the closer image's answer
            reading = Reading(best, votes, [self.modality[i] for i in voters] if self.modality else [])
        else:
            reading = Reading(*self._fallback(key, allowed))
        if options:  # the option's own text; none of the training answers: the first option
            reading.answer = next((o for o in options if normalize(o) == reading.answer), options[0])
        return reading

    def _fallback(self, key: str, allowed: set[str] | None) -> tuple[str, list, list, str]:
        for counts, source in ((self._by_question.get(key, Counter()), "question"), (self._overall, "overall")):
            ranked = [a for a, _ in counts.most_common() if allowed is None or a in allowed]
            if ranked:
                return ranked[0], [], [], source
        return "", [], [], "none"

    def predict(
        self, images: list[Image.Image], questions: list[str], options: list[list[str] | None]
    ) -> list[tuple[str, float]]:
        """Per case: the answer (an option's own text when options are given) and the share of votes behind it
        (0 when no neighbour voted and a training prior answered)."""
        out = []
        for image, question, opts in zip(images, questions, options):
            reading = self.read(image, question, opts)
            out.append((reading.answer, reading.share))
        return out

    def answer(self, cases) -> list[tuple[str, float]]:
        """The bench's call: one (answer, share) per ``Case``."""
        return self.predict([c.image for c in cases], [c.question for c in cases], [c.options for c in cases])

    def save(self, folder: Path, meta: dict) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"thumbs": self.thumbs.half(), "mean": self.mean.float(), "scale": self.scale.float()}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / WEIGHTS), {"format": str(FORMAT)})
        (folder / WEIGHTS).chmod(0o644)  # shipped in the wheel: readable by every user
        doc = {"format": FORMAT, "k": self.k, "asked": self.asked, "modality": self.modality, **meta}
        (folder / INDEX).write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> ImagePrior:
        from safetensors.torch import load_file

        try:
            doc = json.loads((folder / INDEX).read_text(encoding="utf-8"))
            tensors = load_file(str(folder / WEIGHTS))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{folder}: not a nearest-image model ({error_line(exc, typed=False)})") from None
        thumbs, asked = tensors.get("thumbs"), doc.get("asked")
        if (
            doc.get("format") != FORMAT
            or thumbs is None
            or not isinstance(asked, list)
            or tuple(thumbs.shape) != (len(asked), SIDE * SIDE)
        ):
            raise ConfigError(f"{folder}: not a nearest-image model of format {FORMAT}")
        modality = doc.get("modality") if isinstance(doc.get("modality"), list) else []
        if modality and len(modality) != len(asked):
            raise ConfigError(f"{folder}: not a nearest-image model of format {FORMAT}")
        return cls(thumbs, asked, int(doc.get("k", 3)), modality, tensors.get("mean"), tensors.get("scale"))


def model_present(folder: Path) -> bool:
    return (folder / WEIGHTS).is_file() and (folder / INDEX).is_file()
