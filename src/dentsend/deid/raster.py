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


def _jpeg_drop_reason(marker: int, payload: bytes) -> tuple[str, str, str | None] | None:
    """``(tag, name, before)`` if the segment goes, ``None`` if display needs it."""
    if marker == _COM:
        return "JPEG comment", "comment (COM)", payload.decode("latin-1").strip("\x00 ")
    if not 0xE0 <= marker <= 0xEF:
        return None
    n = marker - 0xE0
    if n == 0 and payload.startswith(b"JFIF\x00"):
        return None
    if n == 1 and payload.startswith(b"Exif\x00"):
        return "EXIF", "EXIF metadata (APP1)", exif_summary(payload[6:])
    if n == 1 and (payload.startswith(b"http://ns.adobe.com/xa") or b"<x:xmpmeta" in payload[:300]):
        return "XMP", "XMP metadata (APP1)", _xml_text(payload)
    if n == 2 and payload.startswith(b"ICC_PROFILE\x00"):
        return None
    if n == 13:
        return "IPTC", "Photoshop/IPTC block (APP13)", _printable(payload)
    if n == 14 and payload.startswith(b"Adobe"):
        return None
    label = payload[:16].split(b"\x00")[0].decode("latin-1", "replace")
    return f"APP{n}", f"application segment APP{n} {label}".strip(), f"<{len(payload)} bytes>"


def strip_jpeg_stream(
    data: bytes, orientation: int = 1, *, jpeg_ls: bool = False
) -> tuple[bytes, list[Change]]:
    """A JPEG stream without metadata segments, comments, thumbnails or trailing data.

    Also used on the JPEG frames inside compressed DICOM, which may carry the same blocks.
    """
    changes: list[Change] = []
    out: list[bytes] = []
    exif_written = False
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
            out.append(_segment(0xE0, payload[:12] + b"\x00\x00"))
            continue
        reason = _jpeg_drop_reason(marker, payload)
        if reason is None:
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


def _strip_jpeg_file(data: bytes, path: Path, orientation: int) -> tuple[bytes, list[Change]]:
    return strip_jpeg_stream(data, orientation)


def _xml_text(payload: bytes) -> str:
    text = payload.split(b"\x00", 1)[-1].decode("utf-8", "replace")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", text)).strip() or f"<{len(payload)} bytes>"


def _printable(payload: bytes) -> str:
    runs = re.findall(rb"[\x20-\x7e\xa0-\xff]{3,}", payload)
    return " ".join(r.decode("latin-1") for r in runs)[:500] or f"<{len(payload)} bytes>"


# --------------------------------------------------------------------------------------------
# JPEG 2000 codestreams (inside DICOM)


def strip_j2k_comments(data: bytes) -> tuple[bytes, list[Change]]:
    """A JPEG 2000 codestream without the comment (COM) segments of its main header.

    Only the main header is edited: tile-part lengths (Psot) count from each SOT, so removing
    main-header segments leaves them valid.
    """
    if not data.startswith(b"\xff\x4f\xff\x51"):
        return data, []
    out = [data[:2]]
    changes: list[Change] = []
    i = 2
    while i + 4 <= len(data):
        (marker,) = struct.unpack(">H", data[i : i + 2])
        if marker == 0xFF90:  # SOT: the main header ends here
            out.append(data[i:])
            return b"".join(out), changes
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        segment = data[i : i + 2 + length]
        if marker == 0xFF64:
            text = segment[6:].decode("latin-1", "replace")
            changes.append(
                Change("J2K comment", "JPEG 2000 comment (COM)", "stripped", shown(text), None)
            )
        else:
            out.append(segment)
        i += 2 + length
    return data, []


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


def _strip_png(data: bytes, path: Path, orientation: int) -> tuple[bytes, list[Change]]:
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("no PNG signature")
    out = [_PNG_SIGNATURE]
    changes: list[Change] = []
    i = len(_PNG_SIGNATURE)
    orientation_written = False
    while True:
        if i + 8 > len(data):
            raise ValueError("truncated chunk")
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        end = i + 12 + length
        if end > len(data):
            raise ValueError("chunk runs past the end of the file")
        payload = data[i + 8 : i + 8 + length]
        if kind == b"iCCP":
            # The profile's name is free text: keep the profile, not the name.
            _name, _, profile = payload.partition(b"\x00")
            out.append(_png_chunk(kind, b"ICC profile\x00" + profile))
        elif kind in _PNG_KEEP:
            if kind == b"IDAT" and orientation != 1 and not orientation_written:
                out.append(_png_chunk(b"eXIf", minimal_exif(orientation)))
                orientation_written = True
                changes.append(
                    Change(
                        "EXIF Orientation",
                        "image orientation",
                        "kept",
                        str(orientation),
                        str(orientation),
                    )
                )
            out.append(data[i:end])
        else:
            name = kind.decode("latin-1", "replace")
            if kind in (b"tEXt", b"zTXt", b"iTXt"):
                key, text = _png_text(kind, payload)
                changes.append(
                    Change(
                        f"PNG {name} {key}", f"text chunk {key!r}", "stripped", shown(text), None
                    )
                )
            elif kind == b"eXIf":
                changes.append(
                    Change(
                        "PNG eXIf", "EXIF metadata", "stripped", shown(exif_summary(payload)), None
                    )
                )
            elif kind == b"tIME":
                stamp = (
                    "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(
                        *struct.unpack(">HBBBBB", payload[:7])
                    )
                    if len(payload) >= 7
                    else None
                )
                changes.append(
                    Change("PNG tIME", "last modification time", "stripped", stamp, None)
                )
            else:
                changes.append(
                    Change(f"PNG {name}", f"chunk {name}", "stripped", f"<{length} bytes>", None)
                )
        i = end
        if kind == b"IEND":
            break
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
    tiff = _Tiff(data)
    order = tiff.order
    changes: list[Change] = []
    (offset,) = tiff.unpack("I", 4)
    out = bytearray(data[:4] + b"\x00\x00\x00\x00")
    pointer_at = 4  # where the offset of the next IFD is to be written
    seen: set[int] = set()
    exif_summarised = False
    while offset:
        if offset in seen or len(seen) >= _MAX_PAGES:
            raise ValueError("the chain of TIFF pages loops")
        seen.add(offset)
        (count,) = tiff.unpack("H", offset)
        entries = []
        strips: dict[int, tuple[int, int, bytes]] = {}
        for k in range(count):
            tag, kind, n, raw = tiff.entry_value_bytes(offset + 2 + 12 * k)
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
        if 259 in {e[0] for e in entries}:
            compression = next(
                tiff.ints(kind, n, raw)[0] for tag, kind, n, raw in entries if tag == 259
            )
            if compression == 6:
                raise FileProblem(path, "uses old-style JPEG-in-TIFF, which dentsend cannot clean")
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
            new_offsets = []
            for start, length in zip(offsets, counts, strict=True):
                if start + length > len(data):
                    raise ValueError("a strip runs past the end of the file")
                if len(out) % 2:
                    out.append(0)
                new_offsets.append(len(out))
                out += data[start : start + length]
            entries.append(
                (
                    offsets_tag,
                    4,
                    len(new_offsets),
                    struct.pack(f"{order}{len(new_offsets)}I", *new_offsets),
                )
            )
            entries.append(
                (counts_tag, 4, len(counts), struct.pack(f"{order}{len(counts)}I", *counts))
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
        (offset,) = tiff.unpack("I", offset + 2 + 12 * count)
    return bytes(out), changes


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
    palette = (colours or (1 << bpp if bpp <= 8 else 0)) * entry
    header_end = 14 + header_size + masks + palette
    pixel_end = pixel_offset + pixels
    if pixel_end > len(data) or pixel_offset < 14 + header_size:
        raise ValueError("pixel data outside the file")
    out = bytearray(data[:pixel_end])
    keep_until = pixel_end
    cs_type = start = 0
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
        elif cs_type == _EMBEDDED_PROFILE and start >= pixel_end:
            out += data[pixel_end : start + profile_size]
            keep_until = start + profile_size
    gap_end = pixel_offset
    if header_size >= 124 and cs_type == _EMBEDDED_PROFILE and header_end <= start < pixel_offset:
        gap_end = start  # the profile sits between the palette and the pixels: keep it
    gap = data[header_end:gap_end]
    if gap.strip(b"\x00"):
        changes.append(
            Change(
                "BMP gap", "data between header and pixels", "stripped", f"<{len(gap)} bytes>", None
            )
        )
        out[header_end:gap_end] = bytes(len(gap))
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
