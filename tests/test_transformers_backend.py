from PIL import Image

from mmedtui.agents.base import Prompt, Sampling
from mmedtui.agents.transformers_backend import TransformersBackend


def _prompts(n):
    images = [Image.new("RGB", (80 + 40 * i, 64), (30 * i, 60, 90)) for i in range(n)]
    return [Prompt("You are a triage doctor.", f"Question {i}: is it normal?", (img,)) for i, img in enumerate(images)]


def test_batched_greedy_generation_matches_one_by_one(tiny_model_dir):
    backend = TransformersBackend(name="tiny", path=str(tiny_model_dir), batch_size=4)
    prompts = _prompts(3)
    batched = backend.generate(prompts, Sampling(max_new_tokens=6))
    single = [backend.generate([p], Sampling(max_new_tokens=6))[0] for p in prompts]
    assert all(g.ok for g in batched)
    assert [g.text for g in batched] == [g.text for g in single]


def test_length_sorted_batches_answer_in_the_callers_order(tiny_model_dir, monkeypatch):
    backend = TransformersBackend(name="tiny", path=str(tiny_model_dir), batch_size=2)
    # Long, short, long, short: batching by length pairs the two short and the two long prompts.
    prompts = [
        Prompt(p.system, p.user + " with more words" * (8 * (i % 2 == 0)), p.images) for i, p in enumerate(_prompts(4))
    ]
    batches = []
    real = backend._generate_batch
    monkeypatch.setattr(backend, "_generate_batch", lambda ps, s: batches.append(ps) or real(ps, s))
    batched = backend.generate(prompts, Sampling(max_new_tokens=6))
    assert [[prompts.index(p) for p in b] for b in batches] == [[1, 3], [0, 2]]
    monkeypatch.undo()
    single = [backend.generate([p], Sampling(max_new_tokens=6))[0] for p in prompts]
    assert [g.text for g in batched] == [g.text for g in single]


def test_seeded_sampling_is_reproducible(tiny_model_dir):
    backend = TransformersBackend(name="tiny", path=str(tiny_model_dir))
    sampling = Sampling(max_new_tokens=8, temperature=1.0, seed=7)
    first = backend.generate(_prompts(2), sampling)
    again = backend.generate(_prompts(2), sampling)
    assert [g.text for g in first] == [g.text for g in again]


def test_score_choices_ranks_by_likelihood(tiny_model_dir):
    backend = TransformersBackend(name="tiny", path=str(tiny_model_dir))
    prompt = _prompts(1)[0]
    scores = backend.score_choices(prompt, ["Radiologist", "Pathologist", "Dermatologist"])
    assert len(scores) == 3 and all(s < 0 for s in scores)
    # The same choice scored alone gives the same number: padding does not leak into the score.
    alone = backend.score_choices(prompt, ["Pathologist"])
    assert abs(alone[0] - scores[1]) < 1e-3


def test_text_only_prompt(tiny_model_dir):
    backend = TransformersBackend(name="tiny", path=str(tiny_model_dir))
    assert backend.generate([Prompt("sys", "hello")], Sampling(max_new_tokens=4))[0].ok


def test_each_image_is_prepared_once_and_forgotten_with_it(tiny_model_dir):
    import gc

    import torch

    from mmedtui.agents import qwen_processor

    backend = TransformersBackend(name="tiny", path=str(tiny_model_dir))
    prompts = _prompts(2) + _prompts(1)  # a third prompt with a distinct image object of the same pixels
    cached = backend._encode(prompts)
    again = backend._encode(prompts)
    # Reference: the stock processor's path, nothing cached.
    stock = super(qwen_processor.ImageOnlyQwen2_5_VLProcessor, backend.processor)
    plain, _ = stock._process_images([list(p.images) for p in prompts], return_tensors="pt")
    assert torch.equal(cached["pixel_values"], plain["pixel_values"])
    assert torch.equal(cached["image_grid_thw"], plain["image_grid_thw"])
    assert all(torch.equal(cached[k], again[k]) for k in cached)
    assert {id(p.images[0]) for p in prompts} <= set(qwen_processor._FEATURES)
    ids = {id(p.images[0]) for p in prompts}
    del prompts, cached, again
    gc.collect()
    assert not ids & set(qwen_processor._FEATURES)
