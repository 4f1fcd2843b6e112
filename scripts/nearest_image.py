"""How much the training images' own answers say about a new image: a nearest-neighbour check, no model.

    python scripts/nearest_image.py --data-root ../shared/data [--k 1 5 10 20] [--tower runs/embedded/visA]
    python scripts/nearest_image.py --data-root ../shared/data --choose-k   # the shipped nearest-image's k

``--choose-k``: the bench's ``nearest-image`` model (``mmedtui.agents.image_prior``) built from the training
split's fit part, scored on the closed questions of its holdout part (yes / no, or the alternatives an "A or
B?" question names) for each ``--k``: how the shipped model's k was chosen, without SLAKE validation.

For each closed question of SLAKE's validation split (and of VQA-RAD's holdout part), the ``k`` fit images most
like its image (32 x 32 grey pixels, or a pre-trained tower's mean image token with ``--tower``) vote with their
own answers to the same question (same words); with no neighbour asked it, the question's most common fit
answer. Printed as accuracy in %, overall and by SLAKE's content type. What an agent could gain by reading the
scan beyond the question's wording: the gap between this and the question-lookup line. Training and validation
data only; never a test split.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np


def words(question: str) -> str:
    return re.sub(r"[^a-z ]", "", question.lower()).strip()


def pixel_features(items) -> dict:
    out = {}
    for it in items:
        key = it.image_ref.key
        if key not in out:
            a = np.asarray(it.image_ref.load()[0].convert("L").resize((32, 32)), dtype=np.float32).ravel()
            out[key] = a - a.mean()
    return out


def tower_features(items, tower_dir: str) -> dict:
    import json

    import torch
    from safetensors.torch import load_file
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from trainer.data.images import ImageCache
    from trainer.tiny import MAX_PIXELS, MIN_PIXELS
    from trainer.vision import INFO_FILE, VISION_FILE, make_model, pooled

    info = json.loads((Path(tower_dir) / INFO_FILE).read_text(encoding="utf-8"))
    tower, _ = make_model(info["tiny_size"], len(info["organs"]))
    tower.load_state_dict(load_file(str(Path(tower_dir) / VISION_FILE)))
    tower.eval()
    processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    cache, first = ImageCache(336), {}
    for it in items:
        first.setdefault(it.image_ref.key, it)
    keys = list(first)
    out = {}
    with torch.inference_mode():
        for start in range(0, len(keys), 32):
            chunk = keys[start : start + 32]
            for key, f in zip(chunk, pooled(tower, processor, [cache.small(first[k]) for k in chunk])):
                out[key] = f.numpy()
    return out


def evaluate(fit, queries, features, ks) -> None:
    fit_keys = sorted({it.image_ref.key for it in fit}, key=str)
    matrix = np.stack([features[k] for k in fit_keys])
    mean, scale = matrix.mean(0), matrix.std(0) + 1e-6

    def unit(v):
        v = (v - mean) / scale
        return v / (np.linalg.norm(v) + 1e-9)

    matrix = np.stack([unit(v) for v in matrix])
    answers = defaultdict(dict)
    prior = defaultdict(Counter)
    for it in fit:
        answers[it.image_ref.key][words(it.question)] = it.answer.strip().lower()
        prior[words(it.question)][it.answer.strip().lower()] += 1
    closed = [q for q in queries if q.kind == "closed"]

    def lookup(q):
        counts = prior[words(q.question)]
        return counts.most_common(1)[0][0] if counts else "yes"

    rows = {"question lookup (no image)": [lookup(q) == q.answer.strip().lower() for q in closed]}
    kinds = [str(q.meta.get("content_type") or q.meta.get("question_type") or "?") for q in closed]
    for k in ks:
        right = []
        for q in closed:
            near = np.argsort(-(matrix @ unit(features[q.image_ref.key])))[:k]
            votes = Counter(
                answers[fit_keys[i]][words(q.question)] for i in near if words(q.question) in answers[fit_keys[i]]
            )
            guess = votes.most_common(1)[0][0] if votes else lookup(q)
            right.append(guess == q.answer.strip().lower())
        rows[f"{k} nearest fit images"] = right
    types = [t for t, _ in Counter(kinds).most_common(7)]
    print(f"{'':28s} {'all':>6s} " + " ".join(f"{t[:9]:>9s}" for t in types) + f"   (n={len(closed)})")
    for name, right in rows.items():
        by = [np.mean([r for r, t in zip(right, kinds) if t == kind]) * 100 for kind in types]
        print(f"{name:28s} {np.mean(right) * 100:6.1f} " + " ".join(f"{v:9.1f}" for v in by))


def choose_k(root: str, ks: list[int]) -> None:
    from mmedtui.tasks.choices import alternatives
    from mmedtui.tasks.scoring import is_correct, normalize
    from trainer.data.items import in_part
    from trainer.image_prior import build
    from trainer.question_only import training_items

    items = training_items(Path(root))
    model, summary = build([it for it in items if in_part(it, "fit", 0.3, root)])
    held = []
    for it in items:
        if in_part(it, "holdout", 0.3, root) and it.kind == "closed":
            options = ["yes", "no"] if normalize(it.answer) in ("yes", "no") else alternatives(it.question, it.answer)
            if options:
                held.append((it, options))
    images = {it.image_ref.key: it.image_ref.load()[0] for it, _ in held}
    print(f"built from the fit part: {summary['images']} images; holdout closed questions: {len(held)}")
    for k in ks:
        model.k = k
        cells = []
        for task in ("vqa-rad", "slake"):
            part = [(it, o) for it, o in held if it.task == task]
            answers = model.predict(
                [images[it.image_ref.key] for it, _ in part], [it.question for it, _ in part], [o for _, o in part]
            )
            right = sum(bool(is_correct(a, it)) for (a, _), (it, _) in zip(answers, part))
            cells.append(f"{task} {100 * right / len(part):.1f} % (n={len(part)})")
        print(f"k={k:<3d} " + ", ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--tower", default=None, help="a `mmedtui train vision` output: its features, not pixels")
    parser.add_argument("--choose-k", action="store_true", help="the nearest-image model on the training holdout")
    args = parser.parse_args()
    if args.choose_k:
        choose_k(args.data_root, args.k)
        return
    from mmedtui.tasks import get_task
    from trainer.config import load_config
    from trainer.data.items import load_items

    def part(name: str, task: str):
        sets = [f"data.root={args.data_root}", "data.holdout=0.3", f"data.part={name}", "data.limit=null"]
        return load_items(load_config("specialist", "tiny", sets=[*sets, f"data.tasks=[{task}]"]).data)

    for task, queries in (
        ("SLAKE validation", get_task("slake").load(args.data_root, "validation", lang="en").items),
        ("VQA-RAD holdout", part("holdout", "vqa-rad")),
    ):
        fit = part("fit", "slake" if task.startswith("SLAKE") else "vqa-rad")
        every = [*fit, *queries]
        features = tower_features(every, args.tower) if args.tower else pixel_features(every)
        print(f"\n{task}: {len({it.image_ref.key for it in fit})} fit images, {'tower' if args.tower else 'pixels'}")
        evaluate(fit, queries, features, args.k)


if __name__ == "__main__":
    main()
