"""Burned-in text: which files must be checked, and redaction boxes on DICOM and plain images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from dentsend.deid import Box, Deidentifier, DeidOptions, needs_burned_in_check
from dentsend.errors import FileProblem
from dentsend.intake import Radiograph, load, load_bytes
from test_deid_samples import (
    SECONDARY_CAPTURE_CLASS,
    base_dataset,
    gradient,
    jpeg_with_metadata,
    png_with_metadata,
    tiff_with_metadata,
    to_bytes,
)

BOXES = (Box(2, 3, 10, 6), Box(30, 20, 5, 5))


def _with_boxes(radiograph: Radiograph, *boxes: Box) -> Deidentifier:
    return Deidentifier(DeidOptions(redactions={Path(radiograph.path).resolve(): boxes}))


def _inside(shape: tuple[int, ...], boxes: tuple[Box, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=bool)
    for box in boxes:
        mask[box.y : box.y + box.height, box.x : box.x + box.width] = True
    return mask


# --------------------------------------------------------------------------------------------
# which files need the check


def _dicom(**attributes: object) -> Radiograph:
    ds = base_dataset()
    del ds.BurnedInAnnotation
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return load_bytes(to_bytes(ds), "file.dcm")


def test_which_files_need_a_burned_in_check() -> None:
    assert not needs_burned_in_check(_dicom())  # intraoral, flag absent
    assert not needs_burned_in_check(_dicom(BurnedInAnnotation="NO"))
    assert needs_burned_in_check(_dicom(BurnedInAnnotation="YES"))
    assert needs_burned_in_check(_dicom(RecognizableVisualFeatures="YES"))
    assert needs_burned_in_check(_dicom(SOPClassUID=SECONDARY_CAPTURE_CLASS))
    assert not needs_burned_in_check(
        _dicom(SOPClassUID=SECONDARY_CAPTURE_CLASS, BurnedInAnnotation="NO")
    )
    assert needs_burned_in_check(_dicom(SOPClassUID="1.2.840.10008.5.1.4.1.1.6.1"))  # US
    assert needs_burned_in_check(_dicom(ConversionType="WSD"))
    for data in (jpeg_with_metadata(), png_with_metadata(), tiff_with_metadata()):
        assert needs_burned_in_check(load_bytes(data, "image"))


def test_an_unresolved_check_names_the_file() -> None:
    radiograph = load_bytes(png_with_metadata(), "Quixwhistle screenshot.png")
    deid = Deidentifier(DeidOptions())
    with pytest.raises(FileProblem) as caught:
        deid.check(radiograph)
    assert str(caught.value).startswith("Quixwhistle screenshot.png: ")
    assert "--redact" in str(caught.value) and "--confirm-no-burned-in" in str(caught.value)
    with pytest.raises(FileProblem):
        deid.clean(radiograph)  # clean() checks too
    # confirming for this file (or all files), or drawing a box, resolves it
    path = Path(radiograph.path).resolve()
    Deidentifier(DeidOptions(confirmed_no_burned_in=frozenset({path}))).check(radiograph)
    Deidentifier(DeidOptions(confirmed_no_burned_in=True)).check(radiograph)
    unresolved = frozenset({Path(radiograph.path)})  # keys need not be resolved by the caller
    Deidentifier(DeidOptions(confirmed_no_burned_in=unresolved)).check(radiograph)
    _with_boxes(radiograph, Box(0, 0, 4, 4)).check(radiograph)
    # keep mode sends the file as it is, named: no check
    Deidentifier(DeidOptions(mode="keep")).check(radiograph)


def test_a_box_outside_the_image_is_refused() -> None:
    radiograph = load_bytes(to_bytes(base_dataset(48, 64)), "IO scan.dcm")
    deid = _with_boxes(radiograph, Box(60, 0, 5, 5))
    with pytest.raises(FileProblem, match=r"^IO scan.dcm: redaction box 60,0,5,5 lies outside"):
        deid.check(radiograph)


# --------------------------------------------------------------------------------------------
# DICOM


@pytest.mark.parametrize(
    ("photometric", "signed", "darkest"),
    [("MONOCHROME2", False, 0), ("MONOCHROME1", False, 4095), ("MONOCHROME2", True, -2048)],
)
def test_native_dicom_boxes_get_the_darkest_value(
    photometric: str, signed: bool, darkest: int
) -> None:
    ds = base_dataset(48, 64)
    ds.PhotometricInterpretation = photometric
    if signed:
        ds.PixelRepresentation = 1
        ds.PixelData = (gradient(48, 64).astype(np.int16) - 1000).tobytes()
    original = load_bytes(to_bytes(ds), "n.dcm")
    cleaned = _with_boxes(original, *BOXES).clean(original)
    before, after = original.frame(0), cleaned.radiograph.frame(0)
    inside = _inside(before.shape, BOXES)
    assert np.all(after[inside] == darkest)
    assert np.array_equal(after[~inside], before[~inside])
    out = cleaned.radiograph.dataset
    assert out.BurnedInAnnotation == "NO"
    assert "113101" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert [c.action for c in cleaned.report.changes].count("redacted") == len(BOXES)


def test_a_falling_voi_lut_decides_what_is_darkest() -> None:
    """A VOI LUT that falls (low stored values shown bright): the box gets the stored value
    the viewer shows black, not simply the lowest one."""
    from pydicom.dataset import Dataset

    from dentsend.render import FrameRenderer

    ds = base_dataset(48, 64)
    for keyword in ("WindowCenter", "WindowWidth"):
        if keyword in ds:
            delattr(ds, keyword)
    item = Dataset()
    item.add_new(0x00283002, "US", [4096, 0, 12])  # LUT Descriptor
    # LUT Data: stored 0 → 4095 (white) … 4095 → 0 (black)
    item.add_new(0x00283006, "US", list(range(4095, -1, -1)))
    ds.VOILUTSequence = [item]
    original = load_bytes(to_bytes(ds), "v.dcm")
    cleaned = _with_boxes(original, *BOXES).clean(original)
    after = cleaned.radiograph.frame(0)
    inside = _inside(after.shape, BOXES)
    assert np.all(after[inside] == 4095)
    shown = FrameRenderer(cleaned.radiograph).image()
    assert shown[inside].max() == 0  # black on screen, as a redaction must be


@pytest.mark.parametrize(
    "name",
    [
        "JPEG2000.dcm",  # lossy JPEG 2000, signed 16-bit
        "emri_small_jpeg_2k_lossless.dcm",  # 10 frames
        "MR_small_jpeg_ls_lossless.dcm",
        "JPEG-LL.dcm",  # lossless JPEG process 14
        "SC_rgb_rle.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",  # baseline JPEG, YBR_FULL → written as RGB
        "MR_small_bigendian.dcm",
    ],
)
def test_compressed_dicom_is_decoded_and_stored_losslessly(name: str) -> None:
    original = load(pydicom.data.get_testdata_file(name))
    boxes = (Box(1, 2, 7, 5),)
    cleaned = _with_boxes(original, *boxes).clean(original)
    result = cleaned.radiograph
    assert result.transfer_syntax == pydicom.uid.ExplicitVRLittleEndian
    assert result.frames == original.frames
    for frame in range(original.frames):
        before, after = original.frame(frame), result.frame(frame)
        inside = _inside(before.shape, boxes)
        assert np.array_equal(after[~inside], before[~inside]), f"frame {frame + 1}"
        assert len(np.unique(after[inside])) == 1
    if original.samples_per_pixel == 3:
        assert result.photometric == "RGB"
        assert np.all(result.frame(0)[inside] == 0)


def test_monochrome1_radiograph_from_pydicom_data() -> None:
    """A real CR (MONOCHROME1, 15 bits): the box turns black on screen."""
    from dentsend.render import display_image

    path = pydicom.data.get_testdata_file("RG1_UNCI.dcm")
    if path is None:
        pytest.skip("pydicom-data is not installed")
    original = load(path)
    box = Box(100, 100, 200, 50)
    cleaned = _with_boxes(original, box).clean(original)
    shown = display_image(cleaned.radiograph, 0, None)
    assert shown[100:150, 100:300].max() == 0


def test_kept_overlays_are_redacted_too() -> None:
    ds = base_dataset(16, 16)
    for element, vr, value in (
        (0x0010, "US", 16),
        (0x0011, "US", 16),
        (0x0040, "CS", "G"),
        (0x0050, "SS", [1, 1]),
        (0x0100, "US", 1),
        (0x0102, "US", 0),
        (0x3000, "OW", b"\xff" * 32),
    ):
        ds.add_new(0x60000000 | element, vr, value)
    original = load_bytes(to_bytes(ds), "o.dcm")
    options = DeidOptions(
        clean=frozenset({"graphics"}), redactions={Path("o.dcm").resolve(): (Box(0, 0, 8, 16),)}
    )
    cleaned = Deidentifier(options).clean(original)
    bits = pydicom.pixels.unpack_bits(cleaned.radiograph.dataset[0x60003000].value)
    plane = bits[:256].reshape(16, 16)
    assert plane[:, :8].sum() == 0 and plane[:, 8:].all()


def test_embedded_overlay_bits_are_cleared() -> None:
    """A retired overlay stored in the unused high bits of the pixels is removed with its
    group, without touching the pixel values."""
    ds = base_dataset(8, 8)
    ds.PixelData = (gradient(8, 8) | 0x8000).tobytes()
    for element, vr, value in (
        (0x0010, "US", 8),
        (0x0011, "US", 8),
        (0x0040, "CS", "G"),
        (0x0050, "SS", [1, 1]),
        (0x0100, "US", 16),
        (0x0102, "US", 15),
    ):
        ds.add_new(0x60000000 | element, vr, value)
    original = load_bytes(to_bytes(ds), "e.dcm")
    cleaned = Deidentifier(DeidOptions()).clean(original)
    raw = np.frombuffer(cleaned.radiograph.dataset.PixelData, "<u2")
    assert not (raw & 0x8000).any()
    assert np.array_equal(cleaned.radiograph.frame(0), original.frame(0))


# --------------------------------------------------------------------------------------------
# plain images


def test_a_redacted_jpeg_becomes_a_lossless_png() -> None:
    original = load_bytes(jpeg_with_metadata(), "photo.jpg")
    cleaned = _with_boxes(original, *BOXES).clean(original)
    assert cleaned.name.endswith(".png") and cleaned.radiograph.format == "PNG"
    before, after = original.frame(0), cleaned.radiograph.frame(0)
    inside = _inside(before.shape, BOXES)
    assert np.array_equal(after[~inside], before[~inside])
    assert np.all(after[inside] == 0)
    assert cleaned.radiograph.orientation == original.orientation == 6
    notes = [c for c in cleaned.report.changes if c.tag == "file format"]
    assert notes and "lossless" in (notes[0].after or "")
    # the metadata of the source is reported as stripped
    assert {"EXIF", "XMP", "IPTC", "JPEG comment"} <= {c.tag for c in cleaned.report.changes}


@pytest.mark.parametrize("maker", [png_with_metadata, tiff_with_metadata])
def test_png_and_tiff_keep_their_format_and_every_page(maker: object) -> None:
    original = load_bytes(maker(), "scan")  # type: ignore[operator]
    cleaned = _with_boxes(original, *BOXES).clean(original)
    assert cleaned.radiograph.format == original.format
    assert cleaned.radiograph.frames == original.frames
    for frame in range(original.frames):
        before, after = original.frame(frame), cleaned.radiograph.frame(frame)
        inside = _inside(before.shape, BOXES)
        assert np.array_equal(after[~inside], before[~inside])
        assert np.all(after[inside] == 0)


def test_a_palette_image_gets_its_darkest_colour() -> None:
    image = Image.fromarray(gradient(20, 20, 8).astype(np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=16
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    original = load_bytes(buffer.getvalue(), "p.png")
    cleaned = _with_boxes(original, Box(0, 0, 5, 5)).clean(original)
    shown = np.asarray(Image.open(io.BytesIO(cleaned.data)).convert("L"))
    assert shown[:5, :5].max() == np.asarray(image.convert("L")).min()


# --------------------------------------------------------------------------------------------
# faces: photographs and volumes


def test_the_orthodontic_face_photo_is_not_sent_unchecked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from conftest import fixture_file
    from dentsend.cli import main

    photo = fixture_file("ortho_photo_vl.dcm")
    radiograph = load(photo)
    assert radiograph.burned_in_annotation in (None, "NO")  # nothing in the flags says "face"
    assert needs_burned_in_check(radiograph)
    with pytest.raises(FileProblem) as caught:
        Deidentifier(DeidOptions()).check(radiograph)
    assert "may show the patient's face" in str(caught.value)
    assert main(["clean", str(photo), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("dentsend: ortho_photo_vl.dcm: ") and "\n" not in error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # confirming (the photo is what the orthodontist needs) sends it
    assert main(["clean", str(photo), "-o", str(tmp_path / "out"), "--confirm-no-burned-in"]) == 0


@pytest.mark.parametrize(
    ("attributes", "needed"),
    [
        ({"Modality": "XC", "BurnedInAnnotation": "NO"}, True),
        ({"Modality": "GM"}, True),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.77.1.4", "Modality": "OT"}, True),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.2", "Modality": "CT"}, True),  # CBCT
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.2.1", "BurnedInAnnotation": "NO"}, True),
        ({"Modality": "XC", "RecognizableVisualFeatures": "NO"}, False),
        ({"Modality": "CT", "RecognizableVisualFeatures": "NO", "BurnedInAnnotation": "NO"}, False),
        ({"Modality": "IO", "BurnedInAnnotation": "NO"}, False),
    ],
)
def test_photographs_and_volumes_need_the_check_unless_they_say_no_face(
    attributes: dict[str, str], needed: bool
) -> None:
    radiograph = _dicom(**attributes)
    assert needs_burned_in_check(radiograph) is needed
    if needed:
        with pytest.raises(FileProblem, match="face"):
            Deidentifier(DeidOptions()).check(radiograph)
        cleaned = Deidentifier(DeidOptions(confirmed_no_burned_in=True)).clean(radiograph)
        assert cleaned.radiograph.frames == 1
        # sending a face as it is does not make the pixels "clean" (no Clean Pixel Data code)
        out = cleaned.radiograph.dataset
        assert out is not None
        assert "113101" not in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]


# --------------------------------------------------------------------------------------------
# TIFF pages of another size


def test_a_tiff_thumbnail_page_is_refused_before_redaction() -> None:
    page = np.full((100, 200), 40, np.uint8)
    page[10:30, 20:80] = 255
    thumbnail = Image.fromarray(page).resize((50, 25), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, "TIFF", save_all=True, append_images=[thumbnail])
    radiograph = load_bytes(buffer.getvalue(), "scan.tif")
    for options in (
        DeidOptions(redactions={Path("scan.tif").resolve(): (Box(20, 10, 60, 20),)}),
        DeidOptions(confirmed_no_burned_in=True),
    ):
        with pytest.raises(FileProblem, match=r"^scan.tif: has pages of different sizes"):
            Deidentifier(options).check(radiograph)


# --------------------------------------------------------------------------------------------
# boxes drawn on the image as displayed


def _oriented_png(orientation: int) -> tuple[bytes, np.ndarray]:
    """A 60×40 stored image with a white block, saved with an EXIF orientation; and the
    image as a viewer shows it."""
    from PIL import ImageOps

    stored = np.full((40, 60), 40, np.uint8)
    stored[25:35, 5:25] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, "PNG", exif=exif.tobytes())
    shown = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue()))))
    return buffer.getvalue(), shown


def _white_box(image: np.ndarray) -> Box:
    ys, xs = np.nonzero(image == 255)
    return Box(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_box_on_the_displayed_image_covers_the_same_pixels_stored(orientation: int) -> None:
    from dentsend.deid import display_box_to_stored, display_size

    data, shown = _oriented_png(orientation)
    radiograph = load_bytes(data, "turned.png")
    assert radiograph.orientation == orientation
    assert display_size(radiograph) == (shown.shape[1], shown.shape[0])
    stored = display_box_to_stored(_white_box(shown), radiograph)
    assert stored == Box(5, 25, 20, 10)


def test_redact_takes_display_coordinates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The reviewer's case: a photo turned by EXIF, the box read off `dentsend preview`."""
    from dentsend.cli import main

    stored = np.full((100, 200), 40, np.uint8)
    stored[70:90, 20:80] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "turned.jpg"
    Image.fromarray(stored).convert("RGB").save(photo, "JPEG", quality=100, exif=exif.tobytes())
    shown = np.asarray(Image.open(photo).transpose(Image.Transpose.ROTATE_270).convert("L"))
    box = _white_box(np.where(shown > 200, 255, 0))
    spec = f"{photo}:{box.x},{box.y},{box.width},{box.height}"
    assert main(["clean", str(photo), "-o", str(tmp_path / "out"), "--redact", spec]) == 0
    (written,) = (tmp_path / "out").iterdir()
    assert (np.asarray(Image.open(written).convert("L")) > 200).sum() == 0
    # a box inside the stored 200×100 image but outside the displayed 100×200 one is refused
    outside = f"{photo}:150,10,20,20"
    assert main(["clean", str(photo), "-o", str(tmp_path / "again"), "--redact", outside]) == 1
    assert "outside the 100×200 image as displayed" in capsys.readouterr().err
