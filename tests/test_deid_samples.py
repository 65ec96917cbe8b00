"""Test files made in code, with a fake patient planted everywhere identifying data can hide.

The leak tests (``test_deid_leaks.py``) clean these and search every output byte for the fake
patient. The tests in this module prove the planting worked: a leak test over files that never
held the patient could not fail.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, PngImagePlugin, TiffImagePlugin
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

#: The fake patient, practice and staff. Distinctive strings, so a byte search finds them only
#: where they were put.
FAKE = {
    "given": "Zebulon",
    "family": "Quixwhistle",
    "patient_id": "PID-774411-Q",
    "birth_date": "19610423",
    "physician_family": "Fennimore",
    "physician_given": "Bartholomew",
    "institution": "Kittiwake Dental Clinic",
    "address": "17 Quillonby Lane, Brackwater",
    "accession": "ACC-55821-XZ",
    "phone": "+44 7700 918273",
}
PATIENT_PN = f"{FAKE['family']}^{FAKE['given']}"
PHYSICIAN_PN = f"{FAKE['physician_family']}^{FAKE['physician_given']}^^Dr."
#: Accented forms for the non-ASCII character sets.
FAMILY_LATIN1 = "Quixwhistlé-Müller"
FAMILY_GREEK = "Κουιξουίσλ"
INTRAORAL_CLASS = "1.2.840.10008.5.1.4.1.1.1.3"
SECONDARY_CAPTURE_CLASS = "1.2.840.10008.5.1.4.1.1.7"
PRIVATE_CREATOR = "ACME DENTAL IMAGING 2.1"


def needles() -> list[bytes]:
    """Every encoding of every planted string a leak could take."""
    texts = [
        *FAKE.values(),
        PATIENT_PN,
        f"{FAKE['given']} {FAKE['family']}",
        "1961-04-23",
        "23.04.1961",
        FAMILY_LATIN1,
        "Müller",
        FAMILY_GREEK,
    ]
    found: set[bytes] = set()
    for text in texts:
        for variant in (text, text.upper(), text.lower()):
            for encoding in ("utf-8", "latin-1", "utf-16-le", "utf-16-be", "iso8859-7"):
                try:
                    found.add(variant.encode(encoding))
                except UnicodeEncodeError:
                    continue
    return sorted(found, key=len)


def leaks(data: bytes) -> list[bytes]:
    """The planted strings found in ``data``, also inside any zlib stream it holds (a PNG zTXt
    or compressed iTXt chunk, a deflated TIFF strip) where a plain byte search cannot see."""
    views = [data, *_inflated(data)]
    return [needle for needle in needles() if any(needle in view for view in views)]


def _inflated(data: bytes) -> list[bytes]:
    streams = []
    start = data.find(b"\x78")
    while start != -1:
        if len(data) > start + 1 and (data[start] * 256 + data[start + 1]) % 31 == 0:
            with contextlib.suppress(zlib.error):
                streams.append(zlib.decompressobj().decompress(data[start:], 1 << 20))
        start = data.find(b"\x78", start + 1)
    return streams


# --------------------------------------------------------------------------------------------
# DICOM


def gradient(rows: int, columns: int, bits: int = 12) -> np.ndarray:
    """A smooth test image (no random bytes, so no accidental matches in the byte search)."""
    y, x = np.mgrid[0:rows, 0:columns]
    return ((x * 7 + y * 3) % (1 << bits)).astype(np.uint16)


def base_dataset(
    rows: int = 48,
    columns: int = 64,
    *,
    sop_class: str = INTRAORAL_CLASS,
    modality: str = "IO",
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> Dataset:
    """A valid intraoral DX (for presentation) instance with a 12-bit gradient."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = modality
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = "Acme Sensors"
    ds.StudyDate = "20240311"
    ds.StudyTime = "101500"
    ds.ContentDate = "20240311"
    ds.ContentTime = "101512"
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.ReferringPhysicianName = ""
    ds.AccessionNumber = ""
    ds.StudyID = "1"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.PatientOrientation = ["A", "R"]
    ds.BurnedInAnnotation = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.ImagerPixelSpacing = [0.02, 0.02]
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    ds.PixelData = gradient(rows, columns).tobytes()
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def item(**values: object) -> Dataset:
    dataset = Dataset()
    for keyword, value in values.items():
        setattr(dataset, keyword, value)
    return dataset


def planted_dataset(**kwargs: object) -> Dataset:
    """An intraoral image with the fake patient in every kind of place."""
    ds = base_dataset(**kwargs)  # type: ignore[arg-type]
    ds.file_meta.SourceApplicationEntityTitle = "QUIXWHISTLE"
    ds.file_meta.ImplementationVersionName = "ZEBULON_PACS"
    # standard attributes
    ds.PatientName = PATIENT_PN
    ds.PatientID = FAKE["patient_id"]
    ds.IssuerOfPatientID = FAKE["institution"]
    ds.PatientBirthDate = FAKE["birth_date"]
    ds.PatientSex = "M"
    ds.PatientAge = "062Y"
    ds.PatientAddress = FAKE["address"]
    ds.PatientTelephoneNumbers = FAKE["phone"]
    ds.OtherPatientIDs = FAKE["patient_id"] + "-OLD"
    ds.OtherPatientNames = f"{FAKE['family']}^Zeb"
    ds.PatientComments = f"{FAKE['given']} prefers mornings"
    ds.ReferringPhysicianName = PHYSICIAN_PN
    ds.PerformingPhysicianName = PHYSICIAN_PN
    ds.OperatorsName = f"{FAKE['family']}^Operator"
    ds.InstitutionName = FAKE["institution"]
    ds.InstitutionAddress = FAKE["address"]
    ds.StationName = "KITTIWAKE-IO1"
    ds.AccessionNumber = FAKE["accession"]
    ds.StudyDescription = f"Bitewings for {FAKE['given']} {FAKE['family']}"
    ds.SeriesDescription = f"{FAKE['family']} left"
    ds.ImageComments = f"Patient {FAKE['family']}, born 23.04.1961, ID {FAKE['patient_id']}"
    ds.DerivationDescription = f"exported for {PATIENT_PN}"
    # copied into attributes the profile keeps: only the sweep catches these
    ds.Manufacturer = f"Acme for {FAKE['institution']}"
    ds.WindowCenterWidthExplanation = f"{FAKE['family']} window"
    # sequences, nested
    ds.OtherPatientIDsSequence = Sequence(
        [item(PatientID=FAKE["patient_id"], IssuerOfPatientID="KITTIWAKE", TypeOfPatientID="TEXT")]
    )
    ds.ReferencedStudySequence = Sequence(
        [
            item(
                ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
                ReferencedSOPInstanceUID=generate_uid(),
            )
        ]
    )
    ds.RequestAttributesSequence = Sequence(
        [
            item(
                RequestedProcedureID=FAKE["accession"],
                ScheduledProcedureStepDescription=f"IO for {FAKE['family']}",
            )
        ]
    )
    ds.ProcedureCodeSequence = Sequence(
        [
            item(
                CodeValue="D0274",
                CodingSchemeDesignator="CDT",
                CodeMeaning=f"Bitewings four films {FAKE['family']}",
                PersonName=PATIENT_PN,
            )
        ]
    )
    ds.ContentSequence = Sequence(
        [
            item(
                RelationshipType="CONTAINS",
                ValueType="TEXT",
                TextValue=f"Seen {FAKE['given']} {FAKE['family']} on 23.04.1961",
                ConceptNameCodeSequence=Sequence(
                    [item(CodeValue="121106", CodingSchemeDesignator="DCM", CodeMeaning="Comment")]
                ),
            )
        ]
    )
    ds.AnatomicRegionSequence = Sequence(
        [
            item(
                CodeValue="T-11170",
                CodingSchemeDesignator="SRT",
                CodeMeaning="Mandible",
                AnatomicRegionModifierSequence=Sequence(
                    [
                        item(
                            CodeValue="G-A101",
                            CodingSchemeDesignator="SRT",
                            CodeMeaning="Left",
                            PatientName=PATIENT_PN,
                        )
                    ]
                ),
            )
        ]
    )
    ds.IconImageSequence = Sequence([_icon()])
    ds.EncryptedAttributesSequence = Sequence(
        [
            item(
                EncryptedContentTransferSyntaxUID=ExplicitVRLittleEndian,
                EncryptedContent=f"not really encrypted: {PATIENT_PN}".encode(),
            )
        ]
    )
    ds.ContributingEquipmentSequence = Sequence(
        [
            item(
                Manufacturer=f"{FAKE['family']} Imaging",
                InstitutionName=FAKE["institution"],
                StationName="RECEPTION",
                PurposeOfReferenceCodeSequence=Sequence(
                    [
                        item(
                            CodeValue="109103",
                            CodingSchemeDesignator="DCM",
                            CodeMeaning="Modifying Equipment",
                        )
                    ]
                ),
            )
        ]
    )
    # private attributes, including a private sequence
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", PATIENT_PN)
    block.add_new(0x02, "OB", f"<patient>{FAKE['family']} {FAKE['birth_date']}</patient>".encode())
    block.add_new(
        0x03, "SQ", Sequence([item(PatientName=PATIENT_PN, PatientID=FAKE["patient_id"])])
    )
    block.add_new(0x04, "DS", "1.5")
    # an overlay whose label and description carry the name, and a curve
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60000022, "LO", f"{FAKE['family']} annotation")
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60001500, "LO", FAKE["given"])
    ds.add_new(0x60003000, "OW", b"\xff" * 8)
    ds.add_new(0x60004000, "LT", f"{FAKE['family']} overlay")
    ds.add_new(0x50000022, "LO", f"{FAKE['family']} curve")
    # bytes after the last frame, where no viewer looks
    ds.PixelData = ds.PixelData + f"HIDDEN {PATIENT_PN} ".encode()
    return ds


def _icon() -> Dataset:
    icon = item(
        SamplesPerPixel=1,
        PhotometricInterpretation="MONOCHROME2",
        Rows=4,
        Columns=4,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
    )
    icon.PixelData = FAKE["family"][:16].encode().ljust(16, b"\x00")
    return icon


def non_ascii_dataset(charset: str) -> Dataset:
    """The patient's name in an extended character set (ISO_IR 100 Latin-1, ISO_IR 126 Greek
    or ISO_IR 192 UTF-8)."""
    ds = base_dataset()
    ds.SpecificCharacterSet = charset
    family = FAMILY_GREEK if charset == "ISO_IR 126" else FAMILY_LATIN1
    ds.PatientName = f"{family}^{FAKE['given']}"
    ds.PatientBirthDate = FAKE["birth_date"]
    ds.ImageComments = f"{family} 23.04.1961"
    ds.ReferringPhysicianName = f"{family}^Dr"
    return ds


def jpeg_dicom(with_metadata: bool = True) -> Dataset:
    """A VL photographic DICOM whose JPEG frame still carries the camera's EXIF and a comment
    written by practice software."""
    rgb = np.dstack([gradient(32, 48, 8)] * 3).astype(np.uint8)
    stream = jpeg_with_metadata(rgb) if with_metadata else _plain_jpeg(rgb)
    ds = base_dataset(32, 48, sop_class="1.2.840.10008.5.1.4.1.1.77.1.4", modality="XC")
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.LossyImageCompression = "01"
    del ds.WindowCenter, ds.WindowWidth
    ds.PixelData = pydicom.encaps.encapsulate([stream])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


# --------------------------------------------------------------------------------------------
# plain images


def _exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = f"Pano of {FAKE['given']} {FAKE['family']}"  # ImageDescription
    exif[0x013B] = PHYSICIAN_PN  # Artist
    exif[0x010F] = "KittiwakeCam"  # Make
    exif[0x0112] = orientation
    exif[0x8298] = FAKE["institution"]  # Copyright
    exif[0x9C9D] = f"{FAKE['family']}\x00".encode("utf-16-le")  # XPAuthor
    sub = exif.get_ifd(0x8769)
    sub[0x9286] = b"UNICODE\x00" + f"{FAKE['given']} {FAKE['birth_date']}".encode("utf-16-le")
    sub[0x927C] = f"MAKERNOTE {FAKE['patient_id']}".encode()  # MakerNote
    sub[0x9003] = "2024:03:11 10:15:00"
    sub[0xA430] = FAKE["family"]  # CameraOwnerName
    return exif


def _xmp() -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:creator>{FAKE['physician_family']}</dc:creator>"
        f"<dc:title>{FAKE['given']} {FAKE['family']} {FAKE['birth_date']}</dc:title>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def _iptc() -> bytes:
    """A Photoshop APP13 block with an IPTC By-line (2:80) and Caption (2:120)."""
    records = b""
    for dataset, text in ((80, FAKE["physician_family"]), (120, PATIENT_PN)):
        value = text.encode()
        records += b"\x1c\x02" + bytes([dataset]) + struct.pack(">H", len(value)) + value
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(records))
    resource += records + (b"\x00" if len(records) % 2 else b"")
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def _plain_jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def jpeg_with_metadata(pixels: np.ndarray | None = None, orientation: int = 6) -> bytes:
    """EXIF (with XP tags, UserComment, MakerNote), XMP, IPTC, a comment, trailing data."""
    if pixels is None:
        pixels = gradient(40, 56, 8).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(
        buffer,
        "JPEG",
        quality=90,
        exif=_exif(orientation).tobytes(),
        xmp=_xmp(),
        comment=f"Patient: {PATIENT_PN} DOB {FAKE['birth_date']}".encode(),
    )
    data = buffer.getvalue()
    data = data[:2] + _iptc() + data[2:]
    return data + f"TRAILER {FAKE['family']} {FAKE['patient_id']}".encode()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_with_metadata(mode: str = "I;16") -> bytes:
    """tEXt, zTXt (compressed), iTXt (plain and compressed), eXIf, tIME, a private chunk,
    an iCCP profile named after the patient, and trailing data."""
    pixels = gradient(40, 56, 12 if mode == "I;16" else 8)
    image = Image.fromarray(pixels if mode == "I;16" else pixels.astype(np.uint8))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", PHYSICIAN_PN)
    info.add_text("Description", f"{FAKE['given']} {FAKE['family']}", zip=True)
    info.add_itxt("Comment", f"{FAKE['family']} {FAKE['birth_date']}", lang="en")
    info.add_itxt("Title", f"ID {FAKE['patient_id']}", zip=True)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info, exif=_exif(6).tobytes())
    data = buffer.getvalue()
    iend = data.rindex(b"IEND") - 4
    extra = _png_chunk(b"tIME", struct.pack(">HBBBBB", 2024, 3, 11, 10, 15, 0))
    extra += _png_chunk(b"prVt", f"{FAKE['institution']}".encode())
    ihdr_end = 8 + 25
    icc = _png_chunk(b"iCCP", FAKE["family"].encode() + b"\x00\x00" + zlib.compress(_tiny_icc()))
    data = data[:ihdr_end] + icc + data[ihdr_end:iend] + extra + data[iend:]
    return data + FAKE["accession"].encode()


def _tiny_icc() -> bytes:
    from PIL import ImageCms

    profile = ImageCms.createProfile("sRGB")
    return bytes(ImageCms.ImageCmsProfile(profile).tobytes())


def tiff_with_metadata() -> bytes:
    """Two 16-bit pages with ImageDescription, Artist, DocumentName, XMP and an EXIF sub-IFD."""
    pages = [Image.fromarray(gradient(40, 56)), Image.fromarray(gradient(40, 56)[::-1].copy())]
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[270] = f"{FAKE['given']} {FAKE['family']} pano"
    info[315] = PHYSICIAN_PN
    info[269] = f"{FAKE['family']}.tif"
    info[305] = "KittiwakeSoft"
    info[316] = "RECEPTION-PC"
    info[33432] = FAKE["institution"]
    info[700] = _xmp()
    info[0x8769] = {
        0x9286: b"ASCII\x00\x00\x00" + f"{FAKE['given']} {FAKE['birth_date']}".encode(),
        0xA430: FAKE["family"],
    }
    buffer = io.BytesIO()
    pages[0].save(
        buffer,
        "TIFF",
        save_all=True,
        append_images=pages[1:],
        tiffinfo=info,
    )
    return buffer.getvalue()


def bmp_with_metadata() -> bytes:
    """An 8-bit BMP with the name hidden between the palette and the pixels, and after them."""
    image = Image.fromarray(gradient(40, 56, 8).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "BMP")
    data = buffer.getvalue()
    (offset,) = struct.unpack_from("<I", data, 10)
    hidden = f"{PATIENT_PN} {FAKE['birth_date']}".encode().ljust(64, b"\x00")
    rebuilt = bytearray(data[:offset] + hidden + data[offset:])
    struct.pack_into("<I", rebuilt, 10, offset + len(hidden))
    rebuilt += FAKE["patient_id"].encode()
    struct.pack_into("<I", rebuilt, 2, len(rebuilt))
    return bytes(rebuilt)


def planted_name(suffix: str) -> str:
    """A file name as practice software writes it."""
    return f"{FAKE['family']}_{FAKE['given']}_{FAKE['birth_date']}_{FAKE['patient_id']}{suffix}"


def write_planted_files(folder: Path) -> Iterator[Path]:
    """All planted files in ``folder``, named after the patient."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        ".dcm": to_bytes(planted_dataset()),
        "_latin1.dcm": to_bytes(non_ascii_dataset("ISO_IR 100")),
        "_utf8.dcm": to_bytes(non_ascii_dataset("ISO_IR 192")),
        "_greek.dcm": to_bytes(non_ascii_dataset("ISO_IR 126")),
        "_photo.dcm": to_bytes(jpeg_dicom()),
        ".jpg": jpeg_with_metadata(),
        ".png": png_with_metadata(),
        "_rgb.png": png_with_metadata("L"),
        ".tif": tiff_with_metadata(),
        ".bmp": bmp_with_metadata(),
    }
    for suffix, data in files.items():
        path = folder / planted_name(suffix)
        path.write_bytes(data)
        yield path


# --------------------------------------------------------------------------------------------
# the planting works (so the leak tests can fail)


def test_compressed_text_is_searched_too() -> None:
    hidden = zlib.compress(PATIENT_PN.encode())
    assert PATIENT_PN.encode() not in hidden
    assert leaks(b"zTXtkey\x00\x00" + hidden)


def test_every_planted_file_holds_the_patient(tmp_path: Path) -> None:
    for path in write_planted_files(tmp_path):
        data = path.read_bytes()
        assert leaks(data), f"{path.name} was meant to hold the fake patient"
        assert leaks(path.name.encode()), path.name


def test_planted_files_are_readable(tmp_path: Path) -> None:
    from dentsend.intake import load

    for path in write_planted_files(tmp_path):
        radiograph = load(path)
        assert radiograph.frame(0).shape[:2] == (radiograph.rows, radiograph.columns)


def test_non_ascii_names_are_encoded_in_their_character_set() -> None:
    assert FAMILY_LATIN1.encode("latin-1") in to_bytes(non_ascii_dataset("ISO_IR 100"))
    assert FAMILY_LATIN1.encode("utf-8") in to_bytes(non_ascii_dataset("ISO_IR 192"))
    assert FAMILY_GREEK.encode("iso8859-7") in to_bytes(non_ascii_dataset("ISO_IR 126"))


def test_the_jpeg_frame_inside_dicom_carries_exif_and_a_comment() -> None:
    data = to_bytes(jpeg_dicom())
    assert b"Exif\x00\x00" in data
    assert PATIENT_PN.encode() in data
