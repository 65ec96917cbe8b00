"""Burned-in text and faces: which files may show them, and painting redaction boxes over them.

Identifying text burned into the pixels (a name printed on a screenshot, a scanned film's label,
an ultrasound header) survives any metadata cleaning, and so does a face: in a photograph, or
rendered from the soft tissue of a CT or MR volume. A file that may show either is not sent
de-identified until the user either draws boxes over it or confirms it may go as it is.
Boxes are painted with the darkest display value on every frame; everything outside them stays
exactly as it was, so pixel data is written back losslessly (uncompressed DICOM, PNG for a JPEG).

Boxes are in stored-pixel coordinates (:class:`~dentsend.deid.Box`); what the user sees, and
draws on, is the image as displayed, turned by its EXIF orientation:
:func:`display_box_to_stored` converts.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dentsend.deid.options import Box
from dentsend.deid.raster import strip_metadata
from dentsend.deid.report import Change
from dentsend.errors import FileProblem
from dentsend.intake import Kind, Radiograph

if TYPE_CHECKING:
    import numpy as np
    from pydicom.dataset import Dataset

#: Secondary Capture classes: screenshots, scanned films, exports from viewing software.
SECONDARY_CAPTURE_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    }
)
#: Ultrasound classes: the scanner prints the patient's name in the image header as a rule.
ULTRASOUND_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6.1",
        "1.2.840.10008.5.1.4.1.1.6",
        "1.2.840.10008.5.1.4.1.1.3.1",
        "1.2.840.10008.5.1.4.1.1.3",
    }
)
#: Visible light photography (VL Endoscopic, Microscopic, Slide-Coordinates, Photographic,
#: the video and ophthalmic classes, Whole Slide, Dermoscopic): all under this prefix.
VISIBLE_LIGHT_PREFIX = "1.2.840.10008.5.1.4.1.1.77.1."
#: External camera photography, general microscopy, and the retired VL modality.
PHOTO_MODALITIES = frozenset({"XC", "GM", "VL"})
#: CT and MR volumes (a dental CBCT is stored as CT): a face can be rendered from the soft
#: tissue, so a full-head volume identifies the patient as surely as a photograph.
VOLUME_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.2",  # CT Image
        "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
        "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image
        "1.2.840.10008.5.1.4.1.1.4",  # MR Image
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
        "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR Image
    }
)
VOLUME_MODALITIES = frozenset({"CT", "MR"})


def needs_burned_in_check(radiograph: Radiograph) -> bool:
    """Whether the pixels may carry identifying text or a recognisable face.

    Plain images (JPEG, PNG, TIFF, BMP) carry no flag and are often screenshots, so always.
    DICOM: when BurnedInAnnotation or RecognizableVisualFeatures says YES; photographs (the
    visible light classes, modality XC/GM/VL) and CT/MR volumes unless RecognizableVisualFeatures
    says NO (BurnedInAnnotation NO says nothing about a face); and when BurnedInAnnotation is
    absent on the classes that usually carry text in the pixels (secondary capture, i.e.
    screen captures and scans, and ultrasound).
    """
    return _reason(radiograph) is not None


def burned_in_reason(radiograph: Radiograph) -> str:
    """Why :func:`needs_burned_in_check` said yes, with what to do on the command line."""
    why, face = _reason(radiograph) or ("may show identifying text", False)
    if face:
        what, confirm = "over the face and any identifying text", "confirm it may be sent as it is"
    else:
        what, confirm = "over identifying text", "confirm it holds none"
    return (
        f"{why}: draw redaction boxes {what} (--redact FILE:X,Y,W,H) or {confirm} "
        "(--confirm-no-burned-in)"
    )


def burned_in_check_reason(radiograph: Radiograph) -> str | None:
    """Why the pixels must be checked before the file is sent de-identified, as the end of a
    sentence about the file ("is a photograph, which may show the patient's face"); ``None``
    if they need no check. For the app to show next to the file."""
    found = _reason(radiograph)
    return found[0] if found else None


def may_show_face(radiograph: Radiograph) -> bool:
    """Whether the check is about a face: confirming then means "send it as it is", not
    "nothing in the pixels identifies the patient"."""
    found = _reason(radiograph)
    return found is not None and found[1]


def _reason(radiograph: Radiograph) -> tuple[str, bool] | None:
    """``(why the pixels must be checked, whether for a face)``, or ``None``."""
    screen = "is a screen capture or scan, which often has the patient's name in the image"
    if radiograph.kind is Kind.RASTER:
        return (
            f"is a plain {radiograph.format} image, which may be a screenshot with text in it",
            False,
        )
    flag = (radiograph.burned_in_annotation or "").strip().upper()
    if flag == "YES":
        return "says it has text burned into the image (BurnedInAnnotation YES)", False
    ds = radiograph.dataset
    features = str(ds.get("RecognizableVisualFeatures", "") if ds is not None else "")
    features = features.strip().upper()
    if features == "YES":
        return "says it shows recognisable features, so it may show the patient's face", True
    sop_class = (radiograph.sop_class_uid or "").strip()
    modality = (radiograph.modality or "").strip().upper()
    if features != "NO":
        if sop_class.startswith(VISIBLE_LIGHT_PREFIX) or modality in PHOTO_MODALITIES:
            return "is a photograph, which may show the patient's face", True
        if sop_class in VOLUME_CLASSES or modality in VOLUME_MODALITIES:
            return "is a CT or MR image, from whose volume the patient's face may be rendered", True
    if flag == "NO":
        return None
    if sop_class in SECONDARY_CAPTURE_CLASSES or sop_class in ULTRASOUND_CLASSES:
        return screen, False
    if ds is not None and ds.get("ConversionType"):
        return screen, False
    return None


def display_size(radiograph: Radiograph) -> tuple[int, int]:
    """``(width, height)`` of the image as displayed (EXIF orientation applied)."""
    from dentsend.render import display_size as size_as_displayed

    return size_as_displayed(radiograph.orientation, radiograph.rows, radiograph.columns)


def display_box_to_stored(box: Box, radiograph: Radiograph) -> Box:
    """A box drawn on the image as displayed (``dentsend preview``, the viewers, the app: EXIF
    orientation applied), in the stored-pixel coordinates that :class:`Box` and redaction use."""
    from dentsend.render import display_to_stored

    rect = (box.x, box.y, box.width, box.height)
    return Box(
        *display_to_stored(rect, radiograph.orientation, radiograph.rows, radiograph.columns)
    )


def check_boxes(radiograph: Radiograph, boxes: Sequence[Box]) -> None:
    for box in boxes:
        if not box.inside(radiograph.columns, radiograph.rows):
            raise FileProblem(
                radiograph.path,
                f"redaction box {box} lies outside the {radiograph.columns}×{radiograph.rows} "
                "image",
            )
    dataset = radiograph.dataset
    if (
        boxes
        and radiograph.kind is Kind.DICOM
        and dataset is not None
        and ("PixelData" not in dataset)
    ):
        raise FileProblem(
            radiograph.path, "holds floating-point pixel data, which cannot be redacted"
        )


# --------------------------------------------------------------------------------------------
# DICOM


def darkest_value(ds: Dataset, radiograph: Radiograph, values: np.ndarray) -> Any:
    """The stored value that displays darkest (black)."""
    import numpy as np

    photometric = radiograph.photometric
    if radiograph.samples_per_pixel > 1 or photometric.startswith(("RGB", "YBR")):
        return 0
    if photometric == "PALETTE COLOR":
        return _darkest_palette_entry(ds)
    bits = radiograph.bits_stored
    if np.issubdtype(values.dtype, np.floating):
        low, high = float(values.min()), float(values.max())
    elif radiograph.signed:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        low, high = 0, (1 << bits) - 1
    monochrome1 = photometric == "MONOCHROME1"
    tables = "ModalityLUTSequence" in ds or "VOILUTSequence" in ds
    if isinstance(low, int) and bits <= 16 and tables:
        # A lookup table may fall, or not be monotonic: try every stored value through it.
        shown = _shown_grey(ds, np.arange(low, high + 1, dtype=np.int64))
        return low + int(np.argmax(shown) if monochrome1 else np.argmin(shown))
    slope = float(ds.get("RescaleSlope", 1) or 1)
    inverted = monochrome1 != (slope < 0)
    return high if inverted else low


def _shown_grey(ds: Dataset, stored: np.ndarray) -> np.ndarray:
    """Stored values through the modality LUT and the first VOI LUT, where the viewers use it
    (when the file has no window; a window is monotonic: it cannot change which is darkest)."""
    import numpy as np
    from pydicom.pixels import apply_modality_lut, apply_voi

    shown = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    if "VOILUTSequence" in ds and "WindowCenter" not in ds:
        shown = np.asarray(apply_voi(shown, ds, index=0), dtype=np.float64)
    return shown


def _darkest_palette_entry(ds: Dataset) -> int:
    import numpy as np
    from pydicom.pixels import apply_color_lut

    count = int(ds.RedPaletteColorLookupTableDescriptor[0] or 65536)
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    indices = np.arange(first, first + count, dtype=np.uint16 if count > 256 else np.uint8)
    rgb = apply_color_lut(indices, ds).astype(np.float64)
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    return int(indices[int(np.argmin(luminance))])


def redact_dicom(
    target: Dataset, source: Dataset, radiograph: Radiograph, boxes: Sequence[Box]
) -> None:
    """Paint the boxes on every frame and store the pixels uncompressed (lossless)."""
    import numpy as np
    from pydicom.pixels import pack_bits
    from pydicom.uid import ExplicitVRLittleEndian

    frames = [np.array(radiograph.frame(i), copy=True) for i in range(radiograph.frames)]
    value = darkest_value(source, radiograph, frames[0])
    for frame in frames:
        for box in boxes:
            frame[box.y : box.y + box.height, box.x : box.x + box.width, ...] = value
    stack = np.stack(frames)
    if radiograph.bits_allocated == 1:
        data = pack_bits(stack.astype(np.uint8), pad=True)
    else:
        kind = "i" if radiograph.signed else "u"
        if np.issubdtype(stack.dtype, np.integer):
            dtype = np.dtype(f"<{kind}{radiograph.bits_allocated // 8}")
            stack = stack.astype(dtype)
        data = stack.tobytes()
    if len(data) % 2:
        data += b"\x00"
    from pydicom import config
    from pydicom.dataelem import DataElement

    vr = "OB" if radiograph.bits_allocated <= 8 else "OW"
    target.add(DataElement(0x7FE00010, vr, data, validation_mode=config.IGNORE))
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in target:
            del target[keyword]
    if radiograph.samples_per_pixel > 1:
        if radiograph.photometric.startswith("YBR"):
            target.PhotometricInterpretation = "RGB"  # pydicom decoded YBR to RGB
        target.PlanarConfiguration = 0
    target.BurnedInAnnotation = "NO"
    target.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _clear_overlays_in_boxes(target, boxes)


def _clear_overlays_in_boxes(target: Dataset, boxes: Sequence[Box]) -> None:
    """Overlays kept under Clean Graphics get the same boxes cleared."""
    import numpy as np
    from pydicom.pixels import pack_bits, unpack_bits

    for group in range(0x6000, 0x6020, 2):
        data_tag = (group << 16) | 0x3000
        if data_tag not in target:
            continue
        rows = int(target.get((group << 16) | 0x0010).value)
        columns = int(target.get((group << 16) | 0x0011).value)
        origin_elem = target.get((group << 16) | 0x0050)
        origin = [int(v) for v in origin_elem.value] if origin_elem is not None else [1, 1]
        bits = np.asarray(unpack_bits(target[data_tag].value))
        planes = max(1, bits.size // (rows * columns))
        bits = bits[: planes * rows * columns].reshape(planes, rows, columns)
        for box in boxes:
            top = max(0, box.y - (origin[0] - 1))
            left = max(0, box.x - (origin[1] - 1))
            bottom = max(0, box.y + box.height - (origin[0] - 1))
            right = max(0, box.x + box.width - (origin[1] - 1))
            bits[:, top:bottom, left:right] = 0
        target[data_tag].value = pack_bits(bits.astype(np.uint8).ravel(), pad=True)


def embedded_overlay_bits(target: Dataset) -> frozenset[int]:
    """Bit positions above High Bit that hold overlays kept under Clean Graphics (the retired
    way of storing an overlay inside the pixel data): the only such bits left as they are."""
    high_bit = int(target.get("HighBit", int(target.get("BitsStored", 8) or 8) - 1))
    found = set()
    for group in range(0x6000, 0x6020, 2):
        if (group << 16) | 0x3000 in target:
            continue  # a separate bitmap
        bit = target.get((group << 16) | 0x0102)
        if bit is not None and bit.value is not None and int(bit.value) > high_bit:
            found.add(int(bit.value))
    return frozenset(found)


# --------------------------------------------------------------------------------------------
# rasters

_OUTPUT_FORMAT = {"JPEG": "PNG", "PNG": "PNG", "TIFF": "TIFF", "BMP": "BMP"}


def redact_raster(
    radiograph: Radiograph, data: bytes, boxes: Sequence[Box]
) -> tuple[bytes, str, list[Change]]:
    """The image with boxes painted black, saved losslessly: ``(bytes, format, changes)``.

    A JPEG cannot be edited without re-compressing (and so changing) the pixels outside the
    boxes, so it becomes a PNG; the other formats keep theirs. The result goes through the
    metadata stripper like any other file.
    """
    from PIL import Image

    changes: list[Change] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = Image.open(io.BytesIO(data))
        pages = []
        for index in range(radiograph.frames):
            image.seek(index)
            page = image.copy()
            for box in boxes:
                page.paste(_black(page), (box.x, box.y, box.x + box.width, box.y + box.height))
            pages.append(page)
        icc = image.info.get("icc_profile")
        transparency = image.info.get("transparency")
    fmt = _OUTPUT_FORMAT[radiograph.format]
    if fmt == "PNG" and pages[0].mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        fmt = "TIFF"  # e.g. a CMYK JPEG: PNG cannot hold it, TIFF can, losslessly
    out = io.BytesIO()
    save: dict[str, Any] = {}
    if icc:
        save["icc_profile"] = icc
    if fmt == "PNG" and transparency is not None:
        save["transparency"] = transparency
    if fmt == "TIFF":
        save["compression"] = "tiff_deflate"
    if len(pages) > 1:
        pages[0].save(out, fmt, save_all=True, append_images=pages[1:], **save)
    else:
        pages[0].save(out, fmt, **save)
    if fmt != radiograph.format:
        changes.append(
            Change(
                "file format",
                "image format",
                "replaced",
                radiograph.format,
                f"{fmt} (lossless, because a {radiograph.format} cannot be redacted without "
                "changing the pixels outside the boxes)",
            )
        )
    cleaned, stripped = strip_metadata(out.getvalue(), fmt, radiograph.path, radiograph.orientation)
    changes += [c for c in stripped if c.tag == "EXIF Orientation"]
    return cleaned, fmt, changes


def _black(page: Any) -> Any:
    mode = page.mode
    if mode == "P":
        palette = page.getpalette() or [0, 0, 0]
        triples = list(zip(palette[0::3], palette[1::3], palette[2::3], strict=False))
        return min(range(len(triples)), key=lambda i: sum(triples[i]))
    if mode in ("RGBA", "RGBa"):
        return (0, 0, 0, 255)
    if mode == "LA":
        return (0, 255)
    if mode == "CMYK":
        return (0, 0, 0, 255)
    if mode == "RGB":
        return (0, 0, 0)
    return 0
