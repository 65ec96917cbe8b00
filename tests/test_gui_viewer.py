"""The preview: window/level, presets, invert, rotate, frames, lengths, and box coordinates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from dentsend.render import apply_orientation, display_size, display_to_stored, stored_to_display
from test_gui_support import SAMPLE, add_files, drag, entry_named, make_window, select


def image_bytes(window) -> bytes:
    image = window.preview.viewer.image
    return bytes(image.constBits())


def wait_render(qtbot, window, before: bytes) -> None:
    qtbot.waitUntil(lambda: image_bytes(window) != before, timeout=10_000)


def test_window_level_presets_invert_rotate_and_zoom(qtbot):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"]])
    select(qtbot, window, entry_named(window, "intraoral"))
    preview, viewer = window.preview, window.preview.viewer
    assert viewer.tool == "window"
    first = image_bytes(window)

    # Dragging right widens the window: lower contrast, a different picture.
    drag(viewer, QPointF(100, 200), QPointF(220, 150))
    assert (
        preview.voi_window is not None
        and preview.voi_window.width > preview.preview.default_window.width
    )
    assert preview.preset.currentText() == "Custom"
    wait_render(qtbot, window, first)

    dragged = image_bytes(window)
    preview.preset.setCurrentIndex(0)
    preview.preset.activated.emit(0)  # "As saved", as a click on the list does
    wait_render(qtbot, window, dragged)
    assert image_bytes(window) == first

    QTest.keyClick(viewer, Qt.Key.Key_I)  # invert
    wait_render(qtbot, window, first)
    inverted = np.frombuffer(image_bytes(window), np.uint8)
    assert abs(int(inverted.mean()) - (255 - int(np.frombuffer(first, np.uint8).mean()))) <= 2

    QTest.keyClick(viewer, Qt.Key.Key_R)
    assert viewer.rotation == 90
    fitted = viewer.zoom
    QTest.keyClick(viewer, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert viewer.zoom > fitted
    QTest.keyClick(viewer, Qt.Key.Key_F)
    assert viewer.zoom == pytest.approx(fitted)
    assert "Level" in viewer.overlay_text and "Zoom" in viewer.overlay_text


@pytest.mark.parametrize(
    ("sample", "unit"),
    [("intraoral", "mm at detector"), ("cbct-slices", "mm"), ("export", "px")],
)
def test_lengths_are_in_mm_only_when_the_file_says_how_big_a_pixel_is(qtbot, sample, unit):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE[sample]])
    select(qtbot, window, entry_named(window, sample))
    QTest.keyClick(window.preview.viewer, Qt.Key.Key_M)
    assert window.preview.viewer.tool == "measure"
    drag(window.preview.viewer, QPointF(10, 10), QPointF(110, 10))
    length = window.preview.viewer.measured_length()
    number, shown_unit = length.split(" ", 1)
    assert shown_unit == unit
    if unit == "px":
        assert float(number) == pytest.approx(100, abs=2)
    else:
        spacing = window.model.entries[0].info.measurement_spacing
        assert float(number) == pytest.approx(100 * spacing.column_mm, rel=0.03)
    assert unit.split()[0] in window.preview.spacing_label.text() or unit == "px"


def test_frame_slider_steps_through_a_multi_frame_stack(qtbot):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["cbct-slices"], SAMPLE["intraoral"]])
    select(qtbot, window, entry_named(window, "cbct"))
    slider = window.preview.frame_slider
    assert slider.isVisible() and slider.maximum() == 7
    first = image_bytes(window)
    QTest.keyClick(window.preview.viewer, Qt.Key.Key_PageDown)
    assert window.preview.frame == 1
    slider.setValue(7)
    qtbot.waitUntil(lambda: window.preview.preview.frame == 7, timeout=10_000)
    assert image_bytes(window) != first
    assert window.preview.frame_number.text() == "8 / 8"
    select(qtbot, window, entry_named(window, "intraoral"))
    assert not slider.isVisible()


def test_boxes_map_between_display_and_stored_pixels_for_every_exif_orientation():
    rows, columns = 5, 7
    stored = np.arange(rows * columns).reshape(rows, columns)
    for orientation in range(1, 9):
        shown = apply_orientation(stored, orientation)
        assert display_size(orientation, rows, columns) == (shown.shape[1], shown.shape[0])
        for x, y, w, h in itertools.product(range(3), range(3), (1, 2), (1, 3)):
            if x + w > shown.shape[1] or y + h > shown.shape[0]:
                continue
            box = display_to_stored((x, y, w, h), orientation, rows, columns)
            sx, sy, sw, sh = box
            # The same pixels, whichever way the image is turned.
            assert sorted(shown[y : y + h, x : x + w].ravel()) == sorted(
                stored[sy : sy + sh, sx : sx + sw].ravel()
            )
            assert stored_to_display(box, orientation, rows, columns) == (x, y, w, h)


def test_a_box_drawn_on_a_rotated_raster_lands_on_the_same_stored_pixels(qtbot, tmp_path):
    from PIL import Image

    # A raster stored sideways with EXIF orientation 6 (camera turned): displayed upright.
    stored = np.zeros((40, 60), np.uint8)
    stored[5:10, 40:50] = 255  # a bright patch
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.png"
    Image.fromarray(stored).save(path, exif=exif.tobytes())
    window = make_window(qtbot)
    add_files(qtbot, window, [path])
    entry = window.model.entries[0]
    select(qtbot, window, entry)
    viewer = window.preview.viewer
    assert (viewer.image.width(), viewer.image.height()) == (40, 60)  # shown upright
    QTest.keyClick(viewer, Qt.Key.Key_B)
    # Orientation 6 turns clockwise: stored (x 40..50, y 5..10) shows at x 30..35, y 40..50.
    # Drag from the middle of the first pixel to the middle of the last (mouse positions are
    # whole screen pixels, a fraction of an image pixel at this zoom).
    drag(viewer, QPointF(30.5, 40.5), QPointF(34.5, 49.5))
    assert entry.boxes == [(40, 5, 10, 5)]
    assert viewer.boxes == [(30, 40, 5, 10)]
