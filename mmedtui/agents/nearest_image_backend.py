"""A case-based specialist: the ``nearest-image`` model (``image_prior``) behind the backend interface, so a
panel can seat it beside language models (``backend: nearest-image, path: models/nearest-image``).

It answers from the training images most like the scan and says so in its reasoning: how many of them were
asked the question, what they show where the dataset says (CT, MRI, X-Ray), and how they were answered. It reads
the question and options the pipeline put in the prompt (``Prompt.question`` / ``Prompt.options``). A question
no training scan was asked it declines (an error the panel shows as such, counted as a missing opinion): a guess
from the training answers overall would be a vote with nothing behind it, and an attending learning from the
panel would learn to follow it where it knows nothing (measured: on VQA-RAD, whose questions rarely repeat, such
guesses were 83 % of its opinions and right on 49 %).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mmedtui.agents.base import Backend, Generation, Prompt, Sampling
from mmedtui.agents.image_prior import ImagePrior, Reading


def _looks(modalities: list[str | None], many: bool) -> str:
    known = list(dict.fromkeys(m for m in modalities if m))
    if not known:
        return ""
    if len(known) == 1:
        return f" (all {known[0]})" if many else f" ({known[0]})"
    return f" ({', '.join(known[:-1])} and {known[-1]})"


def explain(reading: Reading) -> str:
    """The reasoning line: what the training images most like the scan were answered."""
    votes, n = reading.votes, len(reading.votes)
    if reading.source == "question":
        return f"No training scan like this one was asked this; its most common training answer is {reading.answer}."
    asked = (
        "training scan most like this one that was asked this question"
        if n == 1
        else (f"{n} training scans most like this one that were asked this question")
    )
    asked += _looks(reading.modalities, n > 1)
    counts = Counter(votes).most_common()
    if n == 1:
        return f"The {asked} was answered {votes[0]}."
    if len(counts) == 1:
        return f"The {asked} were all answered {votes[0]}."
    (top, c), rest = counts[0], counts[1:]
    others = ", ".join(f"{k} {a}" for a, k in rest)
    return f"Of the {asked}, {c} {'was' if c == 1 else 'were'} answered {top} and {others}."


class NearestImageBackend(Backend):
    # Its refusals: deterministic for a scan and question, so a cache may keep them (a timeout it would not).
    NOT_A_SCAN_QUESTION = "nearest-image answers a question about a scan only"
    NO_TRAINING_ANSWER = "no training scan was asked this question"
    REFUSALS = frozenset({NOT_A_SCAN_QUESTION, NO_TRAINING_ANSWER})

    def __init__(self, *, name: str = "nearest-image", path: str, k: int | None = None) -> None:
        self.name = name
        self.prior = ImagePrior.load(Path(path))  # a missing or damaged folder: one ConfigError at load time
        if k is not None:
            self.prior.k = int(k)

    def generate(self, prompts: list[Prompt], sampling: Sampling = Sampling()) -> list[Generation]:
        """Deterministic: the same scan and question get the same answer at any temperature."""
        out = []
        for prompt in prompts:
            if not prompt.question or not prompt.images:
                out.append(Generation("", error=self.NOT_A_SCAN_QUESTION, meta={"declined": True}))
                continue
            options = list(prompt.options) if prompt.options else None
            reading = self.prior.read(prompt.images[0], prompt.question, options)
            if reading.source in ("none", "overall"):  # no training scan was asked it: a blind guess
                out.append(Generation("", error=self.NO_TRAINING_ANSWER, meta={"declined": True}))
                continue
            text = f"<think>{explain(reading)}</think><answer>{reading.answer}</answer>"
            share = reading.share if reading.votes else None  # a training prior's answer: no probability
            out.append(Generation(text, meta={"votes": reading.votes, "source": reading.source, "probability": share}))
        return out
