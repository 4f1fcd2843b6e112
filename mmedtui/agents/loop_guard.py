"""A decoding rule for local models: no phrase a third time in a row.

Small models off their training domain fall into loops ("An axial axial axial ...", "CT CT CT"). Where the
last tokens already hold the same span of up to ``max_span`` tokens twice in a row, the token that would start
a third copy is forbidden; nothing else changes. A phrase said twice, or again later in the reply, still can be;
so can a looser loop with other words between its copies ("CT CT face CT CT face"), which the parser still flags
(``parsing.degenerate``). Imported only where a local model generates (it needs torch).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

MAX_SPAN, REPEATS = 10, 2  # spans of up to 10 tokens; the third copy in a row is the one forbidden


class LoopGuard(LogitsProcessor):
    def __init__(self, prompt_length: int, max_span: int = MAX_SPAN, repeats: int = REPEATS):
        self.prompt_length, self.max_span, self.repeats = prompt_length, max_span, repeats

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.prompt_length :].tolist()
        for row, tokens in enumerate(generated):
            for token in repeat_starts(tokens, self.max_span, self.repeats):
                scores[row, token] = -float("inf")
        return scores


def repeat_starts(tokens: list[int], max_span: int = MAX_SPAN, repeats: int = REPEATS) -> set[int]:
    """The first token of each span that ends ``tokens`` ``repeats`` times in a row (the next copy's start)."""
    out = set()
    for span in range(1, max_span + 1):
        if len(tokens) < span * repeats:
            break
        tail = tokens[-span:]
        if all(tokens[-span * (k + 1) : len(tokens) - span * k] == tail for k in range(1, repeats)):
            out.add(tail[0])
    return out
