"""The in-app log: Python ``logging`` records, delivered to a window through a Qt signal.

The handler may be called from any thread (workers log too); the signal carries the formatted
line to the GUI thread. Records are kept in a bounded buffer, so the window shows what happened
before it was opened. The core never logs patient data or secrets, so neither does this.
"""

from __future__ import annotations

import logging
from collections import deque

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dentsend.gui.widgets import accessible

_FORMAT = "%(asctime)s  %(levelname)-7s  %(name)s: %(message)s"
_LEVELS = (("Details", logging.DEBUG), ("Progress", logging.INFO), ("Problems", logging.WARNING))


class _Bridge(QObject):
    record = Signal(int, str)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards each record to the GUI thread as ``(level, line)``.

    ``record`` is a Qt signal on a small QObject living in the GUI thread, so records logged by
    worker threads arrive there queued.
    """

    def __init__(self, capacity: int = 2000) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        self.lines: deque[tuple[int, str]] = deque(maxlen=capacity)
        self._bridge = _Bridge()
        self.record = self._bridge.record

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.lines.append((record.levelno, line))
        self._bridge.record.emit(record.levelno, line)


def install_handler(level: int | None = None) -> QtLogHandler:
    """Attach a :class:`QtLogHandler` to the ``dentsend`` logger (once).

    ``level``: also let records from this level on through the ``dentsend`` logger (the app
    asks for INFO, so the log window shows progress even though the command line's default
    is WARNING).
    """
    logger = logging.getLogger("dentsend")
    found = next((h for h in logger.handlers if isinstance(h, QtLogHandler)), None)
    handler = found or QtLogHandler()
    if found is None:
        logger.addHandler(handler)
    if level is not None and (logger.level == logging.NOTSET or logger.level > level):
        logger.setLevel(level)
    return handler


def remove_handler(handler: QtLogHandler) -> None:
    logging.getLogger("dentsend").removeHandler(handler)


class LogWindow(QDialog):
    """A non-modal window listing log lines, filterable by level, with copy and clear."""

    def __init__(self, handler: QtLogHandler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("dentsend log")
        self.resize(820, 420)
        self.handler = handler
        self.text = accessible(QPlainTextEdit(self), "Log messages")
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(5000)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.level = accessible(QComboBox(self), "Show messages", "Which messages to show")
        for label, value in _LEVELS:
            self.level.addItem(label, value)
        self.level.setCurrentIndex(1)
        self.level.currentIndexChanged.connect(self._refill)
        copy = accessible(QPushButton("Copy all", self), "Copy all log messages")
        copy.clicked.connect(self._copy)
        clear = accessible(QPushButton("Clear", self), "Clear the log")
        clear.clicked.connect(self._clear)
        close = accessible(QPushButton("Close", self), "Close the log window")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        show_label = QLabel("Show:", self)
        show_label.setBuddy(self.level)
        row.addWidget(show_label)
        row.addWidget(self.level)
        row.addStretch(1)
        row.addWidget(copy)
        row.addWidget(clear)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addLayout(row)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Copy), self, self._copy_selection)
        handler.record.connect(self._append, Qt.ConnectionType.QueuedConnection)
        self._refill()

    @property
    def minimum_level(self) -> int:
        return int(self.level.currentData())

    def _append(self, level: int, line: str) -> None:
        if level >= self.minimum_level:
            self.text.appendPlainText(line)

    def _refill(self) -> None:
        self.text.setPlainText(
            "\n".join(line for level, line in self.handler.lines if level >= self.minimum_level)
        )
        self.text.moveCursor(self.text.textCursor().MoveOperation.End)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())

    def _copy_selection(self) -> None:
        self.text.copy()

    def _clear(self) -> None:
        self.handler.lines.clear()
        self.text.clear()
