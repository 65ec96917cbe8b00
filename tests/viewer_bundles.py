"""Real bundles for the viewer tests: synthetic radiographs packed by the real Python writer.

Each input is small (the browser tests must stay fast) but shaped like what practices send and
chosen so a user-visible property can be checked on the canvas:

- ``IO-01.dcm``: intraoral, 12 bits stored in 16, ImagerPixelSpacing ("mm at detector"), a window;
- ``PS-01.dcm``: PixelSpacing 0.1 mm (calibrated: plain "mm");
- ``MF-01.dcm``: three frames of clearly different brightness, no spacing ("px");
- ``M1-01.dcm``: MONOCHROME1, left half low values and right half high: low must show light;
- ``DEPTH-01.dcm``: values 2000 | 2004 under a 4-wide window: only a viewer that windows the
  real 12-bit values shows black | white (an 8-bit preview holds one grey for both);
- a JPEG named ``<img src=x onerror=alert(1)>.jpg`` (names are kept in the keep-metadata mode),
  stored on its side with an EXIF orientation the browser must apply.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

import dicom_factory
from dentsend.bundle import write_bundle
from dentsend.bundle.format import MIN_ITERATIONS
from dentsend.intake import Radiograph, load_bytes

PASSPHRASE = "glacier  Thimble orbit lantern"
CREATED = datetime(2026, 11, 29, 10, 12, 30, tzinfo=UTC)
SENDER = "Smile Dental Practice"
HOSTILE_NAME = "<img src=x onerror=alert(1)>.jpg"
HOSTILE_NOTE = (
    'Please check 36 distal.\n<img src=x onerror=alert("note")><script>alert(2)</script>'
    ' & "quoted" </textarea>'
)
#: Spacing of PS-01.dcm (PixelSpacing) and IO-01.dcm (ImagerPixelSpacing), mm per pixel.
PS_SPACING = 0.1
IO_SPACING = 0.05


@dataclass(frozen=True)
class Input:
    """A file as the payload takes it (the ``CleanFile`` shape): name, bytes, radiograph."""

    name: str
    data: bytes
    radiograph: Radiograph | None


def _dicom(pixels: np.ndarray, **kwargs: object) -> bytes:
    ds = dicom_factory.make_dataset(pixels, patient={}, **kwargs)  # type: ignore[arg-type]
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _jpeg() -> bytes:
    """64×48 stored, EXIF orientation 6 (turn 90° clockwise): shown 48 wide and 64 tall."""
    ramp = np.tile(np.linspace(30, 220, 64, dtype=np.uint8), (48, 1))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.fromarray(ramp, mode="L").save(out, format="JPEG", quality=90, exif=exif)
    return out.getvalue()


def viewer_inputs(prefix: str = "", *, hostile: bool = True) -> list[Input]:
    """The test radiographs; ``prefix`` keeps download names unique in a shared browser."""
    halves = np.zeros((48, 64), dtype=np.uint16)
    halves[:, :32] = 100
    halves[:, 32:] = 4000
    depth = np.full((32, 64), 2000, dtype=np.uint16)
    depth[:, 32:] = 2004
    frames = np.stack([dicom_factory.tooth_phantom(60, 80, seed=3) // (k + 1) for k in range(3)])
    files = {
        "IO-01.dcm": _dicom(
            dicom_factory.tooth_phantom(90, 120),
            imager_spacing=(IO_SPACING, IO_SPACING),
            window=(2000, 3600),
        ),
        "PS-01.dcm": _dicom(
            dicom_factory.tooth_phantom(96, 96, seed=5),
            imager_spacing=None,
            pixel_spacing=(PS_SPACING, PS_SPACING),
        ),
        "MF-01.dcm": _dicom(frames, imager_spacing=None, window=(1000, 2000)),
        "M1-01.dcm": _dicom(halves, imager_spacing=None, photometric="MONOCHROME1"),
        "DEPTH-01.dcm": _dicom(depth, imager_spacing=None, window=(2002, 4)),
    }
    inputs = [Input(prefix + name, data, load_bytes(data, name)) for name, data in files.items()]
    if hostile:
        jpeg = _jpeg()
        inputs.append(Input(prefix + HOSTILE_NAME, jpeg, load_bytes(jpeg, "hostile.jpg")))
    return inputs


def write_viewer_bundle(path: Path, inputs: list[Input], *, note: str = HOSTILE_NOTE) -> Path:
    """A real bundle (the format engineer's writer) at the lowest allowed cost of unlocking."""
    write_bundle(
        path,
        inputs,
        PASSPHRASE,
        sender=SENDER,
        note=note,
        deidentification="identified",
        iterations=MIN_ITERATIONS,
        created=CREATED,
    )
    return path


_CHUNK = re.compile(rb'(<script type="application/octet-stream" class="dentsend-chunk">)([^<]+)')


def damaged_copy(source: Path, target: Path) -> Path:
    """The bundle with one ciphertext byte changed (its base64 still valid): "altered"."""
    page = source.read_bytes()
    match = _CHUNK.search(page)
    assert match is not None, "no chunk element in the bundle"
    position = match.start(2) + len(match.group(2)) // 2
    original = page[position : position + 1]
    flipped = b"B" if original != b"B" else b"C"
    target.write_bytes(page[:position] + flipped + page[position + 1 :])
    return target
