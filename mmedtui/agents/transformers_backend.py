"""Local / hub vision-language models through transformers (Qwen2.5-VL and other image-text-to-text models).

Heavy imports happen in ``__init__``, so importing this module costs nothing until a model is loaded.
"""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path

from mmedtui.agents.base import Backend, Continuations, Generation, Prompt, Sampling
from mmedtui.errors import ConfigError, error_line

_QWEN_TYPES = {"qwen2_5_vl", "qwen2_vl"}


def chat_messages(prompt: Prompt) -> list[dict]:
    user = [{"type": "image"} for _ in prompt.images] + [{"type": "text", "text": prompt.user}]
    return [{"role": "system", "content": [{"type": "text", "text": prompt.system}]}, {"role": "user", "content": user}]


class TransformersBackend(Backend):
    def __init__(
        self,
        *,
        name: str,
        path: str,
        device: str = "auto",
        dtype: str = "auto",
        max_pixels: int | None = None,
        batch_size: int = 8,
        trust_remote_code: bool = False,
        threads: int | None = None,
        loop_guard: bool = True,
    ):
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

        from mmedtui.agents.qwen_processor import ImageOnlyQwen2_5_VLProcessor

        if threads:  # process-wide: tiny models run fastest on few threads when cores are contended
            torch.set_num_threads(threads)
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        self.name, self.path, self.batch_size = name, str(path), batch_size
        self.loop_guard = loop_guard  # no phrase a third time in a row (agents/loop_guard.py)
        from mmedtui.agents.locate import looks_like_hub_id

        if not Path(path).is_dir() and (not looks_like_hub_id(path) or os.environ.get("HF_HUB_OFFLINE") == "1"):
            raise ConfigError(f"{path}: model folder not found (hub ids need network access)")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        self.device = device
        try:
            config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
            processor_cls = ImageOnlyQwen2_5_VLProcessor if config.model_type in _QWEN_TYPES else AutoProcessor
            # config=: the config read above, not parsed again by each part (~0.03 s a model).
            self.processor = processor_cls.from_pretrained(path, config=config, trust_remote_code=trust_remote_code)
            # Safetensors only: a pickle checkpoint can run code on load.
            self.model = (
                AutoModelForImageTextToText.from_pretrained(
                    path,
                    config=config,
                    dtype=getattr(torch, dtype),
                    use_safetensors=True,
                    trust_remote_code=trust_remote_code,
                )
                .to(device)
                .eval()
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{path}: cannot load model: {error_line(exc, typed=False)}") from exc
        if max_pixels is not None:
            self.processor.image_processor.max_pixels = max_pixels
            self.processor.image_processor.size = {
                "shortest_edge": min(max_pixels, 56 * 56),
                "longest_edge": max_pixels,
            }
        self.tokenizer = self.processor.tokenizer
        # Can the model take image features computed once (scoring several options of one image)?
        self.precomputed_vision = "mm_encoder_outputs" in inspect.signature(self.model.forward).parameters
        self.tokenizer.padding_side = "left"  # decoder-only batched generation pads on the left

    def _encode(self, prompts: list[Prompt], suffixes: list[str] | None = None):
        texts = [
            self.processor.apply_chat_template(chat_messages(p), add_generation_prompt=True, tokenize=False)
            for p in prompts
        ]
        if suffixes is not None:
            texts = [t + s for t, s in zip(texts, suffixes)]
        images = [list(p.images) for p in prompts]
        kwargs = {"images": images} if any(images) else {}
        return self.processor(text=texts, return_tensors="pt", padding=True, **kwargs).to(self.device)

    def generate(self, prompts: list[Prompt], sampling: Sampling = Sampling()) -> list[Generation]:
        # Prompts of similar length share a batch: left padding is computed like real tokens, so a batch
        # of mixed lengths wastes work on its short prompts. Answers go back in the callers' order.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].system) + len(prompts[i].user))
        results: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, gen in zip(chunk, self._generate_batch([prompts[i] for i in chunk], sampling)):
                results[i] = gen
        return results

    def _generate_batch(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        import torch

        started = time.perf_counter()
        try:
            inputs = self._encode(prompts)
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            sample = sampling.temperature > 0
            guard = []
            if self.loop_guard:
                from mmedtui.agents.loop_guard import LoopGuard

                guard = [LoopGuard(inputs["input_ids"].shape[1])]
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs,
                    logits_processor=guard,
                    max_new_tokens=sampling.max_new_tokens,
                    do_sample=sample,
                    temperature=sampling.temperature if sample else None,
                    top_p=sampling.top_p if sample else None,
                    top_k=None,
                )
        except (RuntimeError, ValueError, IndexError) as exc:  # bad image / OOM: fail the batch in-band
            return [Generation("", error=f"generation failed: {error_line(exc, typed=False)}") for _ in prompts]
        new_tokens = out[:, inputs["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        seconds = time.perf_counter() - started
        return [Generation(t.strip(), meta={"seconds": seconds / len(prompts)}) for t in texts]

    def score_choices(self, prompt: Prompt, choices: list[str]) -> list[float] | None:
        """Sum of log-probabilities of each choice's tokens (then end of turn) as the whole reply."""
        eos = self.tokenizer.eos_token or ""
        return self.score_continuations([Continuations(prompt, "", tuple(c + eos for c in choices))])[0]

    def score_continuations(self, requests: list[Continuations]) -> list[list[float] | None]:
        """Each continuation's summed log-probability after its prompt + reply prefix, batched.

        As lm-evaluation-harness does: the context and each continuation are tokenized apart and their ids
        joined, so the continuation's tokens are known exactly (no merge across the boundary). The context
        (with its images) is encoded once per request and its rows repeated for each continuation.
        """
        out: list[list[float] | None] = []
        if not any(r.continuations for r in requests):
            return [[] if not r.continuations else None for r in requests]
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            try:
                out += self._score_batch(chunk)
            except (RuntimeError, ValueError, IndexError):  # a bad image / OOM costs this chunk its scores
                out += [None] * len(chunk)
        return out

    def _score_batch(self, requests: list[Continuations]) -> list[list[float]]:
        import torch

        enc = self._encode([r.prompt for r in requests], suffixes=[r.prefix for r in requests])
        keep = enc["attention_mask"].bool()
        grids = enc.get("image_grid_thw")
        vision = self._vision(enc) if grids is not None else None
        ids, types, images, cont_lens, seen = [], [], [], [], 0
        for i, r in enumerate(requests):
            mine = list(range(seen, seen + len(r.prompt.images)))  # this request's images, in batch order
            seen += len(mine)
            context = enc["input_ids"][i][keep[i]]
            context_types = enc["mm_token_type_ids"][i][keep[i]] if "mm_token_type_ids" in enc else None
            for text in r.continuations:
                cont = torch.tensor(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=context.dtype)
                ids.append(torch.cat([context, cont]))
                if context_types is not None:
                    types.append(torch.cat([context_types, torch.zeros_like(cont)]))
                cont_lens.append(len(cont))
                images += mine
        if not ids:
            return [[] for _ in requests]
        width = max(len(x) for x in ids)

        def left_pad(rows, value):
            return torch.stack([torch.cat([torch.full((width - len(x),), value, dtype=x.dtype), x]) for x in rows])

        batch = {
            "input_ids": left_pad(ids, self.tokenizer.pad_token_id or 0),
            "attention_mask": left_pad([torch.ones_like(x) for x in ids], 0),
        }
        if types:
            batch["mm_token_type_ids"] = left_pad(types, 0)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        if grids is not None:
            batch["image_grid_thw"] = grids[images]
            batch.update(vision(images))
        # Only the last columns matter: a continuation of k tokens fills the last k (left padding aligns the
        # row ends), each predicted by the column before it. Keeping only those saves vocab-sized logits.
        last = max(cont_lens) + 1
        with torch.inference_mode():
            logits = self.model(**batch, logits_to_keep=last).logits[:, -last:].float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        token_lp = logprobs.gather(-1, batch["input_ids"][:, width - last + 1 :].unsqueeze(-1)).squeeze(-1)
        sums = [float(token_lp[row, last - 1 - k :].sum()) for row, k in enumerate(cont_lens)]
        out, at = [], 0
        for r in requests:
            out.append(sums[at : at + len(r.continuations)])
            at += len(r.continuations)
        return out

    def _vision(self, enc):
        """A function from image indices (with repeats) to the model's image inputs for those images.

        Qwen2.5-VL takes precomputed image features (``mm_encoder_outputs``): the vision tower then runs once
        per image, not once per option. Other models get the images' patches repeated.
        """
        import torch

        grids, pixels = enc["image_grid_thw"], enc["pixel_values"]
        if self.precomputed_vision:
            with torch.inference_mode():
                features = self.model.get_image_features(pixels, grids, return_dict=True)
            per_image = features.pooler_output
            return lambda images: {
                "mm_encoder_outputs": {"image": type(features)(pooler_output=tuple(per_image[i] for i in images))}
            }
        bounds = [0, *grids.prod(-1).cumsum(0).tolist()]  # each image's rows of flattened patches
        return lambda images: {"pixel_values": torch.cat([pixels[bounds[i] : bounds[i + 1]] for i in images])}
