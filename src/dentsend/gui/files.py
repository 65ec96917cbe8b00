"""The list of radiographs in the package: entries, their loading, the model and its view.

Each dropped file becomes a :class:`FileEntry` at once ("Loading…") and is filled in when its
load task finishes: a thumbnail, a one-line description and badges (identifying data found,
burned-in text to check, unreadable with the reason). The entry keeps only the radiograph's
metadata; the pixels are decoded again on demand by :class:`~dentsend.gui.viewer.FrameSource`,
so a long list does not hold every image in memory.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from dentsend.errors import FileProblem
from dentsend.gui.widgets import Tone, accessible, tone_colors
from dentsend.intake import Radiograph

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 144
"""Longest side of a thumbnail in device-independent pixels (drawn at 72, sharp on HiDPI)."""

RectTuple = tuple[int, int, int, int]
"""A redaction box ``(x, y, width, height)`` in the file's stored-pixel coordinates."""

EntryRole = Qt.ItemDataRole.UserRole + 1


@dataclass(eq=False)
class FileEntry:
    """One file in the package, as the window tracks it."""

    path: Path
    """Resolved path (the key redaction boxes and confirmations are given under)."""
    state: str = "loading"
    """``loading``, ``ready`` or ``problem``."""
    info: Radiograph | None = None
    """The radiograph's metadata (no dataset, no pixels)."""
    problem: str = ""
    thumbnail: QImage | None = None
    needs_check: bool = False
    """Pixels may carry burned-in text: needs boxes or "no text" before it leaves de-identified."""
    check_reason: str = ""
    """Why, as the end of a sentence about the file (from the de-identification's rule)."""
    check_face: bool = False
    """The check is about a face (a photo, a CT volume), not text: confirming means "send it
    as it is"."""
    boxes: list[RectTuple] = field(default_factory=list)
    no_text: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def check_resolved(self) -> bool:
        return not self.needs_check or self.no_text or bool(self.boxes)

    def summary(self) -> str:
        """ "DICOM · IO · 300×400 · 12-bit · 8 frames": what the file is, at a glance."""
        if self.state == "loading":
            return "Loading…"
        if self.state == "problem" or self.info is None:
            return self.problem
        rg = self.info
        parts = [rg.format]
        if rg.modality:
            parts.append(rg.modality)
        parts.append(f"{rg.columns}×{rg.rows}")
        parts.append(f"{rg.bits_stored}-bit" + (" colour" if rg.is_color else ""))
        if rg.frames > 1:
            parts.append(f"{rg.frames} frames")
        return " · ".join(parts)

    def badges(self, mode: str) -> list[tuple[str, Tone]]:
        if self.state == "problem":
            return [("Unreadable", Tone.DANGER)]
        if self.state != "ready" or self.info is None:
            return []
        badges: list[tuple[str, Tone]] = []
        if self.needs_check and mode != "keep":
            if self.boxes:
                plural = "es" if len(self.boxes) > 1 else ""
                badges.append((f"Text covered ({len(self.boxes)} box{plural})", Tone.OK))
            elif self.no_text:
                badges.append(
                    ("Checked: send as it is" if self.check_face else "Checked: no text", Tone.OK)
                )
            elif self.check_face:
                badges.append(("Check: may show a face", Tone.WARNING))
            else:
                badges.append(("Check for burned-in text", Tone.WARNING))
        if self.info.identifying_fields:
            tone = Tone.WARNING if mode == "keep" else Tone.INFO
            badges.append(("Identifying data found", tone))
        return badges

    def tooltip(self) -> str:
        if self.state == "problem":
            return self.problem
        if self.info is None:
            return self.name
        lines = [self.name, self.summary()]
        if self.info.identifying_fields:
            fields = ", ".join(self.info.identifying_fields[:12])
            more = len(self.info.identifying_fields) - 12
            lines.append(f"Identifying data: {fields}" + (f" and {more} more" if more > 0 else ""))
        if self.needs_check:
            lines.append(f"This file {self.check_reason}.")
        return "\n".join(lines)


@dataclass
class Loaded:
    """What a load task hands back to the GUI thread."""

    path: Path
    info: Radiograph | None
    thumbnail: QImage | None
    needs_check: bool
    problem: str = ""
    check_reason: str = ""
    check_face: bool = False


def burned_in_check(radiograph: Radiograph) -> tuple[str, bool]:
    """Why the pixels must be checked before they leave ("" if not), and whether it is about
    a face: the de-identification's own rule, so the window and the package agree."""
    from dentsend.deid import needs_burned_in_check
    from dentsend.deid.redact import burned_in_check_reason, may_show_face

    if not needs_burned_in_check(radiograph):
        return "", False
    reason = burned_in_check_reason(radiograph) or "may show identifying text"
    return reason, may_show_face(radiograph)


def metadata_only(radiograph: Radiograph) -> Radiograph:
    """A copy without the dataset and pixels, so the list does not keep every image in memory."""
    return dataclasses.replace(radiograph, dataset=None, data=None, _cached=None)


def load_file(path: Path) -> Loaded:
    """Load one file, decode its first frame for a thumbnail, and decide its badges (worker)."""
    from dentsend.intake import load
    from dentsend.render import FrameRenderer

    try:
        radiograph = load(path)
        renderer = FrameRenderer(radiograph, 0)
        thumbnail = to_qimage(renderer.image()).scaled(
            THUMBNAIL_SIZE,
            THUMBNAIL_SIZE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        reason, face = burned_in_check(radiograph)
    except FileProblem as problem:
        return Loaded(path, None, None, False, problem.reason)
    except MemoryError:
        return Loaded(path, None, None, False, "is too large to open in the memory available")
    return Loaded(path, metadata_only(radiograph), thumbnail, bool(reason), "", reason, face)


def to_qimage(image: np.ndarray[Any, Any]) -> QImage:
    """An 8-bit grey or RGB array as a QImage that owns its pixels."""
    import numpy as np  # here, not at the top: the window opens before numpy is needed

    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    if image.ndim == 2:
        qimage = QImage(
            image.data, width, height, image.strides[0], QImage.Format.Format_Grayscale8
        )
    else:
        qimage = QImage(image.data, width, height, image.strides[0], QImage.Format.Format_RGB888)
    return qimage.copy()  # the array may go away; the QImage must not point into it


# --------------------------------------------------------------------------------------------
# the model


class FileListModel(QAbstractListModel):
    """The package's files in the order they were added."""

    changed = Signal()
    """Anything about the files changed (count, states, checks): re-evaluate what is missing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[FileEntry] = []
        self.mode = "deidentify"

    # -- Qt model interface -------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        if parent is not None and parent.isValid():
            return 0
        return len(self.entries)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.entries):
            return None
        entry = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.tooltip()
        if role == Qt.ItemDataRole.AccessibleTextRole:
            badges = ", ".join(text for text, _ in entry.badges(self.mode))
            return f"{entry.name}. {entry.summary()}" + (f". {badges}" if badges else "")
        if role == Qt.ItemDataRole.DecorationRole:
            return entry.thumbnail
        if role == EntryRole:
            return entry
        return None

    # -- changes ------------------------------------------------------------------------------

    def add_paths(self, paths: Iterable[Path]) -> list[FileEntry]:
        """Add entries (state ``loading``) for paths not already in the list."""
        known = {entry.path for entry in self.entries}
        new = []
        for path in paths:
            resolved = _resolved(path)
            if resolved in known:
                continue
            known.add(resolved)
            new.append(FileEntry(resolved))
        if new:
            first = len(self.entries)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self.entries += new
            self.endInsertRows()
            self.changed.emit()
        return new

    def apply_loaded(self, loaded: Loaded) -> FileEntry | None:
        entry = self.entry_for(loaded.path)
        if entry is None:
            return None  # removed while it loaded
        if loaded.info is None:
            entry.state, entry.problem = "problem", loaded.problem
        else:
            entry.state = "ready"
            entry.info = loaded.info
            entry.thumbnail = loaded.thumbnail
            entry.needs_check = loaded.needs_check
            entry.check_reason = loaded.check_reason
            entry.check_face = loaded.check_face
        self.entry_changed(entry)
        return entry

    def entry_for(self, path: Path) -> FileEntry | None:
        return next((e for e in self.entries if e.path == path), None)

    def row_of(self, entry: FileEntry) -> int:
        return next((i for i, e in enumerate(self.entries) if e is entry), -1)

    def entry_changed(self, entry: FileEntry) -> None:
        row = self.row_of(entry)
        if row >= 0:
            index = self.index(row)
            self.dataChanged.emit(index, index)
            self.changed.emit()

    def remove_rows(self, rows: Sequence[int]) -> None:
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self.entries):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.entries[row]
                self.endRemoveRows()
        self.changed.emit()

    def clear(self) -> None:
        self.beginResetModel()
        self.entries = []
        self.endResetModel()
        self.changed.emit()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if self.entries:
            self.dataChanged.emit(self.index(0), self.index(len(self.entries) - 1))
        self.changed.emit()

    # -- questions ----------------------------------------------------------------------------

    @property
    def ready_entries(self) -> list[FileEntry]:
        return [e for e in self.entries if e.ready]

    @property
    def loading_count(self) -> int:
        return sum(1 for e in self.entries if e.state == "loading")

    @property
    def problem_entries(self) -> list[FileEntry]:
        return [e for e in self.entries if e.state == "problem"]

    def unresolved_checks(self) -> list[FileEntry]:
        if self.mode == "keep":
            return []
        return [e for e in self.entries if e.ready and not e.check_resolved]


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path).absolute()


# --------------------------------------------------------------------------------------------
# the view


class FileDelegate(QStyledItemDelegate):
    """Thumbnail, name, description and badges for one file."""

    ROW_HEIGHT = 100
    THUMB = 72

    def __init__(self, model: FileListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(260, self.ROW_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        entry: FileEntry | None = index.data(EntryRole)
        if entry is None:
            return
        painter.save()
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            style.drawPrimitive(
                QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget
            )
        palette: QPalette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_color = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        rect: QRect = option.rect.adjusted(6, 6, -6, -6)
        thumb_rect = QRect(rect.left(), rect.top(), self.THUMB, self.THUMB)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        frame = QPainterPath()
        frame.addRoundedRect(thumb_rect.toRectF(), 6, 6)
        painter.fillPath(frame, QColor(0, 0, 0))
        if entry.thumbnail is not None and not entry.thumbnail.isNull():
            size = entry.thumbnail.size().scaled(
                thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatio
            )
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(thumb_rect.center())
            painter.setClipPath(frame)
            painter.drawImage(target, entry.thumbnail)
            painter.setClipping(False)
        else:
            painter.setPen(QColor(200, 200, 200))
            symbol = "!" if entry.state == "problem" else "…"
            painter.drawText(thumb_rect, Qt.AlignmentFlag.AlignCenter, symbol)

        text_left = thumb_rect.right() + 10
        width = rect.right() - text_left
        name_font = QFont(option.font)
        name_font.setBold(True)
        painter.setFont(name_font)
        painter.setPen(text_color)
        metrics = QFontMetrics(name_font)
        name = metrics.elidedText(entry.name, Qt.TextElideMode.ElideMiddle, width)
        painter.drawText(QRect(text_left, rect.top(), width, metrics.height()), 0, name)

        small = QFont(option.font)
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
        painter.setFont(small)
        small_metrics = QFontMetrics(small)
        summary_rect = QRect(
            text_left, rect.top() + metrics.height() + 2, width, small_metrics.height() * 2
        )
        faded = QColor(text_color)
        faded.setAlphaF(0.75)
        painter.setPen(faded)
        summary = entry.summary()
        flags = int(Qt.AlignmentFlag.AlignLeft) | int(Qt.TextFlag.TextWordWrap)
        if entry.state != "problem":
            summary = small_metrics.elidedText(summary, Qt.TextElideMode.ElideRight, width)
            summary_rect.setHeight(small_metrics.height())
        painter.drawText(summary_rect, flags, summary)

        # Badges flow left to right on up to two lines under the description.
        badge_height = small_metrics.height() + 4
        x = text_left
        y = summary_rect.bottom() + 6
        for text, tone in entry.badges(self.model.mode):
            background, foreground = tone_colors(tone, palette)
            badge_width = small_metrics.horizontalAdvance(text) + 14
            if x + badge_width > rect.right() and x > text_left:
                x = text_left
                y += badge_height + 3
                if y + badge_height > rect.bottom() + 6:
                    break
            badge = QRect(x, y, min(badge_width, rect.right() - x), badge_height)
            path = QPainterPath()
            path.addRoundedRect(badge.toRectF(), badge.height() / 2, badge.height() / 2)
            painter.fillPath(path, background)
            painter.setPen(foreground)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
            x += badge_width + 6
        painter.restore()


class FileListView(QListView):
    """The file list; accepts dropped files and folders and shows a hint while empty."""

    files_dropped = Signal(list)
    remove_requested = Signal()

    def __init__(self, model: FileListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setItemDelegate(FileDelegate(model, self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setUniformItemSizes(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setMinimumWidth(220)
        accessible(
            self,
            "Radiographs in the package",
            "Drop files or folders here. Delete removes the selected files.",
        )

    # Drops of local files and folders from a file manager.
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
        else:
            super().dropEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        has_files = bool(self.selectedIndexes()) or self.currentIndex().isValid()
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and has_files:
            self.remove_requested.emit()
            return
        super().keyPressEvent(event)

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        if self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            color = QColor(self.palette().color(QPalette.ColorRole.Text))
            color.setAlphaF(0.6)
            painter.setPen(color)
            area = self.viewport().rect().adjusted(20, 20, -20, -20)
            painter.drawText(
                area,
                int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap),
                "Drop radiographs here\n(DICOM, JPEG, PNG, TIFF, BMP, or a folder)\n\n"
                "or click “Add files…” (Ctrl+O)",
            )


def dropped_paths(event: QDropEvent) -> list[Path]:
    return [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
