"""The same embedded specialist, in process and behind a real ``transformers serve``: the same greedy answers.

What parity takes: the server must register the project's image processor (``python -m mmedtui.serve``; plain
``transformers serve`` gets the bare tokenizer and drops the image: 11 of 35 answers agreed), and the image must
go out already resized by the model's own pixel bounds, as lossless PNG (``min_pixels`` / ``max_pixels``), so
the server's processor sees the local backend's pixels exactly. The server loads float32, as the local backend
does on a CPU (the weights are float16).
"""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw

from mmedtui.agents.base import Sampling
from mmedtui.agents.openai_backend import image_data_url, qwen_size
from mmedtui.agents.roles import parse_opinion, specialist_prompt
from mmedtui.consult import Case
from mmedtui.imaging import load_scan
from mmedtui.resources import asset_path
from mmedtui.samples import SAMPLES
from support.served_model import served_model

pytest.importorskip("fastapi", reason="needs the serve extra: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="needs the serve extra: pip install -e '.[serve]'")
pytest.importorskip("openai", reason="needs the serve extra: pip install -e '.[serve]'")

pytestmark = pytest.mark.slow  # starts a server process that imports torch: about half a minute

MODEL = asset_path("models", "specialist-b")
SAMPLING = Sampling(max_new_tokens=48)  # the panel's budget for a specialist; greedy
QUESTIONS = (
    ("Is there a fracture?", ["yes", "no"]),
    ("Is this an MRI?", ["yes", "no"]),
    ("Is the image abnormal?", ["yes", "no"]),
    ("Is this a CT or an X-ray?", ["CT", "X-ray"]),
    ("Which organ is shown, brain or lung?", ["brain", "lung"]),
)


def _images() -> list[Image.Image]:
    """The shipped sample scans, and made-up ones whose sizes take every branch of the resize: shrunk to the
    pixel bound (one past ``MAX_IMAGE_SIDE``, with fine stripes that another shrink first would blur), grown to
    the minimum, and already a multiple of 28."""
    images = [load_scan(asset_path("samples", s.file)).image for s in SAMPLES]
    shapes = (
        ((1600, 1200), (300, 250, 1300, 950)),
        ((512, 384), (100, 80, 400, 300)),
        ((90, 60), (20, 10, 70, 50)),
        ((224, 168), (40, 40, 180, 120)),
    )
    for size, box in shapes:
        image = Image.new("RGB", size, (12, 12, 12))
        draw = ImageDraw.Draw(image)
        draw.ellipse(box, fill=(210, 200, 190))
        for x in range(0, size[0], 3):
            draw.line((x, 0, x, size[1] // 2), fill=(90, 90, 90))
        images.append(image)
    return images


def _cases() -> list[Case]:
    return [Case(image, q, options) for image in _images() for q, options in QUESTIONS]


def test_qwen_size_is_transformers_smart_resize() -> None:
    """The backend's copy of the rule (the backend itself does not import transformers) is the processor's."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    for w in (20, 64, 90, 224, 511, 1024, 3000):
        for h in (30, 128, 168, 700, 2049):
            for bounds in ((3136, 12845056), (12544, 50176)):
                assert qwen_size(w, h, *bounds) == smart_resize(h, w, 28, *bounds)[::-1], (w, h, bounds)


def test_the_server_sees_the_local_pixels():
    """The image as sent, decoded and run through the model's processor (what the server does), gives the
    pixel values the local backend computes from the original; the long-side shrink alone would not."""
    import base64
    import io

    import torch

    from mmedtui.agents.qwen_processor import ImageOnlyQwen2_5_VLProcessor

    processor = ImageOnlyQwen2_5_VLProcessor.from_pretrained(MODEL).image_processor
    pixels = (processor.size["shortest_edge"], processor.size["longest_edge"])

    def features(image):
        return processor([image], return_tensors="pt")["pixel_values"]

    def sent(image, bounds):
        url = image_data_url(image, bounds)
        return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))

    images = _images()
    for image in images:
        assert torch.equal(features(sent(image, pixels)), features(image)), image.size
    big = images[3]  # 1600 x 1200: shrunk to 1024 first, then by the server
    assert not torch.equal(features(sent(big, None)), features(big))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with served_model(MODEL, tmp_path_factory.mktemp("serve") / "server.log") as url:
        yield url


def _answers(backend, cases: list[Case]) -> list[tuple[str, str]]:
    prompts = [specialist_prompt(c, "Radiologist") for c in cases]
    gens = backend.generate(prompts, SAMPLING)
    assert all(g.ok for g in gens), [g.error for g in gens if not g.ok][:3]
    return [(parse_opinion(g, "B", "Radiologist", c.options).answer, g.text) for g, c in zip(gens, cases)]


def test_served_specialist_answers_as_the_local_one(served):
    from mmedtui.agents.openai_backend import OpenAIBackend
    from mmedtui.agents.transformers_backend import TransformersBackend

    cases = _cases()
    size = json.loads((MODEL / "processor_config.json").read_text())["image_processor"]["size"]
    remote = OpenAIBackend(
        name="served",
        base_url=served,
        model=str(MODEL),
        timeout=60,
        max_retries=0,
        min_pixels=size["shortest_edge"],
        max_pixels=size["longest_edge"],
    )
    # Plain decoding on both sides: the local backend's loop guard is a rule of its own that a server does not
    # apply (off the training domain the replies then differ where the model loops: 5 of these 35).
    local = TransformersBackend(
        name="local", path=str(MODEL), device="cpu", dtype="float32", threads=1, loop_guard=False
    )
    try:
        there, here = _answers(remote, cases), _answers(local, cases)
    finally:
        remote.close()
    same = sum(a[0] == b[0] for a, b in zip(there, here))
    same_text = sum(a[1] == b[1] for a, b in zip(there, here))
    print(f"parity: {same}/{len(cases)} parsed answers agree, {same_text} identical replies")  # shown with -rP
    differ = [(c.question, a, b) for c, a, b in zip(cases, there, here) if a[0] != b[0]]
    assert same >= 0.95 * len(cases), (
        f"{same}/{len(cases)} parsed answers agree ({same_text} identical replies); first differences: {differ[:3]}"
    )
