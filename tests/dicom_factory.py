"""Synthetic DICOM radiographs for tests, made in code so no binary fixture has to be trusted.

The images look like what dental practices send: intraoral (IO) sensors with 12 bits stored in
16, panoramic (PX) images, multi-frame stacks; with or without pixel spacing, windows and fake
patient data (``FAKE_PATIENT``), so tests can check that it is found, kept or removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    DigitalIntraOralXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

FAKE_PATIENT = {
    "PatientName": "Testperson^Erika^Maria",
    "PatientID": "PID-83726154",
    "PatientBirthDate": "19610314",
    "ReferringPhysicianName": "Drillwell^Hannes",
    "InstitutionName": "Zahnarztpraxis Sonnenschein",
    "InstitutionAddress": "Lindenallee 17, 10115 Berlin",
    "AccessionNumber": "ACC-55129",
}


def tooth_phantom(rows: int, columns: int, bits: int = 12, seed: int = 7) -> np.ndarray:
    """A smooth, noisy image with bright tooth-like blobs, in ``bits`` stored bits."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float64)
    image = 0.25 + 0.1 * np.sin(x / columns * 3.0) * np.cos(y / rows * 2.0)
    for i in range(4):
        cx = columns * (0.2 + 0.2 * i)
        cy = rows * 0.45
        crown = np.exp(-(((x - cx) / (columns * 0.07)) ** 2 + ((y - cy) / (rows * 0.18)) ** 2))
        pulp = np.exp(-(((x - cx) / (columns * 0.02)) ** 2 + ((y - cy) / (rows * 0.12)) ** 2))
        image += 0.6 * crown - 0.25 * pulp
    image += rng.normal(0, 0.01, image.shape)
    top = 2**bits - 1
    return np.clip(image / image.max() * top * 0.95, 0, top).astype(np.uint16)


def make_dataset(
    pixels: np.ndarray,
    *,
    modality: str = "IO",
    sop_class: str = DigitalIntraOralXRayImageStorageForPresentation,
    bits_stored: int = 12,
    photometric: str = "MONOCHROME2",
    imager_spacing: Sequence[float] | None = (0.02, 0.02),
    pixel_spacing: Sequence[float] | None = None,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    patient: dict[str, str] | None = None,
    study_uid: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Dataset:
    """A valid uncompressed DICOM dataset around ``pixels`` (frames × rows × columns, or 2-D)."""
    frames = 1 if pixels.ndim == 2 else pixels.shape[0]
    rows, columns = pixels.shape[-2:]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    sop_instance = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = sop_instance
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.StudyDate = "20260312"
    ds.ContentDate = "20260312"
    for keyword, value in (patient if patient is not None else FAKE_PATIENT).items():
        setattr(ds, keyword, value)
    ds.Rows, ds.Columns = rows, columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16 if bits_stored > 8 else 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if imager_spacing is not None:
        ds.ImagerPixelSpacing = [str(v) for v in imager_spacing]
    if pixel_spacing is not None:
        ds.PixelSpacing = [str(v) for v in pixel_spacing]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    dtype = (
        np.uint8 if ds.BitsAllocated == 8 else (np.int16 if ds.PixelRepresentation else np.uint16)
    )
    ds.PixelData = np.ascontiguousarray(pixels.astype(dtype)).tobytes()
    return ds


def write(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def intraoral(path: Path, **kwargs: Any) -> Path:
    """An IO-like radiograph: 12 bits stored in 16, detector spacing."""
    rows, columns = kwargs.pop("size", (120, 160))
    return write(make_dataset(tooth_phantom(rows, columns), **kwargs), path)


def secondary_capture(path: Path, **kwargs: Any) -> Path:
    """An 8-bit secondary capture, the kind screen exports produce (burned-in text likely)."""
    pixels = (tooth_phantom(100, 140, bits=8)).astype(np.uint8)
    kwargs.setdefault("imager_spacing", None)
    return write(
        make_dataset(
            pixels, modality="OT", sop_class=SecondaryCaptureImageStorage, bits_stored=8, **kwargs
        ),
        path,
    )
