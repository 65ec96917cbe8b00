"""The payload: manifest and view data for the browser viewer, the standard ZIP, and the safe
receiving side (hostile ZIPs, hostile names, all-or-nothing writes)."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

import dicom_factory
from dentsend.errors import DentsendError
from dentsend.intake import Radiograph, load, load_bytes
from dentsend.payload import (
    OutputFolder,
    PayloadBuilder,
    PayloadRecord,
    ReceivedZip,
    UnpackLimits,
    UnsafeArchive,
    package_name,
    safe_output_name,
    unique_name,
    zip_bytes,
)


@dataclass
class Clean:
    name: str
    data: bytes
    radiograph: Radiograph | None


def _clean(path: Path | str, name: str | None = None) -> Clean:
    data = Path(path).read_bytes()
    name = name or Path(path).name
    return Clean(name, data, load_bytes(data, name))


def _testdata(name: str) -> Path:
    found = get_testdata_file(name)
    assert found is not None, name
    return Path(str(found))


def _records(*cleans: Clean, views: bool = True) -> tuple[PayloadBuilder, list[PayloadRecord]]:
    builder = PayloadBuilder(sender="Smile Dental", note="see 36", views=views)
    records = [r for c in cleans for r in builder.records_for(c)]
    return builder, records


def _view_values(image: dict[str, Any], records: list[PayloadRecord], file: Clean) -> np.ndarray:
    """What the viewer reads: the values the manifest's ``view`` points at."""
    view = image["view"]
    frames, rows, columns, samples = (image[k] for k in ("frames", "rows", "columns", "samples"))
    dtype = np.dtype(("<i" if image["signed"] else "<u") + str(image["bits_allocated"] // 8))
    count = frames * rows * columns * samples
    if view["kind"] == "dicom-native":
        values = np.frombuffer(file.data, dtype, count, view["offset"])
    else:
        record = next(r for r in records if r.name == view["record"])
        assert record.role == "view"
        values = np.frombuffer(record.data, dtype, count)
    shape = (frames, rows, columns, samples) if samples > 1 else (frames, rows, columns)
    return values.reshape(shape)


def test_native_intraoral_is_read_in_place(tmp_path: Path) -> None:
    path = dicom_factory.intraoral(tmp_path / "io.dcm", window=(2000, 3000))
    clean = _clean(path, "IO-01.dcm")
    builder, records = _records(clean)
    assert [r.role for r in records] == ["file"]
    entry = builder.entries[0]
    assert entry["sha256"] == hashlib.sha256(clean.data).hexdigest()
    assert entry["kind"] == "dicom" and entry["modality"] == "IO"
    image = entry["image"]
    assert image["view"]["kind"] == "dicom-native"
    assert (image["rows"], image["columns"], image["bits_stored"]) == (120, 160, 12)
    assert image["spacing"] == {"row_mm": 0.02, "column_mm": 0.02, "source": "ImagerPixelSpacing"}
    assert image["windows"] == [{"center": 2000.0, "width": 3000.0}]
    assert np.array_equal(_view_values(image, records, clean)[0], load(path).frame(0))
    # The file itself travels predicted: the region is exactly its pixel data.
    predict = records[0].predict
    assert predict is not None and predict.offset == image["view"]["offset"]


def test_deep_images_without_a_window_get_one_from_the_histogram(tmp_path: Path) -> None:
    path = dicom_factory.intraoral(tmp_path / "io.dcm")
    builder, _ = _records(_clean(path))
    (window,) = builder.entries[0]["image"]["windows"]
    values = load(path).frame(0)
    low, high = np.percentile(values, [0.5, 99.5])
    assert window["explanation"] == "from histogram"
    assert abs(window["center"] - (low + high) / 2) < 0.02 * (high - low)


@pytest.mark.parametrize(
    ("name", "photometric", "signed"),
    [
        ("MR_small_jp2klossless.dcm", "MONOCHROME2", True),
        ("MR_small_RLE.dcm", "MONOCHROME2", True),
        ("OBXXXX1A.dcm", "RGB", False),  # palette colour, given as RGB
        ("SC_jpeg_no_color_transform.dcm", "RGB", False),  # RGB in JPEG: the browser would guess
    ],
)
def test_what_the_browser_cannot_read_is_decoded_here(
    name: str, photometric: str, signed: bool
) -> None:
    clean = _clean(_testdata(name))
    builder, records = _records(clean)
    image = builder.entries[0]["image"]
    assert image["view"]["kind"] == "raw"
    assert (image["photometric"], image["signed"]) == (photometric, signed)
    values = _view_values(image, records, clean)[0]
    rg = clean.radiograph
    assert rg is not None
    expected = rg.frame(0)
    if rg.photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        expected = apply_color_lut(expected, rg.dataset)
    assert np.array_equal(values, expected)


def test_a_jpeg_baseline_dicom_frame_is_handed_to_the_browser_as_jpeg() -> None:
    clean = _clean(_testdata("SC_rgb_jpeg_dcmtk.dcm"))
    builder, records = _records(clean)
    image = builder.entries[0]["image"]
    assert image["view"]["kind"] == "image" and image["photometric"] == "RGB"
    record = next(r for r in records if r.name == image["view"]["record"])
    assert record.data.startswith(b"\xff\xd8") and not record.compress
    decoded = np.asarray(Image.open(io.BytesIO(record.data)).convert("RGB")).astype(int)
    rg = clean.radiograph
    assert rg is not None
    assert np.abs(decoded - rg.frame(0).astype(int)).max() <= 2  # two JPEG decoders agree


def test_rasters_the_browser_reads_are_not_copied() -> None:
    jpeg = io.BytesIO()
    Image.fromarray(np.zeros((20, 30), np.uint8), "L").save(jpeg, "JPEG")
    clean = Clean("image-01.jpg", jpeg.getvalue(), load_bytes(jpeg.getvalue(), "image-01.jpg"))
    builder, records = _records(clean)
    image = builder.entries[0]["image"]
    assert image["view"] == {"kind": "image", "record": "image-01.jpg"}
    assert records[0].compress is False and len(records) == 1


def test_a_16_bit_png_keeps_its_depth() -> None:
    """A browser would decode it to 8 bits; the viewer gets the 16-bit values instead."""
    values = (np.arange(12 * 20, dtype=np.uint16).reshape(12, 20) * 200).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(values).save(out, "PNG")
    clean = Clean("image-01.png", out.getvalue(), load_bytes(out.getvalue(), "image-01.png"))
    builder, records = _records(clean)
    image = builder.entries[0]["image"]
    assert image["view"]["kind"] == "raw"
    assert (image["rows"], image["columns"], image["bits_allocated"]) == (12, 20, 16)
    assert np.array_equal(_view_values(image, records, clean)[0], values)


def test_exif_orientation_is_left_to_the_browser_and_sizes_follow_it() -> None:
    im = Image.fromarray(np.zeros((20, 30), np.uint8), "L")
    exif = im.getexif()
    exif[0x0112] = 6
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif)
    clean = Clean("image-01.jpg", out.getvalue(), load_bytes(out.getvalue(), "image-01.jpg"))
    builder, _ = _records(clean)
    image = builder.entries[0]["image"]
    assert (image["rows"], image["columns"], image["orientation"]) == (30, 20, 6)


def test_views_are_made_from_the_cleaned_file_so_redaction_holds(tmp_path: Path) -> None:
    """A box redacted by de-identification is dark in the viewer's data too."""
    from pydicom import dcmread
    from pydicom.uid import RLELossless

    from dentsend.deid import Box, Deidentifier, DeidOptions

    path = dicom_factory.intraoral(tmp_path / "io.dcm")
    ds = dcmread(path)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.save_as(path)
    options = DeidOptions(redactions={path.resolve(): (Box(10, 20, 30, 15),)})
    cleaned = Deidentifier(options).clean(load(path))
    builder, records = _records(cleaned)  # type: ignore[arg-type]
    image = builder.entries[0]["image"]
    values = _view_values(image, records, cleaned)[0]  # type: ignore[arg-type]
    box = values[20:35, 10:40]
    assert (box == box.min()).all() and box.min() <= values.min()
    assert not np.array_equal(values, load(path).frame(0))


def test_names_are_unique_and_valid() -> None:
    assert package_name(".hidden/../x\x00.dcm") == "hidden_.._x_.dcm"
    taken = {"manifest.json"}
    assert unique_name("a.dcm", taken) == "a.dcm"
    assert unique_name("A.DCM", taken) == "A (2).DCM"
    assert unique_name("manifest.json", taken) == "manifest (2).json"
    clean = _clean(_testdata("CT_small.dcm"), "manifest.json")
    _, records = _records(clean, clean)
    assert [r.name for r in records] == ["manifest (2).json", "manifest (3).json"]


@pytest.mark.parametrize(
    ("hostile", "safe"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("C:\\Windows\\x.dll", "C__Windows_x.dll"),
        ("CON", "_CON"),
        ("lpt1.txt", "_lpt1.txt"),
        ("<img src=x onerror=alert(1)>.jpg", "_img src=x onerror=alert(1)_.jpg"),
        ("name.\u0000.", "name._"),
        ("...", "file"),
        ("report. ", "report"),
        ("x\u202egpj.exe", "x_gpj.exe"),  # right-to-left override: would show as "xexe.jpg"
        ("a\x85b\u200b.dcm", "a_b_.dcm"),
        ("nul .txt", "_nul .txt"),
        ("CONIN$", "_CONIN$"),
        ("clock$.dcm", "_clock$.dcm"),
    ],
)
def test_safe_output_names(hostile: str, safe: str) -> None:
    assert safe_output_name(hostile) == safe


def test_the_zip_is_standard_and_leaves_views_out(tmp_path: Path) -> None:
    clean = _clean(_testdata("MR_small_RLE.dcm"), "MR-01.dcm")
    builder, records = _records(clean)
    data = zip_bytes([*records, builder.manifest()])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["MR-01.dcm", "manifest.json"]
        assert archive.read("MR-01.dcm") == clean.data
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["files"][0]["sha256"] == hashlib.sha256(clean.data).hexdigest()
    received = ReceivedZip(data)
    received.check()
    assert received.manifest == manifest


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def _symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link.dcm")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([("../evil.sh", b"x")], "unsafe file name"),
        ([("/etc/cron.d/x", b"x")], "unsafe file name"),
        ([("C:/x.bat", b"x")], "unsafe file name"),
        ([("dir/../../x", b"x")], "unsafe file name"),
        ([("a.dcm", b"1"), ("A.DCM", b"2")], "two files named"),
        ([(_symlink(), b"/etc/passwd")], "a link"),
        ([("bomb.dcm", bytes(40 << 20))], "zip bomb"),
    ],
)
def test_hostile_zips_are_refused(entries: list[tuple[Any, bytes]], why: str) -> None:
    with pytest.raises(UnsafeArchive, match=why):
        ReceivedZip(_zip(entries)).check()


def test_zip_limits_on_total_size_and_count() -> None:
    data = _zip([(f"f{i}.dcm", bytes(1000)) for i in range(20)])
    with pytest.raises(UnsafeArchive, match="more than dentsend accepts"):
        ReceivedZip(data, limits=UnpackLimits(max_total=10_000))
    with pytest.raises(UnsafeArchive, match="too many files"):
        ReceivedZip(data, limits=UnpackLimits(max_entries=10))


def test_many_small_bombs_are_refused_together() -> None:
    data = _zip([(f"f{i}.dcm", bytes(1 << 20)) for i in range(40)])  # each under the 16 MiB floor
    assert len(data) < 200_000
    with pytest.raises(UnsafeArchive, match="the archive expands too much"):
        ReceivedZip(data)


def test_a_file_the_manifest_leaves_out_is_refused() -> None:
    """Unlisted files would escape the SHA-256 check, so an archive with one is not opened."""
    manifest = {"format": "dentsend-manifest", "version": 1, "files": []}
    data = _zip([("a.dcm", b"x"), ("manifest.json", json.dumps(manifest).encode())])
    with pytest.raises(UnsafeArchive, match=r"'a\.dcm' is in the archive but not in its manifest"):
        ReceivedZip(data).check()


def test_a_zip_that_disagrees_with_its_manifest_is_refused() -> None:
    manifest = {"format": "dentsend-manifest", "version": 1,
                "files": [{"name": "a.dcm", "size": 1, "sha256": "0" * 64}]}
    data = _zip([("a.dcm", b"x"), ("manifest.json", json.dumps(manifest).encode())])
    with pytest.raises(UnsafeArchive, match="differs from what the manifest says"):
        ReceivedZip(data).check()


def test_a_damaged_zip_entry_is_refused() -> None:
    data = bytearray(_zip([("a.dcm", b"radiograph " * 100)]))
    index = data.index(b"PK\x01\x02")  # corrupt the stored CRC in the central directory
    data[index + 16] ^= 0xFF
    with pytest.raises(UnsafeArchive, match="cannot be read"):
        ReceivedZip(bytes(data)).check()


def test_output_folder_is_all_or_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    with pytest.raises(RuntimeError), OutputFolder(folder) as out:
        with out.create("a.dcm") as handle:
            handle.write(b"first")
        raise RuntimeError("the second file failed")
    assert not folder.exists()

    out = OutputFolder(tmp_path)
    with out:
        with out.create("a.dcm") as handle:
            handle.write(b"first")
        assert not (tmp_path / "a.dcm").exists()  # not before commit
        written = out.commit()
    assert [p.name for p in written] == ["a.dcm"]
    with pytest.raises(DentsendError, match=r"already holds a\.dcm"):
        OutputFolder(tmp_path).plan(["a.dcm"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dcm"]


def test_a_file_that_appears_before_commit_is_not_replaced(tmp_path: Path) -> None:
    out = OutputFolder(tmp_path)
    with pytest.raises(DentsendError, match="appeared in the output folder meanwhile"), out:
        with out.create("a.dcm") as handle:
            handle.write(b"received")
        (tmp_path / "a.dcm").write_bytes(b"mine")
        out.commit()
    assert (tmp_path / "a.dcm").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dcm"]
