"""Fit the ``question-only`` baseline (the language prior; model in ``mmedtui/agents/question_prior.py``).

Trained on the specialists' training split: VQA-RAD train (without the MEVF "frame" rows, templated copies of
test questions) + SLAKE train.json, English. Never a test or validation split. Full-batch AdamW on
cross-entropy over the answer strings; features and answers seen fewer than ``min_count`` times are dropped,
which keeps the shipped model far under 1 MB. Deterministic for a given data root and settings.

    mmedtui train question-only --data-root ../shared/data --output assets/models/question-only
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from mmedtui.agents.question_prior import QuestionPrior, features
from mmedtui.errors import DataError
from mmedtui.tasks.scoring import normalize
from trainer.model_card import front_matter, hub_datasets

TASKS = ("vqa-rad", "slake")


@dataclass(frozen=True)
class PriorSettings:
    min_count: int = 3  # a feature / an answer must occur this often in training
    max_features: int = 2048
    max_answers: int = 96
    epochs: int = 300  # full-batch steps
    learning_rate: float = 0.05
    weight_decay: float = 1e-3
    seed: int = 0


def training_items(root: Path | None, split: str = "train") -> list:
    """The specialists' training items (``trainer.data.items.load_items``, the same filters); train split only.
    ``root`` None: $MMEDTUI_DATA, else the per-user default."""
    from trainer.data.items import load_items, refuse_test
    from trainer.sections import DataSection

    refuse_test(split, "question-only training")
    if split != "train":
        raise DataError(f"question-only training reads the train split only, not {split!r}")
    data = DataSection(root=str(root) if root else None, tasks=list(TASKS), split=split, closed_as_mc=False)
    return load_items(data)


def _top(counts: Counter, min_count: int, limit: int) -> list[str]:
    kept = [k for k, n in counts.items() if n >= min_count and k]
    return sorted(kept, key=lambda k: (-counts[k], k))[:limit]


def fit(items: list, settings: PriorSettings = PriorSettings()) -> tuple[QuestionPrior, dict]:
    """A prior over the items' answers (items whose answer is not a kept class are dropped), and a summary."""
    import torch

    answers = _top(Counter(normalize(it.answer) for it in items), settings.min_count, settings.max_answers)
    vocab = _top(
        Counter(f for it in items for f in set(features(it.question))), settings.min_count, settings.max_features
    )
    if not answers or not vocab:
        raise DataError("question-only: too few training items to build a vocabulary")
    index = {a: i for i, a in enumerate(answers)}
    kept = [it for it in items if normalize(it.answer) in index]
    torch.manual_seed(settings.seed)
    model = QuestionPrior(
        {f: i for i, f in enumerate(vocab)}, answers, torch.zeros(len(answers), len(vocab)), torch.zeros(len(answers))
    )
    x = model.encode([it.question for it in kept])
    y = torch.tensor([index[normalize(it.answer)] for it in kept])
    layer = torch.nn.Linear(len(vocab), len(answers))
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    for _ in range(settings.epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x), y)
        loss.backward()
        optimizer.step()
    loss = loss.detach()
    model.weight, model.bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    return model, {"items": len(items), "items_kept": len(kept), "final_loss": round(loss.item(), 4)}


def train_question_only(
    root: Path | None, output: Path, settings: PriorSettings = PriorSettings(), split: str = "train"
) -> dict:
    """Fit on the training split under ``root`` and write the model + its card into ``output``."""
    items = training_items(root, split)
    model, fitted = fit(items, settings)
    by_task = Counter(it.task for it in items)
    summary = {
        **fitted,
        "by_task": dict(sorted(by_task.items())),
        "features": len(model.vocabulary),
        "answers": len(model.answers),
    }
    model.save(
        output,
        {
            "trained_on": {"split": split, "tasks": list(TASKS), "slake_lang": "en", "vqa_rad_frame_rows": "excluded"},
            "settings": asdict(settings),
            "summary": summary,
        },
    )
    meta = front_matter(
        "mmedtui-question-only", hub_datasets(TASKS), tags=["baseline", "bag-of-words"], transformers=False
    )
    (output / "README.md").write_text(meta + _card(summary, settings), encoding="utf-8")
    return summary


def _card(summary: dict, settings: PriorSettings) -> str:
    tasks = ", ".join(f"{t} {n}" for t, n in summary["by_task"].items())
    return f"""# question-only (the language prior)

A bag-of-words logistic model over the **question text only**: unigram + bigram presence features into one
linear layer over the most frequent answer strings. It never sees the image. It is the bench row
`question-only`: what a system scores above it is what the scan (and the panel) adds.

- Trained on: VQA-RAD train (without the MEVF "frame" rows) + SLAKE train.json, English; never a test or
  validation split. Items: {summary["items"]} ({tasks}); {summary["items_kept"]} whose answer is among the
  {summary["answers"]} kept answers.
- Features: {summary["features"]} (seen at least {settings.min_count} times); full-batch AdamW, {settings.epochs}
  steps, learning rate {settings.learning_rate}, weight decay {settings.weight_decay}; final training
  loss {summary["final_loss"]}.
- With options (the bench's `mc`), it picks the option whose answer is most probable.
- Files: `model.safetensors` (weight, bias; float16), `vocab.json` (features, answers, settings).
- Rebuild: `mmedtui train question-only --data-root ../shared/data --output assets/models/question-only`.

Research and teaching only; never clinical use.
"""
