"""Step "Create": the progress page (with Cancel) and the result page.

The result page says where the package is, shows the passphrase in large words with the rule
for passing it on (by phone or text, never in the same email), and offers the next steps:
open a new message in the mail program with the package attached, show the file in its folder,
copy the passphrase, start over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from dentsend.gui.protect import PassphraseWords
from dentsend.gui.widgets import (
    Banner,
    Tone,
    accessible,
    app_palette,
    make_primary,
    theme_changed,
    tone_colors,
)

log = logging.getLogger(__name__)


def human_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


@dataclass
class Outcome:
    """What was made, as the result page needs it (from the pipeline's result)."""

    parts: list[Path]
    format: str
    passphrase: str
    file_count: int
    deid_mode: str
    recipients: list[str] = field(default_factory=list)
    """Labels of the OpenPGP recipients."""
    warnings: list[str] = field(default_factory=list)
    input_bytes: int = 0
    output_bytes: int = 0
    record_id: int | None = None
    """The sent-log entry, once recorded."""
    passphrase_kept_days: int = 0
    how_to_open: str = ""
    """For the demo's test recipient: the command that opens the package here."""


class ProgressPage(QWidget):
    """ "Creating the package…" with a progress bar and Cancel."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Creating the package…", self)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.title.setFont(font)
        self.bar = accessible(QProgressBar(self), "Progress")
        self.bar.setRange(0, 1000)
        self.bar.setMinimumWidth(420)
        self.status = QLabel(self)
        self.status.setAccessibleName("Progress details")
        self.cancel = accessible(
            QPushButton("Cancel", self), "Cancel", "Stop; nothing is written (Esc)"
        )
        self.cancel.setShortcut(Qt.Key.Key_Escape)
        self.cancel.clicked.connect(self._cancel)
        box = QVBoxLayout()
        box.addWidget(self.title)
        box.addSpacing(12)
        box.addWidget(self.bar)
        box.addWidget(self.status)
        box.addSpacing(12)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.cancel)
        box.addLayout(row)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(box)
        outer.addStretch(1)

    def start(self) -> None:
        self.title.setText("Creating the package…")
        self.bar.setValue(0)
        self.status.setText("Starting…")
        self.cancel.setEnabled(True)

    def set_progress(self, share: float, message: str) -> None:
        self.bar.setValue(round(max(0.0, min(1.0, share)) * 1000))
        if message:
            self.status.setText(message)

    def _cancel(self) -> None:
        self.cancel.setEnabled(False)
        self.title.setText("Cancelling…")
        self.status.setText("Stopping and removing the unfinished file…")
        self.cancel_requested.emit()


class Card(QFrame):
    """A framed block on the result page."""

    def __init__(self, tone: Tone, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tone = tone
        self.setObjectName("card")
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(16, 12, 16, 12)
        self._restyle()
        theme_changed().connect(self._restyle)

    def _restyle(self) -> None:
        background, _ = tone_colors(self.tone, app_palette())
        border = app_palette().color(QPalette.ColorRole.Mid)
        self.setStyleSheet(
            f"QFrame#card {{ background: {background.name()}; border: 1px solid {border.name()};"
            " border-radius: 10px; }"
        )


class ResultPage(QWidget):
    """Where the package is, the passphrase, and what to do next."""

    open_mail = Signal()
    show_folder = Signal()
    start_over = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.outcome: Outcome | None = None
        content = QWidget(self)
        content.setMaximumWidth(760)
        column = QVBoxLayout(content)
        column.setSpacing(10)

        self.title = QLabel("Your package is ready", content)
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.8)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.check_mark = QLabel("✓", content)
        self.check_mark.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.check_mark.setFixedSize(40, 40)
        mark_font = QFont(title_font)
        self.check_mark.setFont(mark_font)
        self.check_mark.setAccessibleName("Done")
        title_row = QHBoxLayout()
        title_row.setSpacing(12)
        title_row.addWidget(self.check_mark)
        title_row.addWidget(self.title, 1)
        self.subtitle = QLabel(content)
        self.subtitle.setWordWrap(True)
        column.addLayout(title_row)
        column.addWidget(self.subtitle)
        column.addSpacing(6)

        # The file(s)
        self.file_card = Card(Tone.NEUTRAL, content)
        self.file_label = QLabel(self.file_card)
        self.file_label.setWordWrap(True)
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label.setAccessibleName("Package file")
        self.file_card.layout_.addWidget(_card_heading("1  Send the file by email", self.file_card))
        self.file_card.layout_.addWidget(self.file_label)
        to_row = QHBoxLayout()
        to_label = QLabel("Recipient's email (optional):", self.file_card)
        self.to = accessible(
            QLineEdit(self.file_card),
            "Recipient's email address",
            "Filled into the new message; also kept in the sent-log",
        )
        self.to.setPlaceholderText("doctor@example.org")
        to_label.setBuddy(self.to)
        to_row.addWidget(to_label)
        to_row.addWidget(self.to, 1)
        self.file_card.layout_.addLayout(to_row)
        buttons = QHBoxLayout()
        self.mail_button = accessible(
            QPushButton("Open in mail client", self.file_card),
            "Open in mail client",
            "A new message in your mail program with the package attached (Ctrl+E)",
        )
        self.mail_button.setShortcut("Ctrl+E")
        self.mail_button.setDefault(True)
        self.mail_button.setMinimumHeight(34)
        make_primary(self.mail_button)
        self.mail_button.clicked.connect(self.open_mail)
        self.folder_button = accessible(
            QPushButton("Show in folder", self.file_card),
            "Show in folder",
            "Show the package in the file manager (Ctrl+Shift+F)",
        )
        self.folder_button.setShortcut("Ctrl+Shift+F")
        self.folder_button.setMinimumHeight(34)
        self.folder_button.clicked.connect(self.show_folder)
        buttons.addWidget(self.mail_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        self.file_card.layout_.addLayout(buttons)
        self.handoff_label = QLabel(self.file_card)
        self.handoff_label.setWordWrap(True)
        self.handoff_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.handoff_label.setAccessibleName("Mail hand-off result")
        self.copy_text_button = accessible(
            QPushButton("Copy subject and text", self.file_card),
            "Copy subject and text",
            "For webmail: paste into a new message",
        )
        self.copy_text_button.clicked.connect(self._copy_mail_text)
        self.copy_text_button.setVisible(False)
        self.handoff_label.setVisible(False)
        self.file_card.layout_.addWidget(self.handoff_label)
        self.file_card.layout_.addWidget(self.copy_text_button, 0, Qt.AlignmentFlag.AlignLeft)
        self._mail_text = ""
        column.addWidget(self.file_card)

        # The passphrase
        self.passphrase_card = Card(Tone.INFO, content)
        heading = _card_heading("2  Give the passphrase separately", self.passphrase_card)
        self.words = PassphraseWords(self.passphrase_card, on_card=True)
        self.rule = QLabel(
            "Read it to the recipient by phone or send it by text message — never in the same "
            "email as the file.",
            self.passphrase_card,
        )
        self.rule.setWordWrap(True)
        rule_font = QFont(self.rule.font())
        rule_font.setBold(True)
        self.rule.setFont(rule_font)
        self.kept_label = QLabel(self.passphrase_card)
        self.kept_label.setWordWrap(True)
        passphrase_buttons = QHBoxLayout()
        self.copy_button = accessible(
            QPushButton("Copy passphrase", self.passphrase_card),
            "Copy passphrase",
            "Copy the passphrase, e.g. for a text message (Ctrl+Shift+C)",
        )
        self.copy_button.setShortcut("Ctrl+Shift+C")
        self.copy_button.clicked.connect(self.copy_passphrase)
        passphrase_buttons.addWidget(self.copy_button)
        passphrase_buttons.addStretch(1)
        self.passphrase_card.layout_.addWidget(heading)
        self.passphrase_card.layout_.addWidget(self.words)
        self.passphrase_card.layout_.addWidget(self.rule)
        self.passphrase_card.layout_.addWidget(self.kept_label)
        self.passphrase_card.layout_.addLayout(passphrase_buttons)
        column.addWidget(self.passphrase_card)

        self.recipient_card = Card(Tone.INFO, content)
        self.recipient_card.layout_.addWidget(
            _card_heading("2  Who can open it", self.recipient_card)
        )
        self.recipient_label = QLabel(self.recipient_card)
        self.recipient_label.setWordWrap(True)
        self.recipient_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.recipient_card.layout_.addWidget(self.recipient_label)
        column.addWidget(self.recipient_card)

        self.opens_card = Card(Tone.NEUTRAL, content)
        self.opens_card.layout_.addWidget(
            _card_heading("3  The recipient opens it", self.opens_card)
        )
        self.opens_label = QLabel(self.opens_card)
        self.opens_label.setWordWrap(True)
        self.opens_card.layout_.addWidget(self.opens_label)
        column.addWidget(self.opens_card)

        self.warnings = Banner(Tone.WARNING, content)
        column.addWidget(self.warnings)

        bottom = QHBoxLayout()
        self.start_over_button = accessible(
            QPushButton("Start over", content),
            "Start over",
            "Clear the list and begin a new package (Ctrl+N)",
        )
        self.start_over_button.clicked.connect(self.start_over)
        self.start_over_button.setMinimumHeight(34)
        bottom.addStretch(1)
        bottom.addWidget(self.start_over_button)
        column.addLayout(bottom)
        column.addStretch(1)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        holder = QWidget()
        holder_layout = QHBoxLayout(holder)
        holder_layout.addStretch(1)
        holder_layout.addWidget(content, 100)
        holder_layout.addStretch(1)
        scroll.setWidget(holder)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        content.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def show_outcome(self, outcome: Outcome) -> None:
        self.outcome = outcome
        files = "1 radiograph" if outcome.file_count == 1 else f"{outcome.file_count} radiographs"
        how = {
            "deidentify": "de-identified",
            "pseudonym": "with a reference code instead of the patient's details",
            "keep": "with the patient's details (named referral)",
        }.get(outcome.deid_mode, "")
        protection = (
            "protected by a passphrase; the recipient opens it in any web browser"
            if outcome.format == "html"
            else "encrypted with OpenPGP to the recipients' keys"
        )
        self.subtitle.setText(f"{files}, {how}, {protection}.")
        folder = outcome.parts[0].parent if outcome.parts else Path()
        if len(outcome.parts) == 1:
            part = outcome.parts[0]
            size = human_size(part.stat().st_size) if part.exists() else ""
            lines = [f"<b>{_escape(part.name)}</b> ({size})"]
        else:
            lines = [f"<b>{len(outcome.parts)} parts</b> — send each in its own email:"]
            for part in outcome.parts:
                size = human_size(part.stat().st_size) if part.exists() else ""
                lines.append(f"&nbsp;&nbsp;{_escape(part.name)} ({size})")
        lines.append(f"in {_escape(str(folder))}")
        self.file_label.setText("<br>".join(lines))
        self.file_label.setTextFormat(Qt.TextFormat.RichText)
        self.show_handoff("", "")
        self.to.clear()
        self._style_check_mark()

        html = outcome.format == "html"
        self.passphrase_card.setVisible(html)
        if html:
            self.words.set_passphrase(outcome.passphrase)
            if outcome.passphrase_kept_days > 0:
                self.kept_label.setText(
                    f"dentsend keeps it in the system keyring for {outcome.passphrase_kept_days} "
                    "days, in case the recipient calls later (Sent packages, Ctrl+H)."
                )
            else:
                self.kept_label.setText(
                    "dentsend does not keep it: note it now if the recipient may call later."
                )
        self.recipient_card.setVisible(not html)
        if not html:
            text = (
                "Only these recipients can open it, with their OpenPGP program "
                "(GnuPG, Thunderbird, Kleopatra, Mailvelope):\n"
                + "\n".join(f"• {r}" for r in outcome.recipients)
            )
            if outcome.how_to_open:
                text += "\n\n" + outcome.how_to_open
            self.recipient_label.setText(text)
        if html:
            self.opens_label.setText(
                "They save the attachment and open it in a web browser (Chrome, Edge, Firefox "
                "or Safari), type the passphrase, and see the radiographs in a viewer; they can "
                "save each file. It works offline, with nothing to install."
            )
        else:
            self.opens_label.setText(
                "They open the attachment with their OpenPGP program (GnuPG, Thunderbird, "
                "Kleopatra, Mailvelope) and get the radiographs as one ZIP file. No passphrase "
                "is needed: their own key opens it."
            )
        self.warnings.setVisible(bool(outcome.warnings))
        self.warnings.set_text("\n".join(outcome.warnings))
        self.mail_button.setFocus()

    def _style_check_mark(self) -> None:
        background, _ = tone_colors(Tone.OK, app_palette())
        _, foreground = tone_colors(Tone.OK, app_palette())
        self.check_mark.setStyleSheet(
            f"background: {background.name()}; color: {foreground.name()}; border-radius: 20px;"
        )

    def copy_passphrase(self) -> None:
        if self.outcome is not None and self.outcome.passphrase:
            QGuiApplication.clipboard().setText(self.outcome.passphrase)
            self.kept_label.setText("Copied. Paste it into a text message, not into the email.")

    def show_handoff(self, message: str, mail_text: str) -> None:
        self.handoff_label.setText(message)
        self.handoff_label.setVisible(bool(message))
        self._mail_text = mail_text
        self.copy_text_button.setVisible(bool(mail_text))

    def _copy_mail_text(self) -> None:
        QGuiApplication.clipboard().setText(self._mail_text)


def _card_heading(text: str, parent: QWidget) -> QLabel:
    heading = QLabel(text, parent)
    font = QFont(heading.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.15)
    heading.setFont(font)
    return heading


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
