"""Small widgets the window's panels share: tones that follow the light/dark palette, a banner,
a step heading, a flow layout for passphrase words, and the accessible-name helper.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import shiboken6
from PySide6.QtCore import (
    QEvent,
    QMargins,
    QObject,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
    SignalInstance,
)
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

W = TypeVar("W", bound=QWidget)


def accessible(widget: W, name: str, description: str = "") -> W:
    """Give a control the name a screen reader speaks (and tests find it by)."""
    widget.setAccessibleName(name)
    if description:
        widget.setAccessibleDescription(description)
        if not widget.toolTip():
            widget.setToolTip(description)
    return widget


class Tone(Enum):
    NEUTRAL = "neutral"
    INFO = "info"
    OK = "ok"
    WARNING = "warning"
    DANGER = "danger"


# (light background, light text, dark background, dark text)
_TONES: dict[Tone, tuple[str, str, str, str]] = {
    Tone.NEUTRAL: ("#e8eaed", "#3c4043", "#3c4043", "#e8eaed"),
    Tone.INFO: ("#dbe8fb", "#0b3d91", "#1c3557", "#cfe1ff"),
    Tone.OK: ("#dcefe0", "#135c24", "#1f4027", "#c9ecd2"),
    Tone.WARNING: ("#fdf0c8", "#6b4500", "#4d3b0a", "#ffe29a"),
    Tone.DANGER: ("#fbdcd9", "#8c1d12", "#5a1f1a", "#ffcdc7"),
}


def app_palette() -> QPalette:
    """The application's palette: custom colours follow it, not a widget's own palette (which a
    style sheet changes)."""
    from PySide6.QtGui import QGuiApplication

    return QGuiApplication.palette()


class ThemeWatcher(QObject):
    """Tells the custom-coloured widgets when the system's light/dark palette changed.

    Qt announces it to the application object (``ApplicationPaletteChange``, ``ThemeChange``),
    not to widgets that have a style sheet, so one filter on the application forwards it.
    Both events come together; they are merged into one ``changed`` on the next loop turn.
    """

    changed = Signal()

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._pending = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kinds = (QEvent.Type.ApplicationPaletteChange, QEvent.Type.ThemeChange)
        if watched is self.parent() and event.type() in kinds and not self._pending:
            self._pending = True
            QTimer.singleShot(0, self._emit)
        return False

    def _emit(self) -> None:
        self._pending = False
        self.changed.emit()


def theme_changed() -> SignalInstance:
    """The signal to connect a restyle method to (created with the application)."""
    from PySide6.QtCore import QCoreApplication

    app = QCoreApplication.instance()
    assert app is not None, "create the QApplication first"
    watcher = app.findChild(ThemeWatcher)
    if watcher is None:
        watcher = ThemeWatcher(app)
        app.installEventFilter(watcher)
    return watcher.changed


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def tone_colors(tone: Tone, palette: QPalette) -> tuple[QColor, QColor]:
    """Background and text colour for a tone, readable in the current (light or dark) palette."""
    light_bg, light_fg, dark_bg, dark_fg = _TONES[tone]
    if is_dark(palette):
        return QColor(dark_bg), QColor(dark_fg)
    return QColor(light_bg), QColor(light_fg)


def make_primary(button: QPushButton) -> QPushButton:
    """Style the one main action of a page (Create, Open in mail client) in the accent colour."""

    def restyle() -> None:
        if not shiboken6.isValid(button):  # the connection outlives a deleted button
            return
        palette = app_palette()
        accent = palette.color(QPalette.ColorRole.Highlight)
        text = palette.color(QPalette.ColorRole.HighlightedText)
        hover = accent.lighter(112) if is_dark(palette) else accent.darker(112)
        muted = palette.color(QPalette.ColorRole.Button)
        muted_text = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
        button.setStyleSheet(
            f"QPushButton {{ background: {accent.name()}; color: {text.name()};"
            " border: none; border-radius: 6px; padding: 6px 16px; font-weight: bold; }"
            f"QPushButton:hover {{ background: {hover.name()}; }}"
            f"QPushButton:focus {{ border: 2px solid {text.name()}; }}"
            f"QPushButton:disabled {{ background: {muted.name()}; color: {muted_text.name()}; }}"
        )

    restyle()
    theme_changed().connect(restyle)
    return button


class Banner(QFrame):
    """A tinted strip with a message and optional controls (warnings, hints, blockers)."""

    def __init__(self, tone: Tone = Tone.INFO, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tone = tone
        self.setObjectName("banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(10, 6, 10, 6)
        self.row.addWidget(self.label, 1)
        self._restyle()
        theme_changed().connect(self._restyle)

    def set_tone(self, tone: Tone) -> None:
        if tone is not self._tone:
            self._tone = tone
            self._restyle()

    def set_text(self, text: str) -> None:
        self.label.setText(text)
        self.setAccessibleName(text)

    def _restyle(self) -> None:
        background, text = tone_colors(self._tone, app_palette())
        self.setStyleSheet(
            f"QFrame#banner {{ background: {background.name()}; border-radius: 6px; }}"
            f"QFrame#banner QLabel, QFrame#banner QCheckBox {{ color: {text.name()}; }}"
        )


class StepHeading(QWidget):
    """ "2  What leaves the practice": a numbered step, so a newcomer sees the order."""

    def __init__(self, number: int, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 8, 0, 2)
        self.number = QLabel(str(number), self)
        self.number.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.number.setFixedSize(QSize(22, 22))
        self.number.setObjectName("stepNumber")
        self.title = QLabel(title, self)
        font = QFont(self.title.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.12)
        self.title.setFont(font)
        row.addWidget(self.number)
        row.addWidget(self.title, 1)
        self.setAccessibleName(f"Step {number}: {title}")
        self._restyle()
        theme_changed().connect(self._restyle)

    def _restyle(self) -> None:
        highlight = app_palette().color(QPalette.ColorRole.Highlight)
        text = app_palette().color(QPalette.ColorRole.HighlightedText)
        self.number.setStyleSheet(
            f"background: {highlight.name()}; color: {text.name()};"
            "border-radius: 11px; font-weight: bold;"
        )


def section(parent: QWidget | None = None) -> tuple[QWidget, QVBoxLayout]:
    widget = QWidget(parent)
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    return widget, layout


class FlowLayout(QLayout):
    """Lays children out left to right, wrapping to the next line (passphrase words)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 8) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins: QMargins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _arrange(self, rect: QRect, *, move: bool) -> int:
        margins = self.contentsMargins()
        area = rect.marginsRemoved(margins)
        x, y, line_height = area.x(), area.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > area.right() + 1 and line_height > 0:
                x = area.x()
                y += line_height + self._spacing
                line_height = 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y() + margins.bottom()


def expanding(widget: W) -> W:
    widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return widget
