"""A fake patient planted everywhere: after cleaning, no byte of any output names them.

The planted files (``test_deid_samples``) hold the patient in standard, private and nested DICOM
attributes, the file meta group, overlays and curves, free text and descriptions, attributes the
profile keeps (copied there by hand), extended character sets, the JPEG frame inside a DICOM
file, JPEG EXIF/XMP/IPTC/comments, PNG text chunks (compressed too), TIFF tags, BMP gaps, data
after the end of an image, and in every file name.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from conftest import run_cli
from dentsend.deid import CleanFile, Deidentifier, DeidOptions
from dentsend.intake import Kind, load, load_bytes
from test_deid_samples import (
    FAKE,
    base_dataset,
    leaks,
    planted_dataset,
    to_bytes,
    write_planted_files,
)

ALL_OPTIONS = [
    DeidOptions(confirmed_no_burned_in=True),
    DeidOptions(mode="pseudonym", pseudonym="REF-2026-114", confirmed_no_burned_in=True),
    DeidOptions(
        retain=frozenset({"modified-dates", "patient-characteristics", "safe-private", "uids"}),
        clean=frozenset({"descriptors", "graphics", "structured-content"}),
        confirmed_no_burned_in=True,
    ),
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return list(write_planted_files(tmp_path_factory.mktemp("planted")))


def _clean_all(paths: list[Path], options: DeidOptions) -> list[tuple[Path, CleanFile]]:
    deid = Deidentifier(options)
    radiographs = [load(path) for path in paths]
    for radiograph in radiographs:
        deid.check(radiograph)
    return [(r.path, deid.clean(r)) for r in radiographs]


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=["basic", "pseudonym", "most-options"])
def test_no_output_byte_names_the_patient(planted: list[Path], options: DeidOptions) -> None:
    for source, cleaned in _clean_all(planted, options):
        found = leaks(cleaned.data) + leaks(cleaned.name.encode())
        assert not found, f"{source.name[-14:]} → {cleaned.name} leaks {found[:3]}"
        # the report keeps the original values, locally: that is what it is for
        assert any(change.before for change in cleaned.report.changes)


def test_pixels_are_identical_to_the_input(planted: list[Path]) -> None:
    for source, cleaned in _clean_all(planted, ALL_OPTIONS[0]):
        original = load(source)
        assert cleaned.radiograph.frames == original.frames
        for frame in range(original.frames):
            assert np.array_equal(cleaned.radiograph.frame(frame), original.frame(frame)), (
                f"{cleaned.name} frame {frame + 1} changed"
            )


def test_jpeg_pixels_are_identical_by_an_independent_decoder(planted: list[Path]) -> None:
    """libjpeg-turbo (imagecodecs) decodes the stripped JPEG to exactly the same values."""
    import imagecodecs  # the test extra has it: a missing one fails, never skips
    jpeg = next(p for p in planted if p.suffix == ".jpg")
    ((_, cleaned),) = _clean_all([jpeg], ALL_OPTIONS[0])
    assert np.array_equal(
        imagecodecs.jpeg8_decode(cleaned.data), imagecodecs.jpeg8_decode(jpeg.read_bytes())
    )


def test_names_are_neutral(planted: list[Path]) -> None:
    names = [cleaned.name for _, cleaned in _clean_all(planted, ALL_OPTIONS[0])]
    assert names == [
        "IO-01.dcm",
        "IO-02.dcm",
        "IO-03.dcm",
        "IO-04.dcm",
        "XC-01.dcm",
        "image-01.jpg",
        "image-02.png",
        "image-03.png",
        "image-04.tif",
        "image-05.bmp",
    ]


def test_raster_display_metadata_survives(planted: list[Path]) -> None:
    """What a viewer needs stays: EXIF orientation (alone), the PNG's ICC profile."""
    cleaned = dict((p.suffix + str(len(p.name)), c) for p, c in _clean_all(planted, ALL_OPTIONS[0]))
    for key, clean in cleaned.items():
        if clean.radiograph.kind is not Kind.RASTER:
            continue
        image = Image.open(io.BytesIO(clean.data))
        exif = dict(image.getexif())
        if key.startswith((".jpg", ".png")):
            assert exif == {0x0112: 6}, f"{clean.name}: {exif}"
            assert clean.radiograph.orientation == 6
        else:
            assert 0x0112 not in exif or exif[0x0112] == 1
        if clean.name == "image-02.png":
            assert image.info.get("icc_profile"), "the ICC profile was lost"


def test_pseudonym_is_the_only_name_left() -> None:
    data = to_bytes(planted_dataset())
    deid = Deidentifier(
        DeidOptions(mode="pseudonym", pseudonym="REF-2026-114", confirmed_no_burned_in=True)
    )
    out = pydicom.dcmread(io.BytesIO(deid.clean(load_bytes(data, "x.dcm")).data))
    assert str(out.PatientName) == "REF-2026-114"
    assert out.PatientID == "REF-2026-114"
    assert out.PatientIdentityRemoved == "YES"
    assert "Pseudonym set by sender" in out.DeidentificationMethod
    assert out.DeidentificationMethod[0] == (
        "PS3.15 2024b Basic Application Confidentiality Profile"
    )
    codes = [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert codes[0] == "113100"
    assert {i.CodingSchemeDesignator for i in out.DeidentificationMethodCodeSequence} == {"DCM"}


def test_three_files_of_one_study_stay_one_study() -> None:
    from pydicom.uid import generate_uid

    study, series = generate_uid(), generate_uid()
    files = []
    for number in range(3):
        ds = base_dataset(study_uid=study, series_uid=series)
        ds.InstanceNumber = number + 1
        ds.ReferencedInstanceSequence = pydicom.Sequence([pydicom.Dataset()])
        ref = ds.ReferencedInstanceSequence[0]
        ref.ReferencedSOPClassUID = ds.SOPClassUID
        ref.ReferencedSOPInstanceUID = files[0][1] if files else ds.SOPInstanceUID
        files.append((to_bytes(ds), ds.SOPInstanceUID))
    deid = Deidentifier(DeidOptions())
    outs = [
        pydicom.dcmread(io.BytesIO(deid.clean(load_bytes(d, f"{i}.dcm")).data))
        for i, (d, _) in enumerate(files)
    ]
    assert len({o.StudyInstanceUID for o in outs}) == 1
    assert len({o.SeriesInstanceUID for o in outs}) == 1
    assert len({o.SOPInstanceUID for o in outs}) == 3
    assert outs[0].StudyInstanceUID != study
    assert all(
        o.StudyInstanceUID.startswith("2.25.") and len(o.StudyInstanceUID) <= 64 for o in outs
    )
    # the references still resolve, and the file meta follows the instance
    reference = outs[2].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    assert reference == outs[0].SOPInstanceUID
    for out in outs:
        assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    # another package maps the same study to other UIDs (nothing links the two)...
    again = Deidentifier(DeidOptions()).clean(load_bytes(files[0][0], "a.dcm"))
    assert pydicom.dcmread(io.BytesIO(again.data)).StudyInstanceUID != outs[0].StudyInstanceUID


def test_stable_uids_line_up_across_packages() -> None:
    """With the practice setting, the per-practice keyring secret makes UIDs stable."""
    data = to_bytes(base_dataset())
    first = Deidentifier(DeidOptions(stable_uids=True)).clean(load_bytes(data, "a.dcm"))
    second = Deidentifier(DeidOptions(stable_uids=True)).clean(load_bytes(data, "a.dcm"))
    uids = [pydicom.dcmread(io.BytesIO(c.data)).StudyInstanceUID for c in (first, second)]
    assert uids[0] == uids[1]
    import keyring

    assert keyring.get_password("dentsend", "deid-uid-secret")


def test_modified_dates_keep_intervals() -> None:
    earlier, later = base_dataset(), base_dataset()
    earlier.StudyDate, later.StudyDate = "20240101", "20240311"
    earlier.AcquisitionDateTime = "20240101093000.5+0100"
    deid = Deidentifier(DeidOptions(retain=frozenset({"modified-dates"})))
    outs = [
        pydicom.dcmread(io.BytesIO(deid.clean(load_bytes(to_bytes(d), "d.dcm")).data))
        for d in (earlier, later)
    ]
    import datetime as dt

    a, b = (dt.datetime.strptime(o.StudyDate, "%Y%m%d") for o in outs)
    assert (b - a).days == 70
    assert outs[0].StudyDate != "20240101"
    assert outs[0].AcquisitionDateTime.endswith("093000.5+0100")
    assert outs[0].AcquisitionDateTime[:8] == outs[0].StudyDate
    assert outs[0].LongitudinalTemporalInformationModified == "MODIFIED"


def test_keep_mode_is_byte_identical(planted: list[Path]) -> None:
    deid = Deidentifier(DeidOptions(mode="keep"))
    for path in planted:
        cleaned = deid.clean(load(path))
        assert cleaned.data == path.read_bytes()
        assert cleaned.name == path.name
        assert all(change.action == "kept" for change in cleaned.report.changes)
        if path.suffix != ".bmp":  # a BMP has no metadata to keep
            assert cleaned.report.changes


def test_the_cli_leaves_nothing_in_files_or_names(planted: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    result = run_cli("clean", *planted, "-o", out, "--confirm-no-burned-in", "--report", report)
    assert result.returncode == 0, result.stderr
    written = sorted(out.iterdir())
    assert len(written) == len(planted)
    for path in written:
        assert not leaks(path.read_bytes()) and not leaks(path.name.encode()), path.name
    assert not leaks(result.stdout.encode()) and not leaks(result.stderr.encode())
    # the report, kept locally, does list what was taken out
    assert FAKE["family"].encode() in report.read_bytes()


def test_invalid_values_are_not_quoted_to_the_terminal(tmp_path: Path) -> None:
    """pydicom warns about invalid values by quoting them; a UID or an over-long ID holding the
    patient's name must not reach the terminal through such a warning."""
    ds = base_dataset()
    ds.PatientID = f"{FAKE['family']}-{FAKE['patient_id']}-" * 3  # longer than LO allows
    ds.StudyInstanceUID = f"1.2.3.{FAKE['family']}"  # letters are not allowed in a UID
    path = tmp_path / "IO-01.dcm"
    ds.save_as(path, enforce_file_format=True)
    for command in (("inspect", path), ("preview", path, "-o", tmp_path / "p.png"),
                    ("clean", path, "-o", tmp_path / "out", "--confirm-no-burned-in")):  # fmt: skip
        result = run_cli(*command)
        assert result.returncode == 0, result.stderr
        assert not leaks(result.stderr.encode()), (command[0], result.stderr)
