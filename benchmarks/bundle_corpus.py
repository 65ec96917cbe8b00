"""Benchmark inputs: uncompressed radiographs as practices send them.

Real CR images from pydicom-data (RG1: 15 bits stored, noisy; RG3: 10 bits) and synthetic
intraoral (IO, 1500×1000) and panoramic (PX, 2900×1450) images with 12 bits stored in 16,
anatomy-like structure and sensor noise. The synthetic images are made once per seed and cached
in the benchmark folder, so runs compare like with like.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DigitalIntraOralXRayImageStorageForPresentation,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
)

#: Sensor noise, in 12-bit stored values (a typical CMOS intraoral sensor at clinical dose).
NOISE = 18.0


def real_radiographs() -> list[Path]:
    """pydicom-data's uncompressed CR images (the test extra installs pydicom-data)."""
    from pydicom.data import get_testdata_file

    paths = []
    for name in ("RG1_UNCI.dcm", "RG3_UNCI.dcm"):
        found = get_testdata_file(name)
        if found is None:
            raise SystemExit(f"pydicom-data's {name} is missing: pip install pydicom-data")
        paths.append(Path(str(found)))
    return paths


@functools.cache
def _structure(rows: int, columns: int, teeth: int) -> np.ndarray:
    """Smooth structure: soft tissue gradient, bone, crowns with pulp (made once per shape)."""
    rng = np.random.default_rng(teeth)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float32)
    image = 900 + 500 * np.sin(x / columns * 2.5) * np.cos(y / rows * 1.7)
    image += 700 * np.exp(-(((y - rows * 0.75) / (rows * 0.2)) ** 2))
    for i in range(teeth):
        cx = columns * (i + 0.5) / teeth + rng.normal(0, columns * 0.01)
        cy = rows * 0.45
        wx, wy = columns / teeth * 0.33, rows * 0.28
        crown = np.exp(-(((x - cx) / wx) ** 4 + ((y - cy) / wy) ** 2))
        pulp = np.exp(-(((x - cx) / (wx * 0.25)) ** 2 + ((y - cy - rows * 0.05) / (wy * 0.7)) ** 2))
        image += 1900 * crown - 600 * pulp
    return image


def anatomy(rows: int, columns: int, rng: np.random.Generator, teeth: int) -> np.ndarray:
    """The structure, shifted a little, plus this image's own sensor noise, in 12 bits."""
    image = np.roll(_structure(rows, columns, teeth), int(rng.integers(0, columns // 10)), axis=1)
    image = image * float(rng.uniform(0.9, 1.05)) + rng.normal(0, NOISE, image.shape)
    return np.clip(image, 0, 4095).astype(np.uint16)


def _dicom(pixels: np.ndarray, modality: str, sop_class: str, spacing: float, seed: int) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    uid = f"2.25.{seed + 1000}"
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = f"2.25.{seed + 2000}"
    ds.SeriesInstanceUID = f"2.25.{seed + 3000}"
    ds.Modality = modality
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.ImagerPixelSpacing = [str(spacing), str(spacing)]
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = pixels.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def synthetic(folder: Path, kind: str, seed: int) -> Path:
    """An IO (1500×1000) or PX (2900×1450) radiograph, made once and cached."""
    path = folder / f"{kind}-{seed:03d}.dcm"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    if kind == "IO":
        data = _dicom(anatomy(1000, 1500, rng, 3), "IO",
                      DigitalIntraOralXRayImageStorageForPresentation, 0.02, seed)
    else:
        data = _dicom(anatomy(1450, 2900, rng, 14), "PX",
                      DigitalXRayImageStorageForPresentation, 0.1, seed)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def mixed_set(folder: Path) -> list[Path]:
    """A referral's worth: the two real CRs, four intraorals and one panoramic (≈ 33 MB)."""
    return [
        *real_radiographs(),
        *(synthetic(folder, "IO", seed) for seed in range(4)),
        synthetic(folder, "PX", 100),
    ]


def volume(folder: Path, megabytes: int) -> list[Path]:
    """About ``megabytes`` MB of intraoral and panoramic files (distinct pixels each)."""
    paths: list[Path] = []
    total = 0
    seed = 0
    while total < megabytes * 1_000_000:
        kind = "PX" if seed % 4 == 3 else "IO"
        path = synthetic(folder, kind, 200 + seed)
        paths.append(path)
        total += path.stat().st_size
        seed += 1
    return paths
