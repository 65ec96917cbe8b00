"""Real files go through and stay readable: pydicom's own test files and the dental fixtures.

pydicom ships about 260 DICOM files covering every transfer syntax, odd encodings, big-endian,
deflate, implicit VR without meta header, private blocks and sequences. Every one that dentsend
can open as an image is cleaned; the result must load, decode to the same pixels, and hold no
patient name. (About 150 files; a few seconds.)
"""

from __future__ import annotations

import numpy as np
import pydicom
import pydicom.data
import pytest

from conftest import fixture_file
from dentsend.deid import Deidentifier, DeidOptions
from dentsend.errors import FileProblem
from dentsend.intake import Kind, Radiograph, load

#: Decoding every frame of the big multi-frame files adds time and proves nothing more.
_DECODE_LIMIT = 4_000_000


def _radiographs() -> list[Radiograph]:
    found = []
    for path in pydicom.data.get_testdata_files():
        try:
            found.append(load(path))
        except FileProblem:
            continue  # not an image dentsend opens (no pixels, broken on purpose, …)
    return found


@pytest.fixture(scope="module")
def corpus() -> list[Radiograph]:
    radiographs = _radiographs()
    assert len(radiographs) > 100
    return radiographs


@pytest.mark.parametrize(
    "options",
    [
        DeidOptions(confirmed_no_burned_in=True),
        DeidOptions(
            mode="pseudonym",
            pseudonym="CASE-7",
            retain=frozenset({"modified-dates", "safe-private", "device"}),
            clean=frozenset({"descriptors", "graphics", "structured-content"}),
            confirmed_no_burned_in=True,
        ),
    ],
    ids=["basic", "pseudonym-with-options"],
)
def test_pydicom_test_files_clean_and_stay_readable(
    corpus: list[Radiograph], options: DeidOptions
) -> None:
    deid = Deidentifier(options)
    problems = []
    for original in corpus:
        name = original.path.name
        try:
            cleaned = deid.clean(original)
        except FileProblem as problem:
            problems.append(f"{name}: {problem.reason}")
            continue
        out = cleaned.radiograph
        assert out.kind is Kind.DICOM and out.dataset is not None
        assert (out.rows, out.columns, out.frames) == (
            original.rows,
            original.columns,
            original.frames,
        ), name
        patient = str(out.dataset.get("PatientName", ""))
        assert patient in ("", options.pseudonym or ""), f"{name}: {patient!r}"
        assert out.dataset.PatientIdentityRemoved == "YES"
        assert not any(
            e.tag.is_private for e in out.dataset if "safe-private" not in options.retain
        ), name
        if options.mode == "deidentify" and (
            original.rows * original.columns * original.frames <= _DECODE_LIMIT
        ):
            try:
                before = original.frame(0)
            except FileProblem:
                continue  # the source itself cannot be decoded here
            assert np.array_equal(out.frame(0), before), f"{name}: pixels changed"
    assert not problems, "\n".join(problems)


def test_the_dental_fixtures_clean_and_stay_readable() -> None:
    deid = Deidentifier(DeidOptions(confirmed_no_burned_in=True))
    vl = load(fixture_file("ortho_photo_vl.dcm"))
    assert str(vl.dataset.PatientName) == "Doe^John"  # type: ignore[union-attr]
    cleaned = deid.clean(vl)
    header = cleaned.data[: cleaned.data.find(b"\xe0\x7f\x10\x00")]
    assert b"Doe^John" not in cleaned.data and b"Doe" not in header
    assert np.array_equal(cleaned.radiograph.frame(0), vl.frame(0))
    for name in ("cephalogram_B1893L12.jpg", "intraoral_photo_nikon.jpg"):
        original = load(fixture_file(name))
        cleaned = deid.clean(original)
        assert cleaned.radiograph.identifying_fields == ()
        assert np.array_equal(cleaned.radiograph.frame(0), original.frame(0))


def test_a_file_without_meta_header_gets_one() -> None:
    """Old implicit-VR files have no preamble or file meta group: the cleaned copy is a
    proper Part 10 file naming dentsend as the writer."""
    import io

    from dentsend.intake import load_bytes
    from test_deid_samples import planted_dataset

    ds = planted_dataset()
    del ds.file_meta
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    assert buffer.getvalue()[128:132] != b"DICM"
    cleaned = Deidentifier(DeidOptions()).clean(load_bytes(buffer.getvalue(), "old.dcm"))
    assert cleaned.data[128:132] == b"DICM"
    meta = pydicom.dcmread(pydicom.filebase.DicomBytesIO(cleaned.data)).file_meta
    assert meta.ImplementationVersionName.startswith("DENTSEND")
    assert meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian
