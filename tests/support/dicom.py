"""Small DICOM files written with pydicom, carrying fake patient data so privacy can be checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def write_dicom(
    path: Path, arr: np.ndarray | None, photometric: str = "MONOCHROME2", bits: int = 8, preamble: bool = True, **attrs
) -> Path:
    """A minimal Secondary Capture file carrying fake patient data, so privacy can be checked."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-778899"
    ds.PatientBirthDate = "19700101"
    ds.Modality = "OT"
    if arr is not None:
        ds.set_pixel_data(arr, photometric, bits)
    for key, value in attrs.items():
        setattr(ds, key, value)
    if preamble:
        ds.save_as(path, enforce_file_format=True)
    else:  # a bare dataset: no preamble, no "DICM", no file meta (as some old exports are)
        del ds.file_meta
        ds.save_as(path, implicit_vr=True, little_endian=True)
    return path
