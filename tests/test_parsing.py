from hypothesis import given, settings
from hypothesis import strategies as st

from mmedtui.agents.parsing import format_reward, parse_tagged
from mmedtui.departments import DEFAULT_DEPARTMENTS, department_for_modality, match_department


def test_well_formed_output():
    t = parse_tagged("<think>bright lesion</think><answer>Yes</answer>")
    assert (t.reasoning, t.answer, t.well_formed) == ("bright lesion", "Yes", True)
    assert format_reward("<think>x</think>\n<answer>y</answer>\n") == 0.5


def test_malformed_outputs_degrade():
    assert parse_tagged("").answer == ""
    assert parse_tagged(None).answer == ""
    assert parse_tagged("just words\nno").answer == "no"
    unclosed = parse_tagged("<think>hmm</think><answer>left kidney")
    assert unclosed.answer == "left kidney" and not unclosed.well_formed
    assert parse_tagged("<answer>a</answer> trailing").answer == "a"
    assert format_reward("<answer>a</answer>") == 0.0


def test_overlong_output_is_cut():
    t = parse_tagged("<think>" + "x" * 100_000 + "</think><answer>yes</answer>")
    assert len(t.answer) <= 500


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parse_never_raises(text):
    t = parse_tagged(text)
    assert isinstance(t.answer, str) and "<answer>" not in t.answer.lower()
    assert format_reward(text) in (0.0, 0.5)
    match_department(text, DEFAULT_DEPARTMENTS)


def test_department_matching():
    assert match_department("<answer>radiology</answer>", DEFAULT_DEPARTMENTS) == "Radiologist"
    assert match_department("send to the PATHOLOGIST", DEFAULT_DEPARTMENTS) == "Pathologist"
    assert match_department("no idea", DEFAULT_DEPARTMENTS) is None
    assert match_department("Dermatologist, then Radiologist", DEFAULT_DEPARTMENTS) == "Dermatologist"


def test_modality_mapping():
    assert department_for_modality("CT") == "Radiologist"
    assert department_for_modality("MR (Mag-netic Resonance Imaging)") == "Radiologist"
    assert department_for_modality("OCT (Optical Coherence Tomography") == "Ophthalmologist"
    assert department_for_modality("Fundus Photography") == "Ophthalmologist"
    assert department_for_modality("Dermoscopy") == "Dermatologist"
    assert department_for_modality("Microscopy Images") == "Pathologist"
    assert department_for_modality("doctor's note", "Surgeon") == "Surgeon"
    assert department_for_modality(None) is None
