"""Intake and render against real files and real decoders.

Reference: pydicom's own ``pixel_array`` for the stored values, and an independent display
render written here from PS3.3 C.11 with pydicom's LUT functions (modality LUT → VOI → inversion).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageOps
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.filebase import DicomBytesIO
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

from conftest import fixture_file
from dentsend.intake import Kind, Window, load, load_bytes, sniff
from dentsend.render import DEFAULT_WINDOW_PERCENTILES, FrameRenderer, apply_orientation
from dicom_factory import FAKE_PATIENT, intraoral, make_dataset, tooth_phantom, write


def _decodable_dicom_files() -> list[Path]:
    """Every DICOM file of the pydicom wheel and of pydicom-data that pydicom itself decodes."""
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sorted(set(get_testdata_files("**/*"))):
            try:
                ds = pydicom.dcmread(name)
                if "PixelData" not in ds:
                    continue
                ds.pixel_array  # noqa: B018 - decodability is the filter
            except Exception:  # noqa: S112 - files pydicom cannot decode are out of scope here
                continue
            found.append(Path(name))
    return found


DECODABLE = _decodable_dicom_files()


def test_the_reference_corpus_is_large_and_includes_the_real_radiographs() -> None:
    names = {p.name for p in DECODABLE}
    # pydicom-data's real CR/DX radiographs and compressed variants must be in the run
    assert {"RG1_UNCI.dcm", "RG1_J2KR.dcm", "RG3_UNCI.dcm", "MR2_J2KI.dcm"} <= names
    assert len(DECODABLE) > 120


def _independent_display(ds: pydicom.Dataset, stored: np.ndarray) -> np.ndarray:
    """PS3.3 C.11 with pydicom's functions, normalised to 0…255 — no dentsend code involved."""
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(stored, ds).astype(np.float64)
        top = max(2.0 ** int(ds.RedPaletteColorLookupTableDescriptor[2]) - 1, rgb.max(), 1)
        return np.rint(rgb / top * 255)
    if stored.ndim == 3:
        top = 255.0 if stored.dtype == np.uint8 else 2.0 ** int(ds.BitsStored) - 1
        return np.rint(stored.astype(np.float64) / top * 255)
    modality = apply_modality_lut(stored, ds).astype(np.float64)
    has_window = "WindowCenter" in ds and "WindowWidth" in ds
    if "VOILUTSequence" in ds and not has_window:
        shown = apply_voi_lut(modality, ds, index=0, prefer_lut=True).astype(np.float64)
        top = max(2.0 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1, shown.max(), 1)
        unit = shown / top
    elif has_window and _first_window_width(ds) >= 1:
        shown = apply_voi_lut(modality, ds, index=0, prefer_lut=False).astype(np.float64)
        low, high = _pydicom_window_output_range(ds)
        unit = (shown - low) / (high - low)
    else:
        low, high = np.percentile(modality, DEFAULT_WINDOW_PERCENTILES, method="inverted_cdf")
        center, width = (low + high) / 2, max(high - low, 1.0)
        if width <= 1:
            unit = (modality > center - 0.5).astype(np.float64)
        else:
            unit = np.clip((modality - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    unit = np.clip(unit, 0, 1)
    if photometric == "MONOCHROME1":
        unit = 1 - unit
    return np.rint(unit * 255)


def _first_window_width(ds: pydicom.Dataset) -> float:
    width = ds.WindowWidth
    return float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)


def _pydicom_window_output_range(ds: pydicom.Dataset) -> tuple[float, float]:
    """The output range pydicom's apply_windowing maps into (see its source)."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, 2.0 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1
    bits = int(ds.BitsStored)
    if int(ds.PixelRepresentation) == 0:
        low, high = 0.0, 2.0**bits - 1
    else:
        low, high = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        low, high = low * slope + intercept, high * slope + intercept
    return low, high


@pytest.mark.parametrize("path", DECODABLE, ids=[p.name for p in DECODABLE])
def test_pixels_equal_pydicom_and_display_matches_an_independent_render(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        reference = ds.pixel_array
    radiograph = load(path)
    assert radiograph.kind is Kind.DICOM
    assert (radiograph.rows, radiograph.columns) == (ds.Rows, ds.Columns)
    frames = radiograph.frames
    assert frames == int(ds.get("NumberOfFrames", 1) or 1)
    for index in sorted({0, frames - 1}):
        stored = radiograph.frame(index)
        expected = reference if frames == 1 else reference[index]
        np.testing.assert_array_equal(stored, expected)
        shown = FrameRenderer(radiograph, index).image()
        assert shown.dtype == np.uint8
        assert shown.shape[:2] == (ds.Rows, ds.Columns)
        independent = _independent_display(ds, expected)
        difference = np.abs(shown.astype(np.int64) - independent.astype(np.int64))
        assert difference.max() <= 1, f"frame {index}: display differs by {difference.max()}"


@pytest.mark.parametrize("name", ["JPEG-lossy.dcm", "JPGExtended.dcm"])
def test_12_bit_jpeg_extended_decodes_like_libjpeg_turbo(name: str) -> None:
    import imagecodecs  # the test extra has it: a missing one fails, never skips
    from pydicom.encaps import generate_frames

    path = Path(get_testdata_file(name))
    radiograph = load(path)
    assert radiograph.transfer_syntax == "1.2.840.10008.1.2.4.51"
    assert radiograph.bits_stored == 12
    ds = pydicom.dcmread(path)
    fragment = next(generate_frames(ds.PixelData, number_of_frames=1))
    np.testing.assert_array_equal(radiograph.frame(0), imagecodecs.jpeg8_decode(fragment))


def _jpeg_lossless_process_14(path: Path, predictor: int) -> tuple[Path, np.ndarray]:
    """A 12-bit JPEG Lossless (Process 14) DICOM with the given predictor (1–7)."""
    import imagecodecs  # the test extra has it: a missing one fails, never skips
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLossless

    pixels = tooth_phantom(64, 80)
    encoded = imagecodecs.jpeg8_encode(pixels, lossless=True, predictor=predictor, bitspersample=12)
    ds = make_dataset(pixels)
    ds.file_meta.TransferSyntaxUID = JPEGLossless
    ds.PixelData = encapsulate([encoded])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path, pixels


@pytest.mark.parametrize("predictor", [1, 7])
def test_jpeg_lossless_process_14(tmp_path: Path, predictor: int) -> None:
    path, pixels = _jpeg_lossless_process_14(tmp_path / "p14.dcm", predictor)
    radiograph = load(path)
    assert radiograph.transfer_syntax == "1.2.840.10008.1.2.4.57"
    np.testing.assert_array_equal(radiograph.frame(0), pixels)


def test_every_transfer_syntax_of_the_issue_is_decoded(tmp_path: Path) -> None:
    """The union of the corpus above and the two syntaxes made or checked separately."""
    p14, _ = _jpeg_lossless_process_14(tmp_path / "p14.dcm", 7)
    jpeg_12_bit = Path(get_testdata_file("JPEG-lossy.dcm"))
    decoded = {load(p).transfer_syntax for p in [*DECODABLE, p14, jpeg_12_bit]}
    wanted = {
        "1.2.840.10008.1.2",  # implicit VR little endian
        "1.2.840.10008.1.2.1",  # explicit VR little endian
        "1.2.840.10008.1.2.2",  # explicit VR big endian
        "1.2.840.10008.1.2.1.99",  # deflated
        "1.2.840.10008.1.2.5",  # RLE
        "1.2.840.10008.1.2.4.50",  # JPEG baseline
        "1.2.840.10008.1.2.4.51",  # JPEG extended (12-bit), checked above
        "1.2.840.10008.1.2.4.57",  # JPEG lossless process 14
        "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
        "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
        "1.2.840.10008.1.2.4.81",  # JPEG-LS near lossless
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
        "1.2.840.10008.1.2.4.91",  # JPEG 2000
    }
    assert wanted <= decoded, sorted(wanted - decoded)


# --- synthetic radiographs as dental practices make them --------------------------------------


def test_intraoral_12_bit_in_16_with_detector_spacing(tmp_path: Path) -> None:
    path = intraoral(tmp_path / "io.dcm")
    radiograph = load(path)
    assert (radiograph.bits_allocated, radiograph.bits_stored) == (16, 12)
    assert radiograph.pixel_spacing is None
    assert radiograph.imager_pixel_spacing is not None
    assert radiograph.imager_pixel_spacing.at_detector
    assert radiograph.measurement_spacing == radiograph.imager_pixel_spacing
    assert radiograph.measurement_spacing.unit_label == "mm at detector"
    assert {"PatientName", "PatientID", "PatientBirthDate", "InstitutionName"} <= set(
        radiograph.identifying_fields
    )
    assert "SOPInstanceUID" not in radiograph.identifying_fields


def test_calibrated_spacing_is_kept_apart_from_detector_spacing(tmp_path: Path) -> None:
    path = intraoral(tmp_path / "px.dcm", pixel_spacing=(0.1, 0.12), imager_spacing=(0.11, 0.11))
    radiograph = load(path)
    assert radiograph.pixel_spacing is not None
    assert (radiograph.pixel_spacing.row_mm, radiograph.pixel_spacing.column_mm) == (0.1, 0.12)
    assert radiograph.measurement_spacing is radiograph.pixel_spacing
    assert radiograph.measurement_spacing.unit_label == "mm"


def test_multi_frame_frames_are_chosen_one_at_a_time(tmp_path: Path) -> None:
    stack = np.stack([tooth_phantom(64, 80, seed=s) for s in range(5)])
    path = write(make_dataset(stack), tmp_path / "stack.dcm")
    radiograph = load(path)
    assert radiograph.frames == 5
    for index in range(5):
        np.testing.assert_array_equal(radiograph.frame(index), stack[index])
    assert not np.array_equal(
        FrameRenderer(radiograph, 0).image(), FrameRenderer(radiograph, 4).image()
    )


def test_window_override_and_file_window(tmp_path: Path) -> None:
    pixels = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (10, 1))
    path = write(make_dataset(pixels, window=(1000, 200)), tmp_path / "w.dcm")
    renderer = FrameRenderer(load(path))
    shown = renderer.image()
    assert renderer.default_window() == Window(1000.0, 200.0)
    row = shown[0]
    assert row[pixels[0] < 899].max() == 0 and row[pixels[0] > 1100].min() == 255
    wide = renderer.image(Window(2048, 4096))
    assert 100 < int(wide[0][128]) < 155  # mid-grey in the middle of a full-range window


def test_rescale_and_signed_pixels(tmp_path: Path) -> None:
    pixels = (tooth_phantom(50, 60).astype(np.int32) - 2048).astype(np.int16)
    path = write(
        make_dataset(pixels, rescale=(2.0, -100.0), window=(-100, 4000)), tmp_path / "s.dcm"
    )
    radiograph = load(path)
    assert radiograph.signed
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(radiograph.frame(0), ds.pixel_array)
    independent = _independent_display(ds, ds.pixel_array)
    assert np.abs(FrameRenderer(radiograph).image() - independent).max() <= 1


def test_monochrome1_is_shown_inverted(tmp_path: Path) -> None:
    pixels = tooth_phantom(40, 50)
    mono2 = FrameRenderer(load(write(make_dataset(pixels), tmp_path / "m2.dcm"))).image()
    mono1 = FrameRenderer(
        load(write(make_dataset(pixels, photometric="MONOCHROME1"), tmp_path / "m1.dcm"))
    ).image()
    np.testing.assert_array_equal(mono1, 255 - mono2)


def test_default_window_ignores_a_few_hot_pixels(tmp_path: Path) -> None:
    pixels = tooth_phantom(100, 100)
    pixels[0, :10] = 4095  # dead/hot pixels and a lead marker must not flatten the contrast
    pixels[1, :10] = 0
    renderer = FrameRenderer(load(write(make_dataset(pixels), tmp_path / "hot.dcm")))
    window = renderer.default_window()
    body = pixels[2:]
    assert window.center - window.width / 2 >= body.min() - 1
    assert window.center + window.width / 2 <= body.max() + 1
    shown = renderer.image()[2:]
    assert shown.std() > 40  # the anatomy uses the grey range


def test_file_without_preamble_and_meta_header(tmp_path: Path) -> None:
    ds = make_dataset(tooth_phantom(30, 40))
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(buffer, ds)  # no preamble, no "DICM", no group 0002
    path = tmp_path / "bare"
    path.write_bytes(buffer.getvalue())
    radiograph = load(path)
    assert radiograph.transfer_syntax == "1.2.840.10008.1.2.1"
    np.testing.assert_array_equal(radiograph.frame(0), ds.pixel_array)


def test_sniffing_uses_content_not_extension(tmp_path: Path) -> None:
    dicom_named_jpg = intraoral(tmp_path / "photo.jpg")
    assert load(dicom_named_jpg).kind is Kind.DICOM
    png_named_dcm = tmp_path / "x.dcm"
    Image.new("L", (8, 8), 7).save(png_named_dcm, format="PNG")
    assert load(png_named_dcm).format == "PNG"
    assert sniff(b"hello world, not an image at all") is None


# --- rasters ----------------------------------------------------------------------------------


def test_real_dental_jpegs_load_with_their_metadata_found() -> None:
    ceph = load(fixture_file("cephalogram_B1893L12.jpg"))
    assert (ceph.kind, ceph.format, ceph.photometric) == (Kind.RASTER, "JPEG", "MONOCHROME2")
    assert (ceph.columns, ceph.rows) == (4096, 5120)
    assert {"EXIF", "XMP", "Photoshop/IPTC"} <= set(ceph.identifying_fields)
    photo = load(fixture_file("intraoral_photo_nikon.jpg"))
    assert photo.photometric == "RGB" and photo.samples_per_pixel == 3
    assert {"EXIF:Make", "EXIF:Model", "EXIF:DateTimeOriginal"} <= set(photo.identifying_fields)
    with Image.open(fixture_file("intraoral_photo_nikon.jpg")) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(FrameRenderer(photo).image(), expected)


@pytest.mark.parametrize(
    ("mode", "fmt", "dtype"),
    [
        ("L", "PNG", np.uint8),
        ("RGB", "PNG", np.uint8),
        ("I;16", "PNG", np.uint16),
        ("L", "TIFF", np.uint8),
        ("I;16", "TIFF", np.uint16),
        ("RGB", "TIFF", np.uint8),
        ("L", "BMP", np.uint8),
        ("RGB", "BMP", np.uint8),
        ("P", "PNG", np.uint8),
    ],
)
def test_raster_formats_and_bit_depths(tmp_path: Path, mode: str, fmt: str, dtype: type) -> None:
    grey = tooth_phantom(48, 64, bits=16 if mode == "I;16" else 8)
    if mode == "RGB":
        image = Image.fromarray(np.stack([grey.astype(np.uint8)] * 3, axis=-1))
    elif mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16))
    elif mode == "P":
        image = Image.fromarray(grey.astype(np.uint8)).convert("P")
    else:
        image = Image.fromarray(grey.astype(np.uint8))
    path = tmp_path / f"img.{fmt.lower()}"
    image.save(path, format=fmt)
    radiograph = load(path)
    values = radiograph.frame(0)
    assert values.dtype == dtype
    assert values.shape[:2] == (48, 64)
    shown = FrameRenderer(radiograph).image()
    assert shown.dtype == np.uint8 and shown.shape[:2] == (48, 64)
    if mode == "I;16":
        np.testing.assert_array_equal(values, grey)
        assert radiograph.bits_stored == 16
        assert shown.std() > 40  # windowed from the histogram, not squashed into a few greys


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    pixels = np.arange(6 * 10, dtype=np.uint8).reshape(6, 10) * 4
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.jpg"
    image.save(path, format="PNG", exif=exif.tobytes())
    radiograph = load(path)
    assert radiograph.orientation == orientation
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(FrameRenderer(radiograph).image(), expected)
    np.testing.assert_array_equal(apply_orientation(pixels, orientation), expected)


def test_load_bytes_matches_load(tmp_path: Path) -> None:
    path = intraoral(tmp_path / "io.dcm")
    from_disk, from_memory = load(path), load_bytes(path.read_bytes(), "io.dcm")
    np.testing.assert_array_equal(from_disk.frame(0), from_memory.frame(0))
    assert from_memory.identifying_fields == from_disk.identifying_fields
    assert FAKE_PATIENT["PatientName"] == str(from_memory.dataset.PatientName)  # type: ignore[union-attr]


@pytest.mark.parametrize("shape", [(37, 53), (20, 31, 3), (1, 1), (5, 1, 3)])
def test_png_encoder_round_trips_through_pillow(shape: tuple[int, ...]) -> None:
    from dentsend.render import encode_png

    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png(image))) as decoded:
        assert decoded.mode == ("L" if len(shape) == 2 else "RGB")
        np.testing.assert_array_equal(np.asarray(decoded), image)


def test_an_exif_block_with_only_the_orientation_is_not_reported(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("L", (8, 6), 9).save(tmp_path / "kept.jpg", exif=exif.tobytes())
    assert load(tmp_path / "kept.jpg").identifying_fields == ()
    exif[0x013B] = "Dr. Hannes Drillwell"  # Artist
    Image.new("L", (8, 6), 9).save(tmp_path / "artist.jpg", exif=exif.tobytes())
    assert {"EXIF", "EXIF:Artist"} <= set(load(tmp_path / "artist.jpg").identifying_fields)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_rotated_16_bit_tiff_is_shown_turned_once(tmp_path: Path, orientation: int) -> None:
    pixels = tooth_phantom(40, 60, bits=16)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "r.tif", exif=exif.tobytes())
    radiograph = load(tmp_path / "r.tif")
    shown = FrameRenderer(radiograph).image()
    upright = apply_orientation(pixels, orientation)
    assert (radiograph.rows, radiograph.columns, radiograph.orientation) == (40, 60, orientation)
    np.testing.assert_array_equal(radiograph.frame(0), pixels)  # stored as stored
    assert shown.shape == upright.shape
    # the brightest column of the phantom's teeth lands where the upright image has it
    assert np.argmax(shown.mean(axis=0)) == pytest.approx(np.argmax(upright.mean(axis=0)), abs=1)
    assert np.argmax(shown.mean(axis=1)) == pytest.approx(np.argmax(upright.mean(axis=1)), abs=1)
