"""An on-disk response cache in front of any backend, so a bench over thousands of items is restartable
and cheap to rerun: answered prompts are read back from disk, only the rest reach the model.

    backend = CachedBackend(OpenAIBackend(...), cache_dir="runs/cache")

One JSON file per answer at ``cache_dir/<first 2 hex of key>/<key>.json``, written atomically (temp file in the
same folder, then ``os.replace``), so a run killed mid-write never leaves a half file behind. The key is a
sha256 over the inner backend's identity, the system and user text, each image's pixels and the sampling
settings.

Not cached, on purpose:
- failed generations (``error`` set): they are retried on the next run;
- sampling with ``temperature > 0`` and no ``seed``: each call is meant to be a fresh draw, so replaying an old
  one would silently change the experiment (e.g. several rollouts would all come back identical).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

from mmedtui.agents.base import Backend, Continuations, Generation, Prompt, Sampling
from mmedtui.fileio import atomic_write_text
from mmedtui.imaging import image_digest

log = logging.getLogger(__name__)

#: Bump when the key recipe or the file layout changes, so old entries are ignored rather than misread.
CACHE_VERSION = 1


def cacheable(sampling: Sampling) -> bool:
    """Greedy or seeded decoding is reproducible and may be cached; unseeded sampling may not."""
    return sampling.temperature <= 0 or sampling.seed is not None


def cache_key(identity: str, prompt: Prompt, sampling: Sampling) -> str:
    material = {
        "v": CACHE_VERSION,
        "backend": identity,
        "system": prompt.system,
        "user": prompt.user,
        "images": [image_digest(im) for im in prompt.images],
        "sampling": dataclasses.asdict(sampling),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def default_identity(backend: Backend) -> str:
    """The backend's own ``cache_identity`` if it has one, else class, name and model."""
    ident = getattr(backend, "cache_identity", None)
    if isinstance(ident, str) and ident:
        return ident
    return f"{type(backend).__name__}|{backend.name}|{getattr(backend, 'model', '')}"


class CachedBackend(Backend):
    """Wraps ``inner``; ``hits``, ``misses`` and ``bypassed`` (uncacheable prompts) count prompts seen."""

    def __init__(self, inner: Backend, cache_dir: str | os.PathLike, identity: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.remote = inner.remote
        self.cache_dir = Path(cache_dir)
        self.identity = identity or default_identity(inner)
        self.hits = self.misses = self.bypassed = 0

    def __repr__(self) -> str:
        return f"CachedBackend({self.inner!r}, cache_dir={str(self.cache_dir)!r})"

    def path_for(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def generate(self, prompts: list[Prompt], sampling: Sampling = Sampling()) -> list[Generation]:
        if not cacheable(sampling):
            self.bypassed += len(prompts)
            return self.inner.generate(prompts, sampling)
        keys = [cache_key(self.identity, p, sampling) for p in prompts]
        out: list[Generation | None] = [self._load(k) for k in keys]
        todo = [i for i, g in enumerate(out) if g is None]
        self.hits += len(prompts) - len(todo)
        self.misses += len(todo)
        if todo:  # one batched inner call for every miss
            fresh = self.inner.generate([prompts[i] for i in todo], sampling)
            for i, gen in zip(todo, fresh, strict=True):
                out[i] = gen
                if gen.ok:
                    self._store(keys[i], gen)
        return [g for g in out if g is not None]

    def score_choices(self, prompt: Prompt, choices: list[str]) -> list[float] | None:
        return self.inner.score_choices(prompt, choices)

    def score_continuations(self, requests: list[Continuations]) -> list[list[float] | None]:
        return self.inner.score_continuations(requests)

    def close(self) -> None:
        self.inner.close()

    def _load(self, key: str) -> Generation | None:
        try:
            data = json.loads(self.path_for(key).read_text(encoding="utf-8"))
            if not isinstance(data["text"], str):  # valid JSON, but not an answer we wrote: a miss
                return None
            return Generation(text=data["text"], meta={**data.get("meta", {}), "cached": True})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # damaged entry: treat as a miss, it gets rewritten
            return None

    def _store(self, key: str, gen: Generation) -> None:
        payload = json.dumps({"text": gen.text, "meta": gen.meta}, default=str, ensure_ascii=False)
        try:
            atomic_write_text(self.path_for(key), payload, newline="", durable=False)
        except OSError as exc:  # a full or read-only disk costs the cache, not the answer
            log.warning("response cache: could not write %s: %s", self.path_for(key), exc)
