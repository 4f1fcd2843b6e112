"""Smoke run of the ``paper`` profile on one GPU: no Qwen weights exist offline, so a RANDOM-INIT model with the
exact Qwen2.5-VL architecture (7B or 3B; bf16 safetensors, a locally trained BPE tokenizer from ``trainer.tiny``,
the image-only processor) is built, then trained as ``mmedtui train attending --profile paper --model <it> ...``
trains it (``trainer.train.train``, with this script's probe among the callbacks), with a scripted specialist
panel (so the curriculum has easy / medium / hard cases) and small ``--set`` overrides. Prints per stage: step
time, completions/s and peak GPU memory (torch.cuda.max_memory_allocated). Research use only.

    python scripts/smoke_paper.py data ../shared/data .smoke/data --limit 64     # official-layout VQA-RAD subset
    python scripts/smoke_paper.py run --arch 7b --data-root .smoke/data --work /tmp/smoke --max-steps 3 \\
        --set grpo.prompts_per_step=4
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

# Qwen2.5-VL-7B-Instruct / -3B-Instruct config.json (vocab 152064 / 151936); "tiny" is for CPU tests.
ARCHS = {
    "7b": dict(
        text=dict(
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            vocab_size=152064,
            mrope=[16, 24, 24],
        ),
        vision_out=3584,
        tie=False,
    ),
    "3b": dict(
        text=dict(
            hidden_size=2048,
            intermediate_size=11008,
            num_hidden_layers=36,
            num_attention_heads=16,
            num_key_value_heads=2,
            vocab_size=151936,
            mrope=[16, 24, 24],
        ),
        vision_out=2048,
        tie=True,
    ),
    "tiny": dict(
        text=dict(
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=152064,
            mrope=[4, 6, 6],
        ),
        vision_out=128,
        tie=True,
        vision=dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=2, fullatt_block_indexes=[1]),
    ),
}
# Qwen2.5-VL's vision tower (the same for 3B / 7B / 72B but intermediate 3456 on 72B).
VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, fullatt_block_indexes=[7, 15, 23, 31])

# Specialists answer in fixed cycles, so yes/no questions split into easy (all right), medium and hard.
PANEL = {
    "models": {
        "triage": {"backend": "scripted", "replies": ["<think>radiology</think><answer>Radiologist</answer>"]},
        "spec-a": {
            "backend": "scripted",
            "replies": ["<think>a</think><answer>yes</answer>", "<think>a</think><answer>no</answer>"],
        },
        "spec-b": {
            "backend": "scripted",
            "replies": ["<think>b</think><answer>yes</answer>"] * 2 + ["<think>b</think><answer>no</answer>"],
        },
        "spec-c": {"backend": "scripted", "replies": ["<think>c</think><answer>yes</answer>"]},
    },
    "triage": {"name": "Triage doctor", "model": "triage"},
    "specialists": {
        "default": [
            {"name": "Specialist A", "model": "spec-a"},
            {"name": "Specialist B", "model": "spec-b"},
            {"name": "Specialist C", "model": "spec-c"},
        ]
    },
    "attending": {"name": "Attending physician", "model": "spec-c"},
}


def make_config(arch: str, tokenizer):
    """The Qwen2.5-VL config of ``arch`` with the special-token ids of ``tokenizer``."""
    from transformers import Qwen2_5_VLConfig

    from trainer import tiny

    spec = ARCHS[arch]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tiny.SPECIAL_TOKENS}
    text = dict(spec["text"])
    mrope = text.pop("mrope")
    text.update(
        max_position_embeddings=128000,
        rms_norm_eps=1e-6,
        sliding_window=32768,
        use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": mrope},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    vision = dict(
        spec.get("vision", VISION),
        out_hidden_size=spec["vision_out"],
        window_size=112,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        tokens_per_second=2,
    )
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=spec["tie"],
    )


def build_model(
    output: Path, arch: str, corpus: list[str], seed: int = 0, device: str | None = None, max_pixels: int | None = None
) -> dict:
    """Write a random-init Qwen2.5-VL of ``arch`` (bf16 safetensors + processor) to ``output``; return facts.
    ``device="meta"``: count the parameters only, write nothing."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from mmedtui.agents.qwen_processor import ImageOnlyQwen2_5_VLProcessor
    from trainer import tiny

    tokenizer = tiny.train_tokenizer(corpus, 8000)
    config = make_config(arch, tokenizer)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.device(device):  # random init on the GPU: seconds instead of minutes for 8 B parameters
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    facts = {
        "arch": arch,
        "params": sum(p.numel() for p in model.parameters()),
        "vision_params": sum(p.numel() for p in model.model.visual.parameters()),
        "tokenizer_size": len(tokenizer),
        "vocab_size": config.text_config.vocab_size,
    }
    if device == "meta":
        return facts
    eos = [config.text_config.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=eos[1], do_sample=False)
    # Qwen2.5-VL-Instruct's own pixel budget (the profile's image_max_side 1024 caps it at ~1.3 k tokens);
    # the tiny CPU arch keeps trainer.tiny's small budget.
    pixels = (tiny.MIN_PIXELS, tiny.MAX_PIXELS) if arch == "tiny" else (3136, 12845056)
    image_processor = Qwen2VLImageProcessorPil(min_pixels=pixels[0], max_pixels=max_pixels or pixels[1])
    processor = ImageOnlyQwen2_5_VLProcessor(image_processor, tokenizer, chat_template=tiny.CHAT_TEMPLATE)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    processor.save_pretrained(output)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return facts | {
        "build_s": round(time.perf_counter() - start, 1),
        "bytes": sum(f.stat().st_size for f in output.glob("*.safetensors")),
    }


def corpus_texts(data_root: Path) -> list[str]:
    """The prompt templates and the subset's questions / answers: what the tokenizer should know."""
    from importlib import resources

    prompts = resources.files("mmedtui.agents").joinpath("prompts")
    texts = [p.read_text(encoding="utf-8") for p in sorted(prompts.iterdir(), key=str) if p.name.endswith(".txt")]
    for js in sorted(Path(data_root).glob("*/*.json")):
        try:
            for rec in json.loads(js.read_text(encoding="utf-8")):
                texts += [str(rec.get("question", "")), str(rec.get("answer", ""))]
        except (ValueError, AttributeError):
            continue
    return texts


def vqa_rad_subset(src_root: Path, dest_root: Path, limit: int) -> Path:
    """``dest_root/vqa-rad``: the first ``limit`` train questions of the official release and their images."""
    src, dest = Path(src_root) / "vqa-rad", Path(dest_root) / "vqa-rad"
    records = json.loads((src / "VQA_RAD Dataset Public.json").read_text(encoding="utf-8"))
    chosen = [r for r in records if not str(r.get("phrase_type") or "").startswith(("test", "frame"))][:limit]
    (dest / "VQA_RAD Image Folder").mkdir(parents=True, exist_ok=True)
    for name in sorted({r["image_name"] for r in chosen}):
        shutil.copy2(src / "VQA_RAD Image Folder" / name, dest / "VQA_RAD Image Folder" / name)
    (dest / "VQA_RAD Dataset Public.json").write_text(json.dumps(chosen), encoding="utf-8")
    return dest


@dataclass
class StageStats:
    stage: str
    completions_per_step: int = 0
    allocated_at_start: int = 0
    step_times: list[float] = field(default_factory=list)
    peak: int = 0
    peak_reserved: int = 0
    weight_changed: float | None = None  # fraction of one mid-layer weight's elements the stage changed


def probe_factory(stats: list[StageStats], work: Path | None = None):
    """A ``make_callback(stage, interrupt)`` for ``trainer.train.train``: times each optimizer step (generation
    included) and reads the stage's peak GPU memory. With ``work``: deletes the folders of earlier stages'
    starting models under it once a stage has loaded its own (a 7B run leaves 4 x 16.6 GB otherwise). The
    end-of-stage checkpoint is already skipped by the trainer (``train.keep_checkpoints: false``)."""
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()
    starts: list[Path] = []

    class Probe(TrainerCallback):
        def __init__(self, stage):
            self.s = StageStats(stage.name)
            self.t0 = 0.0
            self.watch = self.before = None

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.s.completions_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
            current = Path(getattr(getattr(model, "config", None), "_name_or_path", "") or ".").resolve()
            if work is not None:
                for old in [p for p in starts if p != current and p.is_relative_to(work.resolve())]:
                    shutil.rmtree(old, ignore_errors=True)
            starts.append(current)
            self.watch = _mid_weight(model)
            self.before = self.watch.detach().clone() if self.watch is not None else None
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                self.s.allocated_at_start = torch.cuda.memory_allocated()

        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.s.step_times.append(time.perf_counter() - self.t0)

        def on_train_end(self, args, state, control, **kwargs):
            if cuda:
                self.s.peak = torch.cuda.max_memory_allocated()
                self.s.peak_reserved = torch.cuda.max_memory_reserved()
            if self.watch is not None:
                self.s.weight_changed = (self.watch.detach() != self.before).float().mean().item()
            self.watch = self.before = None
            stats.append(self.s)
            print(f"PROBE {json.dumps(self.s.__dict__)}", flush=True)

    return lambda stage, interrupt: Probe(stage)


def _mid_weight(model):
    """A middle decoder layer's MLP down-projection: does one optimizer step at the profile's lr move it?"""
    names = [n for n, _ in model.named_parameters() if n.endswith("mlp.down_proj.weight") and ".visual." not in n]
    if not names:
        return None
    wanted = names[len(names) // 2]
    return dict(model.named_parameters())[wanted]


def run_training(flags: dict, sets: list[str], run_dir: Path, make_callback):
    """``mmedtui train attending --profile paper --output run_dir`` as a library call: ``flags`` as the
    command's dedicated options give them (dotted keys), ``sets`` as its ``--set`` strings, trained by
    ``trainer.train.train`` with ``make_callback`` among its callbacks."""
    from rich.console import Console

    from trainer.config import load_config
    from trainer.train import train

    cfg = load_config("attending", "paper", sets=sets, **flags)
    cfg.output = str(run_dir)
    return train(cfg, run_dir, console=Console(), callbacks=[make_callback])


def report(stats: list[StageStats], facts: dict, run_dir: Path) -> dict:
    gib = 1024**3
    rows = []
    for s in stats:
        warm = s.step_times[1:] or s.step_times
        step = sum(warm) / len(warm) if warm else float("nan")
        rows.append(
            {
                "stage": s.stage,
                "steps": len(s.step_times),
                "step_s": [round(t, 2) for t in s.step_times],
                "completions_per_step": s.completions_per_step,
                "completions_per_s": round(s.completions_per_step / step, 3) if warm else None,
                "gib_at_start": round(s.allocated_at_start / gib, 2),
                "peak_gib": round(s.peak / gib, 2),
                "peak_reserved_gib": round(s.peak_reserved / gib, 2),
                "weight_changed": s.weight_changed,
            }
        )
    metrics = (
        [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
        if (run_dir / "metrics.jsonl").is_file()
        else []
    )
    keep = ("stage", "step", "reward", "accuracy", "format", "entropy", "kl", "loss", "completion_length", "step_time")
    out = {"model": facts, "stages": rows, "metrics": [{k: m.get(k) for k in keep} for m in metrics]}
    print("SMOKE " + json.dumps(out), flush=True)
    for r in rows:
        print(
            f"stage {r['stage']:>6}: steps {r['steps']} step_s {r['step_s']} completions/s {r['completions_per_s']} "
            f"peak {r['peak_gib']} GiB (at start {r['gib_at_start']}, reserved {r['peak_reserved_gib']}) "
            f"weights changed {r['weight_changed']}",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="copy an official-layout VQA-RAD train subset")
    d.add_argument("src")
    d.add_argument("dest")
    d.add_argument("--limit", type=int, default=64)
    r = sub.add_parser("run", help="build the random-init model and run `mmedtui train attending --profile paper`")
    r.add_argument("--arch", choices=sorted(ARCHS), default="7b")
    r.add_argument("--data-root", required=True)
    r.add_argument("--work", required=True, help="scratch folder: model, panel, opinions, run")
    r.add_argument("--max-steps", type=int, default=3, help="total optimizer steps, split over the 3 stages")
    r.add_argument("--limit", type=int, default=64, help="data.limit")
    r.add_argument("--max-pixels", type=int, default=None, help="the processor's pixel budget (default: the arch's)")
    r.add_argument("--prune", action="store_true", help="delete earlier stages' start models (disk)")
    r.add_argument("--set", dest="sets", action="append", default=[], help="extra --set for the train command")
    args = parser.parse_args(argv)
    if args.cmd == "data":
        print(vqa_rad_subset(Path(args.src), Path(args.dest), args.limit))
        return None
    import yaml

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    model_dir, run_dir = work / f"qwen2.5-vl-{args.arch}-random", work / "run"
    facts = build_model(model_dir, args.arch, corpus_texts(Path(args.data_root)), max_pixels=args.max_pixels)
    print("MODEL " + json.dumps(facts), flush=True)
    panel = work / "panel.yaml"
    panel.write_text(yaml.safe_dump(PANEL, sort_keys=False), encoding="utf-8")
    shutil.rmtree(run_dir, ignore_errors=True)
    flags = {
        "model.path": str(model_dir),
        "data.root": args.data_root,
        "train.max_steps": args.max_steps,
        "opinions.panel": str(panel),
        "opinions.cache": str(work / "opinions.jsonl"),
    }
    sets = [
        "data.tasks=[vqa-rad]",
        f"data.limit={args.limit}",
        # One GPU holds bf16 weights only; the profile's fp32 master weights need ZeRO-3 / FSDP over several.
        "model.dtype=bfloat16",
        *args.sets,
    ]
    print("TRAIN attending --profile paper " + " ".join([f"{k}={v}" for k, v in flags.items()] + sets), flush=True)
    stats: list[StageStats] = []
    start = time.perf_counter()
    run_training(flags, sets, run_dir, probe_factory(stats, work if args.prune else None))
    facts["train_wall_s"] = round(time.perf_counter() - start, 1)
    return report(stats, facts, run_dir)


if __name__ == "__main__":
    main()
