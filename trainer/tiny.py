"""Build tiny Qwen2.5-VL models offline: a byte-level BPE tokenizer trained locally, a scaled-down config,
random weights, and an image-only processor. Used by the tests and as the seed of the embedded agents.

    python -m trainer.tiny OUTPUT_DIR --size micro --seed 0
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Single tokens for the output format make the format reward learnable by a tiny model. They are added as
# NON-special tokens: decoders (TRL's rollouts, the transformers backend) skip special tokens, and a skipped
# "<answer>" would make every reply look untagged to the parser and the format reward.
FORMAT_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinySize:
    layers: int
    hidden: int
    heads: int
    vision_depth: int
    vision_hidden: int
    vocab: int


SIZES = {
    "micro": TinySize(layers=2, hidden=128, heads=4, vision_depth=2, vision_hidden=64, vocab=3000),
    # micro's language model with a 4-block, 128-wide vision tower: capacity where reading the scan needs it
    "micro-vision": TinySize(layers=2, hidden=128, heads=4, vision_depth=4, vision_hidden=128, vocab=3000),
    "small": TinySize(layers=4, hidden=256, heads=4, vision_depth=2, vision_hidden=128, vocab=4000),
    "base": TinySize(layers=4, hidden=512, heads=8, vision_depth=4, vision_hidden=256, vocab=6000),
}

# Image budget: 224x224 -> 256 patches of 14 px -> 64 tokens after the 2x2 merge. Keeps CPU runs fast.
MIN_PIXELS = 112 * 112
MAX_PIXELS = 224 * 224

BASE_CORPUS = [
    "You are a triage doctor. Choose the department for this case.",
    "Pathologist Radiologist Surgeon Oncologist Endocrinologist Ophthalmologist Dermatologist",
    "You are a specialist. Answer the question about the image.",
    "You are the attending physician. Weigh the specialists' opinions against your own reading.",
    "<think>The image is a CT scan of the chest.</think><answer>yes</answer>",
    "yes no left right normal abnormal lung liver heart brain kidney spleen CT MRI X-Ray ultrasound",
]


def train_tokenizer(corpus: Iterable[str], vocab_size: int):
    """A byte-level BPE tokenizer trained here, wrapped as a Qwen2 tokenizer with Qwen's special tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(BASE_CORPUS) + list(corpus), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in FORMAT_TOKENS])
    fast = Qwen2TokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def vision_config(spec: TinySize) -> dict:
    """The vision tower's config of a tiny size (also what ``trainer/vision.py`` pre-trains)."""
    return dict(
        depth=spec.vision_depth,
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_hidden * 2,
        num_heads=max(1, spec.vision_hidden // 32),
        out_hidden_size=spec.hidden,
        fullatt_block_indexes=[spec.vision_depth - 1],
        window_size=112,
    )


def build_tiny(output: str | Path, *, size: str = "micro", seed: int = 0, corpus: Iterable[str] = ()) -> Path:
    """Write a random-weight Qwen2.5-VL model, its tokenizer and processor to ``output``; return the path."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from mmedtui.agents.qwen_processor import ImageOnlyQwen2_5_VLProcessor

    spec = SIZES[size]
    output = Path(output)
    tokenizer = train_tokenizer(corpus, spec.vocab)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = spec.hidden // spec.heads
    # mrope_section must sum to head_dim / 2 (temporal, height, width).
    quarter = head_dim // 8
    mrope = [head_dim // 2 - 2 * (quarter * 3 // 2), quarter * 3 // 2, quarter * 3 // 2]
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden,
        intermediate_size=spec.hidden * 2,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    vision = vision_config(spec)
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    image_processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    processor = ImageOnlyQwen2_5_VLProcessor(image_processor, tokenizer, chat_template=CHAT_TEMPLATE)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output, safe_serialization=True)
    processor.save_pretrained(output)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--size", choices=sorted(SIZES), default="micro")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build_tiny(args.output, size=args.size, seed=args.seed))


if __name__ == "__main__":
    main()
