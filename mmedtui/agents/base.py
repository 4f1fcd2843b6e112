"""The one small backend interface every model sits behind: batched chat generation.

A backend turns a list of ``Prompt`` into a list of ``Generation`` of the same length and never raises
for a single bad item: a failed item comes back with ``error`` set, so a panel degrades instead of
crashing. Only a backend that cannot work at all (missing weights, bad config) raises at load time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from PIL import Image


@dataclass(frozen=True)
class Prompt:
    """One chat turn: a system message and a user message with its images (RGB PIL images). ``question`` and
    ``options`` repeat the case's own, for a backend that answers without reading text (``nearest-image``)."""

    system: str
    user: str
    images: tuple[Image.Image, ...] = ()
    question: str | None = None
    options: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Sampling:
    """How to decode. ``temperature == 0`` is greedy; ``seed`` makes sampling reproducible."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None


@dataclass
class Generation:
    text: str
    error: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Continuations:
    """What to score: each of ``continuations`` as the text that follows ``prefix`` in the reply to ``prompt``."""

    prompt: Prompt
    prefix: str
    continuations: tuple[str, ...]


class Backend(ABC):
    """A model that answers prompts. Subclasses: transformers (local / hub), OpenAI-compatible HTTP."""

    name: str = "backend"
    #: True when prompts sent here leave this machine (a remote API): the pipeline then sends pixels
    #: and the question only, never image metadata.
    remote: bool = False

    @abstractmethod
    def generate(self, prompts: list[Prompt], sampling: Sampling = Sampling()) -> list[Generation]:
        """Answer every prompt; one ``Generation`` per prompt, in order, errors in-band."""

    def score_choices(self, prompt: Prompt, choices: list[str]) -> list[float] | None:
        """Log-likelihood of each choice as the reply to ``prompt``; None where the backend cannot tell."""
        return None

    def score_continuations(self, requests: list[Continuations]) -> list[list[float] | None]:
        """Batched: for each request, the summed log-probability of every continuation after its prompt and
        reply prefix (lm-evaluation-harness's multiple choice). None for a request the backend cannot score."""
        return [None] * len(requests)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sockets, threads or memory."""
