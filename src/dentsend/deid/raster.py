"""Strip identifying metadata from JPEG, PNG, TIFF and BMP files without re-encoding the pixels.

Cameras, scanners and imaging software write the patient's name, the practice, the device serial
number, dates and GPS positions into EXIF, XMP, IPTC, comments, PNG text chunks and TIFF tags.
The pixels are left exactly as they are: JPEG by dropping marker segments (the entropy-coded data
is copied byte for byte, so decoding gives identical pixels), PNG by dropping chunks, TIFF by
rewriting the file structure around the same strips, BMP by cutting what is not header, palette
or pixels. What display needs stays: ICC profiles, the JFIF and Adobe segments (colour
transform), PNG colour chunks, and the EXIF orientation (rewritten as a minimal EXIF block that
says nothing else). Data hidden after the end of the image is dropped.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from dentsend.deid.icc import icc_hidden, normalise_icc
from dentsend.deid.report import Change, shown
from dentsend.errors import FileProblem

# --------------------------------------------------------------------------------------------
# entry point


def strip_metadata(
    data: bytes, fmt: str, path: Path, orientation: int = 1
) -> tuple[bytes, list[Change]]:
    """The file without its identifying metadata, and what was taken out."""
    strippers: dict[str, Callable[[bytes, Path, int], tuple[bytes, list[Change]]]] = {
        "JPEG": _strip_jpeg_file,
        "PNG": _strip_png,
        "TIFF": _strip_tiff,
        "BMP": _strip_bmp,
    }
    stripper = strippers.get(fmt)
    if stripper is None:
        raise FileProblem(path, f"is a {fmt} image, which dentsend cannot clean")
    try:
        return stripper(data, path, orientation)
    except FileProblem:
        raise
    except (ValueError, IndexError, struct.error, zlib.error) as exc:
        raise FileProblem(path, f"has damaged {fmt} structure ({exc})") from None


def minimal_exif(orientation: int) -> bytes:
    """A TIFF-structured EXIF block holding only the Orientation tag (little-endian)."""
    return (
        b"II*\x00"
        + struct.pack("<I", 8)
        + struct.pack("<H", 1)
        + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
        + struct.pack("<I", 0)
    )


def exif_summary(block: bytes) -> str:
    """The readable tags of an EXIF block (TIFF structure), for the report."""
    from PIL import ExifTags, Image

    exif = Image.Exif()
    try:
        exif.load(block)
        tags: dict[int, object] = dict(exif)
        for pointer in (0x8769, 0x8825):
            try:
                sub = exif.get_ifd(pointer)
            except Exception:  # noqa: S112 - an unreadable sub-IFD is summarised by size alone
                continue
            tags.pop(pointer, None)
            tags.update(sub)
    except Exception:
        return f"<{len(block)} bytes>"
    parts = []
    for tag, value in tags.items():
        name = ExifTags.TAGS.get(tag, f"0x{tag:04X}")
        if isinstance(value, bytes):
            text = _xp_text(tag, value) or f"<{len(value)} bytes>"
        else:
            text = str(value)
        parts.append(f"{name}={text.strip()}")
    return "; ".join(parts) or f"<{len(block)} bytes>"


def _xp_text(tag: int, value: bytes) -> str | None:
    """Windows XP tags (XPAuthor…) are UTF-16LE; UserComment has an 8-byte charset prefix."""
    if 0x9C9B <= tag <= 0x9C9F:
        return value.decode("utf-16-le", "replace").rstrip("\x00")
    if tag == 0x9286 and len(value) >= 8:
        prefix, text = value[:8], value[8:]
        if prefix.startswith(b"UNICODE"):
            return text.decode("utf-16-le", "replace").rstrip("\x00")
        return text.decode("latin-1").rstrip("\x00 ")
    return None


# --------------------------------------------------------------------------------------------
# JPEG

_SOI, _EOI, _SOS, _COM = 0xD8, 0xD9, 0xDA, 0xFE
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
#: The next marker after entropy-coded data: 0xFF not followed by stuffing (00), a restart
#: marker (D0-D7) or fill (FF).
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
#: In JPEG-LS scans a 0xFF is followed by a stuffed 0 bit, so only 0xFF 0x80-0xFF is a marker.
_NEXT_MARKER_LS = re.compile(rb"\xff[\x80-\xcf\xd8-\xfe]")


def _segments(data: bytes, jpeg_ls: bool = False) -> tuple[list[tuple[int, bytes, bytes]], int]:
    """``(marker, whole segment bytes, payload)`` in order up to EOI, and the offset after EOI.

    After each SOS the entropy-coded data is attached to that segment's bytes, so joining the
    kept segments rebuilds a valid stream.
    """
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("no JPEG start marker")
    result: list[tuple[int, bytes, bytes]] = [(_SOI, data[:2], b"")]
    i = 2
    n = len(data)
    while i < n:
        if data[i] != 0xFF:
            raise ValueError(f"expected a marker at byte {i}")
        while i < n and data[i] == 0xFF:
            i += 1
        if i >= n:
            break
        marker = data[i]
        start = i - 1
        i += 1
        if marker == _EOI:
            result.append((_EOI, b"\xff\xd9", b""))
            return result, i
        if marker in _STANDALONE:
            result.append((marker, data[start:i], b""))
            continue
        if i + 2 > n:
            raise ValueError("truncated segment")
        (length,) = struct.unpack(">H", data[i : i + 2])
        if length < 2 or i + length > n:
            raise ValueError("segment runs past the end of the file")
        end = i + length
        payload = data[i + 2 : end]
        if marker == _SOS:
            found = (_NEXT_MARKER_LS if jpeg_ls else _NEXT_MARKER).search(data, end)
            if found is None:
                break
            result.append((marker, data[start : found.start()], payload))
            i = found.start()
            continue
        result.append((marker, data[start:end], payload))
        i = end
    raise ValueError("no end-of-image marker (truncated JPEG)")


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


#: Segments that decoding needs: SOF0-15 (not C8, reserved), DHT, DAC, SOS, DQT, DNL, DRI, DHP,
#: EXP, and the markers SOI, EOI and RST0-7. Everything else is dropped unless listed below:
#: application segments other than JFIF, ICC and Adobe, comments, the JPGn extensions and
#: reserved markers.
_DECODING = {*range(0xC0, 0xC8), *range(0xC9, 0xE0)}
#: JPEG-LS frames (SOF55) and its parameter segments (LSE), which reuse two JPGn markers.
_JPEG_LS_SEGMENTS = {0xF7, 0xF8}
_ICC_PREFIX = b"ICC_PROFILE\x00"
_ICC_CHUNK = 65535 - 2 - len(_ICC_PREFIX) - 2
_ADOBE_LENGTH = 12  # "Adobe", version, flags0, flags1, colour transform


def _check_structure(marker: int, payload: bytes) -> None:
    """Raise ValueError unless a segment that decoding needs is exactly as long as what it
    holds: a frame or scan header, a table, a restart interval with extra bytes in it is a
    hiding place (and decoders refuse it anyway)."""
    n = len(payload)
    if (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xCC)) or marker in (0xDE, 0xF7):
        expected = 6 + 3 * payload[5] if n >= 6 else -1  # SOFn, DHP, SOF55: components
    elif marker == 0xDA:
        expected = 4 + 2 * payload[0] if n >= 1 else -1  # SOS: components of the scan
    elif marker in (0xDD, 0xDC):
        expected = 2  # DRI, DNL
    elif marker == 0xDF:
        expected = 1  # EXP
    elif marker == 0xCC:
        expected = n - n % 2  # DAC: pairs
    elif marker in (0xDB, 0xC4):
        at = 0
        while at < n:  # DQT, DHT: whole tables, one after another
            if marker == 0xDB:
                at += 1 + 64 * (2 if payload[at] >> 4 else 1)
            else:
                at += 17 + sum(payload[at + 1 : at + 17]) if at + 17 <= n else n + 1
        expected = at
    else:
        return
    if expected != n:
        raise ValueError(f"a JPEG segment FF{marker:02X} whose length does not fit its content")


def _jpeg_drop_reason(
    marker: int, payload: bytes, jpeg_ls: bool
) -> tuple[str, str, str | None] | None:
    """``(tag, name, before)`` if the segment goes, ``None`` if display needs it."""
    if marker == _COM:
        return "JPEG comment", "comment (COM)", payload.decode("latin-1").strip("\x00 ")
    if marker in _DECODING or (jpeg_ls and marker in _JPEG_LS_SEGMENTS):
        return None
    if 0xF0 <= marker <= 0xFD:
        return (
            "JPEG extension",
            f"JPEG extension segment JPG{marker - 0xF0}",
            f"<{len(payload)} bytes>",
        )
    if not 0xE0 <= marker <= 0xEF:
        return "JPEG reserved", f"reserved JPEG segment FF{marker:02X}", f"<{len(payload)} bytes>"
    n = marker - 0xE0
    if n == 0 and payload.startswith(b"JFIF\x00"):
        return None
    if n == 1 and payload.startswith(b"Exif\x00"):
        return "EXIF", "EXIF metadata (APP1)", exif_summary(payload[6:])
    if n == 1 and (payload.startswith(b"http://ns.adobe.com/xa") or b"<x:xmpmeta" in payload[:300]):
        return "XMP", "XMP metadata (APP1)", _xml_text(payload)
    if n == 2 and payload.startswith(_ICC_PREFIX):
        return None
    if n == 13:
        return "IPTC", "Photoshop/IPTC block (APP13)", _printable(payload)
    if n == 14 and payload.startswith(b"Adobe") and len(payload) >= _ADOBE_LENGTH:
        return None
    label = payload[:16].split(b"\x00")[0].decode("latin-1", "replace")
    return f"APP{n}", f"application segment APP{n} {label}".strip(), f"<{len(payload)} bytes>"


def strip_jpeg_stream(
    data: bytes, orientation: int = 1, *, jpeg_ls: bool = False
) -> tuple[bytes, list[Change]]:
    """A JPEG stream without metadata segments, comments, thumbnails or trailing data.

    Also used on the JPEG frames inside compressed DICOM and the strips of a JPEG-compressed
    TIFF, which may carry the same blocks. The segments that stay are cut to the length their
    format gives them (JFIF, Adobe) or rebuilt from what they are made of (the ICC profile).
    """
    changes: list[Change] = []
    out: list[bytes] = []
    exif_written = False
    icc_chunks: list[bytes] = []
    icc_at: int | None = None
    segments, image_end = _segments(data, jpeg_ls)
    for marker, whole, payload in segments:
        if marker == 0xE0 and payload.startswith(b"JFIF\x00") and len(payload) >= 14:
            if len(payload) > 14 and (payload[12] or payload[13]):
                changes.append(
                    Change(
                        "JFIF thumbnail",
                        "JFIF thumbnail image",
                        "stripped",
                        f"<{len(payload) - 14} bytes>",
                        None,
                    )
                )
            elif len(payload) > 14:
                changes.append(_extra_bytes("JFIF", "JFIF segment (APP0)", payload, 14))
            out.append(_segment(0xE0, payload[:12] + b"\x00\x00"))
            continue
        reason = _jpeg_drop_reason(marker, payload, jpeg_ls)
        if reason is None:
            _check_structure(marker, payload)
            if marker == 0xE2:
                icc_at = len(out) if icc_at is None else icc_at
                icc_chunks.append(payload)
            elif marker == 0xEE and len(payload) > _ADOBE_LENGTH:
                changes.append(
                    _extra_bytes("Adobe", "Adobe segment (APP14)", payload, _ADOBE_LENGTH)
                )
                out.append(_segment(0xEE, payload[:_ADOBE_LENGTH]))
            else:
                out.append(whole)
            continue
        tag, name, before = reason
        changes.append(Change(tag, name, "stripped", shown(before), None))
        if tag == "EXIF" and orientation != 1 and not exif_written:
            out.append(_segment(0xE1, b"Exif\x00\x00" + minimal_exif(orientation)))
            exif_written = True
            changes.append(
                Change(
                    "EXIF Orientation",
                    "image orientation",
                    "kept",
                    str(orientation),
                    str(orientation),
                )
            )
    if icc_at is not None:
        segments_icc, icc_changes = _jpeg_icc(icc_chunks)
        out[icc_at:icc_at] = segments_icc
        changes += icc_changes
    tail = len(data) - image_end
    if tail > 0:
        changes.append(
            Change(
                "trailing data",
                "data after the end of the image",
                "stripped",
                f"<{tail} bytes>",
                None,
            )
        )
    return b"".join(out), changes


def _extra_bytes(tag: str, name: str, payload: bytes, length: int) -> Change:
    return Change(
        f"{tag} extra bytes",
        f"bytes past the end of the {name}",
        "stripped",
        shown(payload[length:].decode("latin-1")),
        None,
    )


def _jpeg_icc(chunks: list[bytes]) -> tuple[list[bytes], list[Change]]:
    """The APP2 segments of the profile spread over ``chunks`` (numbered 1..n), normalised."""
    numbered: dict[int, bytes] = {}
    counts = set()
    for payload in chunks:
        body = payload[len(_ICC_PREFIX) :]
        if len(body) >= 2:
            numbered.setdefault(body[0], body[2:])
            counts.add(body[1])
    whole = None
    if len(counts) == 1 and sorted(numbered) == list(range(1, max(counts) + 1)):
        whole = normalise_icc(b"".join(numbered[k] for k in sorted(numbered)))
    if whole is None:
        size = sum(len(c) for c in chunks)
        return [], [
            Change("ICC", "damaged ICC colour profile", "stripped", f"<{size} bytes>", None)
        ]
    profile, hidden = whole
    pieces = [profile[k : k + _ICC_CHUNK] for k in range(0, len(profile), _ICC_CHUNK)]
    if len(pieces) > 255:
        return [], [Change("ICC", "oversized ICC colour profile", "stripped", None, None)]
    segments = [
        _segment(0xE2, _ICC_PREFIX + bytes((k, len(pieces))) + piece)
        for k, piece in enumerate(pieces, start=1)
    ]
    changes = []
    if hidden:
        changes.append(icc_hidden(hidden))
    return segments, changes


def _strip_jpeg_file(data: bytes, path: Path, orientation: int) -> tuple[bytes, list[Change]]:
    return strip_jpeg_stream(data, orientation)


def _xml_text(payload: bytes) -> str:
    text = payload.split(b"\x00", 1)[-1].decode("utf-8", "replace")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", text)).strip() or f"<{len(payload)} bytes>"


def _printable(payload: bytes) -> str:
    runs = re.findall(rb"[\x20-\x7e\xa0-\xff]{3,}", payload)
    return " ".join(r.decode("latin-1") for r in runs)[:500] or f"<{len(payload)} bytes>"


# --------------------------------------------------------------------------------------------
# PNG

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Chunks display needs; everything else (text, EXIF, time, private chunks, APNG frames that
#: the viewer would not show) is dropped.
_PNG_KEEP = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"iCCP",
    b"sBIT",
    b"pHYs",
    b"bKGD",
    b"hIST",
    b"cICP",
    b"mDCV",
    b"cLLI",
}
_TEXT_LIMIT = 64 * 1024  # enough to show a text chunk; a zTXt bomb is not inflated further


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    return inflater.decompress(data, _TEXT_LIMIT)


def _png_text(kind: bytes, payload: bytes) -> tuple[str, str]:
    """``(keyword, text)`` of a tEXt, zTXt or iTXt chunk."""
    keyword, _, rest = payload.partition(b"\x00")
    key = keyword.decode("latin-1", "replace")
    try:
        if kind == b"tEXt":
            return key, rest.decode("latin-1")
        if kind == b"zTXt":
            return key, _inflate(rest[1:]).decode("latin-1")
        compressed, _method = rest[0], rest[1]
        _language, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        raw = _inflate(text) if compressed else text
        return key, raw.decode("utf-8", "replace")
    except (IndexError, zlib.error):
        return key, f"<{len(payload)} bytes>"


#: PNG colour types: samples per pixel.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: The length of the fixed-size chunks; by colour type where it depends on it.
_PNG_LENGTHS: dict[bytes, int | dict[int, int]] = {
    b"IHDR": 13,
    b"gAMA": 4,
    b"cHRM": 32,
    b"sRGB": 1,
    b"pHYs": 9,
    b"cICP": 4,
    b"mDCV": 24,
    b"cLLI": 8,
    b"sBIT": {0: 1, 2: 3, 3: 3, 4: 2, 6: 4},
    b"bKGD": {0: 2, 2: 6, 3: 1, 4: 2, 6: 6},
    b"tRNS": {0: 2, 2: 6},
}
_ICC_LIMIT = 16 * 1024 * 1024  # far above any real profile; a bigger one is not inflated
_INFLATE_STEP = 1 << 20


def _strip_png(data: bytes, path: Path, orientation: int) -> tuple[bytes, list[Change]]:
    """Keep the chunks display needs, each cut to its specified length; the image data as one
    zlib stream holding exactly the image's bytes; the ICC profile, normalised."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("no PNG signature")
    chunks, i = _png_chunks(data)
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) < 13:
        raise ValueError("no image header")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1][:13])
    if colour not in _PNG_CHANNELS:
        raise ValueError(f"unknown colour type {colour}")
    out = [_PNG_SIGNATURE]
    changes: list[Change] = []
    palette = 0
    image_data_written = False
    for kind, payload in chunks:
        name = kind.decode("latin-1", "replace")
        if kind == b"IDAT":
            if image_data_written:
                continue
            if orientation != 1:
                out.append(_png_chunk(b"eXIf", minimal_exif(orientation)))
                changes.append(
                    Change(
                        "EXIF Orientation",
                        "image orientation",
                        "kept",
                        str(orientation),
                        str(orientation),
                    )
                )
            stream = b"".join(p for k, p in chunks if k == b"IDAT")
            expected = _png_raw_size(width, height, depth * _PNG_CHANNELS[colour], interlace)
            stream, extra = _png_image_data(stream, expected)
            changes += extra
            out.append(_png_chunk(b"IDAT", stream))
            image_data_written = True
        elif kind == b"iCCP":
            profile, extra = _png_icc(payload)
            changes += extra
            if profile is not None:
                out.append(_png_chunk(kind, profile))
        elif kind in _PNG_KEEP:
            kept = _png_spec_length(kind, payload, colour, depth, palette)
            if kept is None:
                changes.append(
                    Change(
                        f"PNG {name}",
                        f"chunk {name} (not valid for this image)",
                        "stripped",
                        f"<{len(payload)} bytes>",
                        None,
                    )
                )
                continue
            if len(kept) < len(payload):
                changes.append(_extra_bytes(f"PNG {name}", f"PNG {name} chunk", payload, len(kept)))
            if kind == b"PLTE":
                palette = len(kept) // 3
            out.append(_png_chunk(kind, kept))
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            key, text = _png_text(kind, payload)
            changes.append(
                Change(f"PNG {name} {key}", f"text chunk {key!r}", "stripped", shown(text), None)
            )
        elif kind == b"eXIf":
            changes.append(
                Change("PNG eXIf", "EXIF metadata", "stripped", shown(exif_summary(payload)), None)
            )
        elif kind == b"tIME":
            stamp = (
                "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(
                    *struct.unpack(">HBBBBB", payload[:7])
                )
                if len(payload) >= 7
                else None
            )
            changes.append(Change("PNG tIME", "last modification time", "stripped", stamp, None))
        else:
            changes.append(
                Change(f"PNG {name}", f"chunk {name}", "stripped", f"<{len(payload)} bytes>", None)
            )
    if not image_data_written:
        raise ValueError("no image data")
    if i < len(data):
        changes.append(
            Change(
                "trailing data",
                "data after the end of the image",
                "stripped",
                f"<{len(data) - i} bytes>",
                None,
            )
        )
    return b"".join(out), changes


def _png_chunks(data: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """``(kind, payload)`` of every chunk up to IEND, and the offset after IEND."""
    chunks = []
    i = len(_PNG_SIGNATURE)
    while True:
        if i + 8 > len(data):
            raise ValueError("truncated chunk")
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        end = i + 12 + length
        if end > len(data):
            raise ValueError("chunk runs past the end of the file")
        chunks.append((kind, data[i + 8 : i + 8 + length]))
        i = end
        if kind == b"IEND":
            return chunks, i


def _png_spec_length(
    kind: bytes, payload: bytes, colour: int, depth: int, palette: int
) -> bytes | None:
    """The chunk cut to the length the PNG specification gives it for this image, or
    ``None`` if it is too short or does not belong to an image of this colour type."""
    if kind == b"IEND":
        return b""
    if kind == b"PLTE":
        if colour != 3:
            return None  # a suggested palette for a true-colour image: display ignores it
        entries = min(len(payload) // 3, 1 << depth, 256)
        return payload[: 3 * entries] if entries else None
    if kind == b"hIST":
        return payload[: 2 * palette] if colour == 3 and len(payload) >= 2 * palette > 0 else None
    if kind == b"tRNS" and colour == 3:
        return payload[:palette] if palette else None
    spec = _PNG_LENGTHS.get(kind)
    if isinstance(spec, dict):
        spec = spec.get(colour)
    if spec is None or len(payload) < spec:
        return None
    return payload[:spec]


def _png_raw_size(width: int, height: int, bits_per_pixel: int, interlace: int) -> int:
    """The bytes the image data inflates to: every row, with its filter byte (PNG 8.2)."""

    def rows(w: int, h: int) -> int:
        return h * (1 + (w * bits_per_pixel + 7) // 8) if w and h else 0

    if not interlace:
        return rows(width, height)
    total = 0
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                           (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):  # fmt: skip
        total += rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy)
    return total


def _png_image_data(stream: bytes, expected: int) -> tuple[bytes, list[Change]]:
    """The zlib stream of the image data holding exactly the image's ``expected`` bytes.

    Decoders stop at the end of the image and at the end of the stream, so bytes after the
    stream, or inflated bytes past the image, are read by nobody: they go (the latter by
    compressing the image's bytes again, which leaves every pixel as it was).
    """
    inflater = zlib.decompressobj()
    pending, total = stream, 0
    while not inflater.eof and total <= expected:
        piece = inflater.decompress(pending, _INFLATE_STEP)
        pending = inflater.unconsumed_tail
        total += len(piece)
        if not piece and not pending:
            break
    if total < expected:
        raise ValueError("the image data ends before the image does")
    if total > expected:
        return _recompressed(stream, expected), [
            Change(
                "PNG IDAT",
                "data past the end of the image in its data stream",
                "stripped",
                None,
                None,
            )
        ]
    tail = inflater.unused_data
    if not tail:
        return stream, []
    return stream[: len(stream) - len(tail)], [
        Change(
            "PNG IDAT", "data after the image data stream", "stripped", f"<{len(tail)} bytes>", None
        )
    ]


def _recompressed(stream: bytes, size: int) -> bytes:
    """The first ``size`` inflated bytes of ``stream`` as a new zlib stream."""
    inflater, deflater = zlib.decompressobj(), zlib.compressobj(9)
    pieces, pending, left = [], stream, size
    while left > 0:
        piece = inflater.decompress(pending, min(_INFLATE_STEP, left))
        pending = inflater.unconsumed_tail
        left -= len(piece)
        pieces.append(deflater.compress(piece))
        if not piece:
            raise ValueError("the image data ends before the image does")
    pieces.append(deflater.flush())
    return b"".join(pieces)


def _png_icc(payload: bytes) -> tuple[bytes | None, list[Change]]:
    """The iCCP chunk with a neutral name and the profile normalised (``None``: dropped)."""
    name, _, rest = payload.partition(b"\x00")
    changes = []
    if name.strip().lower() not in (b"", b"icc profile", b"icc_profile"):
        # the profile's name is free text: keep the profile, not the name
        changes.append(
            Change(
                "PNG iCCP name",
                "colour profile name",
                "stripped",
                shown(name.decode("latin-1")),
                None,
            )
        )
    profile, complete, after = b"", False, b""
    if rest[:1] == b"\x00":  # compression method 0, the only one there is
        try:
            inflater = zlib.decompressobj()
            profile = inflater.decompress(rest[1:], _ICC_LIMIT)
            complete, after = inflater.eof, inflater.unused_data
        except zlib.error:
            complete = False
    whole = normalise_icc(profile) if complete else None
    if whole is None:
        changes.append(
            Change(
                "PNG iCCP",
                "damaged ICC colour profile",
                "stripped",
                f"<{len(payload)} bytes>",
                None,
            )
        )
        return None, changes
    normalised, hidden = whole
    if hidden or after:
        changes.append(icc_hidden(hidden + len(after)))
    return b"ICC profile\x00\x00" + zlib.compress(normalised, 9), changes


# --------------------------------------------------------------------------------------------
# TIFF

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
#: Tags needed to decode and display the pages; every other tag (descriptions, names, dates,
#: software, EXIF/GPS/XMP/IPTC pointers, sub-images, vendor tags) is dropped.
_TIFF_KEEP = {
    254,
    255,
    256,
    257,
    258,
    259,
    262,
    263,
    264,
    265,
    266,
    274,
    277,
    278,
    280,
    281,
    282,
    283,
    284,
    290,
    291,
    292,
    293,
    296,
    301,
    317,
    318,
    319,
    320,
    321,
    322,
    323,
    332,
    338,
    339,
    340,
    341,
    347,
    529,
    530,
    531,
    532,
    34675,
}
_STRIP_OFFSETS, _STRIP_COUNTS, _TILE_OFFSETS, _TILE_COUNTS = 273, 279, 324, 325
_TIFF_NAMES = {
    269: "DocumentName",
    270: "ImageDescription",
    271: "Make",
    272: "Model",
    285: "PageName",
    305: "Software",
    306: "DateTime",
    315: "Artist",
    316: "HostComputer",
    330: "SubIFDs",
    700: "XMP",
    33432: "Copyright",
    33723: "IPTC",
    34377: "Photoshop",
    34665: "ExifIFD",
    34853: "GPSInfo",
    37724: "ImageSourceData",
    40965: "InteroperabilityIFD",
    0x9C9B: "XPTitle",
    0x9C9C: "XPComment",
    0x9C9D: "XPAuthor",
    0x9C9E: "XPKeywords",
    0x9C9F: "XPSubject",
    513: "JPEGInterchangeFormat",
    514: "JPEGInterchangeFormatLength",
}
_MAX_PAGES = 10_000


class _Tiff:
    def __init__(self, data: bytes) -> None:
        if data[:4] not in (b"II*\x00", b"MM\x00*"):
            raise ValueError("not a classic TIFF (BigTIFF is not supported)")
        self.data = data
        self.order = "<" if data[:2] == b"II" else ">"

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        return struct.unpack_from(self.order + fmt, self.data, offset)

    def entry_value_bytes(self, entry_offset: int) -> tuple[int, int, int, bytes]:
        tag, kind, count = self.unpack("HHI", entry_offset)
        size = _TYPE_SIZES.get(kind)
        if size is None:
            raise ValueError(f"unknown TIFF field type {kind}")
        total = size * count
        if total <= 4:
            raw = self.data[entry_offset + 8 : entry_offset + 8 + total]
        else:
            (offset,) = self.unpack("I", entry_offset + 8)
            if offset + total > len(self.data):
                raise ValueError(f"tag {tag} points past the end of the file")
            raw = self.data[offset : offset + total]
        return tag, kind, count, raw

    def ints(self, kind: int, count: int, raw: bytes) -> list[int]:
        code = {3: "H", 4: "I", 16: "Q"}.get(kind)
        if code is None:
            raise ValueError("strip offsets of an unexpected type")
        return list(struct.unpack(f"{self.order}{count}{code}", raw))


def _strip_tiff(data: bytes, path: Path, orientation: int) -> tuple[bytes, list[Change]]:
    """Rewrite the file around the same strips, keeping only the tags display needs.

    JPEG-compressed strips (and their shared JPEG tables) lose their metadata segments like a
    JPEG file; the ICC profile is normalised. Refused: pages that differ in size from the first
    (a thumbnail would escape redaction), a tag given twice in a page (readers disagree on which
    counts), and strips that overlap or repeat (copying them would multiply the file).
    """
    tiff = _Tiff(data)
    order = tiff.order
    changes: list[Change] = []
    (offset,) = tiff.unpack("I", 4)
    out = bytearray(data[:4] + b"\x00\x00\x00\x00")
    pointer_at = 4  # where the offset of the next IFD is to be written
    seen: set[int] = set()
    exif_summarised = False
    first_size: tuple[int, int] | None = None
    strip_bytes = 0
    while offset:
        if offset in seen or len(seen) >= _MAX_PAGES:
            raise ValueError("the chain of TIFF pages loops")
        seen.add(offset)
        (count,) = tiff.unpack("H", offset)
        entries: list[tuple[int, int, int, bytes]] = []
        strips: dict[int, tuple[int, int, bytes]] = {}
        tags: set[int] = set()
        for k in range(count):
            tag, kind, n, raw = tiff.entry_value_bytes(offset + 2 + 12 * k)
            if tag in tags:
                raise FileProblem(
                    path,
                    f"gives TIFF tag {tag} twice in one page, which readers may read differently",
                )
            tags.add(tag)
            if tag in (_STRIP_OFFSETS, _STRIP_COUNTS, _TILE_OFFSETS, _TILE_COUNTS):
                strips[tag] = (kind, n, raw)
            elif tag in _TIFF_KEEP:
                entries.append((tag, kind, n, raw))
            else:
                if tag in (34665, 34853) and not exif_summarised:
                    before = _tiff_exif_summary(data)
                    exif_summarised = True
                elif kind == 2:
                    before = raw.decode("latin-1").rstrip("\x00")
                else:
                    before = _xp_text(tag, raw) or f"<{len(raw)} bytes>"
                name = _TIFF_NAMES.get(tag, f"tag {tag}")
                changes.append(Change(f"TIFF {name}", name, "stripped", shown(before), None))
        values = {tag: tiff.ints(kind, n, raw) for tag, kind, n, raw in entries
                  if tag in (256, 257, 259) and kind in (3, 4) and n >= 1}  # fmt: skip
        size = (values.get(256, [0])[0], values.get(257, [0])[0])
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise FileProblem(path, _pages_differ(len(seen), size, first_size))
        compression = values.get(259, [1])[0]
        if compression == 6:
            raise FileProblem(path, "uses old-style JPEG-in-TIFF, which dentsend cannot clean")
        entries = [_tiff_kept_value(e, compression, changes) for e in entries]
        pairs = [(_STRIP_OFFSETS, _STRIP_COUNTS), (_TILE_OFFSETS, _TILE_COUNTS)]
        for offsets_tag, counts_tag in pairs:
            if offsets_tag not in strips:
                continue
            if counts_tag not in strips:
                raise ValueError("pixel data without byte counts")
            offsets = tiff.ints(*strips[offsets_tag])
            counts = tiff.ints(*strips[counts_tag])
            if len(offsets) != len(counts):
                raise ValueError("strip offsets and counts differ in number")
            strip_bytes += sum(counts)
            if strip_bytes > len(data):
                raise FileProblem(
                    path,
                    "has image strips that overlap or repeat, which dentsend refuses (they "
                    "could make a copy many times the size of the file)",
                )
            new_offsets, new_counts = [], []
            for start, length in zip(offsets, counts, strict=True):
                if start + length > len(data):
                    raise ValueError("a strip runs past the end of the file")
                strip = data[start : start + length]
                if compression == 7:
                    strip = _tiff_jpeg_strip(strip, changes)
                if len(out) % 2:
                    out.append(0)
                new_offsets.append(len(out))
                new_counts.append(len(strip))
                out += strip
            for tag, numbers in ((offsets_tag, new_offsets), (counts_tag, new_counts)):
                entries.append(
                    (tag, 4, len(numbers), struct.pack(f"{order}{len(numbers)}I", *numbers))
                )
        entries.sort(key=lambda e: e[0])
        # values too large for the entry go before the IFD
        placed = []
        for tag, kind, n, raw in entries:
            if len(raw) > 4:
                if len(out) % 2:
                    out.append(0)
                placed.append((tag, kind, n, struct.pack(order + "I", len(out))))
                out += raw
            else:
                placed.append((tag, kind, n, raw.ljust(4, b"\x00")))
        if len(out) % 2:
            out.append(0)
        ifd_at = len(out)
        struct.pack_into(order + "I", out, pointer_at, ifd_at)
        out += struct.pack(order + "H", len(placed))
        for tag, kind, n, field in placed:
            out += struct.pack(order + "HHI", tag, kind, n) + field
        pointer_at = len(out)
        out += b"\x00\x00\x00\x00"
        if len(out) > 2 * len(data) + 4096:
            raise FileProblem(
                path,
                "would grow far beyond its own size when cleaned (a "
                "possible memory bomb), which dentsend refuses",
            )
        (offset,) = tiff.unpack("I", offset + 2 + 12 * count)
    return bytes(out), changes


def _pages_differ(number: int, size: tuple[int, int], first: tuple[int, int]) -> str:
    return (
        f"has pages of different sizes (page {number} is {size[0]}×{size[1]}, page 1 "
        f"{first[0]}×{first[1]}, e.g. a thumbnail), which cannot be checked for text: save "
        "each page as its own file"
    )


def _tiff_kept_value(
    entry: tuple[int, int, int, bytes], compression: int, changes: list[Change]
) -> tuple[int, int, int, bytes]:
    """A kept tag's value, cleaned where it can hide something: the JPEG tables of a
    JPEG-compressed TIFF (a JPEG stream of their own) and the ICC profile."""
    tag, _kind, _count, raw = entry
    if tag == 347 and compression == 7:
        tables, stripped = strip_jpeg_stream(raw)
        changes += [_renamed(c, "TIFF JPEGTables") for c in stripped]
        return tag, 7, len(tables), tables
    if tag == 34675:
        whole = normalise_icc(raw)
        if whole is None:
            changes.append(
                Change(
                    "TIFF ICC",
                    "damaged ICC colour profile",
                    "stripped",
                    f"<{len(raw)} bytes>",
                    None,
                )
            )
            return tag, 7, 0, b""
        profile, hidden = whole
        if hidden:
            changes.append(icc_hidden(hidden))
        return tag, 7, len(profile), profile
    return entry


def _tiff_jpeg_strip(strip: bytes, changes: list[Change]) -> bytes:
    """A JPEG-compressed strip or tile without the metadata segments inside it."""
    cleaned, stripped = strip_jpeg_stream(strip)
    changes += [_renamed(c, "TIFF JPEG strip") for c in stripped]
    return cleaned


def _renamed(change: Change, where: str) -> Change:
    return Change(
        f"{where} {change.tag}",
        f"{change.name} in a {where}",
        change.action,
        change.before,
        change.after,
    )


def check_tiff_pages(data: bytes, path: Path) -> None:
    """Refuse a multi-page TIFF whose pages differ in size from the first: a reduced-size page
    (a thumbnail or preview) repeats the image, text included, where redaction boxes drawn on
    the first page miss it, and no viewer shows it to be checked."""
    try:
        sizes = tiff_page_sizes(data)
    except (ValueError, struct.error):
        raise FileProblem(path, "has damaged TIFF structure") from None
    for number, size in enumerate(sizes[1:], start=2):
        if size != sizes[0]:
            raise FileProblem(path, _pages_differ(number, size, sizes[0]))


def tiff_page_sizes(data: bytes) -> list[tuple[int, int]]:
    """``(width, height)`` of every page in the chain of a classic TIFF, as its tags say."""
    tiff = _Tiff(data)
    (offset,) = tiff.unpack("I", 4)
    sizes: list[tuple[int, int]] = []
    seen: set[int] = set()
    while offset and offset not in seen and len(seen) < _MAX_PAGES:
        seen.add(offset)
        (count,) = tiff.unpack("H", offset)
        size = {256: 0, 257: 0}
        for k in range(count):
            tag, kind, n = tiff.unpack("HHI", offset + 2 + 12 * k)
            if tag in size and kind in (3, 4) and n >= 1:
                size[tag] = tiff.unpack("H" if kind == 3 else "I", offset + 10 + 12 * k)[0]
        sizes.append((size[256], size[257]))
        (offset,) = tiff.unpack("I", offset + 2 + 12 * count)
    return sizes


def _tiff_exif_summary(data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            return exif_summary(exif.tobytes())
    except Exception:
        return "<EXIF>"


# --------------------------------------------------------------------------------------------
# BMP

_LINKED_PROFILE = 0x4C494E4B  # 'LINK': the profile is a file name (a path on the sender's disk)
_EMBEDDED_PROFILE = 0x4D424544  # 'MBED'
_SRGB = 0x73524742


def _bmp_profile(
    data: bytes,
    out: bytearray,
    start: int,
    size: int,
    header_end: int,
    pixel_offset: int,
    pixel_end: int,
    changes: list[Change],
) -> tuple[int, int] | None:
    """Keep an embedded ICC profile, normalised, between the palette and the pixels or after
    the pixels (``out`` is extended to it, zeros before it); ``(start, end)`` of what is
    kept, or ``None`` if it was dropped (the image is then declared sRGB)."""
    after_pixels = start >= pixel_end and start + size <= len(data)
    before_pixels = header_end <= start and start + size <= pixel_offset
    whole = normalise_icc(data[start : start + size]) if after_pixels or before_pixels else None
    if whole is None:
        changes.append(
            Change("BMP ICC", "damaged ICC colour profile", "stripped", f"<{size} bytes>", None)
        )
        struct.pack_into("<I", out, 14 + 56, _SRGB)
        struct.pack_into("<II", out, 14 + 112, 0, 0)
        return None
    profile, hidden = whole
    if hidden:
        changes.append(icc_hidden(hidden))
    if after_pixels:
        if data[pixel_end:start].strip(b"\x00"):
            changes.append(
                Change(
                    "BMP gap",
                    "data between the pixels and the colour profile",
                    "stripped",
                    f"<{start - pixel_end} bytes>",
                    None,
                )
            )
        out += bytes(start + size - len(out))
    out[start : start + size] = profile + bytes(size - len(profile))
    return start, start + size


def _strip_bmp(data: bytes, path: Path, orientation: int) -> tuple[bytes, list[Change]]:
    """Keep the headers, palette, pixels and an embedded ICC profile; blank everything else."""
    if len(data) < 26 or not data.startswith(b"BM"):
        raise ValueError("no BMP header")
    (pixel_offset,) = struct.unpack_from("<I", data, 10)
    (header_size,) = struct.unpack_from("<I", data, 14)
    changes: list[Change] = []
    if header_size == 12:
        width, height, _planes, bpp = struct.unpack_from("<HHHH", data, 18)
        compression, image_size, colours, entry = 0, 0, 0, 3
    else:
        width, height, _planes, bpp, compression, image_size = struct.unpack_from(
            "<iiHHII", data, 18
        )
        (colours,) = struct.unpack_from("<I", data, 46)
        entry = 4
    height = abs(height)
    row = ((bpp * width + 31) // 32) * 4
    pixels = image_size if compression not in (0, 3, 6) and image_size else row * height
    if compression in (0, 3, 6) and image_size and image_size >= row * height:
        pixels = row * height
    masks = (
        12
        if header_size == 40 and compression == 3
        else 16
        if (header_size == 40 and compression == 6)
        else 0
    )
    # A palette has at most one entry per pixel value; an image of more than 8 bits per pixel
    # uses none (its "colour table" is an optional hint no viewer needs). A larger count
    # would cover a gap, so the count is cut and the bytes beyond become the gap.
    entries = min(colours or (1 << bpp), 1 << bpp) if bpp <= 8 else 0
    palette = entries * entry
    header_end = 14 + header_size + masks + palette
    pixel_end = pixel_offset + pixels
    if pixel_end > len(data) or pixel_offset < 14 + header_size:
        raise ValueError("pixel data outside the file")
    out = bytearray(data[:pixel_end])
    if header_size >= 40 and colours != entries and colours:
        struct.pack_into("<I", out, 46, entries)
    keep_until = pixel_end
    profile: tuple[int, int] | None = None  # where the embedded profile stays in the output
    if header_size >= 124:
        (cs_type,) = struct.unpack_from("<I", data, 14 + 56)
        profile_at, profile_size = struct.unpack_from("<II", data, 14 + 112)
        start = 14 + profile_at
        if cs_type == _LINKED_PROFILE:
            name = data[start : start + profile_size].split(b"\x00")[0].decode("latin-1")
            changes.append(
                Change(
                    "BMP linked profile", "linked colour profile file name", "stripped", name, None
                )
            )
            struct.pack_into("<I", out, 14 + 56, _SRGB)
            struct.pack_into("<II", out, 14 + 112, 0, 0)
            for k in range(start, min(start + profile_size, len(out))):
                out[k] = 0
        elif cs_type == _EMBEDDED_PROFILE:
            profile = _bmp_profile(data, out, start, profile_size, header_end, pixel_offset,
                                   pixel_end, changes)  # fmt: skip
            if profile is not None and profile[0] >= pixel_end:
                keep_until = start + profile_size
    # between the palette and the pixels (less a profile there) nothing is read
    gaps = [(header_end, pixel_offset)]
    if profile is not None and header_end <= profile[0] < pixel_offset:
        gaps = [(header_end, profile[0]), (profile[1], pixel_offset)]
    hidden = sum(len(data[a:b]) for a, b in gaps if data[a:b].strip(b"\x00"))
    if hidden:
        changes.append(
            Change(
                "BMP gap", "data between header and pixels", "stripped", f"<{hidden} bytes>", None
            )
        )
        for a, b in gaps:
            out[a:b] = bytes(max(b - a, 0))
    if len(data) > keep_until:
        changes.append(
            Change(
                "trailing data",
                "data after the end of the image",
                "stripped",
                f"<{len(data) - keep_until} bytes>",
                None,
            )
        )
    struct.pack_into("<I", out, 2, len(out))
    return bytes(out), changes
