"""The departments triage chooses from, and the modality -> department mapping behind triage labels.

Both are configuration: a panel file may replace the department list, and the modality table is only
the default (``../shared/docs/benchmarks.md`` section 8).
"""

from __future__ import annotations

DEFAULT_DEPARTMENTS: tuple[str, ...] = (
    "Pathologist",
    "Radiologist",
    "Surgeon",
    "Oncologist",
    "Endocrinologist",
    "Ophthalmologist",
    "Dermatologist",
)

# Normalised substrings of modality labels (dataset fields, DICOM Modality) -> department.
# Matched by substring, never equality: OmniMedVQA's strings carry typos ("Mag-netic", a missing ")").
MODALITY_DEPARTMENT: tuple[tuple[str, str], ...] = (
    ("fundus", "Ophthalmologist"),
    ("oct", "Ophthalmologist"),
    ("infrared", "Ophthalmologist"),
    ("dermoscop", "Dermatologist"),
    ("digital photo", "Dermatologist"),
    ("microscop", "Pathologist"),
    ("patholog", "Pathologist"),
    ("histolog", "Pathologist"),
    ("blood smear", "Pathologist"),
    ("endoscop", "Surgeon"),
    ("colposcop", "Surgeon"),
    ("mammo", "Radiologist"),
    ("ct", "Radiologist"),
    ("mr", "Radiologist"),
    ("mri", "Radiologist"),
    ("x-ray", "Radiologist"),
    ("xray", "Radiologist"),
    ("ultrasound", "Radiologist"),
    ("body scan", "Radiologist"),
    ("radiograph", "Radiologist"),
)

# DICOM Modality codes (0008,0060) -> department.
DICOM_MODALITY_DEPARTMENT: dict[str, str] = {
    code: "Radiologist" for code in ("CT", "MR", "CR", "DX", "DR", "RF", "XA", "US", "MG", "NM", "PT", "OT", "RG")
} | {"OP": "Ophthalmologist", "OPT": "Ophthalmologist", "SM": "Pathologist", "ES": "Surgeon", "XC": "Dermatologist"}


def department_for_modality(modality: str | None, default: str | None = None) -> str | None:
    """Map a free-text modality label or DICOM code to a department; ``default`` when nothing matches."""
    if not modality:
        return default
    code = modality.strip().upper()
    if code in DICOM_MODALITY_DEPARTMENT:
        return DICOM_MODALITY_DEPARTMENT[code]
    text = " ".join(modality.lower().replace("_", " ").split())
    # Word-ish match for the short keys ("ct", "mr", "oct") so "doctor" never reads as CT.
    words = set(text.replace("(", " ").replace(")", " ").replace("/", " ").split())
    for key, department in MODALITY_DEPARTMENT:
        if (len(key) <= 3 and key in words) or (len(key) > 3 and key in text):
            return department
    return default


def match_department(text: str, departments: tuple[str, ...] | list[str]) -> str | None:
    """The configured department named in ``text`` (case-insensitive; 'radiology' finds Radiologist)."""
    low = text.lower()
    best: tuple[int, str] | None = None
    for name in departments:
        stem = name.lower()
        for probe in (stem, stem.removesuffix("ist"), stem.removesuffix("ogist") + "ogy"):
            pos = low.find(probe)
            if pos >= 0 and (best is None or pos < best[0]):
                best = (pos, name)
    return best[1] if best else None
