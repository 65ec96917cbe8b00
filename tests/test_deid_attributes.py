"""DICOM attributes a reviewer hid the fake patient in, beyond the standard places.

Each case plants the patient where the first version of the profile walk let it through (the
security review of the committed code): names joined to other words, public attributes the
dictionary does not know, overlay and curve groups past the standard range, bulk data no viewer
shows, UIDs the table does not list, file meta elements in the data set body, the bits above
High Bit, kept private codes, and text after a shifted date.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dentsend.deid import CleanFile, Deidentifier, DeidOptions
from dentsend.intake import load_bytes
from test_deid_samples import FAKE, PATIENT_PN, base_dataset, item, leaks, to_bytes


def _clean(ds: Dataset | bytes, *, planted: bool = True, **options: Any) -> CleanFile:
    data = ds if isinstance(ds, bytes) else to_bytes(ds)
    assert not planted or leaks(data), "the patient was not planted"
    options.setdefault("confirmed_no_burned_in", True)
    return Deidentifier(DeidOptions(**options)).clean(load_bytes(data, "x.dcm"))


def _read(cleaned: CleanFile) -> Dataset:
    return pydicom.dcmread(io.BytesIO(cleaned.data))


@pytest.mark.parametrize(
    ("value", "clean"),
    [
        ("Quixwhistle_Zebulon", frozenset()),
        ("Quixwhistle2024", frozenset()),
        ("Quixwhistle_Zebulon_pano", frozenset({"descriptors"})),
    ],
)
def test_names_joined_to_other_words_are_swept(value: str, clean: frozenset[str]) -> None:
    ds = base_dataset()
    ds.PatientName = PATIENT_PN
    ds.Manufacturer = value
    ds.SeriesDescription = value
    cleaned = _clean(ds, clean=clean)
    assert not leaks(cleaned.data)
    assert _read(cleaned).Manufacturer.startswith("***")


def test_an_id_inside_a_word_is_swept_and_a_longer_word_is_not() -> None:
    ds = base_dataset()
    ds.PatientName = PATIENT_PN
    ds.PatientID = "12345"
    ds.Manufacturer = "IMG_12345 Quixwhistlestrasse 123456"
    out = _read(_clean(ds))
    # the ID goes where digits end; a longer number or word that merely starts alike stays
    assert out.Manufacturer == "IMG_*** Quixwhistlestrasse 123456"


@pytest.mark.parametrize(
    ("tag", "vr", "value"),
    [
        (0x00089990, "LO", PATIENT_PN),  # unknown public attributes, any VR
        (0x00109990, "SH", FAKE["family"]),
        (0x00189990, "OB", PATIENT_PN.encode()),
        (0x60201500, "LO", PATIENT_PN),  # an "overlay" group past 601E
        (0x60203000, "OW", PATIENT_PN.encode()),
        (0x50200022, "LO", PATIENT_PN),  # a "curve" group past 501E
        (0x7F000010, "OW", PATIENT_PN.encode()),  # retired variable pixel data
        (0x54001010, "OW", PATIENT_PN.encode()),  # WaveformData: bulk data nobody displays
    ],
)
@pytest.mark.parametrize("graphics", [False, True], ids=["basic", "clean-graphics"])
def test_unknown_public_attributes_and_stray_groups_are_removed(
    tag: int, vr: str, value: object, graphics: bool
) -> None:
    ds = base_dataset()
    ds.add_new(tag, vr, value)
    cleaned = _clean(ds, clean=frozenset({"graphics"}) if graphics else frozenset())
    assert not leaks(cleaned.data)
    assert tag not in _read(cleaned)
    assert any(c.tag.startswith(f"({tag >> 16:04X},") for c in cleaned.report.changes)


def test_unlisted_uids_are_replaced_consistently_and_well_known_ones_stay() -> None:
    ds = base_dataset()
    original = ds.SOPInstanceUID
    ds.SOPInstanceUIDOfConcatenationSource = original
    ds.MultiFrameSourceSOPInstanceUID = original
    ds.ReferencedSOPClassUIDInFile = "1.2.840.10008.5.1.4.1.1.1.3"
    cleaned = _clean(ds, planted=False)
    out = _read(cleaned)
    assert original.encode() not in cleaned.data
    assert out.SOPInstanceUIDOfConcatenationSource == out.SOPInstanceUID
    assert out.MultiFrameSourceSOPInstanceUID == out.SOPInstanceUID
    assert out.ReferencedSOPClassUIDInFile == "1.2.840.10008.5.1.4.1.1.1.3"
    # Retain UIDs keeps them all
    kept = _read(_clean(ds, planted=False, retain=frozenset({"uids"})))
    assert kept.MultiFrameSourceSOPInstanceUID == original


def test_file_meta_elements_in_the_body_are_removed() -> None:
    data = to_bytes(base_dataset())
    value = b"QUIXWHISTLE "
    data += b"\x02\x00\x16\x00AE" + len(value).to_bytes(2, "little") + value
    cleaned = _clean(data)
    assert not leaks(cleaned.data)
    assert _read(cleaned).file_meta.get("SourceApplicationEntityTitle") is None


def test_bits_above_high_bit_are_cleared_without_changing_pixels() -> None:
    ds = base_dataset()
    pixels = np.frombuffer(ds.PixelData, "<u2").copy()
    for index, char in enumerate(PATIENT_PN.encode()):  # the name, a nibble per pixel
        pixels[2 * index] |= (char >> 4) << 12
        pixels[2 * index + 1] |= (char & 15) << 12
    ds.PixelData = pixels.tobytes()
    source = load_bytes(to_bytes(ds), "x.dcm")
    cleaned = Deidentifier(DeidOptions()).clean(source)
    stored = np.frombuffer(_read(cleaned).PixelData, "<u2")
    assert not (stored & 0xF000).any()
    assert np.array_equal(cleaned.radiograph.frame(0), source.frame(0))
    assert any("High Bit" in c.name for c in cleaned.report.changes)


def test_signed_pixels_keep_their_sign_when_high_bits_are_cleaned() -> None:
    ds = base_dataset(4, 4)
    ds.PixelRepresentation = 1
    values = np.array([-5, 7, -2048, 2047] * 4, dtype="<i2")
    raw = values.view("<u2").copy()
    raw[1] |= 0x5000  # garbage above High Bit of a positive value
    raw[0] &= 0x0FFF  # a negative value without its sign extension
    ds.PixelData = raw.tobytes()
    source = load_bytes(to_bytes(ds), "s.dcm")
    cleaned = Deidentifier(DeidOptions()).clean(source)
    assert np.array_equal(cleaned.radiograph.frame(0), source.frame(0))
    stored = np.frombuffer(_read(cleaned).PixelData, "<i2")
    assert list(stored[:4]) == [-5, 7, -2048, 2047]


def test_kept_private_codes_holding_the_name_are_removed() -> None:
    ds = base_dataset()
    ds.PatientName = PATIENT_PN
    block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    block.add_new(0x23, "DS", "1.5")  # on the Retain Safe Private allow-list
    code = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    code.add_new(0x04, "CS", FAKE["family"].upper())  # an allowed "code": the patient's name
    ds.BodyPartExamined = FAKE["family"].upper()  # and a public one
    cleaned = _clean(ds, retain=frozenset({"safe-private"}))
    assert not leaks(cleaned.data)
    out = _read(cleaned)
    assert out[0x00191023].value == 1.5  # a safe number stays
    assert out.BodyPartExamined == "ANONYMOUS"


def test_shifted_dates_carry_nothing_after_the_date() -> None:
    ds = base_dataset()
    ds.StudyDate = f"20240311 {FAKE['family']}"
    ds.AcquisitionDateTime = f"20240311101500 {FAKE['family']}"
    ds.ContentDate = "20240311"
    cleaned = _clean(ds, retain=frozenset({"modified-dates"}))
    assert not leaks(cleaned.data)
    out = _read(cleaned)
    assert len(out.StudyDate) == 8 and out.StudyDate == out.ContentDate
    assert out.AcquisitionDateTime == out.StudyDate


def test_nested_unknown_attributes_go_with_their_sequence() -> None:
    ds = base_dataset()
    ds.add_new(0x00089992, "SQ", Sequence([item(CodeValue="1")]))
    ds[0x00089992].value[0].add_new(0x00081090, "LO", FAKE["family"])
    inner = item(CodeValue="C1", CodingSchemeDesignator="DCM", CodeMeaning="m")
    inner.add_new(0x00099990, "LO", FAKE["family"])  # odd group inside a known sequence
    inner.add_new(0x00089993, "LO", FAKE["family"])
    ds.AnatomicRegionSequence = Sequence([inner])
    cleaned = _clean(ds)
    assert not leaks(cleaned.data)
    assert _read(cleaned).AnatomicRegionSequence[0].CodeMeaning == "m"


def test_a_colour_profile_stays_without_what_follows_it() -> None:
    from PIL import ImageCms

    icc = bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    ds = base_dataset()
    ds.ICCProfile = icc + PATIENT_PN.encode() + b" "
    cleaned = _clean(ds)
    assert not leaks(cleaned.data)
    assert _read(cleaned).ICCProfile.rstrip(b"\x00") == icc.rstrip(b"\x00")
