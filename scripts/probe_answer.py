"""Can a tiny random-init Qwen2.5-VL learn a yes/no answer from the question? A diagnostic, not a trainer.

Trains a fresh tiny model on the fit part's yes/no questions with the loss on the answer token ONLY (the
specialist prompt and the gold reasoning as context), and prints fit / holdout accuracy after each epoch.
Against the embedded specialists, whose answer token is one of ~16 target tokens, this separates "the data
has no signal" from "the full SFT target drowns it".

    python scripts/probe_answer.py --data-root ../shared/data --image none   # text only: no image in the prompt
    python scripts/probe_answer.py --data-root ../shared/data --image blank  # a blank image (16 tokens)
    python scripts/probe_answer.py --data-root ../shared/data --image scan   # the scan (64 tokens)
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import replace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument(
        "--image",
        choices=("none", "blank", "scan"),
        default="scan",
        help="What the prompt shows: no image, a blank 8x8 one, or the scan.",
    )
    parser.add_argument("--max-pixels", type=int, default=None, help="Image budget (default: the tiny models').")
    parser.add_argument("--size", default="micro")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", default="vqa-rad,slake", help="Comma-separated tasks.")
    args = parser.parse_args(argv)

    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from eval_closed import IMAGE_MAX_SIDE, closed_items  # a sibling script (scripts/ is on the path)
    from mmedtui.agents import roles
    from mmedtui.agents.transformers_backend import chat_messages
    from trainer.data.images import ImageCache
    from trainer.data.items import item_case
    from trainer.data.rows import gold_text, rationale
    from trainer.tiny import build_tiny

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    def yes_no(part: str) -> list:
        return [
            it
            for it in closed_items(args.data_root, part, args.tasks)
            if sorted(o.lower() for o in it.options) == ["no", "yes"]
        ]

    fit, holdout = yes_no("fit"), yes_no("holdout")
    if len(fit) < args.batch or not holdout:
        raise SystemExit(f"too few yes/no questions: {len(fit)} fit, {len(holdout)} holdout")
    images, blank = ImageCache(IMAGE_MAX_SIDE), Image.new("RGB", (8, 8))
    path = build_tiny(
        tempfile.mkdtemp(prefix="probe-"), size=args.size, seed=args.seed, corpus=[it.question for it in fit]
    )
    processor = AutoProcessor.from_pretrained(path)
    if args.max_pixels:
        ip = processor.image_processor
        ip.max_pixels, ip.min_pixels = args.max_pixels, min(args.max_pixels, 56 * 56)
        ip.size = {"shortest_edge": ip.min_pixels, "longest_edge": args.max_pixels}
    tok = processor.tokenizer
    tok.padding_side = "left"  # the answer is predicted at the last position of every row
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    yes, no = (tok.convert_tokens_to_ids(tok.tokenize(w))[0] for w in ("yes", "no"))

    def encode(batch: list):
        cases = [item_case(it, images.small(it) if args.image == "scan" else blank) for it in batch]
        prompts = [roles.specialist_prompt(c, "Radiologist") for c in cases]
        if args.image == "none":
            prompts = [replace(p, images=()) for p in prompts]
        texts = [
            processor.apply_chat_template(chat_messages(p), add_generation_prompt=True, tokenize=False)
            + f"<think>{rationale(it)}</think><answer>"
            for p, it in zip(prompts, batch)
        ]
        shown = {"images": [list(p.images) for p in prompts]} if args.image != "none" else {}
        return processor(text=texts, return_tensors="pt", padding=True, **shown)

    def is_yes(batch: list) -> torch.Tensor:
        return torch.tensor([gold_text(it).lower() == "yes" for it in batch])

    def accuracy(part: list) -> float:
        model.eval()
        right = 0
        with torch.no_grad():
            for start in range(0, len(part), 32):
                batch = part[start : start + 32]
                logits = model(**encode(batch)).logits[:, -1]
                right += int(((logits[:, yes] > logits[:, no]) == is_yes(batch)).sum())
        model.train()
        return right / len(part)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    steps = args.epochs * (len(fit) // args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.05)
    print(f"{len(fit)} fit / {len(holdout)} holdout yes/no questions; image: {args.image}")
    started = time.perf_counter()
    for epoch in range(args.epochs):
        random.Random(epoch).shuffle(fit)
        for start in range(0, len(fit) - args.batch + 1, args.batch):
            batch = fit[start : start + args.batch]
            logits = model(**encode(batch)).logits[:, -1]
            target = torch.where(is_yes(batch), yes, no)
            torch.nn.functional.cross_entropy(logits, target).backward()
            optimizer.step()
            optimizer.zero_grad()
            schedule.step()
        print(
            f"epoch {epoch + 1}: fit {accuracy(fit[:400]):.1%}  holdout {accuracy(holdout):.1%}  "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
