"""Synthetic demo radiographs: what ``dentsend --demo`` opens and the self-test packs.

The files in ``resources/samples/`` are made by this module (``python -m dentsend.samples``
rewrites them, byte for byte the same: fixed seeds, fixed UIDs, fixed dates). They carry a FAKE
patient ("DEMO^PATIENT") in every place a real export would, so the de-identification is visible
in the app, and they look like radiographs so a newcomer sees what the viewer does:

- an intraoral periapical (IO, 12 bits stored in 16, ImagerPixelSpacing: "mm at detector"),
- a bitewing (IO),
- a panoramic (PX) with BurnedInAnnotation YES and the fake name burned into the pixels,
- a multi-frame stack of cone-beam-like axial slices (PixelSpacing: calibrated mm),
- a JPEG export with EXIF and a comment naming the fake patient (no spacing: pixels).

The pictures are drawn with numpy: teeth are tapered shapes with a bright enamel cap, dentine,
a dark pulp and canal, set in trabecular bone, with detector noise. Together the files stay
well under 2 MB, since they ship with the app.
"""

from __future__ import annotations

import argparse
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.float64]

#: The fake patient every sample names; tests search outputs for these.
FAKE_PATIENT_NAME = "DEMO^PATIENT"
FAKE_PATIENT_ID = "DEMO-0001"
FAKE_BIRTH_DATE = "19700101"
FAKE_PRACTICE = "Demo Dental Practice"

#: File names in ``resources/samples/`` (they carry the fake name, as real exports often do).
SAMPLE_NAMES = (
    "DEMO_PATIENT-intraoral.dcm",
    "DEMO_PATIENT-bitewing.dcm",
    "DEMO_PATIENT-panoramic.dcm",
    "DEMO_PATIENT-cbct-slices.dcm",
    "DEMO_PATIENT-export.jpg",
)

_UID_ROOT = "1.2.826.0.1.3680043.10.1338."  # a fixed root, so regenerated files are identical
_STUDY_UID = _UID_ROOT + "1.1"
_DATE = "20240312"


def sample_paths() -> list[Path]:
    """The shipped samples, in the order the demo shows them."""
    from dentsend.resources import resource_path

    return [resource_path("samples", name) for name in SAMPLE_NAMES]


# --------------------------------------------------------------------------------------------
# drawing helpers


def _gaussian_kernel(sigma: float) -> Array:
    radius = max(1, math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel: Array = np.exp(-(x**2) / (2 * sigma * sigma))
    return kernel / float(kernel.sum())


def blur(image: Array, sigma: float) -> Array:
    """A separable Gaussian blur with edge padding (Pillow's blur takes no float images)."""
    if sigma <= 0:
        return image
    kernel = _gaussian_kernel(sigma)
    pad = len(kernel) // 2
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(pad, pad) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        out = np.apply_along_axis(
            lambda line: np.convolve(line, kernel, mode="valid"), axis, padded
        )
    return out


def _soft(distance: Array, edge: float = 1.0) -> Array:
    """Coverage 0…1 from a signed distance (negative inside), anti-aliased over ``edge`` px."""
    return np.clip(0.5 - distance / edge, 0.0, 1.0)


def _texture(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> Array:
    """Band-passed noise thresholded into struts: trabecular bone at a glance."""
    noise = rng.standard_normal(shape)
    band = blur(noise, scale) - blur(noise, scale * 2.5)
    band /= band.std() + 1e-9
    return np.clip(0.5 + 0.5 * np.tanh(1.5 * band), 0.0, 1.0)


@dataclass(frozen=True)
class Tooth:
    """A tooth along an axis: ``(x, y)`` is the middle of the biting edge, ``angle`` in degrees
    (0: crown up, root down; 180: an upper tooth, root up)."""

    x: float
    y: float
    width: float
    length: float
    crown: float = 0.33
    """Share of the length that is crown."""
    roots: int = 1
    angle: float = 0.0
    filling: float = 0.0
    """Width share of an amalgam filling in the crown (0: none)."""


def _smooth_min(a: Array, b: Array, k: float) -> Array:
    """Union of two distance fields with a rounded join of about ``k`` px (the tooth's neck)."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k / 4.0


def _superellipse(u: Array, v: Array, centre: float, half_u: float, half_v: float) -> Array:
    """Approximate signed distance to a rounded box (a crown, a pulp chamber)."""
    power = 2.6
    r = (np.abs((u - centre) / half_u) ** power + np.abs(v / half_v) ** power) ** (1 / power)
    return (r - 1.0) * min(half_u, half_v)


def _roots(u: Array, v: Array, tooth: Tooth, start: float, end: float, half_width: float) -> Array:
    """Signed distance to the tooth's roots: tapered, slightly curved, with rounded apices."""
    t = (u - start) / (end - start)
    inside = (t >= 0) & (t <= 1)
    tc = np.clip(t, 0.0, 1.0)
    profile = half_width * np.sqrt(np.clip(1.0 - tc**2.4, 0.0, 1.0)) * (1.0 - 0.3 * tc)
    bend = tooth.width * 0.05 * tc**2
    if tooth.roots == 1:
        across = np.abs(v - bend) - profile
    else:
        spread = tooth.width * (0.17 + 0.1 * tc**0.8)
        across = np.minimum(np.abs(v - bend - spread), np.abs(v - bend + spread)) - profile * 0.62
    return np.where(inside, across, np.maximum(across, np.abs(t - 0.5) * (end - start)))


def _tooth_layers(tooth: Tooth, yy: Array, xx: Array) -> tuple[Array, Array, Array, Array]:
    """Coverage of (whole tooth, enamel, pulp, filling) for one tooth."""
    theta = math.radians(tooth.angle)
    dx, dy = xx - tooth.x, yy - tooth.y
    u = dy * math.cos(theta) - dx * math.sin(theta)  # along the axis, from the biting edge
    v = dx * math.cos(theta) + dy * math.sin(theta)  # across
    length, width = tooth.length, tooth.width
    crown = tooth.crown * length
    crown_d = _superellipse(u, v, crown * 0.5, crown * 0.55, width * 0.5)
    roots_d = _roots(u, v, tooth, crown * 0.55, length, width * 0.36)
    whole_d = _smooth_min(crown_d, roots_d, width * 0.18)
    whole = _soft(whole_d, 1.2)
    # Enamel: the crown's outer shell, thickest on the biting surface, ending at the neck.
    thickness = width * (0.07 + 0.06 * np.clip(1.0 - u / crown, 0.0, 1.0))
    enamel = (_soft(crown_d, 1.2) - _soft(crown_d + thickness, 1.5)) * _soft(u - crown * 0.9, 3.0)
    enamel = np.clip(enamel, 0.0, 1.0)
    # Pulp: a chamber with rounded horns under the crown, a canal down each root.
    chamber = _superellipse(u, v, crown * 0.8, crown * 0.2, width * 0.13)
    canal = _roots(u, v, tooth, crown * 0.85, length * 0.96, width * 0.05)
    pulp = _soft(_smooth_min(chamber, canal, width * 0.08), 1.0)
    filling = np.zeros_like(whole)
    if tooth.filling:
        fill_d = _superellipse(u, v, crown * 0.12, crown * 0.3, width * tooth.filling / 2)
        filling = _soft(fill_d, 1.0) * whole
    return whole, enamel, pulp, filling


def draw_teeth(shape: tuple[int, int], teeth: Sequence[Tooth]) -> tuple[Array, Array, Array]:
    """Density of the teeth (0 outside), their coverage, and the root sockets' outline.

    Densities: enamel 1.0, dentine 0.72, pulp 0.3, amalgam 1.6 (clipped by the detector later).
    The outline is a dark periodontal ligament ring with a bright lamina dura around it.
    """
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    density = np.zeros(shape)
    cover = np.zeros(shape)
    for tooth in teeth:
        whole, enamel, pulp, filling = _tooth_layers(tooth, yy, xx)
        tooth_density = 0.68 * whole + 0.3 * enamel - 0.36 * pulp * whole + 0.9 * filling
        density = np.maximum(density, tooth_density)
        cover = np.maximum(cover, whole)
    grown = blur(cover, 2.0)
    ligament = np.clip(grown * 2.2, 0, 1) * (1 - cover)
    lamina = np.clip(blur(cover, 4.0) * 3.0, 0, 1) * (1 - np.clip(grown * 2.2, 0, 1))
    outline = lamina * 0.18 - ligament * 0.22
    return density, cover, outline


def to_detector(
    density: Array, rng: np.random.Generator, *, bits: int = 12, noise: float = 0.012
) -> NDArray[np.uint16]:
    """Densities (0 air … 1 enamel) → stored detector values with quantum noise."""
    top = 2**bits - 1
    density = blur(density, 0.8)  # the detector's blur softens every edge a little
    signal = np.clip(density, 0.0, 1.35) / 1.35
    signal = signal + rng.normal(0.0, noise, density.shape) * (0.4 + signal)
    values = 0.04 * top + signal * 0.9 * top
    stored: NDArray[np.uint16] = np.clip(np.rint(values), 0, top).astype(np.uint16)
    return stored


# --------------------------------------------------------------------------------------------
# the pictures


def intraoral_image(rng: np.random.Generator) -> Array:
    """A lower-right periapical: two premolars and a first molar with a filling."""
    rows, cols = 400, 300
    teeth = [
        Tooth(x=58, y=70, width=64, length=300, crown=0.3, angle=-4),
        Tooth(x=128, y=66, width=70, length=300, crown=0.3, angle=-1),
        Tooth(x=222, y=62, width=112, length=275, crown=0.31, roots=2, angle=3, filling=0.45),
    ]
    return _periapical(rng, (rows, cols), teeth, crest=150)


def upper_anterior_image(rng: np.random.Generator) -> Array:
    """An upper anterior periapical (crowns at the bottom) for the JPEG export."""
    rows, cols = 420, 300
    teeth = [
        Tooth(x=40, y=345, width=56, length=330, crown=0.34, angle=174),
        Tooth(x=112, y=352, width=72, length=340, crown=0.35, angle=178),
        Tooth(x=190, y=352, width=72, length=340, crown=0.35, angle=182),
        Tooth(x=262, y=345, width=56, length=330, crown=0.34, angle=186),
    ]
    return _periapical(rng, (rows, cols), teeth, crest=260, flipped=True)


def _periapical(
    rng: np.random.Generator,
    shape: tuple[int, int],
    teeth: Sequence[Tooth],
    *,
    crest: float,
    flipped: bool = False,
) -> Array:
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    wave = 8 * np.sin(xx / cols * math.pi * 3)
    bone_edge = (yy - crest - wave) if not flipped else (crest + wave - yy)
    bone = _soft(-bone_edge, 10.0)
    texture = _texture(rng, shape, 1.4)
    tissue = 0.16 + 0.05 * _soft(-bone_edge - 60, 40.0)
    background = tissue + bone * (0.24 + 0.11 * texture)
    density, cover, outline = draw_teeth(shape, teeth)
    image = background * (1 - cover) + density + outline * bone
    # Exposure falls off towards the sensor's corners; the corners themselves are cut.
    falloff = 1.0 - 0.12 * (((xx - cols / 2) / cols) ** 2 + ((yy - rows / 2) / rows) ** 2)
    image *= falloff
    corner = 26.0
    cut = np.minimum.reduce([xx + yy, cols - xx + yy, xx + rows - yy, cols - xx + rows - yy])
    return image * _soft(corner - cut, 2.0)


def bitewing_image(rng: np.random.Generator) -> Array:
    """Upper and lower premolars and molars biting together, crowns in the middle."""
    rows, cols = 300, 400
    bite = 150.0
    upper = [
        Tooth(x=50, y=bite - 4, width=66, length=220, crown=0.36, angle=182),
        Tooth(x=122, y=bite - 3, width=70, length=220, crown=0.36, angle=180),
        Tooth(x=218, y=bite - 2, width=112, length=210, crown=0.37, roots=2, angle=178),
        Tooth(x=336, y=bite - 4, width=108, length=200, crown=0.38, roots=2, angle=176),
    ]
    lower = [
        Tooth(x=66, y=bite + 4, width=64, length=230, crown=0.34, angle=-2),
        Tooth(x=142, y=bite + 4, width=68, length=230, crown=0.34, angle=0, filling=0.35),
        Tooth(x=244, y=bite + 3, width=118, length=215, crown=0.35, roots=2, angle=2),
        Tooth(x=364, y=bite + 5, width=110, length=205, crown=0.36, roots=2, angle=4),
    ]
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    texture = _texture(rng, (rows, cols), 1.4)
    crest_up = bite - 100 + 5 * np.sin(xx / 60)
    crest_down = bite + 98 + 5 * np.cos(xx / 55)
    bone = _soft(yy - crest_up, 8.0) + _soft(crest_down - yy, 8.0)
    background = 0.14 + bone * (0.24 + 0.11 * texture)
    density, cover, outline = draw_teeth((rows, cols), upper + lower)
    image = background * (1 - cover) + density + outline * bone
    falloff = 1.0 - 0.10 * (((xx - cols / 2) / cols) ** 2 + ((yy - rows / 2) / rows) ** 2)
    result: Array = image * falloff
    return result


def panoramic_image(rng: np.random.Generator) -> Array:
    """Both jaws unrolled: 28 teeth on a smiling occlusal curve, mandible, sinuses, spine."""
    rows, cols = 440, 880
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    mid = cols / 2
    rel = (xx - mid) / (cols * 0.5)

    def occlusal(x: float) -> float:
        r = (x - mid) / (cols * 0.5)
        return 215.0 - 55.0 * r * r

    widths = [30, 28, 34, 38, 38, 58, 60]  # central incisor … second molar, per side
    teeth: list[Tooth] = []
    for side in (-1, 1):
        position = mid + side * 4
        for index, width in enumerate(widths):
            cx = position + side * width / 2
            position += side * (width + 3)
            slope = math.degrees(math.atan(-2 * 55.0 * (cx - mid) / (cols * 0.5) ** 2))
            roots = 2 if index >= 5 else 1
            filling = 0.45 if (side, index) in ((1, 5), (-1, 6)) else 0.0
            bite = occlusal(cx)
            teeth.append(
                Tooth(cx, bite - 3, width, 150 - 6 * (index >= 5), 0.33, roots, 180 + slope)
            )
            teeth.append(
                Tooth(
                    cx, bite + 3, width * 0.95, 158 - 8 * (index >= 5), 0.31, roots, slope, filling
                )
            )
    density, cover, outline = draw_teeth((rows, cols), teeth)
    texture = _texture(rng, (rows, cols), 1.5)
    # Mandible: a U whose lower border is bright cortical bone, rising into the rami and
    # ending in the condyles near the top corners. Distances in pixels; ``side`` from the middle.
    arel = np.abs(rel)
    side = arel * cols / 2
    bite = 215.0 - 55.0 * rel**2
    lower_border = 412 - 150 * arel**3
    mandible = _soft(yy - lower_border, 5.0) * _soft(bite + 25 - yy, 10.0)
    ramus_centre = cols / 2 * (0.9 - 0.04 * (1 - yy / rows))
    ramus = _soft(np.abs(side - ramus_centre) - 26, 8.0) * _soft(60 - yy, 12.0)
    ramus *= _soft(yy - lower_border, 5.0)
    condyle = _soft(np.hypot((side - cols / 2 * 0.87) / 30, (yy - 62) / 20) - 1, 0.08)
    jaw = np.clip(mandible + ramus + condyle, 0, 1)
    cortex = _soft(np.abs(yy - lower_border) - 4, 2.5) * _soft(side - cols / 2 * 0.93, 6)
    cortex += (
        _soft(np.abs(side - ramus_centre - 25) - 3, 2.5)
        * _soft(yy - lower_border, 5.0)
        * _soft(70 - yy, 10.0)
    )
    # Upper jaw: alveolar bone around the upper roots, the hard palate above, sinuses beside.
    maxilla = _soft(yy - (bite - 25), 10.0) * _soft(bite - 185 - yy, 15.0)
    maxilla *= _soft(side - cols / 2 * 0.74, 12.0)
    palate = _soft(np.abs(yy - (bite - 170)) - 4, 2.5) * _soft(side - cols / 2 * 0.66, 8)
    sinus = sum(
        _soft(np.hypot((xx - mid - s * 220) / 100, (yy - 85) / 40) - 1, 0.05) for s in (-1, 1)
    )
    airway = _soft(np.abs(yy - (bite - 150)) - 6, 4.0) * _soft(side - cols / 2 * 0.7, 10)
    bone = np.clip(jaw + maxilla, 0, 1)
    background = 0.13 + bone * (0.24 + 0.12 * texture) + np.clip(cortex, 0, 1) * 0.3
    background += palate * 0.3 + condyle * 0.08
    background -= 0.1 * np.asarray(sinus) * maxilla + 0.05 * airway
    image = background * (1 - cover) + density + outline * bone
    image *= 1.0 - 0.15 * rel**2
    return image


def cbct_slices(rng: np.random.Generator, frames: int = 8) -> list[Array]:
    """Axial slices through a mandible, from the crowns down into the roots."""
    size = 128
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    slices = []
    texture = _texture(rng, (size, size), 1.6)
    for index in range(frames):
        depth = index / (frames - 1)
        # A horseshoe: points at distance ~radius from a centre low in the picture.
        cx, cy = size / 2, size * 0.86
        radius_x, radius_y = size * 0.36, size * 0.62
        ring = np.hypot((xx - cx) / radius_x, (yy - cy) / radius_y)
        front = yy < cy
        arch = _soft(np.abs(ring - 1) * radius_x - 9, 1.5) * front
        cortical = _soft(np.abs(np.abs(ring - 1) * radius_x - 9) - 1.8, 1.0) * front
        image = 0.08 + arch * (0.28 + 0.16 * texture) * (0.5 + 0.5 * depth) + cortical * 0.25
        # Teeth: circles on the arch, shrinking from crowns (wide, enamel) to roots.
        for k in range(12):
            angle = math.pi * (0.07 + 0.86 * k / 11)
            tx = cx - math.cos(angle) * radius_x
            ty = cy - math.sin(angle) * radius_y
            r = (3.6 + 2.6 * (abs(k - 5.5) > 3.5)) * (1.25 - 0.7 * depth)
            d = np.hypot(xx - tx, yy - ty)
            tooth = _soft(d - r, 0.8)
            canal = _soft(d - r * 0.28, 0.6)
            enamel = (1 - depth) * _soft(np.abs(d - r * 0.88) - r * 0.14, 0.7)
            image = image * (1 - tooth) + tooth * (0.72 + 0.3 * enamel - 0.4 * canal)
        slices.append(image)
    return slices


# --------------------------------------------------------------------------------------------
# files


def _base_dataset(sop_class: str, instance: int, modality: str) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    sop_instance = UID(f"{_UID_ROOT}2.{instance}")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.SourceApplicationEntityTitle = "DEMO_PACS"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyInstanceUID = _STUDY_UID
    ds.SeriesInstanceUID = f"{_UID_ROOT}3.{instance}"
    ds.FrameOfReferenceUID = f"{_UID_ROOT}4.{instance}"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = _DATE
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = f"0930{instance % 60:02d}"
    ds.AccessionNumber = "DEMO-ACC-42"
    ds.Modality = modality
    ds.Manufacturer = "Demo Imaging"
    ds.InstitutionName = FAKE_PRACTICE
    ds.InstitutionAddress = "1 Demo Street, Demo Town"
    ds.StationName = "DEMO-XRAY-1"
    ds.ReferringPhysicianName = "DEMO^REFERRER"
    ds.OperatorsName = "DEMO^ASSISTANT"
    ds.StudyDescription = f"Dental X-ray of {FAKE_PATIENT_NAME}"
    ds.DeviceSerialNumber = "DEMO-SN-0042"
    ds.PatientName = FAKE_PATIENT_NAME
    ds.PatientID = FAKE_PATIENT_ID
    ds.PatientBirthDate = FAKE_BIRTH_DATE
    ds.PatientSex = "O"
    ds.PatientAge = "054Y"
    ds.PatientAddress = "1 Demo Street, Demo Town"
    ds.StudyID = "1"
    ds.SeriesNumber = instance
    ds.InstanceNumber = 1
    ds.ImageComments = f"Synthetic demo image; patient {FAKE_PATIENT_NAME}, born 1970-01-01"
    # A vendor's private block repeating the patient, as real ones do.
    block = ds.private_block(0x0009, "DEMO IMAGING 1.0", create=True)
    block.add_new(0x10, "LO", FAKE_PATIENT_NAME)
    block.add_new(0x11, "LO", FAKE_PATIENT_ID)
    return ds


def _set_pixels(ds: Any, frames: Sequence[NDArray[np.uint16]], bits_stored: int) -> None:
    first = frames[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = first.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    ds.PixelData = b"".join(np.ascontiguousarray(f, dtype="<u2").tobytes() for f in frames)


def _write_dicom(ds: Any) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _window(ds: Any, values: NDArray[np.uint16]) -> None:
    low, high = np.percentile(values, (0.5, 99.5))
    ds.WindowCenter = f"{(low + high) / 2:.0f}"
    ds.WindowWidth = f"{high - low:.0f}"
    ds.WindowCenterWidthExplanation = "DEMO DEFAULT"


def intraoral_dicom() -> bytes:
    rng = np.random.default_rng(11)
    values = to_detector(intraoral_image(rng), rng)
    ds = _base_dataset("1.2.840.10008.5.1.4.1.1.1.3", 1, "IO")
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ImagerPixelSpacing = [0.074, 0.074]
    ds.BurnedInAnnotation = "NO"
    ds.PositionerType = "NONE"
    ds.ImageLaterality = "R"
    ds.BodyPartExamined = "JAW"
    _set_pixels(ds, [values], 12)
    _window(ds, values)
    return _write_dicom(ds)


def bitewing_dicom() -> bytes:
    rng = np.random.default_rng(12)
    values = to_detector(bitewing_image(rng), rng)
    ds = _base_dataset("1.2.840.10008.5.1.4.1.1.1.3", 2, "IO")
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ImagerPixelSpacing = [0.074, 0.074]
    ds.BurnedInAnnotation = "NO"
    ds.PositionerType = "NONE"
    ds.ImageLaterality = "L"
    _set_pixels(ds, [values], 12)
    _window(ds, values)
    return _write_dicom(ds)


def burn_in_text(values: NDArray[np.uint16], lines: Sequence[tuple[int, int, str, int]]) -> None:
    """Write text into the pixels at full brightness, as panoramic units do with the name."""
    from PIL import Image, ImageDraw, ImageFont

    mask = Image.new("L", (values.shape[1], values.shape[0]), 0)
    draw = ImageDraw.Draw(mask)
    for x, y, text, size in lines:
        draw.text((x, y), text, fill=255, font=ImageFont.load_default(size))
    coverage = np.asarray(mask, dtype=np.float64) / 255.0
    top = float(values.max())
    values[...] = np.rint(values * (1 - coverage) + top * coverage).astype(np.uint16)


def panoramic_dicom() -> bytes:
    rng = np.random.default_rng(13)
    values = to_detector(panoramic_image(rng), rng)
    burn_in_text(
        values,
        [
            (12, 8, f"{FAKE_PATIENT_NAME}   ID {FAKE_PATIENT_ID}", 15),
            (12, 26, "DOB 01.01.1970   12.03.2024 09:30", 15),
            (14, 400, "R", 26),
            (850, 400, "L", 26),
        ],
    )
    ds = _base_dataset("1.2.840.10008.5.1.4.1.1.1.1", 3, "PX")
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.BurnedInAnnotation = "YES"
    ds.PositionerType = "NONE"
    _set_pixels(ds, [values], 12)
    _window(ds, values)
    return _write_dicom(ds)


def cbct_dicom() -> bytes:
    rng = np.random.default_rng(14)
    frames = [to_detector(s, rng, noise=0.02) for s in cbct_slices(rng)]
    ds = _base_dataset("1.2.840.10008.5.1.4.1.1.7.3", 4, "CT")
    ds.ConversionType = "WSD"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"  # eight slices of a jaw: no face can be rendered
    ds.PixelSpacing = [0.3, 0.3]
    ds.SliceThickness = "0.3"
    ds.SeriesDescription = "CBCT axial slices (synthetic)"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.FrameIncrementPointer = 0x00280009  # frames are simply numbered
    _set_pixels(ds, frames, 12)
    _window(ds, np.stack(frames))
    return _write_dicom(ds)


def jpeg_export() -> bytes:
    """What "export as JPEG" from imaging software gives: 8-bit, with the patient in EXIF."""
    from PIL import Image

    rng = np.random.default_rng(15)
    values = to_detector(upper_anterior_image(rng), rng, bits=8, noise=0.015)
    low, high = np.percentile(values, (0.5, 99.5))
    stretched = np.clip((values - low) / max(high - low, 1) * 255, 0, 255).astype(np.uint8)
    image = Image.fromarray(stretched, mode="L")
    exif = Image.Exif()
    exif[0x010E] = f"{FAKE_PATIENT_NAME} upper anterior"  # ImageDescription
    exif[0x013B] = "DEMO PATIENT"  # Artist
    exif[0x010F] = "Demo Imaging"  # Make
    exif[0x0110] = "Demo Sensor 2"  # Model
    exif[0x0131] = "Demo Imaging Suite 4.2"  # Software
    exif[0x0132] = "2024:03:12 09:31:00"  # DateTime
    exif[0x8298] = FAKE_PRACTICE  # Copyright
    out = io.BytesIO()
    image.save(
        out,
        format="JPEG",
        quality=88,
        exif=exif.tobytes(),
        comment=f"Patient {FAKE_PATIENT_NAME}, ID {FAKE_PATIENT_ID}",
    )
    return out.getvalue()


_MAKERS = {
    "DEMO_PATIENT-intraoral.dcm": intraoral_dicom,
    "DEMO_PATIENT-bitewing.dcm": bitewing_dicom,
    "DEMO_PATIENT-panoramic.dcm": panoramic_dicom,
    "DEMO_PATIENT-cbct-slices.dcm": cbct_dicom,
    "DEMO_PATIENT-export.jpg": jpeg_export,
}


def write_samples(folder: Path) -> list[Path]:
    """Write every sample into ``folder`` (atomically) and return their paths."""
    from dentsend.atomic import atomic_write

    written = []
    for name in SAMPLE_NAMES:
        data = _MAKERS[name]()
        with atomic_write(folder / name) as out:
            out.write(data)
        (folder / name).chmod(0o644)  # shipped data, not a private output
        written.append(folder / name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dentsend.samples",
        description="Write the synthetic demo radiographs (fake patient DEMO^PATIENT).",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="folder (default: resources/samples)"
    )
    args = parser.parse_args(argv)
    if args.output is None:
        from dentsend.resources import resources_dir

        args.output = resources_dir() / "samples"
    total = 0
    for path in write_samples(args.output):
        size = path.stat().st_size
        total += size
        print(f"{path}  {size / 1024:.0f} KiB")
    print(f"total {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
