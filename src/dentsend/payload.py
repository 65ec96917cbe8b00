"""The payload: cleaned files plus ``manifest.json``, as bundle records or as one standard ZIP.

Both package formats carry the same files and the same manifest (DESIGN.md). The manifest holds
what the browser viewer needs to show each image at full bit depth (``docs/bundle-format.md``,
section 7); where the browser cannot read the file itself (compressed or big-endian DICOM,
palette or YBR colour, TIFF, 16-bit PNG) a "view" record carries the decoded stored values. Every
view is made from the *cleaned* file, never the source, so redaction boxes hold in the viewer.

The receiving side lives here too: a ZIP reader for ``dentsend open`` that refuses hostile
archives (zip-slip, absolute paths, duplicate names, links, bombs), and :class:`OutputFolder`,
which writes received files under safe names, all at once or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import secrets
import stat
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, Protocol

from dentsend.atomic import move_without_replacing
from dentsend.errors import DentsendError, FileProblem

if TYPE_CHECKING:
    import numpy as np

    from dentsend.bundle.predictor import Predict
    from dentsend.intake import Radiograph

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "dentsend-manifest"
MANIFEST_VERSION = 1

Role = Literal["manifest", "file", "view"]
Deidentification = Literal["deidentified", "pseudonymised", "identified"]

#: Formats whose bytes are already compressed: deflate would only spend time.
_COMPRESSED_FORMATS = {"JPEG", "PNG"}
#: DICOM transfer syntaxes whose pixel data the browser reads as it is (little endian, native).
_NATIVE_LITTLE_ENDIAN = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
_DEFLATED_TS = {"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"}


class CleanFileLike(Protocol):
    """What the payload needs from a de-identified file (``dentsend.deid.CleanFile``)."""

    @property
    def name(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def radiograph(self) -> Radiograph | None: ...


@dataclass
class PayloadRecord:
    """One record of the payload, before encoding: its bytes and how they may be encoded."""

    name: str
    role: Role
    data: bytes = field(repr=False)
    compress: bool = True
    predict: Predict | None = None
    sha256: str | None = None
    """The SHA-256 of ``data`` when already computed (the manifest needs it too)."""


# ---------------------------------------------------------------------------------------------
# names

_FORBIDDEN_IN_PACKAGE = re.compile(r"[/\\\x00-\x1f\x7f]")
_FORBIDDEN_ON_DISK = re.compile(r'[/\\\x00-\x1f\x7f<>:"|?*]')
# Windows ignores spaces and dots before the extension: "nul .txt" is the device too.
_WINDOWS_RESERVED = re.compile(
    r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$|clock\$)[ .]*(\..*)?$",
    re.IGNORECASE,
)
_MAX_NAME_BYTES = 200


def _shorten(name: str, limit: int = _MAX_NAME_BYTES) -> str:
    """Cut a name to ``limit`` UTF-8 bytes, keeping its extension."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = limit - len(suffix.encode("utf-8"))
    encoded = stem.encode("utf-8")[:budget]
    return encoded.decode("utf-8", "ignore") + suffix


def _visible(name: str) -> str:
    """``name`` with invisible and direction-changing characters as ``_``: a right-to-left
    override makes ``x\u202egpj.exe`` look like ``xexe.jpg``; lone surrogates cannot be saved."""
    return "".join(
        "_"
        if 0xD800 <= ord(c) <= 0xDFFF or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
        else c
        for c in name
    )


def package_name(name: str) -> str:
    """A name the format accepts, changed as little as possible (keep mode keeps names)."""
    name = unicodedata.normalize("NFC", name).strip()
    name = _visible(_FORBIDDEN_IN_PACKAGE.sub("_", name)).lstrip(".")
    return _shorten(name.strip()) or "file"


def safe_output_name(name: str) -> str:
    """A name safe to create on Windows, macOS and Linux, from a name a package chose.

    Packages can be hostile: ``../../x``, ``C:\\x``, ``CON.txt``, ``<img onerror=…>``, NUL
    bytes, trailing dots or spaces that Windows drops, hidden dot-files.
    """
    name = unicodedata.normalize("NFC", name)
    name = _visible(_FORBIDDEN_ON_DISK.sub("_", name))
    name = name.strip().strip(".").strip()
    name = name.lstrip(".") or "file"
    if _WINDOWS_RESERVED.match(name):
        name = f"_{name}"
    return _shorten(name).rstrip(". ") or "file"


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2).ext`` … so that no two differ only by letter case."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    candidate = name
    number = 2
    while candidate.casefold() in taken:
        candidate = _shorten(f"{stem} ({number}){dot}{ext}")
        number += 1
    taken.add(candidate.casefold())
    return candidate


# ---------------------------------------------------------------------------------------------
# the manifest and view data


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class PayloadBuilder:
    """Turns cleaned files into records and collects the manifest describing them.

    ``views=False`` (the OpenPGP/ZIP payload) leaves out the view records, which only the
    browser viewer uses; the manifest still describes each image. ``defer_hash=True`` leaves each
    entry's ``sha256`` empty for the caller to fill in from the encoded record, so the hashing
    can run on the encoder's threads instead of this one.
    """

    def __init__(
        self,
        *,
        sender: str = "",
        note: str = "",
        deidentification: Deidentification = "deidentified",
        created: datetime | None = None,
        views: bool = True,
        defer_hash: bool = False,
    ) -> None:
        self.defer_hash = defer_hash
        self.sender = sender
        self.note = note
        self.deidentification = deidentification
        self.created = (created or _utc_now()).astimezone(UTC)
        self.views = views
        self.entries: list[dict[str, Any]] = []
        self._taken: set[str] = {MANIFEST_NAME.casefold()}

    @property
    def created_text(self) -> str:
        return self.created.strftime("%Y-%m-%dT%H:%M:%SZ")

    def records_for(self, clean: CleanFileLike) -> list[PayloadRecord]:
        """The file's record (and its view record, if the viewer needs one); notes the entry."""
        name = unique_name(package_name(clean.name), self._taken)
        data = clean.data
        digest = None if self.defer_hash else hashlib.sha256(data).hexdigest()
        entry: dict[str, Any] = {"name": name, "size": len(data), "sha256": digest}
        rg = clean.radiograph
        records: list[PayloadRecord] = []
        file_record = PayloadRecord(name, "file", data, sha256=digest)
        if rg is None:
            entry["kind"] = "other"
        else:
            entry["kind"] = rg.kind.value
            entry["format"] = rg.format
            if rg.modality:
                entry["modality"] = rg.modality
            try:
                view = _prepare_view(rg, data, name, self._taken, with_records=self.views)
            except (FileProblem, ValueError) as problem:
                # Pixels that cannot be decoded (or are wider than 16 bits): the file is still
                # sent and downloadable; only the in-browser view is missing.
                log.warning("no browser view for %s: %s", name, problem)
                view = None
            if view is not None:
                entry["image"] = view.image
                if not self.views:
                    view.image.pop("view", None)
                file_record.compress = view.compress_file
                file_record.predict = view.file_predict
                if view.record is not None:
                    records.append(view.record)
            else:
                file_record.compress = rg.format not in _COMPRESSED_FORMATS
        self.entries.append(entry)
        return [file_record, *records]

    def manifest_data(self, *, part: int = 1, parts: int = 1) -> bytes:
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "created": self.created_text,
            "sender": self.sender,
            "note": self.note,
            "part": part,
            "parts": parts,
            "deidentification": self.deidentification,
            "files": self.entries,
        }
        return json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")

    def manifest(self, *, part: int = 1, parts: int = 1) -> PayloadRecord:
        return PayloadRecord(MANIFEST_NAME, "manifest", self.manifest_data(part=part, parts=parts))


@dataclass
class _View:
    image: dict[str, Any]
    record: PayloadRecord | None
    file_predict: Predict | None
    compress_file: bool


def _spacing(rg: Radiograph) -> dict[str, Any] | None:
    spacing = rg.measurement_spacing
    return spacing.to_json() if spacing is not None else None


def _prepare_view(
    rg: Radiograph, data: bytes, name: str, taken: set[str], *, with_records: bool
) -> _View | None:
    from dentsend.intake import Kind

    if rg.kind is Kind.DICOM:
        return _dicom_view(rg, data, name, taken, with_records=with_records)
    return _raster_view(rg, name, taken, with_records=with_records)


def _image_entry(rg: Radiograph, **overrides: Any) -> dict[str, Any]:
    image: dict[str, Any] = {
        "rows": rg.rows,
        "columns": rg.columns,
        "frames": rg.frames,
        "samples": rg.samples_per_pixel,
        "bits_allocated": rg.bits_allocated,
        "bits_stored": rg.bits_stored,
        "signed": rg.signed,
        "photometric": rg.photometric,
    }
    image.update(overrides)
    return image


def _rescale(rg: Radiograph) -> dict[str, float]:
    ds = rg.dataset
    slope, intercept = 1.0, 0.0
    if ds is not None:
        with contextlib.suppress(TypeError, ValueError):
            slope = float(ds.get("RescaleSlope", 1) or 1)
        with contextlib.suppress(TypeError, ValueError):
            intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return {"slope": slope, "intercept": intercept}


def _windows(
    rg: Radiograph, grey: bool, native: tuple[bytes, int] | None = None
) -> list[dict[str, Any]]:
    """The file's windows; else, for deep grey images, one from the histogram of frame 1."""
    windows = [w.to_json() for w in rg.windows]
    if windows or not grey or rg.bits_stored <= 8:
        return windows
    window = histogram_window(rg, native)
    return [window] if window is not None else []


def _grid_step(rows: int, columns: int) -> int:
    return max(1, int((rows * columns / 40_000) ** 0.5))


def histogram_window(
    rg: Radiograph, native: tuple[bytes, int] | None = None
) -> dict[str, Any] | None:
    """A window over the 0.5–99.5 % range of frame 1's modality values.

    The same percentiles as the desktop app (``render.DEFAULT_WINDOW_PERCENTILES``), counted on
    a regular grid of about 40,000 pixels (every row and column for small images, every sixth of
    an intraoral one): the same window to within a few values, at a fraction of the work.
    ``native`` (file bytes, pixel offset) reads unsigned native pixels in place instead of
    decoding the frame.
    """
    import numpy as np

    from dentsend.render import DEFAULT_WINDOW_PERCENTILES

    if native is not None and not rg.signed and rg.bits_allocated in (8, 16):
        data, offset = native
        dtype = np.dtype("<u2") if rg.bits_allocated == 16 else np.dtype("u1")
        stored = np.frombuffer(data, dtype, rg.rows * rg.columns, offset)
        mask = dtype.type((1 << rg.bits_stored) - 1)
        step = _grid_step(rg.rows, rg.columns)
        values = np.bitwise_and(stored.reshape(rg.rows, rg.columns)[::step, ::step], mask)
    else:
        values = rg.frame(0)
        if values.ndim != 2:
            return None
        step = _grid_step(*values.shape)
        values = values[::step, ::step]
    if values.dtype.kind not in "iu" or not values.size:
        return None
    sample = values.astype(np.int64).ravel()
    low = int(sample.min())
    counts = np.bincount(sample - low)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    picks = []
    for percent in DEFAULT_WINDOW_PERCENTILES:
        rank = max(1, min(total, int(np.ceil(total * percent / 100.0))))
        picks.append(int(np.searchsorted(cumulative, rank)) + low)
    rescale = _rescale(rg)
    first, last = (v * rescale["slope"] + rescale["intercept"] for v in picks)
    first, last = min(first, last), max(first, last)
    return {
        "center": (first + last) / 2,
        "width": max(last - first, 1.0),
        "explanation": "from histogram",
    }


def _pixel_data_offset(rg: Radiograph, data: bytes, expected: int) -> int | None:
    """Where the native pixel values start in the file's bytes, checked against pydicom."""
    ds = rg.dataset
    if ds is None or "PixelData" not in ds:
        return None
    element = ds["PixelData"]
    offset = getattr(element, "file_tell", None)
    value = element.value
    if not isinstance(offset, int) or not isinstance(value, bytes) or len(value) < expected:
        return None
    # pydicom's file_tell is the value's position; a spot check at both ends confirms it
    # without comparing megabytes.
    ends = min(expected, 4096)
    if (
        offset + expected > len(data)
        or data[offset : offset + ends] != value[:ends]
        or data[offset + expected - ends : offset + expected] != value[expected - ends : expected]
    ):
        return None
    return offset


_DICOM_COLOURS = (
    "RGB",
    "PALETTE COLOR",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_ICT",
    "YBR_RCT",
    "YBR_PARTIAL_420",
)
_JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
#: Photometric interpretations whose JPEG frames a browser decodes to the right values.
_BROWSER_JPEG = ("MONOCHROME1", "MONOCHROME2", "YBR_FULL", "YBR_FULL_422")


def _dicom_view(
    rg: Radiograph, data: bytes, name: str, taken: set[str], *, with_records: bool
) -> _View | None:
    """Where the viewer finds a DICOM file's values, cheapest first.

    1. Native little-endian grey or RGB: in the file itself ("dicom-native"), no copy.
    2. A single 8-bit JPEG baseline frame (intraoral photos): the frame is a JPEG the browser
       decodes itself ("image"), about the file's size instead of four times it decoded.
    3. Anything else (JPEG 2000, JPEG-LS, lossless JPEG, RLE, big endian, palette, YBR):
       decoded here to plain values ("raw"), so the browser needs no codec.
    """
    from dentsend.bundle.predictor import Predict

    ts = rg.transfer_syntax or ""
    ds = rg.dataset
    planar = int(ds.get("PlanarConfiguration", 0) or 0) if ds is not None else 0
    samples = rg.samples_per_pixel
    grey = samples == 1 and rg.photometric in ("MONOCHROME1", "MONOCHROME2")
    if not grey and rg.photometric not in _DICOM_COLOURS:
        return None
    file_predict = None
    compress_file = ts not in _DEFLATED_TS and not _is_encapsulated(ts)
    offset = None
    if ts in _NATIVE_LITTLE_ENDIAN and rg.bits_allocated in (8, 16):
        sample_bytes = rg.bits_allocated // 8
        expected = rg.rows * rg.columns * rg.frames * samples * sample_bytes
        offset = _pixel_data_offset(rg, data, expected)
    native = (data, offset) if offset is not None and samples == 1 else None
    common: dict[str, Any] = {"rescale": _rescale(rg), "windows": _windows(rg, grey, native)}
    spacing = _spacing(rg)
    if spacing is not None:
        common["spacing"] = spacing
    if offset is not None:
        by_pixel = samples == 1 or planar == 0
        sample_bytes = rg.bits_allocated // 8
        file_predict = Predict(
            offset=offset,
            length=rg.rows * rg.columns * rg.frames * samples * sample_bytes,
            sample_bytes=sample_bytes,
            row_samples=rg.columns * (samples if by_pixel else 1),
            pixel_samples=samples if by_pixel else 1,
        )
        if grey or (samples == 3 and rg.photometric == "RGB" and planar == 0):
            view = {"kind": "dicom-native", "offset": offset}
            return _View(_image_entry(rg, **common, view=view), None, file_predict, compress_file)
    if (
        ts == _JPEG_BASELINE
        and rg.frames == 1
        and rg.bits_allocated == 8
        and rg.photometric in _BROWSER_JPEG
        and ds is not None
    ):
        record_name = unique_name(f"{name}.jpg", taken)
        image = _image_entry(
            rg,
            **common,
            photometric="RGB" if samples == 3 else rg.photometric,
            view={"kind": "image", "record": record_name},
        )
        record = None
        if with_records:
            from pydicom.encaps import generate_frames

            frame = next(generate_frames(ds.PixelData, number_of_frames=1))
            record = PayloadRecord(record_name, "view", bytes(frame), compress=False)
        return _View(image, record, None, compress_file)
    if rg.bits_allocated > 16:
        return None
    colour = not grey
    if not with_records:
        bits = 8 if rg.bits_allocated <= 8 and rg.photometric != "PALETTE COLOR" else 16
        image = _image_entry(
            rg,
            **common,
            samples=3 if colour else 1,
            bits_allocated=bits,
            bits_stored=min(rg.bits_stored, bits) if grey else bits,
            photometric="RGB" if colour else rg.photometric,
        )
        return _View(image, None, None, compress_file)
    raw = _raw_values(rg)
    bits = raw.dtype.itemsize * 8
    record_name = unique_name(f"{name}.view", taken)
    image = _image_entry(
        rg,
        **common,
        samples=3 if colour else 1,
        bits_allocated=bits,
        bits_stored=min(rg.bits_stored, bits) if grey else bits,
        signed=raw.dtype.kind == "i",
        photometric="RGB" if colour else rg.photometric,
        view={"kind": "raw", "record": record_name},
    )
    if colour:
        image["rescale"] = {"slope": 1.0, "intercept": 0.0}
    return _View(image, _raw_record(record_name, raw), file_predict, compress_file)


def _is_encapsulated(ts: str) -> bool:
    from pydicom.uid import UID

    try:
        return bool(UID(ts).is_encapsulated) if ts else False
    except ValueError:
        return False


def _raw_values(rg: Radiograph) -> np.ndarray:
    """Every frame's stored values, little endian, colour by pixel, as one array."""
    import numpy as np

    frames = []
    for index in range(rg.frames):
        values = rg.frame(index)
        if rg.photometric == "PALETTE COLOR" and rg.dataset is not None:
            from pydicom.pixels import apply_color_lut

            values = apply_color_lut(values, rg.dataset)
        if values.dtype.kind == "f" or values.dtype.itemsize > 2:
            raise ValueError("pixel values wider than 16 bits")
        if values.dtype == np.int8:
            values = values.astype(np.int16)
        frames.append(np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")))
    return np.stack(frames)


def _raw_record(name: str, values: np.ndarray) -> PayloadRecord:
    from dentsend.bundle.predictor import Predict

    frames = values.shape[0]
    rows, columns = values.shape[1], values.shape[2]
    samples = values.shape[3] if values.ndim == 4 else 1
    sample_bytes = values.dtype.itemsize
    data = values.tobytes()
    predict = Predict(
        offset=0,
        length=frames * rows * columns * samples * sample_bytes,
        sample_bytes=sample_bytes,
        row_samples=columns * samples,
        pixel_samples=samples,
    )
    return PayloadRecord(name, "view", data, True, predict)


def _raster_view(rg: Radiograph, name: str, taken: set[str], *, with_records: bool) -> _View | None:
    swap = rg.orientation in (5, 6, 7, 8)
    rows, columns = (rg.columns, rg.rows) if swap else (rg.rows, rg.columns)
    base = {
        "rows": rows,
        "columns": columns,
        "frames": 1,
        "samples": rg.samples_per_pixel,
        "bits_allocated": 8,
        "bits_stored": 8,
        "signed": False,
        "photometric": rg.photometric,
        "rescale": {"slope": 1.0, "intercept": 0.0},
    }
    compress_file = rg.format not in _COMPRESSED_FORMATS
    browser_reads = rg.format in ("JPEG", "PNG", "BMP") and rg.bits_stored <= 8
    if browser_reads:
        image = {
            **base,
            "windows": [],
            "orientation": rg.orientation,
            "view": {"kind": "image", "record": name},
        }
        return _View(image, None, None, compress_file)
    import numpy as np

    from dentsend.render import apply_orientation

    grey = rg.samples_per_pixel == 1
    bits = 16 if rg.bits_stored > 8 else 8
    record_name = unique_name(f"{name}.view", taken)
    image = {
        **base,
        "frames": rg.frames,
        "bits_allocated": bits,
        "bits_stored": bits,
        "windows": _windows(rg, grey),
        "view": {"kind": "raw", "record": record_name},
    }
    if not with_records:
        return _View(image, None, None, compress_file)
    frames = []
    for index in range(rg.frames):
        values = rg.frame(index)
        if values.dtype.kind == "f" or values.dtype.itemsize > 2:
            return None
        values = apply_orientation(values, rg.orientation)
        frames.append(np.ascontiguousarray(values, dtype="<u2" if bits == 16 else "u1"))
    return _View(image, _raw_record(record_name, np.stack(frames)), None, compress_file)


# ---------------------------------------------------------------------------------------------
# the standard ZIP (OpenPGP payload, and what "Download all" and `open` give)

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def write_zip(
    records: Iterable[PayloadRecord], out: IO[bytes], *, created: datetime | None = None
) -> None:
    """A plain ZIP of the file and manifest records (views are left out), streamed to ``out``.

    Entries are deflated where the format is not already compressed; any unzip tool opens it.
    """
    when = (created or _utc_now()).astimezone(UTC)
    date_time = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    if when.year < 1980:
        date_time = _ZIP_TIME
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        for record in records:
            if record.role == "view":
                continue
            info = zipfile.ZipInfo(record.name, date_time=date_time)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED if record.compress else zipfile.ZIP_STORED
            archive.writestr(info, record.data, compresslevel=6)


def zip_bytes(records: Iterable[PayloadRecord], *, created: datetime | None = None) -> bytes:
    buffer = io.BytesIO()
    write_zip(records, buffer, created=created)
    return buffer.getvalue()


class UnsafeArchive(DentsendError):
    """A received ZIP that cannot be unpacked safely; the message says why, in one sentence."""


@dataclass(frozen=True)
class UnpackLimits:
    """How much a received package may unpack to: the ZIP inside an OpenPGP message, or the
    records of an HTML package. Bombs stop here, before anything is decoded or written."""

    max_entries: int = 10_000
    max_total: int = 16 << 30
    max_entry: int = 4 << 30
    #: Radiographs compress 1.5–20×; a bomb reaches 1000× and more.
    max_ratio: float = 200.0
    #: Up to this much, any ratio is accepted (a few blank test images compress very well).
    ratio_applies_above: int = 16 << 20

    def expands_too_much(self, unpacked: int, packed: int) -> bool:
        return unpacked > self.ratio_applies_above and unpacked > self.max_ratio * max(packed, 1)


def is_zip(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


@dataclass
class ZipEntry:
    name: str
    """The entry's name as stored (already checked to be a plain, safe name)."""
    info: zipfile.ZipInfo


class ReceivedZip:
    """A ZIP from a package, checked entry by entry before anything is written.

    :meth:`check` reads every entry once (CRC, sizes, limits, manifest SHA-256s); after it
    passed, :meth:`extract` writes the files.
    """

    def __init__(self, data: bytes, *, limits: UnpackLimits | None = None) -> None:
        self.limits = limits or UnpackLimits()
        self._packed = len(data)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UnsafeArchive(f"the archive is damaged ({exc})") from None
        self.entries = self._entries()
        self.manifest: dict[str, Any] | None = None

    def _entries(self) -> list[ZipEntry]:
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_entries:
            raise UnsafeArchive(f"the archive holds too many files ({len(infos)})")
        total = 0
        seen: set[str] = set()
        entries = []
        for info in infos:
            raw = info.filename
            mode = info.external_attr >> 16
            if info.is_dir():
                if raw.strip("/") and not _safe_member(raw.rstrip("/")):
                    raise UnsafeArchive(f"the archive holds an unsafe folder name ({raw!r})")
                continue
            if stat.S_ISLNK(mode):
                raise UnsafeArchive(f"the archive holds a link ({raw!r}), which is not allowed")
            if not _safe_member(raw):
                raise UnsafeArchive(f"the archive holds an unsafe file name ({raw!r})")
            key = raw.casefold()
            if key in seen:
                raise UnsafeArchive(f"the archive holds two files named {raw!r}")
            seen.add(key)
            if info.file_size > self.limits.max_entry:
                raise UnsafeArchive(f"{raw!r} in the archive is too large to unpack")
            if self.limits.expands_too_much(info.file_size, info.compress_size):
                raise UnsafeArchive(f"{raw!r} expands too much to be genuine (a zip bomb)")
            total += info.file_size
            if total > self.limits.max_total:
                raise UnsafeArchive("the archive unpacks to more than dentsend accepts")
            if self.limits.expands_too_much(total, self._packed):
                raise UnsafeArchive("the archive expands too much to be genuine (a zip bomb)")
            entries.append(ZipEntry(raw, info))
        return entries

    def _read(self, entry: ZipEntry) -> Iterator[bytes]:
        """An entry's bytes in pieces; never more than its declared size (CRC checked at end)."""
        produced = 0
        try:
            with self._zip.open(entry.info) as member:
                while piece := member.read(1 << 20):
                    produced += len(piece)
                    if produced > entry.info.file_size:
                        raise UnsafeArchive(f"{entry.name!r} is larger than the archive says")
                    yield piece
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            # RuntimeError: encrypted members; NotImplementedError: unknown compression.
            raise UnsafeArchive(f"{entry.name!r} in the archive cannot be read ({exc})") from None
        if produced != entry.info.file_size:
            raise UnsafeArchive(f"{entry.name!r} is shorter than the archive says")

    def check(self) -> None:
        """Read everything once; check the manifest's sizes and SHA-256s when there is one."""
        digests: dict[str, tuple[int, str]] = {}
        for entry in self.entries:
            h = hashlib.sha256()
            size = 0
            chunks: list[bytes] = []
            for piece in self._read(entry):
                h.update(piece)
                size += len(piece)
                if entry.name == MANIFEST_NAME and size <= 16 << 20:
                    chunks.append(piece)
            digests[entry.name] = (size, h.hexdigest())
            if entry.name == MANIFEST_NAME:
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    value = json.loads(b"".join(chunks).decode("utf-8"))
                    if isinstance(value, dict) and value.get("format") == MANIFEST_FORMAT:
                        self.manifest = value
        if self.manifest is None:
            return
        files = self.manifest.get("files")
        if not isinstance(files, list):
            raise UnsafeArchive("the archive's manifest is damaged")
        listed = {MANIFEST_NAME}
        for item in files:
            if not isinstance(item, dict):
                raise UnsafeArchive("the archive's manifest is damaged")
            name = item.get("name")
            if not isinstance(name, str) or name not in digests:
                raise UnsafeArchive(f"a file the manifest lists is missing ({name!r})")
            if digests[name] != (item.get("size"), item.get("sha256")):
                raise UnsafeArchive(f"{name!r} differs from what the manifest says")
            listed.add(name)
        # Every file is checked against the manifest, so none may be left out of it.
        for name in digests.keys() - listed:
            raise UnsafeArchive(f"{name!r} is in the archive but not in its manifest")

    def output_name(self, entry: ZipEntry) -> str:
        """The name to save an entry under: the parts of a split package each keep their
        manifest when opened into one folder."""
        name = entry.name.rsplit("/", 1)[-1]
        manifest = self.manifest or {}
        part, parts = manifest.get("part"), manifest.get("parts")
        if (
            entry.name == MANIFEST_NAME
            and isinstance(part, int)
            and isinstance(parts, int)
            and 1 < parts <= 10_000
        ):
            return f"manifest-part-{part}-of-{parts}.json"
        return name

    def extract(self, folder: OutputFolder) -> None:
        for entry in self.entries:
            with folder.create(self.output_name(entry)) as out:
                for piece in self._read(entry):
                    out.write(piece)


def _safe_member(name: str) -> bool:
    """A ZIP member name that cannot escape the target folder or hide a trick."""
    if not name or len(name.encode("utf-8")) > 1024 or "\x00" in name or "\\" in name:
        return False
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return False
    parts = name.split("/")
    return all(part not in ("", ".", "..") for part in parts)


# ---------------------------------------------------------------------------------------------
# writing received files


class OutputFolder:
    """Received files, written under temporary names and renamed into place together.

    Names are made safe (:func:`safe_output_name`) and unique; an existing file is never
    overwritten. If anything fails before :meth:`commit`, every temporary file is removed and
    the folder is left as it was.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._taken: set[str] = set()
        self._pending: list[tuple[Path, Path]] = []
        self._created_folder = False

    def plan(self, names: Iterable[str]) -> list[str]:
        """The names the files will get; fails if one already exists (nothing is written)."""
        taken: set[str] = set()
        planned = [unique_name(safe_output_name(n), taken) for n in names]
        for name in planned:
            if (self.folder / name).exists():
                raise DentsendError(
                    f"{self.folder.name or self.folder}: already holds {name}; "
                    "choose an empty folder so nothing is overwritten"
                )
        return planned

    def open_file(self, name: str) -> BinaryIO:
        """A new file, written under a temporary name until :meth:`commit`; close it yourself."""
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            self._created_folder = True
        final = self.folder / unique_name(safe_output_name(name), self._taken)
        if final.exists():
            raise DentsendError(
                f"{self.folder.name or self.folder}: already holds {final.name}; "
                "choose an empty folder so nothing is overwritten"
            )
        temp = self.folder / f".{secrets.token_hex(8)}.dentsend-part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temp, flags, 0o600)
        self._pending.append((temp, final))
        return os.fdopen(fd, "wb")

    @contextlib.contextmanager
    def create(self, name: str) -> Iterator[BinaryIO]:
        with self.open_file(name) as handle:
            yield handle

    def commit(self) -> list[Path]:
        """Rename every file into place; if one rename fails, undo the others."""
        done: list[Path] = []
        try:
            for temp, final in self._pending:
                try:
                    move_without_replacing(temp, final)
                except FileExistsError:
                    raise DentsendError(
                        f"{final.name} appeared in the output folder meanwhile; "
                        "nothing was overwritten"
                    ) from None
                done.append(final)
        except BaseException:
            for path in done:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        self._pending = []
        return done

    def abort(self) -> None:
        for temp, _ in self._pending:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self._pending = []
        if self._created_folder:
            with contextlib.suppress(OSError):
                self.folder.rmdir()

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is not None:
            self.abort()
