"""Triage accuracy on held-out images the triage doctor never trained on: BCCD's test smears (Pathologist),
BreastMNIST's test ultrasounds (Radiologist) and the VQA-RAD test images (Radiologist); and how often its
rationale names the right modality on SLAKE's validation images (CT, MRI or X-ray, from validate.json).

    python scripts/eval_triage.py --data-root ../shared/data --agents assets/panel.yaml
"""

from __future__ import annotations

import argparse
import re
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


MODALITY_WORDS = {
    "CT": re.compile(r"\bCT\b"),
    "MRI": re.compile(r"\bMRI?\b"),
    "X-Ray": re.compile(r"\bX-?ray\b", re.IGNORECASE),
}


def slake_validation_images(root: Path):
    """(modality, RGB image) once per SLAKE validation image."""
    from mmedtui.tasks import get_task

    seen = {}
    for item in get_task("slake").load(root, "validation", lang="en").items:
        seen.setdefault(item.image_ref.key, item)
    for item in seen.values():
        yield item.modality, item.image_ref.load()[0]


def said_modality(rationale: str) -> str:
    """Which of the three modalities the rationale names ("CT", "CT+MRI", "none")."""
    said = sorted(m for m, pattern in MODALITY_WORDS.items() if pattern.search(rationale))
    return "+".join(said) or "none"


def names_modality(rationale: str, modality: str) -> bool:
    """The rationale names ``modality`` and no other of the three."""
    return said_modality(rationale) == modality


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
        print(
            f"{source:18s} n={total[source]:4d}  accuracy {100 * right[source] / total[source]:5.1f} %  "
            f"named by the model {100 * named[source] / total[source]:5.1f} %"
        )
    slake = list(slake_validation_images(args.data_root))
    records = Pipeline(panel, PipelineOptions(specialists=False, attending=False)).run(
        [Case(image, "What does this image show?") for _, image in slake]
    )
    hits = sum(names_modality(r.triage.rationale, m) for (m, _), r in zip(slake, records))
    print(
        f"{'SLAKE validation':18s} n={len(slake):4d}  rationale names the right modality "
        f"{100 * hits / max(1, len(slake)):5.1f} %"
    )
    said = Counter((m, said_modality(r.triage.rationale)) for (m, _), r in zip(slake, records))
    for modality in sorted({m for m, _ in said}):  # where the misses go
        print(f"  {modality:6s} called " + ", ".join(f"{s} {n}" for (m, s), n in said.most_common() if m == modality))


if __name__ == "__main__":
    main()
