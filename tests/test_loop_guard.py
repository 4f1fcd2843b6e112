import torch
from PIL import Image

from mmedtui.agents.base import Prompt, Sampling
from mmedtui.agents.loop_guard import LoopGuard, repeat_starts
from mmedtui.agents.transformers_backend import TransformersBackend


def test_the_start_of_a_third_copy_in_a_row_is_what_is_forbidden():
    assert repeat_starts([5, 5]) == {5}
    assert repeat_starts([7, 1, 2, 1, 2]) == {1}
    assert repeat_starts([1, 2, 3, 1, 2, 3]) == {1}
    assert repeat_starts([1, 2, 3]) == set()
    assert repeat_starts([1, 2, 1, 3]) == set()  # said again, not in a row
    assert repeat_starts([5, 5, 5], repeats=3) == {5} and repeat_starts([5, 5], repeats=3) == set()


def test_repeats_in_the_prompt_do_not_count():
    guard = LoopGuard(prompt_length=2)
    scores = guard(torch.tensor([[9, 9, 9, 4], [9, 9, 4, 4]]), torch.zeros(2, 12))
    assert torch.isfinite(scores[0]).all()  # 9 9 is the prompt's
    assert scores[1, 4] == -float("inf") and torch.isfinite(scores[1, :4]).all()  # "4" was generated twice


def _repeats(tokens: list[int]) -> bool:  # a span three times in a row somewhere
    return any(repeat_starts(tokens[:end], repeats=3) for end in range(1, len(tokens) + 1))


def test_a_local_model_never_says_a_phrase_a_third_time_in_a_row(tiny_model_dir, monkeypatch):
    prompt = Prompt("You are a specialist.", "What does this image show?", (Image.new("RGB", (64, 64), (90, 90, 90)),))

    def generated_ids(guard: bool) -> list[int]:
        backend = TransformersBackend(name="tiny", path=str(tiny_model_dir), loop_guard=guard)
        real, out = backend.model.generate, []
        monkeypatch.setattr(backend.model, "generate", lambda **kw: out.append(real(**kw)) or out[-1])
        backend.generate([prompt], Sampling(max_new_tokens=40))
        return out[0][0, -40:].tolist()

    unguarded, guarded = generated_ids(False), generated_ids(True)
    assert _repeats(unguarded)  # the random tiny model loops when left alone ...
    assert not _repeats(guarded), guarded  # ... and never with the guard
