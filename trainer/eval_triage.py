"""Triage accuracy on held-out images the triage doctor never trained on: BCCD's test smears (Pathologist),
BreastMNIST's test ultrasounds (Radiologist) and the VQA-RAD test images (Radiologist).

    python -m trainer.eval_triage --data-root ../shared/data --agents assets/panel.yaml
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def held_out(root: Path):
    """(source, expected department, RGB image) for each held-out image."""
    import numpy as np
    from PIL import Image

    from mmedtui.imaging import load_scan

    bccd = root / "bccd" / "BCCD"
    for name in (bccd / "ImageSets" / "Main" / "test.txt").read_text().split():
        yield "BCCD test", "Pathologist", load_scan(bccd / "JPEGImages" / f"{name}.jpg").image
    for pixels in np.load(root / "breastmnist" / "breastmnist.npz")["test_images"]:
        yield "BreastMNIST test", "Radiologist", Image.fromarray(pixels).convert("RGB").resize((112, 112))
    folder = root / "vqa-rad" / "VQA_RAD Image Folder"
    from mmedtui.tasks import get_task

    names = sorted({item.image_ref.names[0] for item in get_task("vqa-rad").load(root, "test").items})
    for name in names:
        yield "VQA-RAD test", "Radiologist", load_scan(folder / Path(name).name).image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--agents", default=None)
    args = parser.parse_args()
    from mmedtui.agents.panel import load_panel
    from mmedtui.consult import Case, Pipeline
    from mmedtui.consult.pipeline import PipelineOptions

    panel = load_panel(args.agents)
    rows = list(held_out(args.data_root))
    cases = [Case(image, "What does this image show?") for _, _, image in rows]
    records = Pipeline(panel, PipelineOptions(specialists=False, attending=False)).run(cases)
    right, total, named = Counter(), Counter(), Counter()
    for (source, expected, _), record in zip(rows, records):
        total[source] += 1
        right[source] += record.triage.department == expected
        named[source] += record.triage.fallback is None
    for source in total:
        print(f"{source:18s} n={total[source]:4d}  accuracy {100 * right[source] / total[source]:5.1f} %  "
              f"named by the model {100 * named[source] / total[source]:5.1f} %")


if __name__ == "__main__":
    main()
