"""What ``--resume`` needs from a Trainer checkpoint: a check that its files are whole, and a strict weight load.

Why a load of our own: a checkpoint's ``model.safetensors`` is written in the on-disk layout of
``save_pretrained`` (Qwen2.5-VL: ``model.layers.*``), while the live model's parameters are named
``model.language_model.*``. Transformers' resume loads with ``strict=False`` and the raw names, so not one
tensor lands and training silently restarts from the stage's starting weights. Here the live parameters are
named the way ``save_pretrained`` names them (transformers' own reverse mapping, sharing their storage), every
checkpoint tensor is copied into its parameter, and any key left over on either side is an error.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from mmedtui.errors import UserError, error_line

WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
_CRC_LIMIT = 1 << 30  # CRC-check zip members of files up to 1 GiB; larger ones get the structural check only


class CheckpointError(UserError):
    """A checkpoint that cannot be resumed from faithfully (damaged file, weights that do not fit the model)."""


# --- integrity ------------------------------------------------------------------------------------
def damaged_file(folder: str | Path) -> tuple[Path, str] | None:
    """The first file of a checkpoint folder that is not whole, with why; None when all are readable.
    Checks what resume reads: JSON files parse, safetensors headers cover their file, torch zips are intact."""
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file():
            continue
        try:
            problem = _check(path)
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
        if problem:
            return path, problem
    return None


def _check(path: Path) -> str | None:
    if path.suffix == ".json":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return "not valid JSON"
    elif path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                fh.keys()
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own SafetensorError and others
            return f"unreadable safetensors ({error_line(exc, limit=80, typed=False)})"
    elif path.suffix in (".pt", ".pth", ".bin"):
        try:
            with zipfile.ZipFile(path) as archive:
                if path.stat().st_size <= _CRC_LIMIT and archive.testzip() is not None:
                    return "a damaged member (CRC mismatch)"
        except (zipfile.BadZipFile, EOFError, ValueError):
            return "truncated or not a torch file"
    return None


# --- weights --------------------------------------------------------------------------------------
def _shards(folder: Path) -> list[Path] | None:
    if (folder / WEIGHTS).is_file():
        return [folder / WEIGHTS]
    if (folder / WEIGHTS_INDEX).is_file():
        index = json.loads((folder / WEIGHTS_INDEX).read_text(encoding="utf-8"))
        return [folder / name for name in sorted(set(index["weight_map"].values()))]
    return None


def saved_names(model) -> dict:
    """The live model's tensors under the names ``save_pretrained`` writes (same storage, no copies)."""
    from transformers.core_model_loading import revert_weight_conversion

    return revert_weight_conversion(model, model.state_dict())


def load_weights(model, folder: str | Path) -> bool:
    """Copy a full-model checkpoint's weights into ``model``, every key accounted for; False when the folder has
    no full-model weights (a LoRA adapter checkpoint, FSDP shards: the Trainer's own loaders handle those)."""
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    shards = _shards(folder)
    if shards is None:
        return False
    targets = saved_names(model)
    loaded, unexpected, mismatched = set(), [], []
    with torch.no_grad():
        for shard in shards:
            for name, tensor in load_file(str(shard), device="cpu").items():
                target = targets.get(name)
                if target is None:
                    unexpected.append(name)
                elif target.shape != tensor.shape:
                    mismatched.append(f"{name} {tuple(tensor.shape)} vs {tuple(target.shape)}")
                else:
                    target.copy_(tensor)
                    loaded.add(name)
    # A tied weight (lm_head = embed_tokens) is saved once; it is loaded when the tensor it shares is.
    pointers = {targets[n].data_ptr() for n in loaded}
    missing = [n for n in targets if n not in loaded and targets[n].data_ptr() not in pointers]
    if unexpected or missing or mismatched:
        kind, names = next(
            (k, v)
            for k, v in (("unknown to the model", unexpected), ("missing", missing), ("of another shape", mismatched))
            if v
        )
        raise CheckpointError(
            f"{folder}: {len(names)} checkpoint weight(s) {kind} (first: {sorted(names)[0]}); "
            "refusing to resume with a partly loaded model"
        )
    return True
