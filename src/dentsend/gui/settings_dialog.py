"""The Settings dialog: practice name, output folder, default choices, mail size limit, mail
program and the text of the mail.

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
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dentsend.errors import DentsendError
from dentsend.gui.decide import MODES
from dentsend.gui.widgets import accessible
from dentsend.handoff.draft import (
    DEFAULT_BODY_TEMPLATE,
    DEFAULT_SUBJECT_TEMPLATE,
    TEMPLATE_FIELDS,
    check_template,
)
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
        folder_label = QLabel("&Output folder:", self)
        folder_label.setBuddy(self.folder)  # a row of two widgets gets no buddy by itself
        form.addRow(folder_label, folder_row)

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
        mail_form = QFormLayout()
        mail_form.addRow("Mail &program:", self.handler)

        self.subject = accessible(
            QLineEdit(settings.subject_template or DEFAULT_SUBJECT_TEMPLATE, self),
            "Mail subject",
            "The subject of the mail a package leaves in; placeholders in braces",
        )
        self.subject.setMaxLength(300)
        mail_form.addRow("Mail &subject:", self.subject)
        self.body = accessible(
            QPlainTextEdit(settings.body_template or DEFAULT_BODY_TEMPLATE, self),
            "Mail text",
            "The text of the mail a package leaves in; placeholders in braces",
        )
        self.body.setTabChangesFocus(True)
        self.body.setMinimumHeight(140)
        mail_form.addRow("Mail &text:", self.body)
        fields = QLabel(
            "Placeholders: "
            + "; ".join(f"{{{name}}} {meaning}" for name, meaning in TEMPLATE_FIELDS.items())
            + ". Never patient data or the passphrase: those cannot be placed in the mail.",
            self,
        )
        fields.setWordWrap(True)
        restore = accessible(
            QPushButton("Restore the default text", self),
            "Restore the default mail text",
        )
        restore.clicked.connect(self._restore_templates)
        mail_form.addRow("", fields)
        mail_form.addRow("", restore)
        self.problem = QLabel(self)
        self.problem.setWordWrap(True)
        self.problem.setAccessibleName("Settings problem")
        self.problem.setStyleSheet("color: #b00020")
        self.problem.hide()

        note = QLabel("Settings never hold patient data or passphrases.", self)
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        for button in buttons.buttons():
            accessible(button, button.text().replace("&", ""))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        tabs = QTabWidget(self)
        for title, page_form in (("Packages", form), ("Mail", mail_form)):
            page = QWidget(tabs)
            page.setLayout(page_form)
            tabs.addTab(page, title)
        self.tabs = tabs
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.problem)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _retain_toggled(self, name: str, checked: bool) -> None:
        # Full dates and shifted dates exclude each other, as in the main window.
        other = {"dates": "modified-dates", "modified-dates": "dates"}.get(name)
        if checked and other is not None and self.retain[other].isChecked():
            self.retain[other].setChecked(False)

    def _restore_templates(self) -> None:
        self.subject.setText(DEFAULT_SUBJECT_TEMPLATE)
        self.body.setPlainText(DEFAULT_BODY_TEMPLATE)

    def accept(self) -> None:
        """Save only templates that work: a typo in a placeholder is said here, not at sending."""
        try:
            check_template(self.subject.text(), what="mail subject")
            check_template(self.body.toPlainText(), what="mail text")
        except DentsendError as problem:
            self.problem.setText(str(problem))
            self.problem.show()
            self.tabs.setCurrentIndex(1)
            return
        super().accept()

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
            # The default text is stored as "", so a later dentsend's better wording reaches it.
            subject_template=_unless_default(self.subject.text(), DEFAULT_SUBJECT_TEMPLATE),
            body_template=_unless_default(self.body.toPlainText(), DEFAULT_BODY_TEMPLATE),
        )


def _unless_default(text: str, default: str) -> str:
    return "" if text.strip() == default.strip() else text
