"""``dentsend --self-test``, the start-up timing hook, and the demo samples it relies on."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest
from PIL import Image

from conftest import run_cli
from dentsend import samples, selftest
from dentsend.errors import FileProblem
from dentsend.intake import load


def test_self_test_passes_with_one_line_per_check_and_leaves_nothing_behind(tmp_path):
    from dentsend.settings import config_dir, data_dir

    temp = tmp_path / "temp"
    temp.mkdir()
    before = {p for folder in (config_dir(), data_dir()) for p in folder.rglob("*")}
    result = run_cli("--self-test", env={"QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(temp)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(temp.iterdir()) == []  # its packages and their plaintext are gone
    # Nothing of the user's changed: no window geometry, no certificate, no sent-log entry.
    assert {p for folder in (config_dir(), data_dir()) for p in folder.rglob("*")} == before
    lines = result.stdout.strip().splitlines()
    names = [line.split(":", 1)[0] for line in lines[:-1]]
    assert names == [
        "samples",
        "de-identification",
        "HTML package",
        "OpenPGP package",
        "main window",
        "keyring",
    ]
    assert all(": ok (" in line for line in lines[:-1]), lines
    assert lines[-1] == "self-test passed"


def test_a_broken_sample_fails_its_check_by_name(tmp_path, monkeypatch):
    broken = tmp_path / "DEMO_PATIENT-intraoral.dcm"
    broken.write_bytes(samples.sample_paths()[0].read_bytes()[:4000])
    monkeypatch.setattr(samples, "sample_paths", lambda: [broken])
    with pytest.raises(FileProblem, match=r"DEMO_PATIENT-intraoral\.dcm: is truncated"):
        selftest.check_samples()
    missing = tmp_path / "gone.dcm"
    monkeypatch.setattr(samples, "sample_paths", lambda: [missing])
    with pytest.raises(selftest.CheckFailed, match=r"gone\.dcm"):
        selftest.check_samples()


def test_exit_after_show_prints_the_start_to_window_time():
    result = run_cli(
        "--demo", env={"QT_QPA_PLATFORM": "offscreen", "DENTSEND_EXIT_AFTER_SHOW": "1"}
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("dentsend: window shown ") and line.endswith(" s after process start")
    seconds = float(line.split()[3])
    assert 0 < seconds < 60


def test_no_display_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "dentsend"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("dentsend: no display")
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------------------------
# the demo samples


def test_shipped_samples_are_what_the_generator_makes(tmp_path):
    made = samples.write_samples(tmp_path)
    for new, shipped in zip(made, samples.sample_paths(), strict=True):
        assert new.name == shipped.name
        assert new.read_bytes() == shipped.read_bytes(), f"regenerate {shipped.name}"


def test_samples_are_small_and_carry_the_fake_patient():
    paths = {p.name: p for p in samples.sample_paths()}
    assert sum(p.stat().st_size for p in paths.values()) < 2_000_000

    intraoral = load(paths["DEMO_PATIENT-intraoral.dcm"])
    assert intraoral.modality == "IO" and intraoral.bits_stored == 12
    assert intraoral.bits_allocated == 16
    assert intraoral.imager_pixel_spacing is not None and intraoral.pixel_spacing is None
    assert load(paths["DEMO_PATIENT-bitewing.dcm"]).modality == "IO"
    pano = load(paths["DEMO_PATIENT-panoramic.dcm"])
    assert pano.modality == "PX" and pano.burned_in_annotation == "YES"
    stack = load(paths["DEMO_PATIENT-cbct-slices.dcm"])
    assert stack.frames == 8 and stack.pixel_spacing is not None
    export = load(paths["DEMO_PATIENT-export.jpg"])
    assert export.format == "JPEG" and "EXIF:Artist" in export.identifying_fields

    ds = pydicom.dcmread(paths["DEMO_PATIENT-intraoral.dcm"])
    assert str(ds.PatientName) == samples.FAKE_PATIENT_NAME
    assert ds.PatientID == samples.FAKE_PATIENT_ID
    with Image.open(paths["DEMO_PATIENT-export.jpg"]) as image:
        assert image.getexif()[0x013B] == "DEMO PATIENT"


def test_samples_look_like_radiographs():
    """Bright enamel over darker dentine and pulp, textured bone: not a flat test pattern."""
    values = load(samples.sample_paths()[0]).frame(0).astype(np.float64)
    top, bottom = np.percentile(values, (99.5, 5))
    assert top - bottom > 1500  # uses the 12-bit range
    rows, columns = values.shape
    # Crowns (top third) hold the brightest pixels; the bone below has texture.
    assert values[: rows // 3].max() > values[rows // 2 :].max()
    bone = values[int(rows * 0.8) :, : columns // 6]
    assert bone.std() > 40


def test_samples_command_writes_a_folder(tmp_path):
    result = run_cli_module(["-o", str(tmp_path / "out")])
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(samples.SAMPLE_NAMES)
    assert "total" in result.stdout


def run_cli_module(args: list[str]):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "dentsend.samples", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
