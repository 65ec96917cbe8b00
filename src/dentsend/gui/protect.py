"""Step "Choose how": a passphrase (the HTML package) or OpenPGP certificates, a note, the size.

The generated passphrase is shown large, word by word, because the dentist will read it aloud
over the phone. An own passphrase is rated as it is typed (zxcvbn, off the GUI thread) and
refused below the same threshold as the command line's. OpenPGP lists the imported certificates
with fingerprint and expiry; unusable ones are shown with the reason and cannot be ticked.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from dentsend.gui.widgets import (
    FlowLayout,
    Tone,
    accessible,
    app_palette,
    theme_changed,
    tone_colors,
)
from dentsend.gui.workers import Task, Workers

if TYPE_CHECKING:
    from dentsend.openpgp import CertInfo

log = logging.getLogger(__name__)

NOTE_LIMIT = 2000
SOURCE_ROLE = Qt.ItemDataRole.UserRole + 1
"""Item data: the certificate file of the demo recipient (imported ones have none)."""
"""Characters in the note to the recipient (it travels inside the encryption)."""


@dataclass(frozen=True)
class Rating:
    """An own passphrase's strength, as the meter shows it."""

    acceptable: bool
    guesses_log10: float
    message: str


def generate_passphrase() -> str:
    from dentsend.passphrase import generate

    return str(generate())


def rate_passphrase(text: str) -> Rating:
    """Rate with the same rule the command line enforces (worker)."""
    from dentsend.passphrase import MIN_GUESSES, rate

    strength = rate(text)
    needed = round(math.log10(MIN_GUESSES))
    if strength.acceptable:
        message = f"Strong enough: about 10^{strength.log10:.0f} guesses to find it."
    else:
        why = f" ({strength.reason})" if strength.reason else ""
        message = (
            f"Too easy to guess: about 10^{strength.log10:.0f} guesses{why}; a package needs "
            f"10^{needed}. Add unrelated words, or use the passphrase dentsend made."
        )
    return Rating(strength.acceptable, strength.log10, message)


def certificate_choices(demo: Path | None) -> tuple[list[CertInfo], CertInfo | None]:
    """The imported certificates and, in the demo, the bundled test certificate (worker)."""
    from dentsend.openpgp import list_infos
    from dentsend.openpgp.certs import inspect, load_certs

    infos = list_infos()
    demo_info = inspect(load_certs(demo.read_bytes())[0]) if demo is not None else None
    return infos, demo_info


def format_fingerprint(fingerprint: str) -> str:
    """ "ABCD 1234 …": groups of four, as gpg and Kleopatra show it, for reading aloud."""
    clean = fingerprint.replace(" ", "")
    groups = [clean[i : i + 4] for i in range(0, len(clean), 4)]
    half = len(groups) // 2
    return " ".join(groups[:half]) + "  " + " ".join(groups[half:]) if half else clean


class PassphraseWords(QWidget):
    """The generated passphrase, one large word per tile, numbered for reading aloud."""

    def __init__(self, parent: QWidget | None = None, *, on_card: bool = False) -> None:
        super().__init__(parent)
        self.on_card = on_card
        """Tiles on a tinted card get the plain base colour, so they stand out from it."""
        self.flow = FlowLayout(self, spacing=6)
        self.flow.setContentsMargins(0, 0, 0, 0)
        self.words: list[str] = []
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setAccessibleName("Generated passphrase")
        theme_changed().connect(self._restyle)

    def set_passphrase(self, passphrase: str) -> None:
        while self.flow.count():
            item = self.flow.takeAt(0)
            tile = item.widget() if item is not None else None
            if tile is not None:
                tile.deleteLater()
        self.words = passphrase.split()
        background, foreground = tone_colors(Tone.INFO, app_palette())
        if self.on_card:
            background = app_palette().color(QPalette.ColorRole.Base)
        for number, word in enumerate(self.words, 1):
            tile = QLabel(f"<span style='font-size:small'>{number}</span>&nbsp;{word}", self)
            tile.setTextFormat(Qt.TextFormat.RichText)
            font = QFont(tile.font())
            font.setPointSizeF(font.pointSizeF() * 1.5)
            font.setBold(True)
            tile.setFont(font)
            tile.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            tile.setStyleSheet(
                f"background: {background.name()}; color: {foreground.name()};"
                "border-radius: 6px; padding: 4px 8px;"
            )
            tile.setAccessibleName(f"Word {number}: {word}")
            self.flow.addWidget(tile)
        self.setAccessibleDescription(passphrase)
        self.updateGeometry()

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self.flow.heightForWidth(width)

    def sizeHint(self) -> QSize:
        return QSize(300, self.flow.heightForWidth(300))

    def _restyle(self) -> None:
        if self.words:
            self.set_passphrase(" ".join(self.words))  # tiles in the new palette's colours


class ProtectPanel(QWidget):
    """How the package is protected; :meth:`problem` says what is still missing."""

    changed = Signal()

    def __init__(
        self, workers: Workers, parent: QWidget | None = None, *, demo_recipient: Path | None = None
    ) -> None:
        super().__init__(parent)
        self.workers = workers
        self.demo_recipient = demo_recipient
        """``dentsend --demo``: the bundled test certificate is offered as a recipient."""
        self.generated = ""
        self._rating: Rating | None = None
        self._rating_generation = 0
        self.certificates: list[CertInfo] = []
        self.own_certificate: CertInfo | None = None
        self._rate_timer = QTimer(self)
        self._rate_timer.setSingleShot(True)
        self._rate_timer.setInterval(150)
        self._rate_timer.timeout.connect(self._rate_now)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.format_group = QButtonGroup(self)
        self.html_button = accessible(
            QRadioButton("Passphrase (opens in any browser)", self),
            "Passphrase (opens in any browser)",
            "One HTML file the recipient opens in a browser, offline, with the passphrase",
        )
        self.pgp_button = accessible(
            QRadioButton("OpenPGP (for recipients with a key)", self),
            "OpenPGP",
            "For recipients who use GnuPG, Thunderbird, Kleopatra or Mailvelope",
        )
        self.format_group.addButton(self.html_button)
        self.format_group.addButton(self.pgp_button)
        self.html_button.setChecked(True)

        layout.addWidget(self.html_button)
        self.html_box = self._build_passphrase_box()
        layout.addWidget(self.html_box)
        layout.addWidget(self.pgp_button)
        self.pgp_box = self._build_pgp_box()
        layout.addWidget(self.pgp_box)
        self.format_group.buttonToggled.connect(self._format_toggled)

        note_label = QLabel("Note to the recipient (optional, encrypted with the images):", self)
        note_label.setWordWrap(True)
        self.note = accessible(
            QPlainTextEdit(self),
            "Note to the recipient",
            "Optional text shown to the recipient after unlocking; it is encrypted too",
        )
        note_label.setBuddy(self.note)
        self.note.setPlaceholderText("e.g. Please assess the periapical lesion on 46.")
        self.note.setTabChangesFocus(True)
        self.note.setFixedHeight(self.note.fontMetrics().lineSpacing() * 4 + 12)
        self.note.textChanged.connect(self._note_edited)
        layout.addSpacing(6)
        layout.addWidget(note_label)
        layout.addWidget(self.note)
        self._format_toggled(self.html_button, True)

    # -- construction ---------------------------------------------------------------------------

    def _build_passphrase_box(self) -> QWidget:
        box = QFrame(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(24, 0, 0, 4)
        self.passphrase_group = QButtonGroup(box)
        self.generated_button = accessible(
            QRadioButton("Use this passphrase:", box), "Use the generated passphrase"
        )
        self.own_button = accessible(
            QRadioButton("Use my own passphrase", box), "Use my own passphrase"
        )
        self.passphrase_group.addButton(self.generated_button)
        self.passphrase_group.addButton(self.own_button)
        self.generated_button.setChecked(True)
        self.passphrase_group.buttonToggled.connect(self._passphrase_kind_toggled)
        layout.addWidget(self.generated_button)

        self.words = PassphraseWords(box)
        layout.addWidget(self.words)
        row = QHBoxLayout()
        self.regenerate_button = accessible(
            QPushButton("New passphrase", box), "New passphrase", "Make another passphrase"
        )
        self.regenerate_button.clicked.connect(self.regenerate)
        self.copy_button = accessible(
            QPushButton("Copy", box), "Copy passphrase", "Copy the passphrase to the clipboard"
        )
        self.copy_button.clicked.connect(self.copy_passphrase)
        row.addWidget(self.regenerate_button)
        row.addWidget(self.copy_button)
        row.addStretch(1)
        layout.addLayout(row)

        layout.addWidget(self.own_button)
        own_row = QHBoxLayout()
        self.own = accessible(QLineEdit(box), "Own passphrase", "Type a long passphrase")
        self.own.setEchoMode(QLineEdit.EchoMode.Password)
        self.own.setPlaceholderText("At least five unusual words")
        self.own.textEdited.connect(self._own_edited)
        self.show_own = accessible(QCheckBox("Show", box), "Show own passphrase")
        self.show_own.toggled.connect(
            lambda shown: self.own.setEchoMode(
                QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
            )
        )
        own_row.addWidget(self.own, 1)
        own_row.addWidget(self.show_own)
        layout.addLayout(own_row)
        self.meter = accessible(QProgressBar(box), "Passphrase strength")
        self.meter.setRange(0, 20)
        self.meter.setTextVisible(False)
        self.meter.setFixedHeight(8)
        self.meter_label = QLabel(box)
        self.meter_label.setWordWrap(True)
        layout.addWidget(self.meter)
        layout.addWidget(self.meter_label)
        self._show_own_controls(False)
        return box

    def _build_pgp_box(self) -> QWidget:
        box = QFrame(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(24, 0, 0, 4)
        label = QLabel("Encrypt to:", box)
        self.cert_list = accessible(
            QListWidget(box),
            "Recipient certificates",
            "Tick the recipients; the package opens only with their keys",
        )
        label.setBuddy(self.cert_list)
        self.cert_list.setMinimumHeight(90)
        self.cert_list.itemChanged.connect(lambda _item: self.changed.emit())
        self.cert_list.currentItemChanged.connect(self._show_cert_details)
        self.cert_details = QLabel(box)
        self.cert_details.setWordWrap(True)
        self.cert_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cert_details.setAccessibleName("Certificate details")
        self.own_key_label = QLabel(box)
        self.own_key_label.setWordWrap(True)
        self.import_button = accessible(
            QPushButton("Import certificate…", box),
            "Import certificate",
            "Add a recipient's public key from a file (.asc, .gpg, .pgp, .pub)",
        )
        self.import_button.clicked.connect(self.import_certificates)
        layout.addWidget(label)
        layout.addWidget(self.cert_list)
        layout.addWidget(self.cert_details)
        layout.addWidget(self.own_key_label)
        row = QHBoxLayout()
        row.addWidget(self.import_button)
        row.addStretch(1)
        layout.addLayout(row)
        return box

    # -- passphrase -------------------------------------------------------------------------------

    def regenerate(self) -> None:
        self.generated = generate_passphrase()
        self.words.set_passphrase(self.generated)
        self.generated_button.setChecked(True)
        self.changed.emit()

    def copy_passphrase(self) -> None:
        passphrase = self.passphrase
        if passphrase:
            QGuiApplication.clipboard().setText(passphrase)

    @property
    def format(self) -> str:
        return "openpgp" if self.pgp_button.isChecked() else "html"

    def set_format(self, format: str) -> None:
        (self.pgp_button if format == "openpgp" else self.html_button).setChecked(True)

    @property
    def uses_own_passphrase(self) -> bool:
        return self.own_button.isChecked()

    @property
    def passphrase(self) -> str:
        if self.format != "html":
            return ""
        return self.own.text() if self.uses_own_passphrase else self.generated

    def _format_toggled(self, _button: Any, checked: bool) -> None:
        if not checked:
            return
        html = self.format == "html"
        self.html_box.setVisible(html)
        self.pgp_box.setVisible(not html)
        if not html and not self.certificates:
            self.refresh_certificates()
        self.changed.emit()

    def _passphrase_kind_toggled(self, _button: Any, checked: bool) -> None:
        if not checked:
            return
        own = self.uses_own_passphrase
        self._show_own_controls(own)
        if own:
            self.own.setFocus()
            self._rate_timer.start()
        self.changed.emit()

    def _show_own_controls(self, own: bool) -> None:
        self.words.setEnabled(not own)
        self.regenerate_button.setEnabled(not own)
        self.own.setEnabled(own)
        self.show_own.setEnabled(own)
        self.meter.setVisible(own)
        self.meter_label.setVisible(own)

    def _own_edited(self, _text: str) -> None:
        if not self.own_button.isChecked():
            self.own_button.setChecked(True)
        self._rating = None
        self._rate_timer.start()
        self.changed.emit()

    def _rate_now(self) -> None:
        text = self.own.text()
        self._rating_generation += 1
        generation = self._rating_generation
        if not text:
            self._show_rating(None)
            return
        self.workers.start(
            self.workers.quick_pool,
            Task(rate_passphrase, text, name="rate passphrase"),
            on_finished=lambda rating: self._rated(rating, generation),
        )

    def _rated(self, rating: Rating, generation: int) -> None:
        if generation == self._rating_generation:
            self._show_rating(rating)

    def _show_rating(self, rating: Rating | None) -> None:
        self._rating = rating
        if rating is None:
            self.meter.setValue(0)
            self.meter_label.setText("")
        else:
            self.meter.setValue(max(0, min(20, round(rating.guesses_log10))))
            tone = Tone.OK if rating.acceptable else Tone.DANGER
            _, color = tone_colors(tone, app_palette())
            self.meter.setStyleSheet(f"QProgressBar::chunk {{ background: {color.name()}; }}")
            self.meter_label.setText(rating.message)
        self.changed.emit()

    # -- OpenPGP ---------------------------------------------------------------------------------

    def refresh_certificates(self, tick: list[str] | None = None) -> None:
        """Re-read the certificate store (worker); ``tick`` adds recipients once it is back."""
        self.workers.start(
            self.workers.quick_pool,
            Task(certificate_choices, self.demo_recipient, name="list certificates"),
            on_finished=lambda found: self._show_certificates(found[0], found[1], tick or []),
            on_failed=lambda message: self.cert_details.setText(message),
        )

    def _show_certificates(
        self, infos: list[CertInfo], demo: CertInfo | None, tick: list[str]
    ) -> None:
        ticked = set(self.recipients) | set(tick)
        self.certificates = [info for info in infos if not info.own]
        own = [info for info in infos if info.own]
        self.own_certificate = own[0] if own else None
        self.cert_list.blockSignals(True)
        self.cert_list.clear()
        listed = sorted(self.certificates, key=lambda i: (not i.can_encrypt, i.label.lower()))
        if demo is not None and demo.fingerprint not in {i.fingerprint for i in listed}:
            self.certificates.append(demo)
            listed.insert(0, demo)
        for info in listed:
            name = info.user_ids[0] if info.user_ids else "(no name)"
            if demo is not None and info is demo:
                name = "Demo recipient: dentsend's test key (for trying it out only)"
            expiry = f"expires {info.expires:%Y-%m-%d}" if info.expires else "does not expire"
            text = f"{name}\n{format_fingerprint(info.fingerprint)} · {expiry}"
            if not info.can_encrypt:
                text += f"\nCannot be used: {info.problem}"
            item = QListWidgetItem(text, self.cert_list)
            item.setData(Qt.ItemDataRole.UserRole, info.fingerprint)
            if demo is not None and info is demo:
                item.setData(SOURCE_ROLE, str(self.demo_recipient))
            item.setData(Qt.ItemDataRole.AccessibleTextRole, text.replace("\n", ", "))
            flags = item.flags() | Qt.ItemFlag.ItemIsUserCheckable
            if not info.can_encrypt:
                flags &= ~Qt.ItemFlag.ItemIsEnabled
            item.setFlags(flags)
            item.setCheckState(
                Qt.CheckState.Checked if info.fingerprint in ticked else Qt.CheckState.Unchecked
            )
        self.cert_list.blockSignals(False)
        if not self.certificates:
            self.cert_details.setText(
                "No certificates yet. Import the recipient's public key (a .asc file they sent "
                "you) with “Import certificate…”."
            )
        else:
            self.cert_details.setText("Tick each recipient. Select one to see its details.")
        if self.own_certificate is not None:
            self.own_key_label.setText(
                "Also encrypted to your practice key "
                f"({format_fingerprint(self.own_certificate.fingerprint)}), so you can reopen it."
            )
        else:
            self.own_key_label.setText("")
        self.changed.emit()

    def _show_cert_details(self, item: QListWidgetItem | None, _previous: Any = None) -> None:
        if item is None:
            return
        fingerprint = item.data(Qt.ItemDataRole.UserRole)
        info = next((i for i in self.certificates if i.fingerprint == fingerprint), None)
        if info is None:
            return
        lines = [
            ", ".join(info.user_ids) or "(no user ID)",
            f"Fingerprint: {format_fingerprint(info.fingerprint)}",
            f"Created {info.created:%Y-%m-%d}; "
            + (f"expires {info.expires:%Y-%m-%d}" if info.expires else "never expires"),
            "Keys: " + ", ".join(info.algorithms),
        ]
        if info.problem:
            lines.append(f"Cannot be used: {info.problem}")
        else:
            lines.append("Compare the fingerprint with the recipient (e.g. by phone) once.")
        self.cert_details.setText("\n".join(lines))

    @property
    def recipients(self) -> list[str]:
        """Fingerprints of the ticked certificates."""
        result = []
        for row in range(self.cert_list.count()):
            item = self.cert_list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                result.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return result

    @property
    def recipient_sources(self) -> list[str | Path]:
        """What the pipeline encrypts to: imported fingerprints, or the demo certificate file
        (which is not imported, so trying the demo leaves the user's store as it was)."""
        result: list[str | Path] = []
        for row in range(self.cert_list.count()):
            item = self.cert_list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                source = item.data(SOURCE_ROLE)
                result.append(Path(source) if source else str(item.data(Qt.ItemDataRole.UserRole)))
        return result

    def tick_recipient(self, fingerprint: str) -> None:
        for row in range(self.cert_list.count()):
            item = self.cert_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == fingerprint:
                item.setCheckState(Qt.CheckState.Checked)

    def import_certificates(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self,
            "Import a recipient's certificate",
            "",
            "OpenPGP certificates (*.asc *.gpg *.pgp *.pub *.key);;All files (*)",
        )
        if paths:
            self.import_paths([Path(p) for p in paths])

    def import_paths(self, paths: list[Path]) -> None:
        from dentsend.openpgp.store import import_file

        def import_all() -> list[Any]:
            imported = []
            for path in paths:
                imported += import_file(path)
            return imported

        self.workers.start(
            self.workers.quick_pool,
            Task(import_all, name="import certificates"),
            on_finished=self._imported,
            on_failed=self._import_failed,
        )

    def _import_failed(self, message: str) -> None:
        QMessageBox.warning(self, "Certificate not imported", message[0].upper() + message[1:])

    def _imported(self, imported: list[Any]) -> None:
        fingerprints = [item.info.fingerprint for item in imported if item.info.can_encrypt]
        self.refresh_certificates(tick=fingerprints)
        refused = [item.info for item in imported if item.status == "refused"]
        unusable = [
            item.info for item in imported if item.status != "refused" and not item.info.can_encrypt
        ]
        lines = [f"{info.label}: not imported: it {info.problem}." for info in refused]
        lines += [f"{info.label}: can no longer be used: it {info.problem}." for info in unusable]
        if lines:
            QMessageBox.warning(
                self,
                "Certificate not imported" if refused and not unusable else "Certificate problem",
                "\n".join(lines),
            )

    # -- note -------------------------------------------------------------------------------------

    @property
    def note_text(self) -> str:
        return self.note.toPlainText().strip()

    def _note_edited(self) -> None:
        if len(self.note.toPlainText()) > NOTE_LIMIT:
            cursor = self.note.textCursor()
            self.note.setPlainText(self.note.toPlainText()[:NOTE_LIMIT])
            self.note.setTextCursor(cursor)
        self.changed.emit()

    # -- what is missing ---------------------------------------------------------------------------

    def problem(self) -> str | None:
        if self.format == "html":
            if self.uses_own_passphrase:
                if not self.own.text():
                    return "Type your passphrase, or use the one dentsend made."
                if self._rating is None:
                    return "Checking the passphrase…"
                if not self._rating.acceptable:
                    return "Your passphrase is too easy to guess; add words or use the one shown."
            elif not self.generated:
                return "Make a passphrase."
            return None
        if not self.recipients:
            if not self.certificates:
                return "Import the recipient's OpenPGP certificate."
            return "Tick at least one recipient certificate."
        return None

    def reset(self) -> None:
        """Start over: a fresh passphrase, no own passphrase, no note."""
        self.own.clear()
        self._rating = None
        self._show_rating(None)
        self.note.clear()
        self.regenerate()
