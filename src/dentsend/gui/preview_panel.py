"""Step "Look": the preview with its tools, the frame slider and the burned-in text check."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dentsend.gui.files import FileEntry, RectTuple
from dentsend.gui.viewer import FrameSource, ImageViewer, Preview
from dentsend.gui.widgets import Banner, Tone, accessible
from dentsend.gui.workers import Task, Workers
from dentsend.render import display_to_stored, stored_to_display

if TYPE_CHECKING:
    from dentsend.intake import Window

log = logging.getLogger(__name__)

#: Contrast presets: (label, how to derive the window from the frame's values).
PRESETS = ("As saved", "Automatic", "Full range", "More contrast", "Less contrast")


class PreviewPanel(QWidget):
    """The selected radiograph, its viewing tools and (where needed) the burned-in text check."""

    boxes_changed = Signal(object)
    """A :class:`FileEntry` whose redaction boxes or "no text" confirmation changed."""

    def __init__(self, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self.source = FrameSource()
        self.entry: FileEntry | None = None
        self.mode = "deidentify"
        self.frame = 0
        self.voi_window: Window | None = None
        self.invert = False
        self.preview: Preview | None = None
        self._in_flight = False
        self._pending: tuple[bool] | None = None
        self._generation = 0

        self.viewer = ImageViewer(self)
        self.viewer.window_dragged.connect(self._window_dragged)
        self.viewer.box_drawn.connect(self._box_drawn)
        self.viewer.view_changed.connect(self._update_overlay)

        self._build_toolbar()
        self._build_check_banner()
        self._build_frame_row()
        self.spacing_label = QLabel(self)
        self.spacing_label.setWordWrap(True)
        self.spacing_label.setAccessibleName("Measurement units")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.check_banner)
        layout.addWidget(self.viewer, 1)
        layout.addLayout(self.frame_row)
        layout.addWidget(self.spacing_label)
        self.show_entry(None)

    # -- construction ---------------------------------------------------------------------------

    def _add_tool(self, action: QAction, name: str = "") -> QToolButton:
        """Put an action on the tool bar; its button gets a name a screen reader speaks."""
        self.toolbar.addAction(action)
        button = self.toolbar.widgetForAction(action)
        assert isinstance(button, QToolButton)
        accessible(button, name or action.text().replace("&", ""), action.toolTip())
        return button

    def _action(
        self, text: str, shortcut: str | QKeySequence.StandardKey, tip: str, checkable: bool = False
    ) -> QAction:
        action = QAction(text, self)
        sequence = QKeySequence(shortcut)
        action.setShortcut(sequence)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        keys = sequence.toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
        action.setCheckable(checkable)
        self.addAction(action)
        return action

    def _build_toolbar(self) -> None:
        self.tool_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        group.setExclusive(True)
        tools = (
            (
                "window",
                "Contrast",
                "W",
                "Drag to change brightness (up/down) and contrast (left/right)",
            ),
            ("pan", "Move", "H", "Drag to move the image"),
            ("measure", "Measure", "M", "Drag to measure a length"),
            (
                "redact",
                "Cover text",
                "B",
                "Drag a box over text in the image; it will be black in the package",
            ),
        )
        # A tool bar, not a row of buttons: on a narrow window the last tools move into its
        # overflow menu instead of forcing the window wider.
        self.toolbar = QToolBar("Preview tools", self)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.toolbar.setAccessibleName("Preview tools")
        self.tool_buttons: dict[str, QToolButton] = {}
        for name, text, key, tip in tools:
            action = self._action(text, key, tip, checkable=True)
            action.setActionGroup(group)
            action.triggered.connect(lambda _=False, n=name: self.set_tool(n))
            self.tool_actions[name] = action
            self.tool_buttons[name] = self._add_tool(action)
        self.tool_actions["window"].setChecked(True)
        self.toolbar.addSeparator()

        self.preset = accessible(
            QComboBox(self), "Contrast preset", "Brightness and contrast presets"
        )
        self.preset.addItems([*PRESETS, "Custom"])
        self.preset.model().item(len(PRESETS)).setEnabled(False)  # type: ignore[attr-defined]
        self.preset.activated.connect(self._preset_chosen)
        self.toolbar.addWidget(self.preset)
        self.toolbar.addSeparator()

        self.invert_action = self._action("Invert", "I", "Swap black and white", checkable=True)
        self.invert_action.toggled.connect(self._invert_toggled)
        self.rotate_action = self._action("Rotate", "R", "Turn the view a quarter turn clockwise")
        self.rotate_action.triggered.connect(lambda: self.viewer.rotate(1))
        self.fit_action = self._action("Fit", "F", "Fit the image in the view")
        self.fit_action.triggered.connect(self.viewer.fit)
        self.zoom_in_action = self._action("Zoom in", QKeySequence.StandardKey.ZoomIn, "Zoom in")
        self.zoom_in_action.setText("+")
        self.zoom_in_action.triggered.connect(lambda: self.viewer.zoom_by(1.25))
        self.zoom_out_action = self._action(
            "Zoom out", QKeySequence.StandardKey.ZoomOut, "Zoom out"
        )
        self.zoom_out_action.setText("−")
        self.zoom_out_action.triggered.connect(lambda: self.viewer.zoom_by(0.8))
        self.actual_size_action = self._action(
            "1:1", "Ctrl+0", "Show one image pixel per screen pixel"
        )
        self.actual_size_action.triggered.connect(lambda: self.viewer.set_zoom(1.0))
        for action, name in (
            (self.invert_action, "Invert"),
            (self.rotate_action, "Rotate"),
            (self.fit_action, "Fit"),
            (self.zoom_out_action, "Zoom out"),
            (self.zoom_in_action, "Zoom in"),
            (self.actual_size_action, "Actual size"),
        ):
            self._add_tool(action, name)

        self.previous_frame_action = self._action("Previous frame", "PgUp", "Previous frame")
        self.previous_frame_action.triggered.connect(lambda: self._step_frame(-1))
        self.next_frame_action = self._action("Next frame", "PgDown", "Next frame")
        self.next_frame_action.triggered.connect(lambda: self._step_frame(1))
        self.undo_box_action = self._action(
            "Undo box", QKeySequence.StandardKey.Undo, "Remove the last box drawn"
        )
        self.undo_box_action.triggered.connect(self.undo_box)
        self.clear_measure_action = self._action(
            "Clear measurement", "Esc", "Clear the measurement"
        )
        self.clear_measure_action.triggered.connect(self.viewer.clear_measurement)

    def _build_check_banner(self) -> None:
        self.check_banner = Banner(Tone.WARNING, self)
        self.no_text = accessible(
            QCheckBox("No text in this image", self.check_banner),
            "No text in this image",
            "Tick if the pixels show no name, date or other text",
        )
        self.no_text.toggled.connect(self._no_text_toggled)
        self.undo_box_button = accessible(QPushButton("Undo box", self.check_banner), "Undo box")
        self.undo_box_button.clicked.connect(self.undo_box)
        self.clear_boxes_button = accessible(
            QPushButton("Clear boxes", self.check_banner), "Clear boxes"
        )
        self.clear_boxes_button.clicked.connect(self.clear_boxes)
        self.check_banner.row.addWidget(self.no_text)
        self.check_banner.row.addWidget(self.undo_box_button)
        self.check_banner.row.addWidget(self.clear_boxes_button)

    def _build_frame_row(self) -> None:
        self.frame_row = QHBoxLayout()
        self.frame_label = QLabel("Frame", self)
        self.frame_slider = accessible(
            QSlider(Qt.Orientation.Horizontal, self),
            "Frame",
            "Choose a frame (Page Up / Page Down)",
        )
        self.frame_slider.setMinimum(0)
        self.frame_slider.valueChanged.connect(self._frame_chosen)
        self.frame_label.setBuddy(self.frame_slider)
        self.frame_number = QLabel(self)
        self.frame_row.addWidget(self.frame_label)
        self.frame_row.addWidget(self.frame_slider, 1)
        self.frame_row.addWidget(self.frame_number)

    # -- what is shown ----------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._update_check_banner()

    def set_tool(self, tool: str) -> None:
        self.viewer.set_tool(tool)
        self.tool_actions[tool].setChecked(True)

    def show_entry(self, entry: FileEntry | None) -> None:
        """Show a file (or a message); a new file starts fitted, at frame 1, as saved."""
        same = entry is not None and self.entry is not None and entry.path == self.entry.path
        self.entry = entry
        if not same:
            self.frame = 0
            self.voi_window = None
            self.preset.setCurrentIndex(0)
            self.viewer.rotation = 0
        self._generation += 1
        frames = entry.info.frames if entry is not None and entry.info is not None else 1
        for widget in (self.frame_label, self.frame_slider, self.frame_number):
            widget.setVisible(frames > 1)
        self.frame_slider.blockSignals(True)
        self.frame_slider.setMaximum(max(0, frames - 1))
        self.frame_slider.setValue(self.frame)
        self.frame_slider.blockSignals(False)
        self._update_frame_label()
        self._update_check_banner()
        self._update_spacing()
        if entry is None:
            self.preview = None
            self.viewer.set_message(
                "Add radiographs to see them here.\n\nDrop files on the window or press Ctrl+O."
            )
        elif entry.state == "loading":
            self.preview = None
            self.viewer.set_message("Loading…")
        elif entry.state == "problem":
            self.preview = None
            self.viewer.set_message(f"{entry.name} cannot be used:\n{entry.problem}")
        else:
            self._sync_boxes()
            if not same or self.preview is None:
                self.viewer.set_message("Loading…")
            self._request_render(keep_view=same and self.preview is not None)

    def _update_spacing(self) -> None:
        entry = self.entry
        if entry is None or entry.info is None:
            self.spacing_label.setText("")
            self.viewer.spacing = None
            return
        spacing = entry.info.measurement_spacing
        self.viewer.spacing = spacing
        if spacing is None:
            text = "No pixel size in this file: lengths are in pixels."
        elif spacing.at_detector:
            text = (
                f"Lengths in mm at the detector ({spacing.column_mm:g} mm per pixel): "
                "the image is magnified a little, so real sizes are slightly smaller."
            )
        else:
            text = f"Lengths in mm (calibrated, {spacing.column_mm:g} mm per pixel)."
        self.spacing_label.setText(text)

    def _update_check_banner(self) -> None:
        entry = self.entry
        show = entry is not None and entry.ready and entry.needs_check and self.mode != "keep"
        self.check_banner.setVisible(bool(show))
        if not show or entry is None:
            return
        self.no_text.blockSignals(True)
        self.no_text.setChecked(entry.no_text)
        self.no_text.blockSignals(False)
        confirm = "Send as it is" if entry.check_face else "No text in this image"
        self.no_text.setText(confirm)
        self.no_text.setAccessibleName(confirm)
        self.undo_box_button.setVisible(bool(entry.boxes))
        self.clear_boxes_button.setVisible(len(entry.boxes) > 1)
        if entry.boxes:
            count = len(entry.boxes)
            self.check_banner.set_tone(Tone.OK)
            self.check_banner.set_text(
                f"{count} box{'es' if count > 1 else ''} will be black in the package. "
                "Cover anything else identifying the same way."
            )
        elif entry.no_text:
            self.check_banner.set_tone(Tone.OK)
            self.check_banner.set_text(
                "You checked: send this image as it is."
                if entry.check_face
                else "You checked: no text in this image."
            )
        elif entry.check_face:
            self.check_banner.set_tone(Tone.WARNING)
            self.check_banner.set_text(
                f"This file {entry.check_reason}. Cover the face with “Cover text” (B) boxes, "
                "or tick the box to send it as it is."
            )
        else:
            self.check_banner.set_tone(Tone.WARNING)
            self.check_banner.set_text(
                "This image may show the patient's name or other text in its pixels. "
                "Drag “Cover text” (B) boxes over any text, or tick the box if there is none."
            )

    def _update_frame_label(self) -> None:
        frames = self.frame_slider.maximum() + 1
        self.frame_number.setText(f"{self.frame + 1} / {frames}")

    def _update_overlay(self) -> None:
        preview = self.preview
        if preview is None:
            self.viewer.overlay_text = ""
            return
        window = preview.window or preview.default_window
        lines = []
        if not preview.is_color or preview.window is not None:
            lines.append(f"Level {window.center:.0f}   Width {window.width:.0f}")
        lines.append(f"Zoom {self.viewer.zoom * 100:.0f}%")
        self.viewer.overlay_text = "\n".join(lines)
        self.viewer.update()

    # -- rendering ------------------------------------------------------------------------------

    def _request_render(self, *, keep_view: bool) -> None:
        """Render the current frame/window off the GUI thread; drags coalesce to the latest."""
        if self.entry is None or not self.entry.ready:
            return
        if self._in_flight:
            self._pending = (keep_view,)
            return
        self._in_flight = True
        task = Task(
            self.source.render,
            self.entry.path,
            self.frame,
            self.voi_window,
            self.invert,
            name="preview",
        )
        generation = self._generation
        self.workers.start(
            self.workers.render_pool,
            task,
            on_finished=lambda preview: self._rendered(preview, keep_view, generation),
            on_failed=self._render_failed,
        )

    def _rendered(self, preview: Preview, keep_view: bool, generation: int) -> None:
        self._in_flight = False
        entry = self.entry
        current = (
            entry is not None
            and preview.path == entry.path
            and preview.frame == self.frame
            and generation == self._generation
        )
        if current:
            self.preview = preview
            self.viewer.window_base = preview.window or preview.default_window
            self.viewer.value_span = max(preview.high - preview.low, 1.0)
            self.viewer.set_image(preview.image, keep_view=keep_view)
            self._update_overlay()
        elif entry is not None and entry.path == preview.path:
            keep_view = True
        if self._pending is not None or not current:
            pending = self._pending
            self._pending = None
            if entry is not None and entry.ready and (pending is not None or not current):
                self._request_render(keep_view=pending[0] if pending else keep_view)

    def _render_failed(self, message: str) -> None:
        self._in_flight = False
        self._pending = None
        self.preview = None
        self.viewer.set_message(message)

    # -- controls ---------------------------------------------------------------------------------

    def _window_dragged(self, window: Window) -> None:
        self.voi_window = window
        self.preset.setCurrentIndex(len(PRESETS))
        self._request_render(keep_view=True)

    def _preset_chosen(self, index: int) -> None:
        from dentsend.intake import Window

        preview = self.preview
        if preview is None:
            return
        auto = preview.auto_window
        choice = PRESETS[index] if index < len(PRESETS) else ""
        if choice == "As saved":
            self.voi_window = None
        elif choice == "Automatic":
            self.voi_window = auto
        elif choice == "Full range":
            self.voi_window = Window(
                (preview.low + preview.high) / 2, max(preview.high - preview.low, 1.0), "chosen"
            )
        elif choice == "More contrast":
            self.voi_window = Window(auto.center, max(auto.width * 0.6, 1.0), "chosen")
        elif choice == "Less contrast":
            self.voi_window = Window(auto.center, auto.width * 1.6, "chosen")
        self._request_render(keep_view=True)

    def _invert_toggled(self, checked: bool) -> None:
        self.invert = checked
        self._request_render(keep_view=True)

    def _frame_chosen(self, value: int) -> None:
        self.frame = value
        self._update_frame_label()
        self._request_render(keep_view=True)

    def _step_frame(self, step: int) -> None:
        if self.frame_slider.isVisible():
            self.frame_slider.setValue(self.frame + step)

    # -- redaction --------------------------------------------------------------------------------

    def _orientation(self) -> tuple[int, int, int]:
        assert self.entry is not None and self.entry.info is not None
        info = self.entry.info
        return info.orientation, info.rows, info.columns

    def _sync_boxes(self) -> None:
        if self.entry is None or self.entry.info is None:
            self.viewer.set_boxes([])
            return
        orientation, rows, columns = self._orientation()
        self.viewer.set_boxes(
            [stored_to_display(box, orientation, rows, columns) for box in self.entry.boxes]
        )

    def _box_drawn(self, box: RectTuple) -> None:
        entry = self.entry
        if entry is None or entry.info is None:
            return
        orientation, rows, columns = self._orientation()
        entry.boxes.append(display_to_stored(box, orientation, rows, columns))
        self._boxes_changed()

    def undo_box(self) -> None:
        if self.entry is not None and self.entry.boxes:
            self.entry.boxes.pop()
            self._boxes_changed()

    def clear_boxes(self) -> None:
        if self.entry is not None and self.entry.boxes:
            self.entry.boxes.clear()
            self._boxes_changed()

    def _no_text_toggled(self, checked: bool) -> None:
        if self.entry is not None:
            self.entry.no_text = checked
            self._boxes_changed()

    def _boxes_changed(self) -> None:
        self._sync_boxes()
        self._update_check_banner()
        self.boxes_changed.emit(self.entry)
