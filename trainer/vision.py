"""Vision pre-training: the Qwen2.5-VL vision tower and merger of a tiny size learn what the training images'
own annotations say (``trainer/data/image_labels.py``): modality, body region, scanning plane, abnormality and
organ / finding presence (multi-label), and with ``data.other_images`` the image's source (a radiology scan, a
blood smear, a breast ultrasound, a fundus photograph, a histology slide: the triage doctor's sources), through
small heads on the mean of the merged image tokens. The tower's
weights then start every specialist and the attending (``model.vision_init``), so the language model is handed
image tokens that already encode what a question asks about.

    mmedtui train vision --output runs/vision --data-root ../shared/data --set data.holdout=0.3 --set data.part=fit

Writes ``<output>/vision.safetensors`` (the tower, keys as under ``model.visual``) and ``<output>/vision.json``
(size, label vocabulary, held-out figures). Training images only: the items come from ``trainer.data.items.load_items``.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from mmedtui.errors import ConfigError
from trainer.data import image_labels as labels_mod

VISION_FILE, INFO_FILE = "vision.safetensors", "vision.json"
# The source head's classes: VQA-RAD / SLAKE scans, then the kinds of trainer.data.triage.image_sources.
SOURCES = ("radiology", "blood smear", "ultrasound", "fundus", "histology")


@dataclass
class VisionSettings:
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    min_organ_images: int = 4  # organs / findings named on fewer training images get no output


class Targets:
    """Label vocabulary and per-image target tensors (-1 / mask 0: unknown)."""

    def __init__(self, labs: list[labels_mod.ImageLabels], min_images: int):
        from collections import Counter

        counts = Counter(o for lab in labs for o in lab.organs)
        self.organs = sorted(o for o, n in counts.items() if n >= min_images)
        self.seen_in = labels_mod.organ_regions(labs)

    def of(self, lab: labels_mod.ImageLabels):
        import torch

        def index(value, space):
            return space.index(value) if value in space else -1

        cls = torch.tensor(
            [
                index(lab.modality, labels_mod.MODALITIES),
                index(lab.region, labels_mod.REGIONS),
                index(lab.plane, labels_mod.PLANES),
                -1 if lab.abnormal is None else int(lab.abnormal),
                SOURCES.index("radiology"),
            ]
        )
        target, mask = torch.zeros(len(self.organs)), torch.zeros(len(self.organs))
        for i, organ in enumerate(self.organs):
            if organ in lab.organs:
                target[i], mask[i] = 1.0, 1.0
            elif labels_mod.safely_absent(lab, organ, self.seen_in):
                mask[i] = 1.0
            elif lab.item.task == "slake":
                mask[i] = 0.3  # SLAKE's boxes list most organs of an image: a likely negative, weighted less
        return cls, target, mask

    def of_source(self, kind: str):
        """An image from outside VQA-RAD / SLAKE: only its source is known."""
        import torch

        cls = torch.tensor([-1, -1, -1, -1, SOURCES.index(kind)])
        return cls, torch.zeros(len(self.organs)), torch.zeros(len(self.organs))


def make_model(size: str, n_organs: int, sources: bool = False):
    """A tower of ``size`` and its heads; the source head only for a tower trained on images outside radiology
    (without them its one class would pull on the tower and change what the same seed builds)."""
    import torch
    from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

    from trainer.tiny import SIZES, vision_config

    if size not in SIZES:
        raise ConfigError(f"model.tiny_size: unknown size {size!r}")
    config = Qwen2_5_VLVisionConfig(**vision_config(SIZES[size]))
    tower = Qwen2_5_VisionTransformerPretrainedModel._from_config(config)
    out = config.out_hidden_size
    heads = torch.nn.ModuleDict(
        {
            "modality": torch.nn.Linear(out, len(labels_mod.MODALITIES)),
            "region": torch.nn.Linear(out, len(labels_mod.REGIONS)),
            "plane": torch.nn.Linear(out, len(labels_mod.PLANES)),
            "abnormal": torch.nn.Linear(out, 2),
            "organs": torch.nn.Linear(out, max(1, n_organs)),
        }
    )
    if sources:
        heads["source"] = torch.nn.Linear(out, len(SOURCES))
    return tower, heads


def pooled(tower, processor, images: list) -> torch.Tensor:  # noqa: F821
    """The mean of each image's merged tokens (what the language model receives, averaged)."""
    import torch

    enc = processor(images=images, return_tensors="pt")
    out = tower(enc["pixel_values"], grid_thw=enc["image_grid_thw"]).pooler_output
    sizes = (enc["image_grid_thw"].prod(-1) // tower.spatial_merge_size**2).tolist()
    return torch.stack([chunk.mean(0) for chunk in torch.split(out, sizes)])


def losses(heads, feats, cls, target, mask):
    import torch.nn.functional as F

    loss = 0.0
    for col, name in enumerate(("modality", "region", "plane", "abnormal", "source")):
        known = cls[:, col] >= 0
        if name in heads and known.any():  # no source head: a tower of radiology scans only
            loss = loss + F.cross_entropy(heads[name](feats[known]), cls[known, col])
    if target.shape[1] == 0:  # no organ named on enough images
        return loss
    logits = heads["organs"](feats)[:, : target.shape[1]]
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return loss + (bce * mask).sum() / mask.sum().clamp(min=1.0)


def train_vision(
    items,
    output: Path,
    *,
    size: str,
    image_max_side: int | None,
    seed: int,
    settings: VisionSettings | None = None,
    eval_items=None,
    others: list[tuple] = (),
    log=print,
) -> dict:
    """Pre-train the tower of ``size`` on the labels of ``items``' images, and on ``others`` ((image, source kind)
    pairs from outside radiology) for the source head; write it to ``output``."""
    settings = settings or VisionSettings()
    import torch
    from safetensors.torch import save_file
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from trainer.data.images import ImageCache, augment
    from trainer.io import atomic_dir
    from trainer.tiny import MAX_PIXELS, MIN_PIXELS

    torch.manual_seed(seed)
    rng = random.Random(seed)
    labs = list(labels_mod.gather(items).values())
    if not labs:
        raise ConfigError("vision pre-training: no labelled training images")
    targets = Targets(labs, settings.min_organ_images)
    images = ImageCache(image_max_side)
    pictures = [images.small(lab.item) for lab in labs] + [image for image, _ in others]
    encoded = [targets.of(lab) for lab in labs] + [targets.of_source(kind) for _, kind in others]
    processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    tower, heads = make_model(size, len(targets.organs), sources=bool(others))
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = -(-len(pictures) // settings.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, settings.learning_rate, total_steps=settings.epochs * steps_per_epoch, pct_start=0.1
    )
    started = time.perf_counter()
    for epoch in range(settings.epochs):
        order = list(range(len(pictures)))
        rng.shuffle(order)
        total = 0.0
        tower.train()
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            feats = pooled(tower, processor, [augment(pictures[i], rng) for i in batch])
            cls = torch.stack([encoded[i][0] for i in batch])
            loss = losses(
                heads,
                feats,
                cls,
                torch.stack([encoded[i][1] for i in batch]),
                torch.stack([encoded[i][2] for i in batch]),
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(batch)
        if epoch % 10 == 9 or epoch == settings.epochs - 1:
            log(
                f"vision epoch {epoch + 1}/{settings.epochs}: loss {total / len(pictures):.3f} "
                f"({time.perf_counter() - started:.0f} s)"
            )
    info = {
        "tiny_size": size,
        "organs": targets.organs,
        "images": len(labs),
        "other_images": len(others),
        "epochs": settings.epochs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if eval_items is not None:
        info["held_out"] = evaluate(tower, heads, processor, targets, eval_items, image_max_side)
        log(f"vision held-out: {json.dumps(info['held_out'])}")
    with atomic_dir(Path(output)) as tmp:
        save_file({k: v.contiguous() for k, v in tower.state_dict().items()}, str(tmp / VISION_FILE))
        save_file({k: v.contiguous() for k, v in heads.state_dict().items()}, str(tmp / "heads.safetensors"))
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def evaluate(tower, heads, processor, targets: Targets, items, image_max_side, others: list[tuple] = ()) -> dict:
    """Accuracy of each head on the labels of ``items``' images (a validation split's, for tuning only); the
    source head on them (all radiology) and on ``others`` ((image, kind) pairs)."""
    import torch

    from trainer.data.images import ImageCache

    labs = list(labels_mod.gather(items).values())
    images = ImageCache(image_max_side)
    tower.eval()
    right: dict[str, list[int]] = {}
    with torch.inference_mode():
        for start in range(0, len(labs), 32):
            chunk = labs[start : start + 32]
            feats = pooled(tower, processor, [images.small(lab.item) for lab in chunk])
            for lab, f in zip(chunk, feats):
                for name, value, space in (
                    ("modality", lab.modality, labels_mod.MODALITIES),
                    ("region", lab.region, labels_mod.REGIONS),
                    ("plane", lab.plane, labels_mod.PLANES),
                ):
                    if value in space:
                        right.setdefault(name, []).append(int(heads[name](f).argmax()) == space.index(value))
                if "source" in heads:
                    right.setdefault("source", []).append(
                        int(heads["source"](f).argmax()) == SOURCES.index("radiology")
                    )
                probs = torch.sigmoid(heads["organs"](f))
                for i, organ in enumerate(targets.organs):
                    if organ in lab.organs or organ in lab.absent:
                        right.setdefault("organ_answers", []).append(bool(probs[i] > 0.5) == (organ in lab.organs))
        for start in range(0, len(others), 32):
            chunk = others[start : start + 32]
            feats = pooled(tower, processor, [image for image, _ in chunk])
            for (_, kind), f in zip(chunk, feats):
                right.setdefault("source", []).append(int(heads["source"](f).argmax()) == SOURCES.index(kind))
    return {k: round(100 * sum(v) / len(v), 1) for k, v in right.items()} | {f"n_{k}": len(v) for k, v in right.items()}


def tower_size(path: str | Path) -> str | None:
    """The ``tiny_size`` a pre-trained tower was built for (None: no tower there, or no record of its size)."""
    try:
        return json.loads((Path(path).expanduser() / INFO_FILE).read_text()).get("tiny_size")
    except (OSError, ValueError, AttributeError):
        return None


def load_into(model, path: str | Path) -> None:
    """Load a pre-trained tower into ``model`` (a Qwen2.5-VL model); every key must match."""
    from safetensors.torch import load_file

    file = Path(path) / VISION_FILE
    if not file.is_file():
        raise ConfigError(f"model.vision_init: {file}: not found (run `mmedtui train vision` first)")
    try:
        model.model.visual.load_state_dict(load_file(str(file)), strict=True)
    except RuntimeError as exc:
        raise ConfigError(
            f"model.vision_init: {file}: tower does not match the model "
            f"({str(exc).splitlines()[1].strip()[:160]}; same model.tiny_size?)"
        ) from None


def pretrain(cfg, output: Path, settings: VisionSettings, log=print) -> dict:
    """``mmedtui train vision``: the items of ``cfg.data`` (train split, its fit / holdout part); held-out
    figures on SLAKE's validation images when the data has them (for choosing settings, never for training)."""
    import torch

    from mmedtui.errors import DataError
    from mmedtui.tasks import get_task
    from trainer.data.items import load_items

    if cfg.train.torch_threads:  # one thread: OpenMP threads spin against the other jobs on a small machine
        torch.set_num_threads(cfg.train.torch_threads)
    items = load_items(cfg.data)
    try:
        held_out = get_task("slake").load(cfg.data_root, "validation", lang=cfg.data.lang).items
    except DataError:
        held_out = None
    others = (
        other_pictures(cfg.data_root, cfg.data.other_images, cfg.data.image_max_side, cfg.data.seed)
        if cfg.data.other_images
        else []
    )
    log(
        f"vision pre-training of the {cfg.model.tiny_size} tower on {len(items)} training questions' images"
        + (f" and {len(others)} from outside radiology" if others else "")
    )
    return train_vision(
        items,
        output,
        size=cfg.model.tiny_size,
        image_max_side=cfg.data.image_max_side,
        seed=cfg.train.seed,
        settings=settings,
        eval_items=held_out,
        others=others,
        log=log,
    )


def other_pictures(root, per_source: int, max_side: int | None, seed: int) -> list[tuple]:
    """``per_source`` images of each triage source outside radiology, (image, kind): BCCD's and BreastMNIST's
    training images, scikit-image's microaneurysm and histology images; never its retina, the shipped sample."""
    from trainer.data.images import downscale
    from trainer.data.triage import image_sources

    rng = random.Random(seed)
    out = []
    for source in image_sources(root, retina=False):
        loaders = list(source.loaders)
        rng.shuffle(loaders)
        out += [
            (downscale(loaders[i % len(loaders)](), max_side), source.kind) for i in range(per_source if loaders else 0)
        ]
    return out
