"""The "Sent packages" window: the sent-log with search, CSV export and passphrase recall.

It shows what :class:`~dentsend.audit.SentLog` holds (never a patient's name: the log has none)
and reveals a remembered passphrase only when asked, for a recipient who calls days later.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dentsend.errors import DentsendError
from dentsend.gui.result import human_size
from dentsend.gui.widgets import accessible

if TYPE_CHECKING:
    from dentsend.audit import SentRecord

log = logging.getLogger(__name__)

_MODES = {"deidentify": "de-identified", "pseudonym": "reference code", "keep": "named"}
_COLUMNS = ("Sent", "Format", "Recipient", "Files", "Package", "Details", "Passphrase kept")


class SentWindow(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sent packages")
        self.resize(980, 460)
        self.records: list[SentRecord] = []
        self.search = accessible(
            QLineEdit(self),
            "Search sent packages",
            "Recipient, reference code, date, file name or fingerprint",
        )
        self.search.setPlaceholderText("Search: recipient, reference code, date, file name…")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.table = accessible(QTableWidget(0, len(_COLUMNS), self), "Sent packages")
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setAccessibleName("Sent packages status")
        self.reveal = accessible(
            QPushButton("Reveal passphrase", self),
            "Reveal passphrase",
            "Show the passphrase of the selected package, if it is still kept",
        )
        self.reveal.clicked.connect(self.reveal_passphrase)
        self.export = accessible(
            QPushButton("Export CSV…", self), "Export CSV", "Save the list for a spreadsheet"
        )
        self.export.clicked.connect(self.export_csv)
        close = accessible(QPushButton("Close", self), "Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reveal)
        buttons.addWidget(self.export)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._selection_changed()

    def refresh(self) -> None:
        from dentsend.audit import SentLog

        try:
            self.records = SentLog().entries(self.search.text())
        except DentsendError as exc:
            self.records = []
            self.status.setText(str(exc))
        self.table.setRowCount(len(self.records))
        for row, record in enumerate(self.records):
            recipient = record.recipient or (
                ", ".join(f[-16:] for f in record.certificates) if record.certificates else "—"
            )
            package = record.package_name + (
                f" (+{record.parts - 1} parts)" if record.parts > 1 else ""
            )
            details = _MODES.get(record.deid_mode, record.deid_mode)
            if record.reference_code:
                details += f": {record.reference_code}"
            kept = (
                f"until {record.passphrase_until.astimezone():%Y-%m-%d}"
                if record.passphrase_until
                else "—"
            )
            cells = (
                f"{record.sent_at.astimezone():%Y-%m-%d %H:%M}",
                "HTML" if record.format == "html" else "OpenPGP",
                recipient,
                f"{record.file_count} ({human_size(record.payload_bytes)})",
                package,
                details,
                kept,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text if column != 4 else f"{text}\nSHA-256 {record.package_sha256}")
                self.table.setItem(row, column, item)
        if not self.records:
            self.status.setText(
                "Nothing found." if self.search.text().strip() else "Nothing sent yet."
            )
        else:
            self.status.setText(f"{len(self.records)} package(s).")
        self._selection_changed()

    @property
    def selected(self) -> SentRecord | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) != 1:
            return None
        row = rows.pop()
        return self.records[row] if 0 <= row < len(self.records) else None

    def _selection_changed(self) -> None:
        record = self.selected
        self.reveal.setEnabled(
            record is not None and record.format == "html" and record.passphrase_until is not None
        )

    def reveal_passphrase(self) -> None:
        from dentsend.audit import SentLog

        record = self.selected
        if record is None or record.id is None:
            return
        passphrase = SentLog().recall_passphrase(record.id)
        if passphrase is None:
            QMessageBox.information(
                self,
                "Passphrase not kept",
                "dentsend no longer has this package's passphrase (it expired, or the system "
                "keyring is not available). Send a new package with a new passphrase.",
            )
            self.refresh()
            return
        box = QMessageBox(self)
        box.setWindowTitle("Passphrase")
        box.setText(
            f"Passphrase of {record.package_name}:\n\n{passphrase}\n\n"
            "Read it by phone or send it by text — never in the same email as the file."
        )
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        copy = box.addButton("Copy", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.exec()
        if box.clickedButton() is copy:
            QGuiApplication.clipboard().setText(passphrase)

    def export_csv(self) -> None:
        from dentsend.audit import SentLog

        path, _ = QFileDialog.getSaveFileName(
            self, "Export the sent-log", "dentsend-sent.csv", "CSV (*.csv)"
        )
        if not path:
            return
        try:
            count = SentLog().export_csv(Path(path), search=self.search.text())
        except (DentsendError, OSError) as exc:
            QMessageBox.warning(self, "Not exported", str(exc))
            return
        self.status.setText(f"Exported {count} package(s) to {Path(path).name}.")
