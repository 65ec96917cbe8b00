"""``dentsend inspect`` and ``dentsend preview`` as a user runs them, good files and bad."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from conftest import fixture_file, run_cli
from dentsend.cli import main
from dicom_factory import intraoral, make_dataset, tooth_phantom, write

INSPECT_KEYS = {
    "path", "kind", "modality", "rows", "columns", "frames", "bits_stored", "photometric",
    "transfer_syntax", "identifying_fields",
}  # fmt: skip


def _png_bomb(path: Path, width: int = 40000, height: int = 40000) -> Path:
    """A valid PNG header claiming 40000×40000 pixels over a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024)  # nowhere near enough: the point is the claimed size
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of bad input with a word its error message must contain."""
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.dcm"
    noise.write_bytes(np.random.default_rng(1).bytes(4096))
    text = tmp_path / "letter.jpg"
    text.write_text("Dear colleague, please find the radiographs attached.\n" * 20)
    full = intraoral(tmp_path / "full.dcm").read_bytes()
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(full[: len(full) - 5000])
    j2k = Path(get_testdata_file("RG1_J2KR.dcm")).read_bytes()
    truncated_j2k = tmp_path / "truncated_j2k.dcm"
    truncated_j2k.write_bytes(j2k[: len(j2k) // 2])
    return {
        "empty": (empty, "empty"),
        "noise": (noise, "not a DICOM file"),
        "text": (text, "not a DICOM file"),
        "truncated": (truncated, "truncated"),
        "truncated_j2k": (truncated_j2k, "truncated"),
        "bomb": (_png_bomb(tmp_path / "bomb.png"), "too large"),
        "missing": (tmp_path / "nowhere.dcm", "does not exist"),
    }


def test_inspect_prints_one_json_object_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        get_testdata_file("RG1_UNCI.dcm"),
        get_testdata_file("JPEG2000.dcm"),
        fixture_file("cephalogram_B1893L12.jpg"),
        fixture_file("ortho_photo_vl.dcm"),
    ]
    assert main(["inspect", *map(str, files)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 4
    for record in records:
        assert set(record) >= INSPECT_KEYS
    cr, j2k, ceph, vl = records
    assert (cr["kind"], cr["modality"], cr["rows"], cr["columns"]) == ("dicom", "CR", 1955, 1841)
    assert (cr["bits_stored"], cr["photometric"]) == (15, "MONOCHROME1")
    assert cr["transfer_syntax"] == "1.2.840.10008.1.2.1"
    assert {"PatientName", "PatientID", "InstitutionName"} <= set(cr["identifying_fields"])
    assert j2k["transfer_syntax"] == "1.2.840.10008.1.2.4.91"
    assert (ceph["kind"], ceph["modality"], ceph["transfer_syntax"]) == ("raster", None, None)
    assert "EXIF" in ceph["identifying_fields"]
    assert "PatientName" in vl["identifying_fields"] and vl["modality"] == "XC"


@pytest.mark.parametrize(
    "kind", ["empty", "noise", "text", "truncated", "truncated_j2k", "bomb", "missing"]
)
def test_each_bad_input_gets_one_clear_line(
    kind: str, bad_files: dict[str, tuple[Path, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, word = bad_files[kind]
    for command in (["inspect", str(path)], ["preview", str(path), "-o", str(path) + ".png"]):
        assert main(command) == 1
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, captured.err
        assert lines[0].startswith(f"dentsend: {path.name}: ")
        assert word in lines[0]
        assert "Traceback" not in captured.err
        assert not Path(str(path) + ".png").exists()


def test_a_batch_reports_the_good_files_and_exits_1(
    tmp_path: Path, bad_files: dict[str, tuple[Path, str]]
) -> None:
    good = intraoral(tmp_path / "good.dcm")
    bad = [bad_files[k][0] for k in ("empty", "truncated", "bomb")]
    result = run_cli("inspect", bad[0], good, bad[1], fixture_file("ortho_photo_vl.dcm"), bad[2])
    assert result.returncode == 1
    assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == [
        str(good),
        str(fixture_file("ortho_photo_vl.dcm")),
    ]
    errors = result.stderr.strip().splitlines()
    assert [line.split(":")[1].strip() for line in errors] == [p.name for p in bad]
    assert "Traceback" not in result.stderr


def test_a_damaged_jpeg_fails_at_preview_with_a_sentence(tmp_path: Path) -> None:
    data = fixture_file("intraoral_photo_nikon.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    result = run_cli("preview", cut, "-o", tmp_path / "cut.png")
    assert result.returncode == 1
    assert result.stderr.startswith("dentsend: cut.jpg: ") and "damaged" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "cut.png").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    good = intraoral(tmp_path / "good.dcm")
    assert run_cli("preview", good, "-o", tmp_path / "x.png", "--window", "abc").returncode == 2
    assert run_cli("preview", good).returncode == 2
    assert run_cli("inspect").returncode == 2


def test_preview_writes_the_display_image_at_its_own_size(tmp_path: Path) -> None:
    source = get_testdata_file("RG1_UNCI.dcm")
    out = tmp_path / "cr.png"
    assert main(["preview", source, "-o", str(out)]) == 0
    with Image.open(out) as image:
        assert (image.mode, image.size) == ("L", (1841, 1955))
        shown = np.asarray(image)
    # MONOCHROME1: the lungs (low values, dark in the stored data's sense) appear dark, bone light
    ds = pydicom.dcmread(source)
    stored = ds.pixel_array
    assert (
        shown[stored > np.percentile(stored, 90)].mean()
        < shown[stored < np.percentile(stored, 10)].mean()
    )


def test_preview_frame_and_window_options(tmp_path: Path) -> None:
    stack = np.stack([tooth_phantom(40, 50, seed=s) for s in range(3)])
    source = write(make_dataset(stack), tmp_path / "stack.dcm")
    outputs = {}
    for name, extra in {
        "first": [],
        "third": ["--frame", "3"],
        "narrow": ["--window", "2000,100"],
    }.items():
        out = tmp_path / f"{name}.png"
        assert main(["preview", str(source), "-o", str(out), *extra]) == 0
        outputs[name] = np.asarray(Image.open(out))
    assert not np.array_equal(outputs["first"], outputs["third"])
    assert not np.array_equal(outputs["first"], outputs["narrow"])
    assert set(np.unique(outputs["narrow"])) - set(range(256)) == set()
    assert main(["preview", str(source), "-o", str(tmp_path / "x.png"), "--frame", "4"]) == 1


def test_preview_of_a_colour_file_is_rgb(tmp_path: Path) -> None:
    out = tmp_path / "photo.png"
    assert main(["preview", str(fixture_file("intraoral_photo_nikon.jpg")), "-o", str(out)]) == 0
    with Image.open(out) as image:
        assert image.mode == "RGB" and image.size == (2144, 1424)


def test_the_command_line_starts_without_qt_or_the_imaging_stack() -> None:
    probe = (
        "import sys, dentsend.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('PySide6', 'numpy', 'pydicom', 'PIL') if m in sys.modules))"
    )
    import subprocess
    import sys

    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
