"""Local / hub vision-language models through transformers (Qwen2.5-VL and other image-text-to-text models).

Heavy imports happen in ``__init__``, so importing this module costs nothing until a model is loaded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from mmedtui.agents.base import Backend, Generation, Prompt, Sampling
from mmedtui.errors import ConfigError

_QWEN_TYPES = {"qwen2_5_vl", "qwen2_vl"}


def chat_messages(prompt: Prompt) -> list[dict]:
    user = [{"type": "image"} for _ in prompt.images] + [{"type": "text", "text": prompt.user}]
    return [{"role": "system", "content": [{"type": "text", "text": prompt.system}]},
            {"role": "user", "content": user}]


class TransformersBackend(Backend):
    def __init__(self, *, name: str, path: str, device: str = "auto", dtype: str = "auto",
                 max_pixels: int | None = None, batch_size: int = 8, trust_remote_code: bool = False,
                 threads: int | None = None):
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

        from mmedtui.agents.qwen_processor import ImageOnlyQwen2_5_VLProcessor

        if threads:  # process-wide: tiny models run fastest on few threads when cores are contended
            torch.set_num_threads(threads)
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        self.name, self.path, self.batch_size = name, str(path), batch_size
        hub_id = str(path).count("/") == 1 and not str(path).startswith((".", "/", "~"))
        if not Path(path).is_dir() and (not hub_id or os.environ.get("HF_HUB_OFFLINE") == "1"):
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
            self.model = AutoModelForImageTextToText.from_pretrained(
                path, config=config, dtype=getattr(torch, dtype), use_safetensors=True,
                trust_remote_code=trust_remote_code,
            ).to(device).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{path}: cannot load model: {str(exc).splitlines()[0]}") from exc
        if max_pixels is not None:
            self.processor.image_processor.max_pixels = max_pixels
            self.processor.image_processor.size = {"shortest_edge": min(max_pixels, 56 * 56),
                                                   "longest_edge": max_pixels}
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # decoder-only batched generation pads on the left

    def _encode(self, prompts: list[Prompt], suffixes: list[str] | None = None):
        texts = [self.processor.apply_chat_template(chat_messages(p), add_generation_prompt=True, tokenize=False)
                 for p in prompts]
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
            chunk = order[start:start + self.batch_size]
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
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs, max_new_tokens=sampling.max_new_tokens, do_sample=sample,
                    temperature=sampling.temperature if sample else None,
                    top_p=sampling.top_p if sample else None, top_k=None,
                )
        except (RuntimeError, ValueError, IndexError) as exc:  # bad image / OOM: fail the batch in-band
            return [Generation("", error=f"generation failed: {str(exc).splitlines()[0][:200]}") for _ in prompts]
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        seconds = time.perf_counter() - started
        return [Generation(t.strip(), meta={"seconds": seconds / len(prompts)}) for t in texts]

    def score_choices(self, prompt: Prompt, choices: list[str]) -> list[float] | None:
        """Sum of log-probabilities of each choice's tokens as the assistant's reply."""
        import torch

        eos = self.tokenizer.eos_token or ""
        try:
            inputs = self._encode([prompt] * len(choices), suffixes=[c + eos for c in choices])
            prefix = self._encode([prompt])["input_ids"].shape[1]
            with torch.inference_mode():
                logits = self.model(**inputs).logits.float()
        except (RuntimeError, ValueError, IndexError):
            return None
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = inputs["input_ids"][:, 1:]
        token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        # Left padding: each row's prompt ends at the same column offset from its own pad length.
        pads = (inputs["attention_mask"] == 0).sum(dim=1)
        scores = []
        for row, pad in enumerate(pads.tolist()):
            scores.append(float(token_lp[row, pad + prefix - 1:].sum()))
        return scores
