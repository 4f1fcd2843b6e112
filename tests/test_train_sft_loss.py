"""The answer-weighted SFT loss (`sft.answer_weight`): which tokens it weights, and that 1.0 is the plain mean."""

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoTokenizer

from mmedtui.errors import ConfigError
from trainer.sft import answer_weighted_loss


def _batch(tokenizer):
    prompt = tokenizer("Question: is it normal?")["input_ids"]
    target = tokenizer("<think>CT of the chest.</think><answer>yes</answer>")["input_ids"]
    labels = torch.tensor([[-100] * len(prompt) + target])
    torch.manual_seed(0)
    logits = torch.randn(1, labels.shape[1], len(tokenizer))
    return SimpleNamespace(logits=logits), labels


def _per_token(outputs, labels):
    target = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(
        outputs.logits[:, :-1].transpose(1, 2), target.clamp(min=0), reduction="none"
    )
    return ce[0], target[0]


def test_weight_one_is_the_plain_mean_and_a_large_weight_keeps_only_the_answer(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    outputs, labels = _batch(tokenizer)
    ce, target = _per_token(outputs, labels)
    counted = target != -100
    assert answer_weighted_loss(tokenizer, 1.0)(outputs, labels).item() == pytest.approx(ce[counted].mean().item())
    # Gradient accumulation: transformers' Trainer does not divide a custom loss by the micro-steps; it does.
    halved = answer_weighted_loss(tokenizer, 1.0, accumulation=2)(outputs, labels).item()
    assert halved == pytest.approx(ce[counted].mean().item() / 2)
    # The tokens after <answer>, through </answer>: "yes" and "</answer>".
    answer_open = (target == tokenizer.convert_tokens_to_ids("<answer>")).nonzero().item()
    answer = ce[answer_open + 1 : counted.nonzero().max() + 1]
    decoded = tokenizer.decode(target[answer_open + 1 : counted.nonzero().max() + 1])
    assert decoded.startswith("yes") and "</answer>" in decoded
    heavy = answer_weighted_loss(tokenizer, 1e6)(outputs, labels).item()
    assert heavy == pytest.approx(answer[: len(tokenizer.tokenize("yes</answer>"))].mean().item(), rel=1e-3)


def test_a_tokenizer_without_single_token_tags_is_refused():
    class Split:
        def tokenize(self, text):
            return list(text)

    with pytest.raises(ConfigError, match="one token"):
        answer_weighted_loss(Split(), 4.0)
