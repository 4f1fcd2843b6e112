"""The sample scans shipped in ``assets/samples/`` (see its README for sources and licences).

``mmedtui consult`` with no IMAGE opens the first one with its question, so a fresh install has a scan to try.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmedtui.errors import UserError
from mmedtui.resources import asset_path


@dataclass(frozen=True)
class Sample:
    name: str
    file: str
    question: str
    about: str

    @property
    def path(self) -> Path:
        return asset_path("samples", self.file)


SAMPLES: tuple[Sample, ...] = (
    Sample("spine-ct", "spine-ct.dcm", "Is there a fracture of the vertebra?", "axial CT, DICOM (pydicom test file)"),
    Sample("mr-slice", "mr-slice.dcm", "Is this image taken via MRI?", "MR slice, DICOM (pydicom test file)"),
    Sample(
        "retina-fundus",
        "retina-fundus.jpg",
        "Is there diabetic retinopathy in this fundus photograph?",
        "colour fundus photograph (scikit-image)",
    ),
)
SAMPLE_NAMES = tuple(s.name for s in SAMPLES)


def get_sample(name: str | None = None) -> Sample:
    """The sample called ``name`` (default: the first); a missing file or unknown name is a UserError."""
    sample = SAMPLES[0] if name is None else next((s for s in SAMPLES if s.name == name.strip().lower()), None)
    if sample is None:
        raise UserError(f"--sample: unknown sample {name!r} (choose from {', '.join(SAMPLE_NAMES)})")
    if not sample.path.is_file():
        raise UserError(f"sample {sample.name}: {sample.path} is missing from this install")
    return sample
