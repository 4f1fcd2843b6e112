"""The bench's non-agent models, the priors a system is measured against: ``question-only`` (the question's
words, ``question_prior``) and ``nearest-image`` (the answers of the most similar training images,
``image_prior``). Each answers a batch of ``Case`` with ``answer(cases) -> [(answer, probability), ...]``.
"""

from __future__ import annotations

from pathlib import Path

from mmedtui.agents import image_prior, question_prior


def load_prior(folder: Path) -> image_prior.ImagePrior | question_prior.QuestionPrior:
    """The model in ``folder``, by the files it holds."""
    if image_prior.model_present(folder):
        return image_prior.ImagePrior.load(folder)
    return question_prior.QuestionPrior.load(folder)


def prior_present(folder: Path) -> bool:
    return image_prior.model_present(folder) or question_prior.model_present(folder)
