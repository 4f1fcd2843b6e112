"""Can a tiny language model compare the question with its own reasoning? A diagnostic, not a trainer.

The specialists name the right modality in their reasoning yet answer "Is this image taken via X?" at chance.
This trains a fresh tiny Qwen2.5-VL, text only, on synthetic rows in the specialist's own prompt and target
format: the question names modality X, the gold reasoning says the image is modality Y, the answer is yes iff
X == Y. ``--share`` mixes in rows whose answer the text cannot tell (a coin flip), as most rows of a real epoch
are for this question type, and prints held-out accuracy on matching rows as training goes.

    python scripts/probe_match.py --size micro --steps 1500 --share 1.0
    python scripts/probe_match.py --size micro --steps 1500 --share 0.1
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

MODALITIES = ["CT", "MRI", "X-Ray", "ultrasound"]
REGIONS = ["chest", "abdomen", "head", "pelvis", "neck"]
TEMPLATES = [
    "Is this image taken via {}?",
    "Is this a {} scan?",
    "Was {} used to take this image?",
    "Does this picture show {}?",
]
FINDINGS = ["a nodule", "pneumonia", "an effusion", "edema", "a mass"]


def row(rng: random.Random, share: float, restate: bool = False) -> tuple[str, str, str, bool]:
    """(question, reasoning, answer, is a matching row)."""
    seen = rng.choice(MODALITIES)
    reasoning = f"An axial {seen} of the {rng.choice(REGIONS)}; the liver is visible."
    if rng.random() >= share:  # a row the text cannot answer
        return f"Does the image show {rng.choice(FINDINGS)}?", reasoning, rng.choice(["yes", "no"]), False
    asked = seen if rng.random() < 0.5 else rng.choice([m for m in MODALITIES if m != seen])
    if restate:
        reasoning = f"Asked about {asked}; the image is an axial {seen} of the {rng.choice(REGIONS)}."
    return rng.choice(TEMPLATES).format(asked), reasoning, "yes" if asked == seen else "no", True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="micro")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--share", type=float, default=1.0, help="Share of matching rows in training.")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--prompt",
        choices=("specialist", "bare"),
        default="specialist",
        help="The specialist's system prompt and options, or the question alone.",
    )
    parser.add_argument(
        "--reasoning",
        choices=("plain", "restate"),
        default="plain",
        help="restate: the reasoning names what the question asks beside what it sees.",
    )
    args = parser.parse_args(argv)

    import torch
    from PIL import Image
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    from mmedtui.agents.roles import specialist_prompt
    from mmedtui.consult import Case
    from trainer.tiny import build_tiny

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    corpus = [" ".join(row(rng, 0.5)[:3]) for _ in range(2000)]
    path = build_tiny(tempfile.mkdtemp(prefix="probe-match-"), size=args.size, seed=args.seed, corpus=corpus)
    tok = AutoTokenizer.from_pretrained(path)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)

    def context(question: str, reasoning: str) -> tuple[list[int], list[int]]:
        if args.prompt == "bare":
            messages = [{"role": "user", "content": question}]
        else:  # the image only feeds the prompt builder; the rows stay text only
            case = Case(image=Image.new("RGB", (8, 8)), question=question, options=["yes", "no"])
            prompt = specialist_prompt(case, "Radiologist")
            messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return tok(text)["input_ids"], tok(f"<think>{reasoning}</think><answer>")["input_ids"]

    def padded(seqs: list[list[int]]):
        n = max(map(len, seqs))
        ids = torch.tensor([[tok.pad_token_id] * (n - len(s)) + s for s in seqs])
        mask = (torch.arange(n)[None] >= torch.tensor([n - len(s) for s in seqs])[:, None]).long()
        return ids, mask

    yes, no = tok("yes")["input_ids"][0], tok("no")["input_ids"][0]
    held_rng = random.Random(10_000 + args.seed)
    restate = args.reasoning == "restate"
    held = [row(held_rng, 1.0, restate) for _ in range(400)]

    def accuracy() -> float:
        model.eval()
        right = 0
        with torch.no_grad():
            for start in range(0, len(held), 50):
                chunk = held[start : start + 50]
                ids, mask = padded([sum(context(q, r), []) for q, r, _, _ in chunk])
                last = model(input_ids=ids, attention_mask=mask).logits[:, -1]
                right += sum(
                    ("yes" if last[i, yes] > last[i, no] else "no") == a for i, (_, _, a, _) in enumerate(chunk)
                )
        model.train()
        return right / len(held)

    start = time.time()
    for step in range(1, args.steps + 1):
        seqs, labels = [], []
        for q, r, a, _ in (row(rng, args.share, restate) for _ in range(args.batch)):
            prompt_ids, reasoning_ids = context(q, r)
            target = reasoning_ids + tok(f"{a}</answer>")["input_ids"]
            seqs.append(prompt_ids + target)
            labels.append([-100] * len(prompt_ids) + target)  # the SFT target: reasoning and answer
        ids, mask = padded(seqs)
        lab = torch.tensor([[-100] * (ids.shape[1] - len(seq)) + lab for seq, lab in zip(seqs, labels)])
        loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % max(1, args.steps // 5) == 0:
            print(
                f"{args.size} share {args.share:.2f} step {step}: loss {loss.item():.3f}, "
                f"held-out matching accuracy {accuracy():.3f} ({time.time() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
