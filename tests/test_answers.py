"""Valid answers: option scoring on a real tiny model, invalid remote answers, voting without them, the bench."""

from __future__ import annotations

import math
import re

import pytest

from mmedtui.agents import roles
from mmedtui.agents.answers import (
    DEGENERATE,
    NO_OPTION,
    OptionScores,
    invalid_reason,
    reply_prefix,
    score_answers,
    settle,
)
from mmedtui.agents.base import Continuations, Generation, Prompt
from mmedtui.agents.openai_backend import OpenAIBackend
from mmedtui.agents.parsing import degenerate
from mmedtui.agents.roles import Opinion
from mmedtui.bench.score import Cell, outcome, score
from mmedtui.consult import Case, Pipeline
from mmedtui.tasks.voting import agreement, panel_majority
from support.panels import scripted_panel

CELLS = ["Neutrophil", "Lymphocyte", "Monocyte", "Eosinophil"]


# --- the local backend: always one option -------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir):
    from mmedtui.agents.transformers_backend import TransformersBackend

    backend = TransformersBackend(name="tiny", path=str(tiny_model_dir))
    yield backend
    backend.close()


def test_batched_scores_equal_each_request_scored_alone(tiny_backend, scan_image):
    """Left padding, repeated contexts and per-request image slices must not change any score."""
    requests = [
        Continuations(
            Prompt("You are a radiologist.", "Is there a mass?", (scan_image,)),
            "<think>a round bright lesion in the middle of the field</think>",
            ("<answer>yes</answer>", "<answer>no</answer>"),
        ),
        Continuations(
            Prompt("s", "Which cell?", (scan_image.resize((64, 96)),)),
            "",
            tuple(f"<answer>{c}</answer>" for c in CELLS),
        ),
        Continuations(
            Prompt("s", "No image here, a longer question than the others?"),
            "<think>x</think>",
            ("<answer>left</answer>", "<answer>right</answer>"),
        ),
    ]
    batched = tiny_backend.score_continuations(requests)
    assert [len(s) for s in batched] == [2, 4, 2]
    for request, scores in zip(requests, batched):
        for text, got in zip(request.continuations, scores):
            [[alone]] = tiny_backend.score_continuations([Continuations(request.prompt, request.prefix, (text,))])
            assert got == pytest.approx(alone, abs=1e-4)
            assert got < 0 and math.isfinite(got)
    # The image features computed once per image equal the patches run through the vision tower per option.
    assert tiny_backend.precomputed_vision
    tiny_backend.precomputed_vision = False
    try:
        repeated = tiny_backend.score_continuations(requests)
    finally:
        tiny_backend.precomputed_vision = True
    for a, b in zip(batched, repeated):
        assert a == pytest.approx(b, abs=1e-4)


def _tiny_panel(tiny_model_dir):
    from mmedtui.agents.panel import parse_panel

    agent = {"model": "t", "max_new_tokens": 12}
    return parse_panel(
        {
            "models": {"t": {"backend": "transformers", "path": str(tiny_model_dir)}},
            "triage": agent,
            "attending": agent,
            "specialists": {"default": [{"name": n, **agent} for n in "ABC"]},
        }
    )


@pytest.mark.parametrize("options", [["yes", "no"], CELLS])
def test_a_local_panel_answers_with_exactly_one_option_and_its_probability(tiny_model_dir, scan_image, options):
    panel = _tiny_panel(tiny_model_dir)
    case = Case(scan_image, "Which cell is marked?" if len(options) > 2 else "Is there a mass?", options)
    [record] = Pipeline(panel).run([case])
    backend = panel.backend("t")
    for result in [*record.specialists, record.attending]:
        assert result.answer in options and result.valid, result
        assert 0 < result.probability <= 1
        # The probability is the option's share of the softmax over the options after the model's reasoning.
        prompt = (
            roles.attending_prompt(case, record.specialists)
            if result is record.attending
            else roles.specialist_prompt(case, record.triage.department)
        )
        [scores] = score_answers(backend, [prompt], [Generation(result.raw)], [options])
        assert sum(scores.probs) == pytest.approx(1.0)
        assert result.probability == pytest.approx(scores.probs[options.index(result.answer)], abs=1e-4)
        if result.constrained:  # the generated text named no option: the likeliest one was taken
            assert invalid_reason(roles.parse_tagged(result.raw).answer, options) is not None
            assert scores.probs[options.index(result.answer)] == max(scores.probs)
    assert re.fullmatch(r"[0-3]/3 (say .+|\(no majority\))", record.agreement)
    panel.close()


def test_a_generated_answer_that_names_an_option_is_kept():
    scores = OptionScores((0.7, 0.3))
    kept = settle(Generation("<answer>No, it is not</answer>"), "No, it is not", ["yes", "no"], scores)
    assert (kept.answer, kept.probability, kept.constrained, kept.invalid) == ("No, it is not", 0.3, False, None)
    looped = settle(Generation("x"), "no no no no", ["yes", "no"], scores)  # names "no", but loops
    assert (looped.answer, looped.probability, looped.constrained, looped.invalid) == ("yes", 0.7, True, None)


def test_reply_prefix_stops_where_the_answer_goes():
    assert reply_prefix("<think>a</think>\n<answer>yes</answer>") == "<think>a</think>\n"
    assert reply_prefix("<think>a</think> yes") == "<think>a</think>"
    assert reply_prefix("just yes") == ""


@pytest.mark.parametrize(
    "text, loops",
    [
        ("CT CT CT CT", True),
        ("fcardiacardiacardiacardia", True),
        ("??????", True),
        ("ha, ha, ha, ha", True),
        ("yes", False),
        ("Left kidney", False),
        ("Mississippi", False),
        ("1000000", False),
        ("no no", False),
        ("The liver, the spleen and the kidney", False),
        ("CT CT face CT CT face face CT CT neck CT CT face", True),
        ("The question asks about the liver. An axial CT of the abdomen; the liver and the spleen are visible.", False),
        ("The left kidney and the right kidney are visible; the kidney looks normal.", False),
    ],
)
def test_degenerate_text(text, loops):
    assert degenerate(text) is loops


# --- remote answers: marked, never mapped -------------------------------------------------------
def _remote_opinion(server, reply, options, tokens=None, mode="reply"):
    server.mode, server.reply, server.token_logprobs = mode, reply, tokens
    backend = OpenAIBackend(name="r", base_url=server.url, model="m", max_retries=0)
    prompt = Prompt("s", "u")
    gens = backend.generate([prompt])
    [scores] = score_answers(backend, [prompt], gens, [options])
    backend.close()
    return roles.parse_opinion(gens[0], "R", "Radiologist", options, scores), backend


def test_a_degenerate_remote_answer_is_invalid_and_not_mapped(fake_openai):
    opinion, _ = _remote_opinion(fake_openai, "<think>t</think><answer>CT CT CT CT CT</answer>", ["CT", "MRI"])
    assert not opinion.valid and opinion.invalid == DEGENERATE
    assert opinion.answer == "CT CT CT CT CT" and opinion.probability is None and not opinion.constrained


def test_an_off_option_remote_answer_is_invalid(fake_openai):
    opinion, _ = _remote_opinion(fake_openai, "<answer>Paratracheal area</answer>", CELLS)
    assert not opinion.valid and opinion.invalid == NO_OPTION and opinion.answer == "Paratracheal area"
    assert opinion.to_dict()["valid"] is False and opinion.to_dict()["invalid"] == NO_OPTION


def test_a_remote_answer_gets_its_probability_from_the_token_logprobs(fake_openai):
    tokens = [
        ("<think>", -0.5),
        ("r", -0.2),
        ("</think>", -0.1),
        ("<answer>", -0.01),
        ("y", -0.2),
        ("es", -0.1),
        ("</answer>", -0.01),
    ]
    opinion, _ = _remote_opinion(fake_openai, "".join(t for t, _ in tokens), ["yes", "no"], tokens)
    assert opinion.valid and opinion.answer == "yes"
    assert opinion.probability == pytest.approx(math.exp(-0.3))
    assert fake_openai.requests[0]["body"]["logprobs"] is True


def test_a_server_that_refuses_logprobs_is_asked_again_without_them(fake_openai):
    opinion, backend = _remote_opinion(fake_openai, "<answer>no</answer>", ["yes", "no"], mode="no-logprobs")
    assert opinion.valid and opinion.answer == "no" and opinion.probability is None
    assert [r["body"].get("logprobs") for r in fake_openai.requests] == [True, None]
    assert backend.logprobs is False


# --- an invalid opinion counts as missing -------------------------------------------------------
def test_voting_and_agreement_ignore_invalid_opinions():
    opinions = [
        Opinion("A", "R", "yes"),
        Opinion("B", "R", "no no no no", invalid=DEGENERATE),
        Opinion("C", "R", "no, none", invalid="test"),
        Opinion("D", "R", "", error="timeout"),
    ]
    assert panel_majority(opinions, ["yes", "no"]).name == "A"
    assert agreement(opinions, ["yes", "no"]) == "1/4 say yes"
    assert agreement(opinions[:1] + [Opinion("E", "R", "no")], ["yes", "no"]) == "1/2 (no majority)"
    assert panel_majority(opinions[1:], ["yes", "no"]) is None and agreement([], None) is None
    text = roles.opinions_text(opinions)
    assert "A (R): yes" in text and "B (" not in text and "C (" not in text


def test_the_attending_never_sees_an_invalid_opinion_and_does_not_count_it(scan_image):
    panel = scripted_panel(["<answer>no</answer>", "<answer>Paratracheal area</answer>", "<answer>no</answer>"])
    [record] = Pipeline(panel).run([Case(scan_image, "Is there a mass?", ["yes", "no"])])
    b = record.specialists[1]
    assert not b.valid and b.invalid == NO_OPTION
    sent = panel.backend("attending").calls[0].user
    assert "Specialist A" in sent and "Specialist B" not in sent
    decision = record.attending  # it says yes: A and C overruled, B neither followed nor overruled
    assert decision.valid and decision.overruled == ["Specialist A", "Specialist C"] and decision.followed == []
    assert decision.agreement == record.agreement == "2/3 say no"


def test_the_bench_scores_invalid_answers_wrong_and_counts_them():
    options = ["yes", "no"]
    opinions = [
        o.to_dict()
        for o in (
            Opinion("A", "R", "no"),
            Opinion("B", "R", "yes yes yes yes", invalid=DEGENERATE),
            Opinion("C", "R", "yes yes yes yes", invalid=DEGENERATE),
        )
    ]
    units = {"panel": {"triage": {}, "specialists": opinions}}
    vote = outcome("majority-vote", units, options)
    assert vote.answer == "no" and vote.valid  # the two invalid "yes" loops do not outvote A
    looped = outcome("specialist:B", units, options)
    assert not looped.valid and not looped.failed

    class Item:  # what gold_index reads
        options, answer, meta, kind = None, "yes", {}, "closed"

    cell = Cell()
    for item_id, out in (("1", vote), ("2", looped)):
        scored = score("mc", Item(), options, out)
        cell.add(item_id, scored, out.failed)
    assert cell.correct == [False, False] and cell.invalid == 1 and cell.unparsed == 1


def test_the_bench_counts_a_decline_as_declined_not_failed_and_keeps_the_unit():
    from mmedtui.bench.units import unit_failures

    refusal = "no training scan was asked this question"
    opinions = [
        o.to_dict()
        for o in (
            Opinion("A", "R", "no"),
            Opinion("Case-based", "R", error=refusal, declined=True),
            Opinion("C", "R", "no"),
        )
    ]
    units = {"panel": {"triage": {}, "specialists": opinions}}
    assert unit_failures(units["panel"]) == []  # nothing to ask again next run: the cache keeps it
    vote = outcome("majority-vote", units, ["yes", "no"])
    assert (vote.answer, vote.valid, vote.failed) == ("no", True, False)  # a decline is a missing vote
    mine = outcome("specialist:Case-based", units, ["yes", "no"])
    assert (mine.declined, mine.failed, mine.valid) == (True, False, False)

    class Item:
        options, answer, meta, kind = None, "no", {}, "closed"

    cell = Cell()
    for item_id, out in (("1", vote), ("2", mine)):
        cell.add(item_id, score("mc", Item(), ["yes", "no"], out), out.failed)
    assert (cell.correct, cell.declined, cell.failed, cell.invalid, cell.unparsed) == ([True, False], 1, 0, 0, 0)
    failing = [dict(opinions[1], declined=False)]  # the same error from a backend that failed: asked again
    assert unit_failures({"specialists": failing}) == [refusal]


def test_a_local_free_text_answer_gets_the_probability_of_its_own_tokens(tiny_backend, scan_image):
    prompt = Prompt("s", "What organ is this?", (scan_image,))
    gens = [Generation("<think>a bright disc</think><answer>liver</answer>"), Generation("CT CT CT CT")]
    scored, looped = score_answers(tiny_backend, [prompt, prompt], gens, [None, None])
    assert looped is None  # a degenerate answer is not scored: it has no probability to show
    [[logprob]] = tiny_backend.score_continuations(
        [Continuations(prompt, "<think>a bright disc</think>", ("<answer>liver</answer>",))]
    )
    assert scored.probability == pytest.approx(math.exp(logprob))
    opinion = roles.parse_opinion(gens[0], "A", "Radiologist", None, scored)
    assert opinion.valid and opinion.answer == "liver" and opinion.probability == scored.probability
    assert not roles.parse_opinion(gens[1], "A", "Radiologist", None, looped).valid
