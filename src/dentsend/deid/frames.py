"""Only pixels in Pixel Data: nothing hidden inside compressed frames, around them or in the
unused bits of native pixels.

Software that wraps a camera JPEG into DICOM keeps the camera's EXIF (and whatever comment the
practice software wrote) inside the frames; a JPEG 2000 codestream carries comments in its main
and tile-part headers and may come wrapped in a JP2 file with XML boxes; an RLE frame has room
in its header, between and after its segments; bytes can also hide after the last frame, in
extra fragments or in the offset table, where no viewer shows them. Frames are edited as byte
streams: nothing is decoded and the compressed image data is copied unchanged, so the pixels
stay exactly what they were.

A frame that cannot be taken apart is never passed on unchecked: the file is refused with one
sentence (:class:`~dentsend.errors.FileProblem`), since what cannot be parsed cannot be cleaned.
Native pixels lose the bits above High Bit, which hold no pixel value but can hold anything
(the retired way of storing overlays, or a hidden message).
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dentsend.deid.raster import strip_jpeg_stream
from dentsend.deid.report import Change, FileReport, shown
from dentsend.errors import FileProblem

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

log = logging.getLogger(__name__)

_JPEG_FAMILY = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
}
_JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
_JPEG_2000 = {
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}
_RLE = "1.2.840.10008.1.2.5"

_UNCHECKABLE = "has compressed frames that cannot be checked for hidden text"

FrameCleaner = Callable[[bytes], tuple[bytes, list[Change]]]


def tidy_pixel_data(
    dataset: Dataset, frames: int, report: FileReport, path: Path, keep_bits: frozenset[int]
) -> None:
    """Leave only the pixels in Pixel Data (see the module docstring).

    ``keep_bits`` are bit positions above High Bit that hold overlays the user chose to keep
    (Clean Graphics); every other bit above High Bit is cleared.
    """
    if "PixelData" not in dataset or not dataset["PixelData"].value:
        return
    ts = dataset.file_meta.TransferSyntaxUID
    if ts.is_encapsulated:
        _tidy_frames(dataset, frames, report, path)
    else:
        _trim_native(dataset, report)
        cleared = mask_unused_bits(dataset, keep_bits)
        if cleared:
            report.add(
                "(7FE0,0010)",
                "bits above High Bit (no part of the pixel values)",
                "removed",
                f"<set in {cleared} pixels>",
                None,
            )


def _trim_native(dataset: Dataset, report: FileReport) -> None:
    from pydicom.pixels.utils import get_expected_length

    value = dataset["PixelData"].value
    try:
        expected = int(get_expected_length(dataset, "bytes"))
    except (AttributeError, KeyError, TypeError, ValueError):
        return
    expected += expected % 2
    if len(value) > expected:
        hidden = value[expected:]
        if hidden.strip(b"\x00"):
            report.add(
                "(7FE0,0010)",
                "data after the last frame",
                "removed",
                f"<{len(hidden)} bytes>",
                None,
            )
        dataset.add(_new_value(dataset, value[:expected], undefined=False))


def mask_unused_bits(dataset: Dataset, keep: frozenset[int] = frozenset()) -> int:
    """Clear the bits above High Bit of native pixel data; the number of pixels changed.

    Decoders ignore these bits (pydicom masks them, viewers do too), so the pixel values stay
    the same; for signed pixels the bits become the sign extension, which is how decoders read
    them. Bit positions in ``keep`` stay as they are.
    """
    import numpy as np

    ts = dataset.file_meta.TransferSyntaxUID
    bits_allocated = int(dataset.get("BitsAllocated", 0) or 0)
    bits_stored = int(dataset.get("BitsStored", bits_allocated) or bits_allocated)
    high_bit = int(dataset.get("HighBit", bits_stored - 1))
    # decoders take BitsStored bits even when HighBit says fewer: never clear one of those
    high_bit = max(high_bit, bits_stored - 1)
    if ts.is_encapsulated or bits_allocated not in (8, 16, 32):
        return 0
    if not 0 <= high_bit < bits_allocated - 1:
        return 0
    raw = dataset.PixelData
    order = "<" if ts.is_little_endian else ">"
    dtype = np.dtype(f"{order}u{bits_allocated // 8}")
    usable = len(raw) - len(raw) % dtype.itemsize
    values = np.frombuffer(raw[:usable], dtype=dtype)
    full = (1 << bits_allocated) - 1
    value_bits = (1 << (high_bit + 1)) - 1
    kept = sum(1 << bit for bit in keep if high_bit < bit < bits_allocated)
    unused = full & ~value_bits & ~kept
    signed = int(dataset.get("PixelRepresentation", 0) or 0) == 1
    if signed:
        # the bits above High Bit repeat the sign bit (bit High Bit of the value)
        negative = (values >> high_bit) & 1
        wanted = np.where(negative == 1, dtype.type(unused), dtype.type(0)).astype(dtype)
    else:
        wanted = np.zeros_like(values)
    changed = (values & dtype.type(unused)) != wanted
    count = int(np.count_nonzero(changed))
    if not count:
        return 0
    cleaned = (values & dtype.type(full & ~unused)) | wanted
    dataset.add(
        _new_value(dataset, cleaned.astype(dtype).tobytes() + raw[usable:], undefined=False)
    )
    return count


# --------------------------------------------------------------------------------------------
# encapsulated frames


def _tidy_frames(dataset: Dataset, frames: int, report: FileReport, path: Path) -> None:
    from pydicom.encaps import encapsulate, generate_frames

    ts = dataset.file_meta.TransferSyntaxUID
    clean = _frame_cleaner(dataset, str(ts))
    if clean is None:
        raise FileProblem(path, f"{_UNCHECKABLE} ({ts.name})")
    pixel_data = dataset["PixelData"]
    try:
        originals = list(generate_frames(pixel_data.value, number_of_frames=frames))
    except (ValueError, KeyError, EOFError, struct.error) as exc:
        log.info("compressed frames could not be split (%s)", type(exc).__name__)
        raise FileProblem(path, f"{_UNCHECKABLE} (the frames cannot be told apart)") from None
    if len(originals) != frames:
        raise FileProblem(
            path,
            f"{_UNCHECKABLE} ({len(originals)} compressed frames where it says {frames})",
        )
    cleaned = []
    for index, frame in enumerate(originals, start=1):
        try:
            new, changes = clean(frame)
        except (ValueError, IndexError, struct.error) as exc:
            where = f"frame {index}: " if len(originals) > 1 else ""
            raise FileProblem(path, f"{_UNCHECKABLE} ({where}{exc})") from None
        for change in changes:
            if change.tag == "trailing data" and not frame[len(new) :].strip(b"\x00"):
                continue  # the zero byte that pads a fragment to even length
            prefix = f"frame {index} " if len(originals) > 1 else ""
            report.add(
                f"(7FE0,0010) {change.tag}",
                f"{prefix}{change.name}",
                change.action,
                change.before,
                None,
            )
        cleaned.append(new)
    rebuilt = encapsulate(cleaned, has_bot=True)
    if rebuilt == pixel_data.value:
        return
    dataset.add(_new_value(dataset, rebuilt, undefined=True))
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in dataset:
            del dataset[keyword]


def _frame_cleaner(dataset: Dataset, ts: str) -> FrameCleaner | None:
    if ts in _JPEG_FAMILY or ts in _JPEG_LS:
        jpeg_ls = ts in _JPEG_LS

        def clean_jpeg(frame: bytes) -> tuple[bytes, list[Change]]:
            return strip_jpeg_stream(frame, jpeg_ls=jpeg_ls)

        return clean_jpeg
    if ts in _JPEG_2000:
        return clean_j2k
    if ts == _RLE:
        rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
        samples = int(dataset.get("SamplesPerPixel", 1) or 1)
        bits = int(dataset.get("BitsAllocated", 8) or 8)

        def clean_rle_frame(frame: bytes) -> tuple[bytes, list[Change]]:
            return clean_rle(frame, rows * columns, samples * ((bits + 7) // 8))

        return clean_rle_frame
    return None


def _new_value(dataset: Dataset, value: bytes, *, undefined: bool) -> DataElement:
    from pydicom import config
    from pydicom.dataelem import DataElement

    elem = dataset["PixelData"]
    return DataElement(
        elem.tag, elem.VR, value, is_undefined_length=undefined, validation_mode=config.IGNORE
    )


# --------------------------------------------------------------------------------------------
# JPEG 2000

_SOC, _SIZ, _SOT, _SOD, _EOC = 0xFF4F, 0xFF51, 0xFF90, 0xFF93, 0xFFD9
_COM, _TLM = 0xFF64, 0xFF55
#: Marker segments allowed in the main header (ISO/IEC 15444-1 and -15): CAP, SIZ, COD, COC,
#: TLM, PRF, PLM, CPF, QCD, QCC, RGN, POC, PPM, CRG, COM.
_MAIN_HEADER = {
    0xFF50, 0xFF51, 0xFF52, 0xFF53, 0xFF55, 0xFF56, 0xFF57, 0xFF59,
    0xFF5C, 0xFF5D, 0xFF5E, 0xFF5F, 0xFF60, 0xFF63, 0xFF64,
}  # fmt: skip
#: ...and in a tile-part header: COD, COC, QCD, QCC, RGN, POC, PPT, PLT, COM.
_TILE_HEADER = {0xFF52, 0xFF53, 0xFF5C, 0xFF5D, 0xFF5E, 0xFF5F, 0xFF61, 0xFF58, 0xFF64}
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def clean_j2k(data: bytes) -> tuple[bytes, list[Change]]:
    """A JPEG 2000 codestream without comments (main and every tile-part header), without a
    JP2 file wrapper (DICOM wants the bare codestream, PS3.5 A.4.4) and without data after
    its end. Tile-part lengths (Psot) follow the removed comments; a TLM index that would
    no longer match is dropped (decoders do not need it)."""
    changes: list[Change] = []
    if data.startswith(_JP2_SIGNATURE):
        data, boxes = _unwrap_jp2(data)
        changes.append(
            Change(
                "JP2 wrapper",
                "JPEG 2000 file format boxes around the codestream",
                "stripped",
                shown(", ".join(boxes)),
                None,
            )
        )
    if not data.startswith(b"\xff\x4f\xff\x51"):
        raise ValueError("not a JPEG 2000 codestream")
    n = len(data)

    def marker_at(i: int) -> int:
        if i + 2 > n:
            raise ValueError("the codestream ends early")
        return int.from_bytes(data[i : i + 2], "big")

    def segment_at(i: int, limit: int) -> bytes:
        if i + 4 > limit:
            raise ValueError("the codestream ends early")
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2 or i + 2 + length > limit:
            raise ValueError("a marker segment runs past its end")
        return data[i : i + 2 + length]

    def comment(segment: bytes, where: str) -> None:
        text = segment[6:].decode("latin-1", "replace")
        changes.append(
            Change("J2K comment", f"JPEG 2000 comment (COM) {where}", "stripped", shown(text), None)
        )

    main: list[tuple[int, bytes]] = []
    i = 2
    while (marker := marker_at(i)) != _SOT:
        if marker not in _MAIN_HEADER:
            raise ValueError(f"unexpected marker {marker:04X} in the main header")
        segment = segment_at(i, n)
        if marker == _COM:
            comment(segment, "in the main header")
        else:
            main.append((marker, segment))
        i += len(segment)

    parts: list[bytes] = []
    lengths_changed = False
    while (marker := marker_at(i)) != _EOC:
        if marker != _SOT:
            raise ValueError(f"unexpected marker {marker:04X} between tile-parts")
        if data[i + 2 : i + 4] != b"\x00\x0a" or i + 12 > n:
            raise ValueError("a damaged tile-part header")
        tile, psot, part, parts_count = struct.unpack(">HIBB", data[i + 4 : i + 12])
        if psot:
            end = i + psot
        else:  # the last tile-part runs to the end-of-codestream marker
            trimmed = len(data.rstrip(b"\x00"))
            if data[trimmed - 2 : trimmed] != b"\xff\xd9":
                raise ValueError("a tile-part of open length without an end marker")
            end = trimmed - 2
        if not i + 14 <= end <= n:
            raise ValueError("a tile-part runs past the end of the codestream")
        j, header, removed = i + 12, [], 0
        while (marker := marker_at(j)) != _SOD:
            if marker not in _TILE_HEADER:
                raise ValueError(f"unexpected marker {marker:04X} in a tile-part header")
            segment = segment_at(j, end)
            if marker == _COM:
                comment(segment, f"in tile {tile}")
                removed += len(segment)
            else:
                header.append(segment)
            j += len(segment)
        lengths_changed |= bool(removed)
        sot = b"\xff\x90\x00\x0a" + struct.pack(
            ">HIBB", tile, psot - removed if psot else 0, part, parts_count
        )
        parts.append(sot + b"".join(header) + data[j:end])
        i = end
    body = b"".join(s for m, s in main if not (m == _TLM and lengths_changed))
    out = data[:2] + body + b"".join(parts) + b"\xff\xd9"
    if i + 2 < n:
        changes.append(
            Change(
                "trailing data",
                "data after the end of the image",
                "stripped",
                f"<{n - i - 2} bytes>",
                None,
            )
        )
    return out, changes


def _unwrap_jp2(data: bytes) -> tuple[bytes, list[str]]:
    """The codestream of a JP2 file, and the names of the other boxes."""
    boxes: list[str] = []
    stream: bytes | None = None
    i, n = 0, len(data)
    while i < n:
        if i + 8 > n:
            if data[i:].strip(b"\x00"):
                raise ValueError("a damaged JP2 box")
            break  # the zero byte that pads the frame to even length
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        header = 8
        if length == 1:
            if i + 16 > n:
                raise ValueError("a damaged JP2 box")
            (length,) = struct.unpack(">Q", data[i + 8 : i + 16])
            header = 16
        elif length == 0:
            length = n - i
        if length < header or i + length > n:
            raise ValueError("a JP2 box runs past the end of the frame")
        if kind == b"jp2c":
            if stream is not None:
                raise ValueError("a JP2 file with two codestreams")
            stream = data[i + header : i + length]
        else:
            boxes.append(kind.decode("latin-1").strip())
        i += length
    if stream is None:
        raise ValueError("a JP2 file without a codestream")
    return stream, boxes


# --------------------------------------------------------------------------------------------
# RLE


def clean_rle(frame: bytes, plane: int, segments: int) -> tuple[bytes, list[Change]]:
    """An RLE Lossless frame (PS3.5 G) holding only its segments, each cut where it has
    decoded ``plane`` bytes: nothing in unused header offsets, gaps or segment tails."""
    if len(frame) < 64:
        raise ValueError("the RLE header is missing")
    header = struct.unpack("<16I", frame[:64])
    count = header[0]
    if count != segments or not 1 <= count <= 15 or plane <= 0:
        raise ValueError(f"{count} RLE segments where {segments} are expected")
    offsets = [*header[1 : 1 + count], len(frame)]
    if offsets[0] < 64 or any(b < a for a, b in itertools.pairwise(offsets)):
        raise ValueError("the RLE segment offsets are out of order")
    dropped = any(header[1 + count :]) or bool(frame[64 : offsets[0]].strip(b"\x00"))
    out_segments = []
    for k in range(count):
        source = frame[offsets[k] : offsets[k + 1]]
        segment = _rle_segment(source, plane)
        dropped |= bool(source[len(segment) :].strip(b"\x00")) or segment != source[: len(segment)]
        out_segments.append(segment + b"\x00" * (len(segment) % 2))
    starts, at = [], 64
    for segment in out_segments:
        starts.append(at)
        at += len(segment)
    out = struct.pack("<16I", count, *starts, *([0] * (15 - count))) + b"".join(out_segments)
    changes = []
    if dropped:
        changes.append(
            Change(
                "RLE hidden data",
                "data in the RLE frame that is no part of the image",
                "stripped",
                f"<{max(len(frame) - len(out), 0)} bytes>",
                None,
            )
        )
    return out, changes


def _rle_segment(data: bytes, plane: int) -> bytes:
    """The PackBits runs of ``data`` that decode the first ``plane`` bytes; a run that would
    decode past them is shortened."""
    pos, produced, n = 0, 0, len(data)
    while produced < plane:
        if pos >= n:
            raise ValueError("an RLE segment decodes fewer bytes than the image needs")
        head = data[pos]
        if head < 128:  # literal: the next head + 1 bytes
            count = head + 1
            if pos + 1 + count > n:
                raise ValueError("an RLE segment ends inside a run")
            if produced + count > plane:
                take = plane - produced
                return data[:pos] + bytes([take - 1]) + data[pos + 1 : pos + 1 + take]
            pos += 1 + count
        elif head > 128:  # replicate the next byte 257 - head times
            count = 257 - head
            if pos + 2 > n:
                raise ValueError("an RLE segment ends inside a run")
            if produced + count > plane:
                take = plane - produced
                return data[:pos] + bytes([257 - take if take > 1 else 0, data[pos + 1]])
            pos += 2
        else:  # 128: no operation
            pos += 1
            continue
        produced += count
    return data[:pos]
