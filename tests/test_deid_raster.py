"""Plain images lose their metadata, not their pixels: JPEG, PNG, TIFF and BMP."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import fixture_file
from dentsend.deid.raster import strip_metadata
from dentsend.errors import FileProblem
from dentsend.intake import load_bytes
from test_deid_samples import (
    bmp_with_metadata,
    gradient,
    jpeg_with_metadata,
    leaks,
    png_with_metadata,
    tiff_with_metadata,
)


def _pixels(data: bytes) -> list[np.ndarray]:
    image = Image.open(io.BytesIO(data))
    pages = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        pages.append(np.asarray(image.copy()))
    return pages


def _same_pixels(a: bytes, b: bytes) -> bool:
    first, second = _pixels(a), _pixels(b)
    return len(first) == len(second) and all(
        np.array_equal(x, y) for x, y in zip(first, second, strict=True)
    )


def _markers(data: bytes) -> list[str]:
    image = Image.open(io.BytesIO(data))
    return [marker for marker, _ in getattr(image, "applist", [])]


@pytest.mark.parametrize("name", ["cephalogram_B1893L12.jpg", "intraoral_photo_nikon.jpg"])
def test_real_jpegs_keep_their_pixels_and_what_display_needs(name: str) -> None:
    data = fixture_file(name).read_bytes()
    cleaned, changes = strip_metadata(data, "JPEG", Path(name))
    assert _same_pixels(data, cleaned)
    before, after = _markers(data), _markers(cleaned)
    assert "APP1" in before and "APP1" not in after  # EXIF and XMP gone (orientation is 1)
    assert "APP13" not in after
    if "APP2" in before:  # the cephalogram's ICC profile and Adobe segment stay
        assert "APP2" in after and "APP14" in after
        assert Image.open(io.BytesIO(cleaned)).info.get("icc_profile") == (
            Image.open(io.BytesIO(data)).info.get("icc_profile")
        )
    assert {c.tag for c in changes} >= {"EXIF"}
    assert all(c.action == "stripped" for c in changes)


def test_the_nikon_report_names_the_camera() -> None:
    data = fixture_file("intraoral_photo_nikon.jpg").read_bytes()
    _, changes = strip_metadata(data, "JPEG", Path("photo.jpg"))
    exif = next(c for c in changes if c.tag == "EXIF")
    assert exif.before is not None and "NIKON" in exif.before


def test_jpeg_orientation_is_kept_alone() -> None:
    data = jpeg_with_metadata(orientation=6)
    cleaned, changes = strip_metadata(data, "JPEG", Path("p.jpg"), orientation=6)
    assert dict(Image.open(io.BytesIO(cleaned)).getexif()) == {0x0112: 6}
    assert not leaks(cleaned)
    assert any(c.tag == "EXIF Orientation" and c.action == "kept" for c in changes)
    assert "trailing data" in {c.tag for c in changes}


def test_a_jfif_thumbnail_and_data_after_the_image_are_dropped() -> None:
    buffer = io.BytesIO()
    Image.fromarray(gradient(24, 24, 8).astype(np.uint8)).save(buffer, "JPEG")
    data = buffer.getvalue()
    assert data[6:11] == b"JFIF\x00"
    (length,) = struct.unpack(">H", data[4:6])
    thumbnail = bytes(2 * 2 * 3)  # a 2×2 RGB thumbnail
    app0 = data[6:18] + b"\x02\x02" + thumbnail
    with_thumb = data[:4] + struct.pack(">H", len(app0) + 2) + app0 + data[4 + length :]
    hidden = with_thumb + b"\xff\xd8 second image after EOI"
    cleaned, changes = strip_metadata(hidden, "JPEG", Path("t.jpg"))
    assert b"second image" not in cleaned
    assert cleaned.endswith(b"\xff\xd9")
    assert {"JFIF thumbnail", "trailing data"} <= {c.tag for c in changes}
    assert _same_pixels(data, cleaned)


def test_a_progressive_jpeg_keeps_every_scan() -> None:
    buffer = io.BytesIO()
    rgb = np.dstack([gradient(64, 64, 8)] * 3).astype(np.uint8)
    Image.fromarray(rgb).save(buffer, "JPEG", progressive=True, comment=b"Quixwhistle")
    data = buffer.getvalue()
    cleaned, _ = strip_metadata(data, "JPEG", Path("p.jpg"))
    assert b"Quixwhistle" not in cleaned
    assert _same_pixels(data, cleaned)


def test_png_keeps_pixels_colour_and_nothing_else() -> None:
    data = png_with_metadata()
    cleaned, changes = strip_metadata(data, "PNG", Path("x.png"), orientation=6)
    assert _same_pixels(data, cleaned)
    assert not leaks(cleaned)
    kinds = set()
    position = 8
    while position < len(cleaned):
        (length,) = struct.unpack(">I", cleaned[position : position + 4])
        kinds.add(cleaned[position + 4 : position + 8])
        position += 12 + length
    assert kinds == {b"IHDR", b"iCCP", b"eXIf", b"IDAT", b"IEND"}
    tags = {c.tag for c in changes}
    assert {
        "PNG tEXt Author",
        "PNG zTXt Description",
        "PNG iTXt Comment",
        "PNG iTXt Title",
        "PNG eXIf",
        "PNG tIME",
        "PNG prVt",
        "trailing data",
    } <= tags
    compressed = next(c for c in changes if c.tag == "PNG zTXt Description")
    assert compressed.before == "Zebulon Quixwhistle"  # the report shows it inflated


def test_tiff_keeps_its_pages_and_strips_descriptive_tags() -> None:
    data = tiff_with_metadata()
    cleaned, changes = strip_metadata(data, "TIFF", Path("x.tif"))
    assert _same_pixels(data, cleaned)
    assert not leaks(cleaned)
    image = Image.open(io.BytesIO(cleaned))
    for page in range(image.n_frames):
        image.seek(page)
        assert set(image.tag_v2) <= {
            256,
            257,
            258,
            259,
            262,
            273,
            277,
            278,
            279,
            282,
            283,
            284,
            296,
            317,
            339,
        }
    stripped = {c.tag for c in changes}
    assert {
        "TIFF ImageDescription",
        "TIFF Artist",
        "TIFF DocumentName",
        "TIFF XMP",
        "TIFF ExifIFD",
    } <= stripped


def test_old_style_jpeg_in_tiff_is_refused_by_name() -> None:
    image = Image.fromarray(gradient(8, 8, 8).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    # patch Compression (259) to 6, old-style JPEG
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for k in range(count):
        entry = ifd + 2 + 12 * k
        if struct.unpack_from("<H", data, entry)[0] == 259:
            struct.pack_into("<H", data, entry + 8, 6)
    with pytest.raises(FileProblem, match=r"^scan.tif: uses old-style JPEG-in-TIFF"):
        strip_metadata(bytes(data), "TIFF", Path("scan.tif"))


def test_bmp_keeps_its_pixels_and_loses_hidden_data() -> None:
    data = bmp_with_metadata()
    cleaned, changes = strip_metadata(data, "BMP", Path("x.bmp"))
    assert _same_pixels(data, cleaned)
    assert not leaks(cleaned)
    assert {"BMP gap", "trailing data"} <= {c.tag for c in changes}
    assert struct.unpack_from("<I", cleaned, 2)[0] == len(cleaned)


def test_damaged_files_are_reported_by_name() -> None:
    data = jpeg_with_metadata()
    truncated = data[: len(data) // 2]
    truncated = truncated[: truncated.rfind(b"\xff\xda") + 20]
    with pytest.raises(FileProblem, match=r"^Quixwhistle.jpg: has damaged JPEG structure"):
        strip_metadata(truncated, "JPEG", Path("/some/folder/Quixwhistle.jpg"))
    with pytest.raises(FileProblem, match=r"^x.png: has damaged PNG structure"):
        strip_metadata(png_with_metadata()[:60], "PNG", Path("x.png"))


def test_cleaned_rasters_load_like_the_originals() -> None:
    for data, name in (
        (jpeg_with_metadata(), "a.jpg"),
        (png_with_metadata(), "a.png"),
        (tiff_with_metadata(), "a.tif"),
        (bmp_with_metadata(), "a.bmp"),
    ):
        original = load_bytes(data, name)
        cleaned, _ = strip_metadata(data, original.format, Path(name), original.orientation)
        again = load_bytes(cleaned, name)
        assert (again.rows, again.columns, again.frames, again.bits_stored) == (
            original.rows,
            original.columns,
            original.frames,
            original.bits_stored,
        )
        assert set(again.identifying_fields) <= {"EXIF"}  # an orientation-only block
