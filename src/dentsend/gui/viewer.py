"""Look at a radiograph: the preview widget, its tools, and the frames behind it.

:class:`ImageViewer` paints the display image under a view transform (zoom, pan, quarter-turn
rotation) and turns mouse drags into a window/level change, a pan, a length measurement or a
redaction box. It never touches pixel values: :class:`FrameSource` decodes frames and windows
them on the render thread (see :mod:`dentsend.gui.workers`) and hands back a ready QImage.

Coordinates: the viewer works in *display* coordinates (the image as shown, after a raster's
EXIF orientation). Redaction boxes are kept and sent in the file's *stored* coordinates, which
:func:`dentsend.render.display_to_stored` and :func:`~dentsend.render.stored_to_display`
translate between.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from dentsend.gui.files import RectTuple, to_qimage

if TYPE_CHECKING:
    from dentsend.intake import Radiograph, Spacing, Window
    from dentsend.render import FrameRenderer

log = logging.getLogger(__name__)

MIN_ZOOM = 0.02
MAX_ZOOM = 32.0


# --------------------------------------------------------------------------------------------
# stored ↔ display coordinates


def clip_rect(rect: QRectF, width: int, height: int) -> RectTuple | None:
    """A dragged rectangle as whole pixels inside the image, or ``None`` if it is too small."""
    left = max(0, math.floor(min(rect.left(), rect.right())))
    top = max(0, math.floor(min(rect.top(), rect.bottom())))
    right = min(width, math.ceil(max(rect.left(), rect.right())))
    bottom = min(height, math.ceil(max(rect.top(), rect.bottom())))
    if right - left < 2 or bottom - top < 2:
        return None
    return left, top, right - left, bottom - top


# --------------------------------------------------------------------------------------------
# frames (render thread only)


@dataclass
class Preview:
    """One rendered frame, with what the window controls need to know about its values."""

    path: Path
    frame: int
    image: QImage
    window: Window | None
    default_window: Window
    auto_window: Window
    low: float
    high: float
    is_color: bool


class FrameSource:
    """Decoded frames for the preview, cached a few at a time.

    Used only from the render pool's single thread: it owns the radiographs it loads, so no
    other thread ever touches them.
    """

    def __init__(self, files: int = 3, frames: int = 6) -> None:
        self._radiographs: OrderedDict[Path, Radiograph] = OrderedDict()
        self._renderers: OrderedDict[tuple[Path, int], FrameRenderer] = OrderedDict()
        self._max_files = files
        self._max_frames = frames

    def radiograph(self, path: Path) -> Radiograph:
        from dentsend.intake import load

        if path in self._radiographs:
            self._radiographs.move_to_end(path)
            return self._radiographs[path]
        radiograph = load(path)
        self._radiographs[path] = radiograph
        while len(self._radiographs) > self._max_files:
            old, _ = self._radiographs.popitem(last=False)
            for key in [k for k in self._renderers if k[0] == old]:
                del self._renderers[key]
        return radiograph

    def renderer(self, path: Path, frame: int) -> FrameRenderer:
        from dentsend.render import FrameRenderer

        key = (path, frame)
        if key in self._renderers:
            self._renderers.move_to_end(key)
            return self._renderers[key]
        renderer = FrameRenderer(self.radiograph(path), frame)
        self._renderers[key] = renderer
        while len(self._renderers) > self._max_frames:
            self._renderers.popitem(last=False)
        return renderer

    def render(self, path: Path, frame: int, window: Window | None, invert: bool) -> Preview:
        renderer = self.renderer(path, frame)
        image = to_qimage(renderer.image(window, invert=invert))
        value_range = renderer.value_range
        return Preview(
            path=path,
            frame=frame,
            image=image,
            window=window,
            default_window=renderer.default_window(),
            auto_window=renderer.histogram_window(),
            low=value_range.low,
            high=value_range.high,
            is_color=renderer.is_color,
        )


# --------------------------------------------------------------------------------------------
# the widget


class ImageViewer(QWidget):
    """Shows one image; the left mouse button does what the chosen tool does.

    Tools: ``window`` (drag: left/right width, up/down level), ``pan``, ``measure`` (a length),
    ``redact`` (a box that will be black in the output). The middle or right button always pans,
    the wheel zooms around the cursor, a double click fits the image.
    """

    window_dragged = Signal(object)
    """A :class:`~dentsend.intake.Window` chosen by dragging."""
    box_drawn = Signal(tuple)
    """A redaction box in display coordinates ``(x, y, width, height)``."""
    view_changed = Signal()

    TOOLS = ("window", "pan", "measure", "redact")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(320, 240))
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Radiograph preview")
        self.setAccessibleDescription(
            "Drag with the chosen tool; the wheel zooms, a double click fits the image."
        )
        self.image: QImage | None = None
        self.message = "Add radiographs to see them here."
        self.tool = "window"
        self.zoom = 1.0
        self.fitted = True
        self.rotation = 0
        self.pan = QPointF(0, 0)
        self.boxes: list[RectTuple] = []
        self.measure_line: tuple[QPointF, QPointF] | None = None
        self.spacing: Spacing | None = None
        self.window_base: Window | None = None
        self.value_span = 1.0
        self.overlay_text = ""
        self._drag_start: QPointF | None = None
        self._drag_button = Qt.MouseButton.NoButton
        self._drag_image_start: QPointF | None = None
        self._drag_current: QPointF | None = None
        self._pan_start = QPointF(0, 0)
        self._window_start: Window | None = None

    # -- state ------------------------------------------------------------------------------------

    def set_image(self, image: QImage | None, *, keep_view: bool) -> None:
        size_changed = image is None or self.image is None or image.size() != self.image.size()
        self.image = image
        if not keep_view or size_changed:
            self.measure_line = None
            self.fit()
        self.update()

    def set_message(self, message: str) -> None:
        self.image = None
        self.message = message
        self.boxes = []
        self.measure_line = None
        self.update()

    def set_tool(self, tool: str) -> None:
        assert tool in self.TOOLS
        self.tool = tool
        cursors = {
            "window": Qt.CursorShape.SizeAllCursor,
            "pan": Qt.CursorShape.OpenHandCursor,
            "measure": Qt.CursorShape.CrossCursor,
            "redact": Qt.CursorShape.CrossCursor,
        }
        self.setCursor(cursors[tool])

    def set_boxes(self, boxes: list[RectTuple]) -> None:
        self.boxes = list(boxes)
        self.update()

    def fit(self) -> None:
        self.fitted = True
        self.pan = QPointF(0, 0)
        self.zoom = self._fit_zoom()
        self.view_changed.emit()
        self.update()

    def set_zoom(self, zoom: float, around: QPointF | None = None) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        if around is not None and self.image is not None:
            # Keep the image point under the cursor where it is.
            before = self.to_image(around)
            self.zoom = zoom
            after = self.to_widget(before)
            self.pan += around - after
        else:
            self.zoom = zoom
        self.fitted = False
        self.view_changed.emit()
        self.update()

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom * factor, QPointF(self.width() / 2, self.height() / 2))

    def rotate(self, quarter_turns: int = 1) -> None:
        self.rotation = (self.rotation + 90 * quarter_turns) % 360
        if self.fitted:
            self.fit()
        self.view_changed.emit()
        self.update()

    def clear_measurement(self) -> None:
        self.measure_line = None
        self.update()

    # -- geometry -------------------------------------------------------------------------------

    def _rotated_size(self) -> tuple[float, float]:
        if self.image is None:
            return 1.0, 1.0
        w, h = float(self.image.width()), float(self.image.height())
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def _fit_zoom(self) -> float:
        w, h = self._rotated_size()
        margin = 12
        return max(
            MIN_ZOOM, min((self.width() - margin) / w, (self.height() - margin) / h, MAX_ZOOM)
        )

    def transform(self) -> QTransform:
        """Image (display) coordinates → widget coordinates."""
        t = QTransform()
        if self.image is None:
            return t
        t.translate(self.width() / 2 + self.pan.x(), self.height() / 2 + self.pan.y())
        t.rotate(self.rotation)
        t.scale(self.zoom, self.zoom)
        t.translate(-self.image.width() / 2, -self.image.height() / 2)
        return t

    def to_image(self, point: QPointF) -> QPointF:
        inverted, _ = self.transform().inverted()
        return inverted.map(point)

    def to_widget(self, point: QPointF) -> QPointF:
        return self.transform().map(point)

    def measured_length(self) -> str:
        """The measurement as the label shows it: mm (calibrated), mm at detector, or px."""
        if self.measure_line is None:
            return ""
        start, end = self.measure_line
        dx, dy = end.x() - start.x(), end.y() - start.y()
        if self.spacing is None:
            return f"{math.hypot(dx, dy):.0f} px"
        length = math.hypot(dx * self.spacing.column_mm, dy * self.spacing.row_mm)
        return f"{length:.1f} {self.spacing.unit_label}"

    # -- events ---------------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self.fitted:
            self.zoom = self._fit_zoom()
        super().resizeEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.image is None:
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom * (1.15**steps), event.position())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.image is None:
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._drag_start = event.position()
        self._drag_button = event.button()
        self._drag_image_start = self.to_image(event.position())
        self._drag_current = self._drag_image_start
        self._pan_start = QPointF(self.pan)
        self._window_start = self.window_base
        if self._panning:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self.tool == "measure":
            self.measure_line = (self._drag_image_start, self._drag_image_start)
        self.update()

    @property
    def _panning(self) -> bool:
        return self._drag_button != Qt.MouseButton.LeftButton or self.tool == "pan"

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_start is None or self.image is None:
            return
        delta = event.position() - self._drag_start
        self._drag_current = self.to_image(event.position())
        if self._panning:
            self.pan = self._pan_start + delta
            self.fitted = False
        elif self.tool == "window" and self._window_start is not None:
            from dentsend.intake import Window

            span = max(self.value_span, 1.0)
            scale = span / max(200.0, float(min(self.width(), self.height())))
            width = max(1.0, self._window_start.width + delta.x() * scale)
            center = self._window_start.center - delta.y() * scale * 0.5
            self.window_dragged.emit(Window(center, width, "chosen"))
        elif self.tool == "measure" and self._drag_image_start is not None:
            self.measure_line = (self._drag_image_start, self._drag_current)
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag_start is None or self.image is None:
            return
        if self.tool == "redact" and not self._panning and self._drag_image_start is not None:
            end = self.to_image(event.position())
            box = clip_rect(
                QRectF(self._drag_image_start, end), self.image.width(), self.image.height()
            )
            if box is not None:
                self.box_drawn.emit(box)
        if self._panning:
            self.view_changed.emit()
        self._drag_start = None
        self._drag_image_start = None
        self._drag_current = None
        self._drag_button = Qt.MouseButton.NoButton
        self.set_tool(self.tool)
        self.update()

    # -- painting -------------------------------------------------------------------------------

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(12, 12, 14))  # radiographs are read on black
        if self.image is None:
            painter.setPen(QColor(190, 190, 190))
            painter.drawText(
                self.rect().adjusted(24, 24, -24, -24),
                int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap),
                self.message,
            )
            return
        transform = self.transform()
        painter.setTransform(transform)
        smooth = self.zoom < 2.0
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(QPointF(0, 0), self.image)

        # Redaction boxes: drawn black, as they will be in the file, with an outline to find them.
        outline = QPen(QColor(255, 80, 60), 0, Qt.PenStyle.DashLine)
        outline.setCosmetic(True)
        outline.setWidthF(1.5)
        for x, y, width, height in self.boxes:
            rect = QRectF(x, y, width, height)
            painter.fillRect(rect, QColor(0, 0, 0))
            painter.setPen(outline)
            painter.drawRect(rect)
        dragging_box = (
            self.tool == "redact"
            and not self._panning
            and self._drag_image_start is not None
            and self._drag_current is not None
        )
        if dragging_box:
            assert self._drag_image_start is not None and self._drag_current is not None
            rect = QRectF(self._drag_image_start, self._drag_current).normalized()
            painter.fillRect(rect, QColor(0, 0, 0, 170))
            painter.setPen(outline)
            painter.drawRect(rect)

        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.measure_line is not None:
            self._paint_measurement(painter, transform)
        self._paint_overlay(painter)

    def _paint_measurement(self, painter: QPainter, transform: QTransform) -> None:
        assert self.measure_line is not None
        start = transform.map(self.measure_line[0])
        end = transform.map(self.measure_line[1])
        pen = QPen(QColor(255, 214, 10), 2)
        painter.setPen(pen)
        painter.drawLine(start, end)
        for point in (start, end):
            painter.drawEllipse(point, 3.0, 3.0)
        text = self.measured_length()
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        label = QRectF(0, 0, metrics.horizontalAdvance(text) + 12, metrics.height() + 6)
        label.moveCenter((start + end) / 2 + QPointF(0, -metrics.height()))
        path = QPainterPath()
        path.addRoundedRect(label, 4, 4)
        painter.fillPath(path, QColor(0, 0, 0, 190))
        painter.drawText(label, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_overlay(self, painter: QPainter) -> None:
        if not self.overlay_text:
            return
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        lines = self.overlay_text.splitlines()
        height = metrics.height() * len(lines) + 8
        width = max(metrics.horizontalAdvance(line) for line in lines) + 14
        box = QRectF(8, self.height() - height - 8, width, height)
        path = QPainterPath()
        path.addRoundedRect(box, 4, 4)
        painter.fillPath(path, QColor(0, 0, 0, 150))
        painter.setPen(QColor(230, 230, 230))
        painter.drawText(box.adjusted(7, 4, -7, -4), Qt.AlignmentFlag.AlignLeft, self.overlay_text)
