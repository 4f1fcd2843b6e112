"""A scripted backend: a test double that answers from a list or by keyword, with optional failures.

Used by the project's own tests and by demo panels; it loads no weights. A reply is picked by the first
``rules`` entry whose keyword appears in the prompt, else from ``replies`` in turn.
"""

from __future__ import annotations

import itertools
import threading
import time

from mmedtui.agents.base import Backend, Continuations, Generation, Prompt, Sampling


class ScriptedBackend(Backend):
    def __init__(
        self,
        *,
        name: str = "scripted",
        replies: list[str] | None = None,
        rules: dict[str, str] | None = None,
        error: str | None = None,
        delay: float = 0.0,
        scores: list[float] | None = None,
    ):
        self.name = name
        self.rules = rules or {}
        self._replies = itertools.cycle(replies or ["<think>scripted</think><answer>yes</answer>"])
        self.error, self.delay, self.scores = error, delay, scores
        self.calls: list[Prompt] = []
        self._lock = threading.Lock()

    def generate(self, prompts: list[Prompt], sampling: Sampling = Sampling()) -> list[Generation]:
        if self.delay:
            time.sleep(self.delay)
        out = []
        with self._lock:
            for prompt in prompts:
                self.calls.append(prompt)
                if self.error:
                    out.append(Generation("", error=self.error))
                    continue
                text = f"{prompt.system}\n{prompt.user}"
                rule = next((reply for key, reply in self.rules.items() if key in text), None)
                out.append(Generation(rule if rule is not None else next(self._replies)))
        return out

    def score_choices(self, prompt: Prompt, choices: list[str]) -> list[float] | None:
        return list(self.scores[: len(choices)]) if self.scores else None

    def score_continuations(self, requests: list[Continuations]) -> list[list[float] | None]:
        return [self.score_choices(r.prompt, list(r.continuations)) for r in requests]
