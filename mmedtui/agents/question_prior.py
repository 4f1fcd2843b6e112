"""The ``question-only`` row: the language prior, a bag of words over the question and nothing else.

Unigram + bigram presence features of the lower-cased question feed one linear layer over the training
split's answer strings (normalised as the scorer does). ``mmedtui train question-only`` fits it
(``trainer/question_only.py``); it ships in ``assets/models/question-only`` as ``model.safetensors`` (weight,
bias) and ``vocab.json`` (features, answers). Asked with options it picks the most probable option; an
option it never saw as an answer ranks below every seen one (all unseen: the first option). What a system
scores above this row is what looking at the scan (and the panel) adds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mmedtui.errors import ConfigError, error_line
from mmedtui.tasks.scoring import normalize

if TYPE_CHECKING:
    import torch

FORMAT = 1
WEIGHTS, VOCAB = "model.safetensors", "vocab.json"
WORD = re.compile(r"[a-z0-9]+")  # a word of a lower-cased question


def features(question: str) -> list[str]:
    """The question's words and word pairs, e.g. "Is there a mass?" -> is, there, a, mass, "is there", ..."""
    words = WORD.findall(question.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@dataclass
class QuestionPrior:
    vocabulary: dict[str, int]  # feature -> column
    answers: list[str]  # normalised answer strings, one class each
    weight: torch.Tensor  # [answers, features]
    bias: torch.Tensor  # [answers]

    def encode(self, questions: list[str]) -> torch.Tensor:
        """Presence (0/1) of each known feature, one row per question."""
        import torch

        x = torch.zeros(len(questions), len(self.vocabulary))
        for row, question in enumerate(questions):
            cols = [self.vocabulary[f] for f in features(question) if f in self.vocabulary]
            x[row, cols] = 1.0
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.float().T + self.bias.float()

    def predict(self, questions: list[str], options: list[list[str] | None]) -> list[tuple[str, float]]:
        """Per question: the answer (an option's own text when options are given) and its probability."""
        import torch

        with torch.no_grad():
            probs = torch.softmax(self.logits(self.encode(questions)), dim=-1)
        index = {a: i for i, a in enumerate(self.answers)}
        out = []
        for p, opts in zip(probs, options):
            if not opts:
                best = int(p.argmax())
                out.append((self.answers[best], float(p[best])))
                continue
            scores = [float(p[index[normalize(o)]]) if normalize(o) in index else -1.0 for o in opts]
            best = max(range(len(opts)), key=lambda i: (scores[i], -i))  # first option at a tie
            out.append((opts[best], max(scores[best], 0.0)))
        return out

    def answer(self, cases) -> list[tuple[str, float]]:
        """The bench's call: one (answer, probability) per ``Case``; the image is never looked at."""
        return self.predict([c.question for c in cases], [c.options for c in cases])

    def save(self, folder: Path, meta: dict) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {"weight": self.weight.half().contiguous(), "bias": self.bias.half().contiguous()},
            str(folder / WEIGHTS),
            metadata={"format": str(FORMAT)},
        )
        (folder / WEIGHTS).chmod(0o644)  # shipped in the wheel: readable by every user
        features_in_order = sorted(self.vocabulary, key=self.vocabulary.get)
        doc = {"format": FORMAT, "features": features_in_order, "answers": self.answers, **meta}
        (folder / VOCAB).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> QuestionPrior:
        from safetensors.torch import load_file

        try:
            doc = json.loads((folder / VOCAB).read_text(encoding="utf-8"))
            tensors = load_file(str(folder / WEIGHTS))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{folder}: not a question-only model ({error_line(exc, typed=False)})") from None
        weight, bias = tensors.get("weight"), tensors.get("bias")
        if (
            doc.get("format") != FORMAT
            or weight is None
            or bias is None
            or tuple(weight.shape) != (len(doc["answers"]), len(doc["features"]))
        ):
            raise ConfigError(f"{folder}: not a question-only model of format {FORMAT}")
        return cls({f: i for i, f in enumerate(doc["features"])}, list(doc["answers"]), weight, bias)


def model_present(folder: Path) -> bool:
    return (folder / WEIGHTS).is_file() and (folder / VOCAB).is_file()
