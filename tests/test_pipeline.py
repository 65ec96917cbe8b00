"""The send pipeline (files → intake → deid → payload → package), as the CLI and the app use it."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

import dicom_factory
from dentsend.bundle import extract_bundle, read_header, verify_bundle
from dentsend.deid import DeidOptions
from dentsend.errors import FileProblem
from dentsend.passphrase import WeakPassphrase
from dentsend.pipeline import (
    MAIL_ENCODING,
    Cancelled,
    PackProblems,
    PackRequest,
    estimate_mail_size,
    pack,
)

PASSPHRASE = "violet tram scribble north umpire canyon"
FAST = 600_000  # the format's minimum: tests need not pay the default's extra derivation time


def _request(files: list[Path], output: Path, **changes: object) -> PackRequest:
    request = PackRequest(files=files, output=output, format="html", deid=DeidOptions(),
                          passphrase=PASSPHRASE, practice_name="Smile Dental", iterations=FAST)
    for key, value in changes.items():
        setattr(request, key, value)
    return request


@pytest.fixture(scope="module")
def radiographs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("inputs")
    return [
        dicom_factory.intraoral(folder / "Testperson_Erika_1961.dcm", size=(300, 400)),
        dicom_factory.intraoral(folder / "Testperson_Erika_bitewing.dcm", size=(260, 380)),
        dicom_factory.intraoral(folder / "pano.dcm", size=(400, 700), modality="PX"),
    ]


def _files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_deidentified_html_package(radiographs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "package.html"
    seen: list[tuple[float, str]] = []
    result = pack(_request(radiographs, out), progress=lambda f, label: seen.append((f, label)))
    assert result.parts == [out] and _files_in(tmp_path) == ["package.html"]
    assert result.file_names == ["IO-01.dcm", "IO-02.dcm", "PX-01.dcm"]
    assert len(result.reports) == 3 and result.warnings == []
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    page = out.read_bytes()
    for secret in ("Testperson", "Erika", "PID-83726154"):
        assert secret.encode() not in page
    opened, written = extract_bundle(out, PASSPHRASE, tmp_path / "received")
    assert opened.header.sender == "Smile Dental" and opened.header.files == 3
    assert opened.manifest["deidentification"] == "deidentified"
    for path in written:
        assert b"Testperson" not in path.read_bytes()
    assert result.output_bytes == out.stat().st_size


def test_keep_mode_sends_files_byte_identical(radiographs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "referral.html"
    pack(_request(radiographs[:2], out, deid=DeidOptions(mode="keep"), note="for Dr. Weiss"))
    opened, written = extract_bundle(out, PASSPHRASE, tmp_path / "received")
    by_name = {p.name: p for p in written}
    for source in radiographs[:2]:
        assert by_name[source.name].read_bytes() == source.read_bytes()
    assert opened.manifest["note"] == "for Dr. Weiss"
    assert opened.manifest["deidentification"] == "identified"


def test_every_bad_input_is_named_and_nothing_is_written(
    radiographs: list[Path], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    screenshot = dicom_factory.secondary_capture(tmp_path / "screenshot.dcm")
    out = tmp_path / "out" / "package.html"
    files = [radiographs[0], notes, screenshot, tmp_path / "missing.dcm"]
    with pytest.raises(PackProblems) as error:
        pack(_request(files, out))
    named = sorted(problem.path.name for problem in error.value.problems)
    assert named == ["missing.dcm", "notes.txt", "screenshot.dcm"]
    assert "no package was written" in str(error.value)
    assert not out.parent.exists()


def test_cancel_leaves_nothing_behind(radiographs: list[Path], tmp_path: Path) -> None:
    cancel = threading.Event()

    def progress(fraction: float, label: str) -> None:
        if "file 2 of" in label and label.startswith("Cleaning"):
            cancel.set()

    with pytest.raises(Cancelled):
        pack(_request(radiographs, tmp_path / "package.html"), progress=progress, cancel=cancel)
    assert _files_in(tmp_path) == []


def test_a_weak_passphrase_is_refused_before_any_work(
    radiographs: list[Path], tmp_path: Path
) -> None:
    with pytest.raises(WeakPassphrase):
        pack(_request(radiographs, tmp_path / "p.html", passphrase="password123"))
    assert _files_in(tmp_path) == []


def test_splitting_keeps_every_part_under_the_limit(
    radiographs: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "package.html"
    whole = pack(_request(radiographs, out, deid=DeidOptions(mode="keep")))
    limit = int(whole.output_bytes * MAIL_ENCODING * 0.7)
    out.unlink()
    result = pack(_request(radiographs, out, deid=DeidOptions(mode="keep"), max_part_bytes=limit))
    assert len(result.parts) >= 2
    assert [p.name for p in result.parts] == [
        f"package-{i}-of-{len(result.parts)}.html" for i in range(1, len(result.parts) + 1)
    ]
    assert _files_in(tmp_path) == sorted(p.name for p in result.parts)
    received: list[str] = []
    for number, part in enumerate(result.parts, start=1):
        assert part.stat().st_size * MAIL_ENCODING <= limit
        with part.open("rb") as f:
            header = read_header(f)[1]
        assert (header.part, header.parts) == (number, len(result.parts))
        opened = verify_bundle(part, PASSPHRASE)
        assert (opened.manifest["part"], opened.manifest["parts"]) == (number, len(result.parts))
        received += [f.name for f in opened.files]
    assert sorted(received) == sorted(p.name for p in radiographs)
    assert len(result.sha256) == len(result.parts)


def test_a_file_larger_than_the_limit_is_refused(radiographs: list[Path], tmp_path: Path) -> None:
    # The message names the user's file, not the neutral name it would get in the package.
    names = "|".join(re.escape(p.name) for p in radiographs)
    with pytest.raises(FileProblem, match=rf"^({names}): alone is larger than the size limit"):
        pack(_request(radiographs, tmp_path / "p.html", max_part_bytes=250_000))
    assert _files_in(tmp_path) == []


def test_a_package_too_big_for_mail_gets_a_warning(tmp_path: Path) -> None:
    noise = np.random.default_rng(5).integers(0, 65536, (2200, 3000), dtype=np.uint16)
    big = dicom_factory.write(
        dicom_factory.make_dataset(noise, bits_stored=16, patient={}), tmp_path / "big.dcm"
    )
    result = pack(_request([big], tmp_path / "big.html", deid=DeidOptions(mode="keep")))
    assert result.mail_bytes > 20_000_000
    assert any("20 MB" in warning for warning in result.warnings)


def test_an_openpgp_passphrase_package_holds_the_same_zip(
    radiographs: list[Path], tmp_path: Path
) -> None:
    from dentsend.openpgp import read_package
    from dentsend.payload import ReceivedZip

    out = tmp_path / "package.pgp"
    result = pack(_request(radiographs[:2], out, format="openpgp-passphrase"))
    opened = read_package(out.read_bytes(), passphrase=PASSPHRASE)
    archive = ReceivedZip(opened.data)
    archive.check()
    assert archive.manifest is not None
    assert [e.name for e in archive.entries] == [*result.file_names, "manifest.json"]
    assert all("view" not in f.get("image", {}) for f in archive.manifest["files"])


def test_the_size_estimate_is_in_the_right_range(radiographs: list[Path], tmp_path: Path) -> None:
    result = pack(_request(radiographs, tmp_path / "p.html"))
    estimate = estimate_mail_size(radiographs, "html")
    actual = result.output_bytes * MAIL_ENCODING
    assert 0.5 * actual < estimate < 2 * actual
