"""The Settings dialog: practice name, output folder, default choices, mail size limit.

It edits a copy of :class:`~dentsend.settings.Settings` and saves it with
:func:`~dentsend.settings.save_settings` (a JSON file in the platformdirs config folder).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dentsend.gui.decide import MODES
from dentsend.gui.widgets import accessible
from dentsend.settings import Settings, default_outgoing_dir


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from dentsend.deid import RETAIN_OPTIONS

        self.setWindowTitle("dentsend settings")
        self.settings = dataclasses.replace(settings)
        form = QFormLayout()

        self.practice = accessible(
            QLineEdit(settings.practice_name, self),
            "Practice name",
            "Shown to the recipient before unlocking and in the email text",
        )
        self.practice.setPlaceholderText("e.g. Smile Dental Practice")
        self.practice.setMaxLength(100)
        form.addRow("&Practice name:", self.practice)

        self.folder = accessible(
            QLineEdit(settings.outgoing_dir, self),
            "Output folder",
            "Where packages are saved (mail programs read the attachment from here on Send)",
        )
        self.folder.setPlaceholderText(str(default_outgoing_dir()))
        browse = accessible(QPushButton("Browse…", self), "Choose output folder")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        form.addRow("&Output folder:", folder_row)

        self.mode = accessible(
            QComboBox(self), "Default choice", "What leaves the practice, by default"
        )
        for mode, title, _ in MODES:
            self.mode.addItem(title, mode)
        self.mode.setCurrentIndex(max(0, self.mode.findData(settings.deid_mode)))
        form.addRow("&Default choice:", self.mode)

        retain_box = QWidget(self)
        retain_layout = QVBoxLayout(retain_box)
        retain_layout.setContentsMargins(0, 0, 0, 0)
        self.retain: dict[str, QCheckBox] = {}
        for name, description in RETAIN_OPTIONS.items():
            box = accessible(
                QCheckBox(description[0].upper() + description[1:], retain_box),
                f"Keep {description} by default",
            )
            box.setChecked(name in settings.retain)
            box.toggled.connect(lambda checked, n=name: self._retain_toggled(n, checked))
            retain_layout.addWidget(box)
            self.retain[name] = box
        form.addRow("Also keep by default:", retain_box)

        self.stable = accessible(
            QCheckBox("Replace UIDs the same way in every package", self), "Stable UIDs by default"
        )
        self.stable.setChecked(settings.stable_uids)
        form.addRow("", self.stable)

        self.limit = accessible(
            QDoubleSpinBox(self),
            "Mail size limit in megabytes",
            "Packages larger than this in an email get a warning and can be split",
        )
        self.limit.setRange(1.0, 500.0)
        self.limit.setDecimals(0)
        self.limit.setSuffix(" MB")
        self.limit.setValue(settings.mail_size_limit_mb)
        form.addRow("&Mail size limit:", self.limit)

        self.recall = accessible(
            QSpinBox(self),
            "Keep passphrases for days",
            "How long a package's passphrase stays in the system keyring; 0 keeps none",
        )
        self.recall.setRange(0, 365)
        self.recall.setSuffix(" days")
        self.recall.setValue(settings.passphrase_recall_days)
        form.addRow("&Keep passphrases:", self.recall)

        self.handler = accessible(
            QComboBox(self), "Mail program", "How packages reach the mail program"
        )
        try:
            from dentsend.handoff import handler_choices

            choices = handler_choices()
        except ImportError:
            choices = [("auto", "Automatic")]
        for value, label in choices:
            self.handler.addItem(label, value)
        self.handler.setCurrentIndex(max(0, self.handler.findData(settings.mail_handler)))
        form.addRow("Mail &program:", self.handler)

        note = QLabel("Settings never hold patient data or passphrases.", self)
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        for button in buttons.buttons():
            accessible(button, button.text().replace("&", ""))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _retain_toggled(self, name: str, checked: bool) -> None:
        # Full dates and shifted dates exclude each other, as in the main window.
        other = {"dates": "modified-dates", "modified-dates": "dates"}.get(name)
        if checked and other is not None and self.retain[other].isChecked():
            self.retain[other].setChecked(False)

    def _browse(self) -> None:
        start = self.folder.text() or str(default_outgoing_dir())
        folder = QFileDialog.getExistingDirectory(self, "Output folder", start)
        if folder:
            self.folder.setText(folder)

    def result_settings(self) -> Settings:
        """The edited settings (saved by the caller after ``exec()`` returns Accepted)."""
        folder = self.folder.text().strip()
        return dataclasses.replace(
            self.settings,
            practice_name=" ".join(self.practice.text().split()),
            outgoing_dir=str(Path(folder).expanduser()) if folder else "",
            deid_mode=str(self.mode.currentData()),
            retain=[name for name, box in self.retain.items() if box.isChecked()],
            stable_uids=self.stable.isChecked(),
            mail_size_limit_mb=float(self.limit.value()),
            passphrase_recall_days=int(self.recall.value()),
            mail_handler=str(self.handler.currentData()),
        )
