"""Plain-image containers keep only what display needs, at the length their format gives it.

The security review hid the fake patient in the parts of JPEG, PNG, TIFF and BMP files that
the first stripper kept verbatim: bytes after an ICC profile or an Adobe segment, JPEG extension
segments, oversized PNG chunks, bytes after (or inflated past) the PNG image data, a BMP gap
declared as a palette, and metadata inside the strips and tables of a JPEG-compressed TIFF. It
also made TIFFs that would multiply in memory. Each case: nothing of the patient leaves, and the
pixels decode exactly as before.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from dentsend.deid.raster import strip_metadata
from dentsend.errors import FileProblem
from test_deid_samples import PATIENT_PN, gradient, leaks

NAME = PATIENT_PN.encode()


def _image(mode: str = "L", size: tuple[int, int] = (64, 48)) -> Image.Image:
    grey = Image.fromarray(gradient(size[1], size[0], 8).astype(np.uint8))
    return grey if mode == "L" else grey.convert(mode)


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _pixels(data: bytes) -> list[np.ndarray]:
    image = Image.open(io.BytesIO(data))
    pages = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        palette = image.mode in ("P", "1")  # the same colours, however the palette is told
        pages.append(np.asarray(image.convert("RGB") if palette else image.copy()))
    return pages


def _clean(data: bytes, fmt: str, reference: bytes | None = None) -> bytes:
    """Strip ``data``; nothing of the patient may be left and the pixels must be those of
    ``data`` (or of ``reference``, when the planted file itself does not decode)."""
    assert leaks(data), "the patient was not planted"
    cleaned, _ = strip_metadata(data, fmt, Path(f"x.{fmt.lower()}"))
    assert not leaks(cleaned), f"{fmt}: {leaks(cleaned)[-1:]}"
    before, after = _pixels(reference or data), _pixels(cleaned)
    assert len(before) == len(after)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    return cleaned


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


@pytest.fixture(scope="module")
def icc() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


# --------------------------------------------------------------------------------------------
# JPEG


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param(lambda icc: _segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + icc + NAME), id="icc"),
        pytest.param(
            lambda icc: _segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01" + NAME), id="adobe"
        ),
        pytest.param(lambda icc: _segment(0xF0, NAME), id="jpg0-extension"),
        pytest.param(lambda icc: _segment(0x02, NAME), id="reserved"),
    ],
)
def test_kept_jpeg_segments_are_cut_to_their_length(icc: bytes, segment: object) -> None:
    jpeg = _encoded(_image("RGB"), "JPEG", quality=90)
    planted = jpeg[:2] + segment(icc) + jpeg[2:]  # type: ignore[operator]
    cleaned = _clean(planted, "JPEG", reference=jpeg)  # libjpeg refuses JPGn and reserved
    if b"ICC_PROFILE" in planted:
        assert Image.open(io.BytesIO(cleaned)).info["icc_profile"] == icc


def test_a_profile_spread_over_several_segments_comes_back_whole(icc: bytes) -> None:
    big = icc + bytes(70_000 - len(icc))  # padding the profile says nothing about: hidden room
    big = big[: -len(NAME)] + NAME
    jpeg = _encoded(_image("RGB"), "JPEG", quality=90, icc_profile=big)
    assert jpeg.count(b"ICC_PROFILE") == 2
    cleaned = _clean(jpeg, "JPEG")
    assert Image.open(io.BytesIO(cleaned)).info["icc_profile"] == icc


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param(_segment(0xDD, b"\x00\x00" + NAME), id="restart-interval"),
        pytest.param(_segment(0xDB, b"\x00" + bytes(range(64)) + NAME), id="quantisation-table"),
    ],
)
def test_a_decoding_segment_longer_than_its_content_is_refused(segment: bytes) -> None:
    jpeg = _encoded(_image("RGB"), "JPEG", quality=90)
    with pytest.raises(FileProblem, match="damaged JPEG"):
        strip_metadata(jpeg[:2] + segment + jpeg[2:], "JPEG", Path("x.jpg"))


# --------------------------------------------------------------------------------------------
# PNG


def _png_with(before_data: bytes = b"", idat: bytes | None = None) -> bytes:
    png = _encoded(_image("L"), "PNG")
    header_end = 8 + 25
    data = png[:header_end] + before_data + png[header_end:]
    if idat is not None:
        at = data.index(b"IDAT") - 4
        (length,) = struct.unpack(">I", data[at : at + 4])
        data = data[:at] + _chunk(b"IDAT", idat) + data[at + 12 + length :]
    return data


def _idat(png: bytes) -> bytes:
    at = png.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", png[at : at + 4])
    return png[at + 8 : at + 8 + length]


@pytest.mark.parametrize(
    "chunk",
    [
        pytest.param(_chunk(b"sBIT", b"\x08" + NAME), id="sBIT"),
        pytest.param(_chunk(b"bKGD", b"\x00\x00" + NAME), id="bKGD"),
        pytest.param(_chunk(b"pHYs", b"\x00\x00\x0b\x13\x00\x00\x0b\x13\x01" + NAME), id="pHYs"),
        pytest.param(_chunk(b"PLTE", NAME + b"\x00\x00"), id="PLTE-in-grey-image"),
    ],
)
def test_oversized_png_chunks_are_cut(chunk: bytes) -> None:
    _clean(_png_with(chunk), "PNG")


def test_png_profile_loses_what_follows_it(icc: bytes) -> None:
    planted = _png_with(_chunk(b"iCCP", b"x\x00\x00" + zlib.compress(icc + NAME)))
    cleaned = _clean(planted, "PNG")
    assert Image.open(io.BytesIO(cleaned)).info["icc_profile"] == icc


def test_bytes_after_the_png_image_data_stream_go() -> None:
    plain = _encoded(_image("L"), "PNG")
    _clean(_png_with(idat=_idat(plain) + NAME), "PNG")


def test_data_inflated_past_the_png_image_goes() -> None:
    plain = _encoded(_image("L"), "PNG")
    raw = zlib.decompress(_idat(plain))
    planted = _png_with(idat=zlib.compress(raw + b"\x00" + NAME * 4))
    cleaned = _clean(planted, "PNG")
    assert zlib.decompress(_idat(cleaned)) == raw


def test_png_image_data_that_ends_early_is_refused() -> None:
    plain = _encoded(_image("L"), "PNG")
    short = zlib.compress(zlib.decompress(_idat(plain))[:-100])
    with pytest.raises(FileProblem, match="damaged PNG"):
        strip_metadata(_png_with(idat=short), "PNG", Path("x.png"))


# --------------------------------------------------------------------------------------------
# BMP


def test_a_bmp_gap_declared_as_a_palette_is_blanked() -> None:
    bmp = bytearray(_encoded(_image("RGB", (8, 8)), "BMP"))
    (offset,) = struct.unpack_from("<I", bmp, 10)
    gap = b"\x00\x00" + NAME + b"\x00\x00"
    planted = bytearray(bmp[:offset] + gap + bmp[offset:])
    struct.pack_into("<I", planted, 10, offset + len(gap))
    struct.pack_into("<I", planted, 2, len(planted))
    struct.pack_into("<I", planted, 46, 4096)  # "colours used" in a 24-bit image
    _clean(bytes(planted), "BMP")


def test_a_palette_longer_than_the_pixel_values_need_is_cut() -> None:
    bmp = bytearray(_encoded(_image("1", (8, 8)), "BMP"))  # 1 bit per pixel: two colours
    (offset,) = struct.unpack_from("<I", bmp, 10)
    assert (
        struct.unpack_from("<HI", bmp, 28) == (1, 0) and struct.unpack_from("<I", bmp, 46)[0] == 2
    )
    hidden = b"\x00" * ((-len(NAME)) % 4) + NAME
    planted = bytearray(bmp[:offset] + hidden + bmp[offset:])
    struct.pack_into("<I", planted, 10, offset + len(hidden))
    struct.pack_into("<I", planted, 2, len(planted))
    struct.pack_into("<I", planted, 46, 2 + len(hidden) // 4)  # the name as extra "colours"
    _clean(bytes(planted), "BMP")


# --------------------------------------------------------------------------------------------
# TIFF


def _tiff_entries(data: bytes) -> dict[int, tuple[int, int, int]]:
    """``tag -> (entry offset, count, value or offset)`` of the first page."""
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    found = {}
    for k in range(count):
        at = ifd + 2 + 12 * k
        tag, _kind, n, value = struct.unpack_from("<HHII", data, at)
        found[tag] = (at, n, value)
    return found


def _repoint(data: bytes, tag: int, value: bytes) -> bytes:
    """The file with ``tag``'s value replaced by ``value``, appended at the end."""
    at, _n, _ = _tiff_entries(data)[tag]
    out = bytearray(data)
    struct.pack_into("<II", out, at + 4, len(value), len(out))
    return bytes(out + value)


def test_jpeg_compressed_tiff_strips_and_tables_lose_their_metadata() -> None:
    tiff = _encoded(_image("L"), "TIFF", compression="jpeg")
    entries = _tiff_entries(tiff)
    assert 347 in entries and entries[273][1] == 1  # JPEG tables, one strip
    tables = tiff[entries[347][2] : entries[347][2] + entries[347][1]]
    planted = _repoint(tiff, 347, tables[:2] + _segment(0xFE, b"patient " + NAME) + tables[2:])
    start, length = entries[273][2], entries[279][2]
    strip = tiff[start : start + length]
    new_strip = (
        strip[:2] + _segment(0xFE, NAME) + _segment(0xE1, b"Exif\x00\x00" + NAME) + strip[2:]
    )
    at_offset, at_count = entries[273][0], entries[279][0]
    out = bytearray(planted)
    struct.pack_into("<I", out, at_offset + 8, len(out))
    struct.pack_into("<I", out, at_count + 8, len(new_strip))
    _clean(bytes(out + new_strip), "TIFF")


def test_a_tiff_profile_loses_what_follows_it(icc: bytes) -> None:
    tiff = _encoded(_image("RGB"), "TIFF", icc_profile=icc)
    planted = _repoint(tiff, 34675, icc + NAME)
    cleaned = _clean(planted, "TIFF")
    assert Image.open(io.BytesIO(cleaned)).info["icc_profile"] == icc


def _many_strips(n: int = 2_000) -> bytes:
    """A small TIFF whose ``n`` strips all point at the whole file."""
    width, height = 64, 48
    entries = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, n, 0),
        (278, 3, 1, height),
        (279, 4, n, 0),
    ]
    arrays = 8 + 2 + 12 * len(entries) + 4
    total = arrays + 8 * n + width * height
    body = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = arrays
        elif tag == 279:
            value = arrays + 4 * n
        body += struct.pack("<HHII", tag, kind, count, value)
    body += b"\x00" * 4 + struct.pack(f"<{n}I", *[0] * n) + struct.pack(f"<{n}I", *[total] * n)
    return body + bytes(width * height)


def test_strips_that_repeat_the_file_are_refused_before_copying() -> None:
    with pytest.raises(FileProblem, match="overlap or repeat"):
        strip_metadata(_many_strips(), "TIFF", Path("x.tif"))


def test_a_tag_given_twice_is_refused() -> None:
    tiff = bytearray(_encoded(_image("L"), "TIFF"))
    entries = _tiff_entries(bytes(tiff))
    at = entries[262][0]  # PhotometricInterpretation becomes a second ImageLength
    struct.pack_into("<H", tiff, at, 257)
    with pytest.raises(FileProblem, match="twice"):
        strip_metadata(bytes(tiff), "TIFF", Path("x.tif"))
