"""Text hidden inside compressed DICOM frames goes; a frame that cannot be taken apart is refused.

JPEG frames with a comment naming the patient but a stray byte or no end marker (decoders accept
both), JPEG 2000 comments in tile-part headers, a JP2 file wrapper with an XML box, and an RLE
frame with the name in the room after a segment: none may leave the practice, and the pixels of
what is cleaned stay exactly as they were.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames

from dentsend.deid import CleanFile, Deidentifier, DeidOptions
from dentsend.errors import FileProblem
from dentsend.intake import load_bytes
from test_deid_samples import PATIENT_PN, base_dataset, gradient, leaks, to_bytes

NAME = PATIENT_PN.encode()


def _encapsulated(
    frame: bytes, ts: str, rows: int = 48, columns: int = 64, bits: int = 12
) -> bytes:
    ds = base_dataset(rows, columns)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.UID(ts)
    if bits == 8:
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
    ds.PixelData = encapsulate([frame + b"\x00" * (len(frame) % 2)])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return to_bytes(ds)


def _clean(data: bytes) -> CleanFile:
    assert leaks(data), "the patient was not planted"
    return Deidentifier(DeidOptions()).clean(load_bytes(data, "x.dcm"))


def _frame(cleaned: CleanFile) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(cleaned.data))
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    return frame


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gradient(48, 64, 8).astype(np.uint8)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# JPEG


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda f: f[:-2], id="no-end-of-image"),
        pytest.param(lambda f: f[:2] + b"\x00" + f[2:], id="stray-byte"),
    ],
)
def test_a_jpeg_frame_that_cannot_be_parsed_is_refused_not_sent(
    jpeg: bytes, damage: object
) -> None:
    frame = jpeg[:2] + _segment(0xFE, b"patient " + NAME) + jpeg[2:]
    data = _encapsulated(damage(frame), "1.2.840.10008.1.2.4.50", bits=8)  # type: ignore[operator]
    with pytest.raises(FileProblem) as caught:
        _clean(data)
    assert str(caught.value).startswith("x.dcm: ")
    assert "compressed frames that cannot be checked for hidden text" in str(caught.value)


def test_a_sound_jpeg_frame_loses_its_comment_and_keeps_its_pixels(jpeg: bytes) -> None:
    frame = jpeg[:2] + _segment(0xFE, b"patient " + NAME) + _segment(0xE5, NAME) + jpeg[2:]
    data = _encapsulated(frame, "1.2.840.10008.1.2.4.50", bits=8)
    cleaned = _clean(data)
    assert not leaks(cleaned.data)
    assert np.array_equal(cleaned.radiograph.frame(0), load_bytes(data, "x.dcm").frame(0))


# --------------------------------------------------------------------------------------------
# JPEG 2000


@pytest.fixture(scope="module")
def j2k() -> tuple[np.ndarray, bytes, bytes]:
    import imagecodecs  # the test extra has it: a missing one fails, never skips
    pixels = gradient(48, 64)
    codestream = imagecodecs.jpeg2k_encode(pixels, level=0, codecformat="j2k")
    jp2 = imagecodecs.jpeg2k_encode(pixels, level=0, codecformat="jp2")
    assert codestream[:4] == b"\xff\x4f\xff\x51" and jp2[4:8] == b"jP  "
    return pixels, codestream, jp2


def _j2k_comment(text: bytes) -> bytes:
    return _segment(0x64, b"\x00\x01" + text)  # Rcom 1: Latin text


def test_j2k_comments_in_tile_part_headers_go_and_the_lengths_follow(
    j2k: tuple[np.ndarray, bytes, bytes],
) -> None:
    pixels, codestream, _ = j2k
    sot = codestream.index(b"\xff\x90")
    (psot,) = struct.unpack(">I", codestream[sot + 6 : sot + 10])
    comment = _j2k_comment(b"patient " + NAME)
    stream = bytearray(codestream[: sot + 12] + comment + codestream[sot + 12 :])
    struct.pack_into(">I", stream, sot + 6, psot + len(comment) if psot else 0)
    planted = bytes(stream[:sot]) + _j2k_comment(NAME) + bytes(stream[sot:]) + NAME
    data = _encapsulated(planted, "1.2.840.10008.1.2.4.90")
    assert np.array_equal(load_bytes(data, "x.dcm").frame(0), pixels)  # decoders accept it
    cleaned = _clean(data)
    assert not leaks(cleaned.data)
    assert np.array_equal(cleaned.radiograph.frame(0), pixels)
    assert _frame(cleaned).rstrip(b"\x00").endswith(b"\xff\xd9")
    comments = [c.name for c in cleaned.report.changes if c.tag.endswith("J2K comment")]
    assert any("in tile 0" in name for name in comments), comments


def test_a_jp2_wrapper_and_its_xml_box_are_taken_off(
    j2k: tuple[np.ndarray, bytes, bytes],
) -> None:
    pixels, _, jp2 = j2k
    xml = b"<x>" + NAME + b"</x>"
    planted = jp2 + struct.pack(">I", 8 + len(xml)) + b"xml " + xml
    data = _encapsulated(planted, "1.2.840.10008.1.2.4.90")
    cleaned = _clean(data)
    assert not leaks(cleaned.data)
    assert _frame(cleaned).startswith(b"\xff\x4f\xff\x51")  # the bare codestream DICOM wants
    assert np.array_equal(cleaned.radiograph.frame(0), pixels)


def test_a_damaged_j2k_frame_is_refused(j2k: tuple[np.ndarray, bytes, bytes]) -> None:
    _, codestream, _ = j2k
    sot = codestream.index(b"\xff\x90")
    planted = codestream[:sot] + b"\xff\x30" + NAME + codestream[sot:]  # no segment of J2K
    with pytest.raises(FileProblem, match="cannot be checked for hidden text"):
        _clean(_encapsulated(planted, "1.2.840.10008.1.2.4.90"))


# --------------------------------------------------------------------------------------------
# RLE


def _rle_dataset() -> Dataset:
    from pydicom.uid import RLELossless

    ds = base_dataset(48, 64)
    ds.compress(RLELossless, gradient(48, 64))
    return ds


def test_rle_frames_lose_what_is_no_part_of_the_image() -> None:
    ds = _rle_dataset()
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    header = list(struct.unpack("<16I", frame[:64]))
    count = header[0]
    first, second = header[1], header[2]
    # the name after the first segment's runs, and an unused header offset pointing at it
    planted = frame[:second] + b"\x80" + NAME + b"\x00" + frame[second:]
    header[2] = second + len(NAME) + 2
    header[1 + count] = first
    planted = struct.pack("<16I", *header) + planted[64:]
    ds.PixelData = encapsulate([planted + b"\x00" * (len(planted) % 2)])
    data = to_bytes(ds)
    original = load_bytes(data, "x.dcm")
    assert np.array_equal(original.frame(0), gradient(48, 64))  # decoders accept it
    cleaned = _clean(data)
    assert not leaks(cleaned.data)
    assert np.array_equal(cleaned.radiograph.frame(0), gradient(48, 64))
    assert any(c.tag.endswith("RLE hidden data") for c in cleaned.report.changes)


def test_an_rle_frame_with_too_few_segments_is_refused() -> None:
    ds = _rle_dataset()
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    header = list(struct.unpack("<16I", frame[:64]))
    header[0] = 1  # claims one segment: the second becomes a hiding place after the first
    planted = struct.pack("<16I", *header) + frame[64:] + NAME
    ds.PixelData = encapsulate([planted + b"\x00" * (len(planted) % 2)])
    with pytest.raises(FileProblem, match="cannot be checked for hidden text"):
        _clean(to_bytes(ds))
