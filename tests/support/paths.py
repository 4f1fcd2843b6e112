"""Where the clone and the shared data pack are, and a mark that skips a test when data is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
VQA_RAD_SCAN = SHARED_DATA / "vqa-rad" / "VQA_RAD Image Folder" / "synpic54610.jpg"


def needs_shared_data(path: Path = SHARED_DATA):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present")
