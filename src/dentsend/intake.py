"""Sniff a file by its content and load it as a :class:`Radiograph`.

Practices export radiographs as DICOM (from the imaging software) or as plain images (JPEG, PNG,
TIFF, BMP from a "save as" or a screenshot), and file extensions are unreliable, so the format is
decided by the first bytes. Loading reads the header and checks the file is whole; pixels are
decoded only when a frame is asked for.

Every problem with a file is raised as :class:`~dentsend.errors.FileProblem`, one sentence naming
the file, so a batch can report it and carry on with the others.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dentsend.errors import FileProblem, read_user_file

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image
    from pydicom.dataset import Dataset

log = logging.getLogger(__name__)

#: Largest raster accepted, in pixels (a 4096×5120 cephalogram is 21 million). Guards against
#: decompression bombs: a 40000×40000 PNG is a few kilobytes on disk and 1.6 GB in memory.
MAX_RASTER_PIXELS = 200_000_000
#: Largest DICOM pixel data accepted, in samples (rows × columns × frames × samples per pixel):
#: a 700³ cone-beam volume fits, a forged 65535×65535×1000 header does not.
MAX_DICOM_SAMPLES = 512 * 1024 * 1024

_RASTER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
)


#: (7FE0,0010) Pixel Data in little- and big-endian encoding.
_PIXEL_DATA_TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")


_DEFLATED_UID = b"1.2.840.10008.1.2.1.99"
#: A deflated data set may inflate to no more than this (the pixel limit at 16 bits, plus room
#: for the attributes).
_MAX_INFLATED_BYTES = MAX_DICOM_SAMPLES * 2 + 64 * 1024 * 1024

#: What pydicom and Pillow raise on malformed input (found by fuzzing): all become FileProblem.
_PARSER_ERRORS = (
    OSError, SyntaxError, ValueError, TypeError, KeyError, IndexError, EOFError,
    NotImplementedError, AttributeError, OverflowError, RecursionError, struct.error, zlib.error,
    RuntimeError,
)  # fmt: skip


def _pydicom_errors() -> type[Exception]:
    """pydicom's error for a value whose length does not fit its VR (not a ValueError)."""
    from pydicom.errors import BytesLengthException

    return BytesLengthException


class Kind(StrEnum):
    DICOM = "dicom"
    RASTER = "raster"


@dataclass(frozen=True)
class Spacing:
    """Physical size of a pixel in millimetres, and which attribute said so.

    ``PixelSpacing`` in projection radiography is calibrated to the patient; ``ImagerPixelSpacing``
    is the detector's pitch, so a length measured with it is "at the detector" (magnified by the
    geometry). Viewers must say which one they used.
    """

    row_mm: float
    column_mm: float
    source: str

    @property
    def at_detector(self) -> bool:
        return self.source == "ImagerPixelSpacing"

    @property
    def unit_label(self) -> str:
        return "mm at detector" if self.at_detector else "mm"

    def to_json(self) -> dict[str, Any]:
        return {"row_mm": self.row_mm, "column_mm": self.column_mm, "source": self.source}


@dataclass(frozen=True)
class Window:
    """A VOI window in modality units (after rescale), as the file or the user gives it."""

    center: float
    width: float
    explanation: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"center": self.center, "width": self.width}
        if self.explanation:
            data["explanation"] = self.explanation
        return data


@dataclass
class Radiograph:
    """One radiograph file, as the later steps need it.

    The header is read; pixels are decoded on demand, one frame at a time, by :meth:`frame`.
    """

    path: Path
    kind: Kind
    format: str
    """``DICOM``, ``JPEG``, ``PNG``, ``TIFF`` or ``BMP``."""
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    modality: str | None = None
    sop_class_uid: str | None = None
    transfer_syntax: str | None = None
    pixel_spacing: Spacing | None = None
    imager_pixel_spacing: Spacing | None = None
    windows: tuple[Window, ...] = ()
    has_voi_lut: bool = False
    burned_in_annotation: str | None = None
    identifying_fields: tuple[str, ...] = ()
    orientation: int = 1
    """EXIF orientation (1–8) of a raster; display applies it, the stored pixels do not."""
    dataset: Dataset | None = field(default=None, repr=False)
    data: bytes | None = field(default=None, repr=False)
    """The file's bytes when it was loaded from memory (:func:`load_bytes`), else ``None``."""
    _cached: tuple[int, np.ndarray] | None = field(default=None, repr=False)

    @property
    def is_color(self) -> bool:
        return self.samples_per_pixel > 1 or self.photometric == "PALETTE COLOR"

    @property
    def measurement_spacing(self) -> Spacing | None:
        """The spacing a length tool should use: calibrated if known, else the detector's."""
        return self.pixel_spacing or self.imager_pixel_spacing

    @property
    def transfer_syntax_name(self) -> str | None:
        if self.transfer_syntax is None:
            return None
        from pydicom.uid import UID

        return UID(self.transfer_syntax).name

    def frame(self, index: int = 0) -> np.ndarray:
        """The stored values of one frame: ``(rows, columns)`` or ``(rows, columns, 3)``.

        DICOM values are exactly what pydicom's ``pixel_array`` gives (YBR converted to RGB,
        palette indices left as indices); rasters are in file orientation.
        """
        if not 0 <= index < self.frames:
            raise FileProblem(
                self.path, f"has {self.frames} frame(s); frame {index + 1} does not exist"
            )
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        if self.kind is Kind.DICOM:
            values = _dicom_frame(self, index)
        else:
            values = _raster_frame(self, index)
        self._cached = (index, values)
        return values

    def to_json(self) -> dict[str, Any]:
        """The record ``dentsend inspect`` prints."""
        return {
            "path": str(self.path),
            "kind": self.kind.value,
            "format": self.format,
            "modality": self.modality,
            "sop_class": _uid_name(self.sop_class_uid),
            "rows": self.rows,
            "columns": self.columns,
            "frames": self.frames,
            "samples_per_pixel": self.samples_per_pixel,
            "bits_allocated": self.bits_allocated,
            "bits_stored": self.bits_stored,
            "signed": self.signed,
            "photometric": self.photometric,
            "transfer_syntax": self.transfer_syntax,
            "transfer_syntax_name": self.transfer_syntax_name,
            "pixel_spacing": self.pixel_spacing.to_json() if self.pixel_spacing else None,
            "imager_pixel_spacing": (
                self.imager_pixel_spacing.to_json() if self.imager_pixel_spacing else None
            ),
            "windows": [w.to_json() for w in self.windows],
            "burned_in_annotation": self.burned_in_annotation,
            "identifying_fields": list(self.identifying_fields),
        }


def _uid_name(value: str | None) -> str | None:
    if value is None:
        return None
    from pydicom.uid import UID

    name = UID(value).name
    return name if name and name != value else value


# --------------------------------------------------------------------------------------------
# sniffing


def sniff(head: bytes) -> str | None:
    """The format the first bytes of a file announce: ``DICOM``, ``JPEG`` … or ``None``.

    DICOM without the 128-byte preamble and ``DICM`` (old or hand-made files) is recognised by a
    first element in group 0002 or 0008 with a plausible explicit VR or implicit length.
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "DICOM"
    for signature, name in _RASTER_SIGNATURES:
        if head.startswith(signature):
            return name
    if len(head) >= 8 and _looks_like_bare_dicom(head):
        return "DICOM"
    return None


def _looks_like_bare_dicom(head: bytes) -> bool:
    for order in ("little", "big"):
        group = int.from_bytes(head[0:2], order)
        element = int.from_bytes(head[2:4], order)
        if group not in (0x0002, 0x0008) or element > 0x0FFF:
            continue
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            return True
        length = int.from_bytes(head[4:8], order)
        if length < 1024:
            return True
    return False


# --------------------------------------------------------------------------------------------
# loading


def load(path: Path | str) -> Radiograph:
    """Read a file's header and check it is a whole, decodable radiograph."""
    path = Path(path)
    return _load(path, read_user_file(path, limit=512), None)


def load_bytes(data: bytes, name: str) -> Radiograph:
    """Load a radiograph held in memory (a cleaned copy, a file from a package).

    ``name`` stands in for the path in messages; nothing is read from or written to disk.
    """
    return _load(Path(name), data[:512], data)


def _load(path: Path, head: bytes, data: bytes | None) -> Radiograph:
    if not head:
        raise FileProblem(path, "is empty")
    kind = sniff(head)
    if kind is None:
        raise FileProblem(path, "is not a DICOM file or a JPEG, PNG, TIFF or BMP image")
    try:
        if kind == "DICOM":
            if _DEFLATED_UID in head:
                _check_inflated_size(path, data if data is not None else path.read_bytes())
            return _load_dicom(path, data, has_preamble=head[128:132] == b"DICM")
        return _load_raster(path, data, kind)
    except FileProblem:
        raise
    except MemoryError:
        raise FileProblem(path, "is too large to open in the memory available") from None
    except (*_PARSER_ERRORS, _pydicom_errors()) as exc:
        # pydicom and Pillow parse lazily and raise whatever a malformed field leads to
        what = "DICOM" if kind == "DICOM" else f"{kind} image"
        raise FileProblem(path, f"is a damaged {what} ({_short(exc)})") from exc


def load_many(paths: Iterable[Path | str]) -> Iterator[Radiograph | FileProblem]:
    """Load each path in turn, yielding the radiograph or the problem, so a batch carries on."""
    for path in paths:
        try:
            yield load(path)
        except FileProblem as problem:
            yield problem


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files given directly, plus the files inside given folders (recursively, sorted)."""
    result: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            result += sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            result.append(path)
    return result


# --------------------------------------------------------------------------------------------
# DICOM


def _check_inflated_size(path: Path, raw: bytes) -> None:
    """Refuse a deflated DICOM that would inflate past the size limit, before pydicom inflates
    all of it in memory (a 1.5 MB file can hold gigabytes of zeros)."""
    if raw[128:136] != b"DICM\x02\x00\x00\x00":
        return  # no meta group length to find the deflated part by; pydicom will refuse it
    start = 144 + int.from_bytes(raw[140:144], "little")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    for offset in range(start, len(raw), 1 << 20):
        pending = raw[offset : offset + (1 << 20)]
        while pending and not inflater.eof:
            try:
                produced = len(inflater.decompress(pending, 1 << 24))
            except zlib.error:
                return  # not valid deflate: pydicom reports it
            total += produced
            if total > _MAX_INFLATED_BYTES:
                raise FileProblem(
                    path, "is too large to open safely (its deflated data expands without limit)"
                )
            if not produced and inflater.unconsumed_tail == pending:
                break  # no progress: leave the verdict to pydicom
            pending = inflater.unconsumed_tail
        if inflater.eof:
            return


def _load_dicom(path: Path, data: bytes | None, *, has_preamble: bool) -> Radiograph:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import UID

    _configure_pydicom()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            source = io.BytesIO(data) if data is not None else path
            ds = pydicom.dcmread(source, force=not has_preamble)
        except (InvalidDicomError, EOFError, ValueError, KeyError, OSError, TypeError) as exc:
            raise FileProblem(path, f"is not readable DICOM ({_short(exc)})") from None
    for warning in caught:
        message = str(warning.message)
        if "End of file reached" in message or "truncated" in message.lower():
            raise FileProblem(path, "is truncated (the file ends inside the pixel data)")
        log.debug("%s: pydicom warned: %s", path.name, message)

    pixel_keyword = next(
        (k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in ds), None
    )
    if pixel_keyword is None:
        raw = data if data is not None else path.read_bytes()
        if _PIXEL_DATA_TAGS[0] in raw or _PIXEL_DATA_TAGS[1] in raw:
            # pydicom silently drops an element that runs past the end of the file
            raise FileProblem(path, "is truncated (the file ends inside the pixel data)")
        raise FileProblem(path, "is DICOM but holds no image (no Pixel Data)")

    ts = ds.file_meta.get("TransferSyntaxUID") if "file_meta" in ds.__dict__ else None
    if ts is None:
        # No meta header: the encoding pydicom found while reading is the transfer syntax.
        implicit, little = ds.original_encoding
        if implicit is None:
            raise FileProblem(path, "is DICOM without a transfer syntax pydicom can infer")
        ts = UID(
            "1.2.840.10008.1.2"
            if implicit
            else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
        )
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ts
    ts = UID(str(ts))

    missing = [
        k for k in ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation") if k not in ds
    ]
    if missing:
        raise FileProblem(path, f"is missing the image attribute(s) {', '.join(missing)}")
    try:
        rows = int(ds.Rows)
        columns = int(ds.Columns)
        bits_allocated = int(ds.BitsAllocated)
        bits_stored = int(ds.get("BitsStored", bits_allocated))
        samples = int(ds.get("SamplesPerPixel", 1))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        photometric = str(ds.PhotometricInterpretation).strip().upper()
        signed = int(ds.get("PixelRepresentation", 0)) == 1
    except (TypeError, ValueError) as exc:
        raise FileProblem(path, f"has an invalid image attribute ({_short(exc)})") from None
    if rows <= 0 or columns <= 0 or frames <= 0 or samples not in (1, 3):
        raise FileProblem(path, f"has an impossible image size ({columns}×{rows}, {frames} frames)")
    if rows * columns * frames * samples > MAX_DICOM_SAMPLES:
        raise FileProblem(
            path,
            f"is too large to open safely ({columns}×{rows} pixels × {frames} frames)",
        )

    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise FileProblem(
            path, f"uses a transfer syntax dentsend cannot decode ({ts.name})"
        ) from None
    if not decoder.is_available:
        raise FileProblem(path, f"uses a transfer syntax dentsend cannot decode ({ts.name})")
    _check_pixel_data(path, ds, pixel_keyword, ts, frames)

    table = _table()
    return Radiograph(
        path=path,
        kind=Kind.DICOM,
        format="DICOM",
        rows=rows,
        columns=columns,
        frames=frames,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        signed=signed,
        photometric=photometric,
        modality=_text(ds.get("Modality")),
        sop_class_uid=_text(ds.get("SOPClassUID")),
        transfer_syntax=str(ts),
        pixel_spacing=_spacing(ds, "PixelSpacing"),
        imager_pixel_spacing=_spacing(ds, "ImagerPixelSpacing"),
        windows=_windows(ds),
        has_voi_lut=bool(ds.get("VOILUTSequence")),
        burned_in_annotation=_text(ds.get("BurnedInAnnotation")),
        identifying_fields=tuple(dicom_identifying_fields(ds, table)),
        dataset=ds,
        data=data,
    )


@cache
def _can_decode(transfer_syntax: str) -> bool:
    """Whether a decoder plugin is installed (asking pydicom costs ~1 ms: cached per syntax)."""
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(transfer_syntax).is_available)
    except NotImplementedError:
        return False


def _check_pixel_data(path: Path, ds: Dataset, keyword: str, ts: Any, frames: int) -> None:
    """Catch truncated or malformed pixel data now, not halfway through a package."""
    value = ds[keyword].value
    if value is None or len(value) == 0:
        raise FileProblem(path, "has empty pixel data")
    if ts.is_encapsulated:
        from pydicom.encaps import generate_fragments

        try:
            fragments = sum(1 for _ in generate_fragments(value))
        except (ValueError, KeyError, EOFError) as exc:
            raise FileProblem(path, f"has damaged compressed pixel data ({_short(exc)})") from None
        # The first item is the (possibly empty) offset table; a frame needs at least one more.
        if fragments < 1 + min(frames, 1):
            raise FileProblem(path, "has compressed pixel data with no image fragments")
        return
    from pydicom.pixels.utils import get_expected_length

    expected = get_expected_length(ds, unit="bytes")
    if len(value) < expected:
        raise FileProblem(
            path,
            f"is truncated (pixel data has {len(value)} of {expected} bytes)",
        )


#: The decoder plugin used for each compressed transfer syntax. GDCM is used only where nothing
#: else decodes the syntax: a damaged JPEG makes it throw a C++ exception that aborts the whole
#: process, so frames bound for GDCM are checked first (:func:`jpeg_frame_is_sound`).
_PREFERRED_PLUGIN = {
    "1.2.840.10008.1.2.4.50": "pillow",  # JPEG baseline
    "1.2.840.10008.1.2.4.51": "pillow",  # JPEG extended, 8-bit samples
    "1.2.840.10008.1.2.4.80": "pyjpegls",
    "1.2.840.10008.1.2.4.81": "pyjpegls",
    "1.2.840.10008.1.2.4.90": "pylibjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg",
    "1.2.840.10008.1.2.4.57": "gdcm",  # JPEG lossless: GDCM is the only permissive decoder
    "1.2.840.10008.1.2.4.70": "gdcm",
}


def _dicom_frame(rg: Radiograph, index: int) -> np.ndarray:
    from pydicom.pixels import pixel_array

    assert rg.dataset is not None
    ts = rg.transfer_syntax or ""
    plugin = _PREFERRED_PLUGIN.get(ts, "")
    if ts == "1.2.840.10008.1.2.4.51" and rg.bits_stored > 8:
        plugin = "dentsend-gdcm-12bit"  # the only decoder that reads it (see dentsend.jpeg12)
    if "gdcm" in plugin:
        from pydicom.encaps import get_frame

        try:
            frame = get_frame(rg.dataset.PixelData, index, number_of_frames=rg.frames)
        except (ValueError, KeyError, IndexError) as exc:
            raise FileProblem(
                rg.path, f"has damaged compressed pixel data ({_short(exc)})"
            ) from None
        if not jpeg_frame_is_sound(frame):
            raise FileProblem(rg.path, "has damaged compressed pixel data (malformed JPEG frame)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pixel_array(
                rg.dataset, index=index if rg.frames > 1 else None, decoding_plugin=plugin
            )
    except MemoryError:
        raise FileProblem(rg.path, "is too large to decode in the memory available") from None
    except Exception as exc:  # decoders raise anything from RuntimeError to struct.error
        reason = _short(exc)
        if "all available plugins" in str(exc) or "cannot identify image file" in reason:
            reason = "the compressed data is damaged or of an unsupported kind"
        raise FileProblem(rg.path, f"has pixel data that cannot be decoded ({reason})") from exc


def jpeg_frame_is_sound(frame: bytes) -> bool:
    """Whether a JPEG codestream is well formed: SOI, length-framed segments, one or more scans
    whose entropy-coded data holds only stuffed bytes and restart markers, and EOI at the end
    (DICOM pads frames to an even length; encoders use 0x00 or 0xFF)."""
    data = frame.rstrip(b"\x00\xff")
    if len(frame) - len(data) > 16:
        return False

    if len(data) < 4 or not data.startswith(b"\xff\xd8") or not data.endswith(b"\xff\xd9"):
        return False
    position, end = 2, len(data) - 2
    while position < end:
        if data[position] != 0xFF:
            return False
        marker = data[position + 1]
        if marker == 0xFF:  # fill bytes before a marker
            position += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8, 0xD9) or position + 4 > end:
            return False
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if length < 2 or position + 2 + length > end:
            return False
        position += 2 + length
        if marker != 0xDA:  # not a scan: the next segment follows directly
            continue
        while position < end:  # entropy-coded data up to the next real marker
            found = data.find(b"\xff", position, end)
            if found < 0:  # the scan runs up to the final EOI
                position = end
                break
            following = data[found + 1] if found + 1 < len(data) else -1
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                position = found + 2
                continue
            position = found
            break
    return position == end


def _spacing(ds: Dataset, keyword: str) -> Spacing | None:
    """PixelSpacing / ImagerPixelSpacing from the top level or, in enhanced multi-frame
    objects, from the shared Pixel Measures functional group."""
    value = ds.get(keyword)
    if value is None and keyword == "PixelSpacing":
        shared = ds.get("SharedFunctionalGroupsSequence")
        if shared:
            measures = shared[0].get("PixelMeasuresSequence")
            if measures:
                value = measures[0].get("PixelSpacing")
    try:
        row, column = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if not (0 < row < 100 and 0 < column < 100):
        return None
    return Spacing(row, column, keyword)


def _windows(ds: Dataset) -> tuple[Window, ...]:
    centers = ds.get("WindowCenter")
    widths = ds.get("WindowWidth")
    if centers is None or widths is None:
        return ()
    explanations = _as_list(ds.get("WindowCenterWidthExplanation"))
    windows = []
    for i, (center, width) in enumerate(zip(_as_list(centers), _as_list(widths), strict=False)):
        try:
            c, w = float(center), float(width)
        except (TypeError, ValueError):
            continue
        if w >= 1:
            text = str(explanations[i]) if i < len(explanations) else ""
            windows.append(Window(c, w, text))
    return tuple(windows)


def _as_list(value: Any) -> list[Any]:
    """A DICOM value as a list, whether it has one value (VM 1) or several."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _table() -> Any:
    from dentsend.confidentiality import load_table

    return load_table()


def dicom_identifying_fields(ds: Dataset, table: Any) -> list[str]:
    """Keywords of non-empty attributes the Basic Profile would remove or replace.

    UIDs (action ``U``) are left out: every file has them, and they link records rather than
    name a person. Private attributes are summarised as one entry.
    """
    found: dict[str, None] = {}
    datasets = [ds]
    if "file_meta" in ds.__dict__:
        datasets.insert(0, ds.file_meta)
    for dataset in datasets:
        for element in dataset.iterall():
            if element.tag.is_private:
                if not element.tag.is_private_creator:
                    found["PrivateAttributes"] = None
                continue
            rule = table.rule_for(int(element.tag))
            if rule is None or rule.basic in ("K", "U"):
                continue
            value = element.value
            if value is None or (hasattr(value, "__len__") and len(value) == 0):
                continue
            found[element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"] = None
    return list(found)


_pydicom_configured = False


def _configure_pydicom() -> None:
    """Once per process: dentsend's decoder plugin, and no value validation.

    Practices export sloppy values (over-long IDs, letters in UIDs); dentsend reads them as
    they are and reports what matters itself. pydicom's validation warnings would quote the
    values, which may be patient data, into the terminal and any log collecting it.
    """
    global _pydicom_configured
    if _pydicom_configured:
        return
    from pydicom import config
    from pydicom.pixels.decoders import JPEGExtended12BitDecoder

    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE

    if "dentsend-gdcm-12bit" not in JPEGExtended12BitDecoder._available:
        JPEGExtended12BitDecoder.add_plugin(
            "dentsend-gdcm-12bit", ("dentsend.jpeg12", "_decode_frame")
        )
    _pydicom_configured = True


# --------------------------------------------------------------------------------------------
# rasters

_RASTER_BITS = {"1": 1, "L": 8, "P": 8, "RGB": 8, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16}

#: EXIF tags that only say how to lay out the pixels; de-identification keeps them (orientation
#: is needed for display), so an EXIF block holding nothing else is not reported.
_EXIF_LAYOUT_ONLY = {0x0112, 0x011A, 0x011B, 0x0128, 0x0213, 0xA001, 0xA002, 0xA003}

#: EXIF tags worth naming in a report because they can identify a person, a practice or a time.
_EXIF_NAMED = {
    0x010D: "DocumentName",
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x0132: "DateTime",
    0x013B: "Artist",
    0x013C: "HostComputer",
    0x8298: "Copyright",
    0x8825: "GPSInfo",
    0x9003: "DateTimeOriginal",
    0x9004: "DateTimeDigitized",
    0x9286: "UserComment",
    0xA420: "ImageUniqueID",
    0xA430: "CameraOwnerName",
    0xA431: "BodySerialNumber",
    0x9C9B: "XPTitle",
    0x9C9C: "XPComment",
    0x9C9D: "XPAuthor",
    0x9C9E: "XPKeywords",
    0x9C9F: "XPSubject",
}


def _open_image(path: Path, data: bytes | None, kind: str) -> tuple[Image.Image, int | None]:
    """Open a raster without decoding it; for TIFF also return its orientation tag.

    TIFF orientation is taken out of the bytes Pillow sees: Pillow 13 turns TIFF pixels itself
    while loading and gets orientations 5–8 wrong, so dentsend keeps stored pixels as stored (as
    for JPEG and PNG) and applies the orientation when displaying.
    """
    from PIL import Image

    tiff_orientation = None
    try:
        if kind == "TIFF":
            raw = data if data is not None else path.read_bytes()
            data, tiff_orientation = _tiff_without_orientation(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data) if data is not None else path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FileProblem(
            path, "is too large to open safely (a possible decompression bomb)"
        ) from None
    except Image.UnidentifiedImageError:
        raise FileProblem(
            path, "is not an image Pillow can read (damaged or unsupported)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FileProblem(path, f"is a damaged image ({_short(exc)})") from None
    width, height = im.size
    if width <= 0 or height <= 0:
        im.close()
        raise FileProblem(path, "has an impossible image size")
    if width * height > MAX_RASTER_PIXELS:
        im.close()
        raise FileProblem(
            path,
            f"is too large to open safely ({width}×{height} pixels, a possible decompression bomb)",
        )
    return im, tiff_orientation


def _tiff_without_orientation(data: bytes) -> tuple[bytes, int | None]:
    """A copy of a TIFF with every Orientation (274) entry set to 1, and the first one's value.

    Walks the chain of IFDs (classic and BigTIFF) with bounds and loop checks; anything it cannot
    follow is left for Pillow to judge.
    """
    if len(data) < 16 or data[:2] not in (b"II", b"MM"):
        return data, None
    order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"
    big = int.from_bytes(data[2:4], order) == 43
    offset = int.from_bytes(data[8:16] if big else data[4:8], order)
    count_size, entry_size, value_offset = (8, 20, 12) if big else (2, 12, 8)
    patched = bytearray(data)
    found: int | None = None
    seen: set[int] = set()
    while 0 < offset < len(data) - count_size and offset not in seen and len(seen) < 10_000:
        seen.add(offset)
        count = int.from_bytes(data[offset : offset + count_size], order)
        entries = offset + count_size
        if entries + count * entry_size + (8 if big else 4) > len(data):
            break
        for index in range(count):
            entry = entries + index * entry_size
            if int.from_bytes(data[entry : entry + 2], order) == 274:
                value = entry + value_offset
                if found is None:
                    found = int.from_bytes(data[value : value + 2], order)
                patched[value : value + 2] = (1).to_bytes(2, order)
        next_at = entries + count * entry_size
        offset = int.from_bytes(data[next_at : next_at + (8 if big else 4)], order)
    if found is None or not 1 <= found <= 8:
        return data, None if found is None else 1
    return bytes(patched), found


def _load_raster(path: Path, data: bytes | None, kind: str) -> Radiograph:
    im, tiff_orientation = _open_image(path, data, kind)
    with im:
        mode = im.mode
        frames = int(getattr(im, "n_frames", 1)) if kind == "TIFF" else 1
        grey = mode in ("1", "L", "LA", "I", "F") or mode.startswith("I;16")
        if mode == "P":
            grey = _palette_is_grey(im)
        bits = 16 if (mode.startswith("I;16") or mode == "I") else 8
        if mode == "F":
            bits = 32
        try:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
        except Exception:  # a broken EXIF block must not make the image unreadable
            orientation = 1
        if tiff_orientation is not None:
            orientation = tiff_orientation
        identifying = raster_identifying_fields(im)
    return Radiograph(
        path=path,
        kind=Kind.RASTER,
        format=kind,
        rows=im.size[1],
        columns=im.size[0],
        frames=frames,
        samples_per_pixel=1 if grey else 3,
        bits_allocated=bits,
        bits_stored=bits,
        signed=False,
        photometric="MONOCHROME2" if grey else "RGB",
        orientation=orientation if 1 <= orientation <= 8 else 1,
        identifying_fields=tuple(identifying),
        data=data,
    )


def _palette_is_grey(im: Image.Image) -> bool:
    palette = im.getpalette() or []
    triples = zip(palette[0::3], palette[1::3], palette[2::3], strict=False)
    return all(r == g == b for r, g, b in triples)


def _raster_frame(rg: Radiograph, index: int) -> np.ndarray:
    import numpy as np
    from PIL import Image

    im, _ = _open_image(rg.path, rg.data, rg.format)
    try:
        with im:
            if index:
                im.seek(index)
            im.load()
            mode = im.mode
            if rg.samples_per_pixel == 1:
                if mode in ("1", "LA", "P", "PA"):
                    im = im.convert("L")
                    mode = "L"
                values = np.asarray(im)
                if mode == "I" and values.size and values.min() >= 0 and values.max() < 65536:
                    values = values.astype(np.uint16)
                elif values.dtype.byteorder == ">":
                    values = values.astype(values.dtype.newbyteorder("="))
            else:
                if mode != "RGB":
                    im = im.convert("RGB")
                values = np.asarray(im)
    except FileProblem:
        raise
    except (*_PARSER_ERRORS, Image.DecompressionBombError) as exc:
        raise FileProblem(rg.path, f"is a damaged image ({_short(exc)})") from None
    if values.shape[:2] != (rg.rows, rg.columns):  # a later TIFF page of another size
        raise FileProblem(rg.path, f"page {index + 1} has a different size from the first")
    return values


def raster_identifying_fields(im: Image.Image) -> list[str]:
    """Names of the metadata blocks and tags in a raster that can identify someone."""
    found: dict[str, None] = {}
    info = im.info
    try:
        exif = im.getexif()
    except Exception:
        exif = None
    if exif:
        tags: dict[int, Any] = dict(exif)
        for ifd in (0x8769, 0x8825):  # Exif and GPS sub-IFDs
            try:
                sub_ifd = exif.get_ifd(ifd)
            except Exception:  # noqa: S112 - an unreadable sub-IFD is still reported as EXIF
                continue
            tags.pop(ifd, None)  # the pointer itself says nothing
            if sub_ifd:
                tags.update(sub_ifd)
                tags[ifd] = True
        if set(tags) - _EXIF_LAYOUT_ONLY:
            found["EXIF"] = None
        for tag, name in _EXIF_NAMED.items():
            if tag in tags and tags[tag] not in (None, "", b""):
                found[f"EXIF:{name}"] = None
    if "xmp" in info or "XML:com.adobe.xmp" in info:
        found["XMP"] = None
    if "photoshop" in info:
        found["Photoshop/IPTC"] = None
    if info.get("comment"):
        found["Comment"] = None
    for marker, data in getattr(im, "applist", []):
        if marker == "COM":
            found["Comment"] = None
        elif marker == "APP1" and data.startswith(b"http://ns.adobe.com/xap"):
            found["XMP"] = None
        elif marker == "APP13":
            found["Photoshop/IPTC"] = None
    if im.format == "PNG":
        text = getattr(im, "text", None) or {}
        for key in text:
            if key == "XML:com.adobe.xmp":
                found["XMP"] = None
            else:
                found[f"PNG text:{key}"] = None
    if im.format == "TIFF":
        tiff_tags = getattr(im, "tag_v2", {})
        for tag, name in _EXIF_NAMED.items():
            if tag in tiff_tags:
                found[f"TIFF:{name}"] = None
        if 700 in tiff_tags:
            found["XMP"] = None
        if 33723 in tiff_tags or 34377 in tiff_tags:
            found["Photoshop/IPTC"] = None
    return list(found)


def _short(exc: BaseException) -> str:
    """An exception as a short phrase for a one-line message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "…"
