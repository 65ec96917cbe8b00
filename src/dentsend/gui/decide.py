"""Step "Decide what leaves": the de-identification choice, its options, and the report.

The choice is one of three (remove identifying details, replace them with a reference code,
keep them for a named referral), with the PS3.15 Annex E options under "More options". The
report panel shows, for the selected file, every field the de-identification removes, replaces
or keeps: it comes from running the real :class:`~dentsend.deid.Deidentifier` over the package's
files in a worker, in package order, so the names shown are the names the recipient will see.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dentsend.errors import DentsendError, FileProblem
from dentsend.gui.files import FileEntry
from dentsend.gui.widgets import Tone, accessible, tone_colors

if TYPE_CHECKING:
    from dentsend.deid import DeidOptions, FileReport

log = logging.getLogger(__name__)

MODES = (
    (
        "deidentify",
        "Remove identifying details",
        "Recommended. Name, ID, birth date, dates, practice and device details are removed; "
        "what is needed to read the images stays.",
    ),
    (
        "pseudonym",
        "Replace them with a reference code",
        "As above, and the recipient sees your code as the patient's name and ID, so you can "
        "both refer to the case.",
    ),
    (
        "keep",
        "Keep the patient's details (named referral)",
        "The files leave exactly as they are, with the patient's name. Only when the "
        "recipient must know who the patient is.",
    ),
)


# --------------------------------------------------------------------------------------------
# the choice


class DecidePanel(QWidget):
    """The de-identification choice; :meth:`options` turns it into :class:`DeidOptions`."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from dentsend.deid import CLEAN_OPTIONS, RETAIN_OPTIONS

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.group = QButtonGroup(self)
        self.mode_buttons: dict[str, QRadioButton] = {}
        self.mode_hints: dict[str, QLabel] = {}
        for mode, title, explanation in MODES:
            button = accessible(QRadioButton(title, self), title, explanation)
            self.group.addButton(button)
            self.mode_buttons[mode] = button
            layout.addWidget(button)
            hint = QLabel(explanation, self)
            hint.setWordWrap(True)
            hint.setIndent(24)
            hint.setObjectName("hint")
            self.mode_hints[mode] = hint
            layout.addWidget(hint)
            if mode == "pseudonym":
                self.pseudonym = accessible(
                    QLineEdit(self),
                    "Reference code",
                    "The code the recipient sees instead of the patient's name, e.g. REF-2026-114",
                )
                self.pseudonym.setPlaceholderText("Reference code, e.g. REF-2026-114")
                self.pseudonym.setMaxLength(64)
                self.pseudonym.textChanged.connect(self._pseudonym_edited)
                row = QHBoxLayout()
                row.setContentsMargins(24, 0, 0, 0)
                row.addWidget(self.pseudonym)
                layout.addLayout(row)
        self.group.buttonToggled.connect(self._mode_toggled)

        self.more = accessible(
            QToolButton(self), "More options", "Annex E options: what else may be kept"
        )
        self.more.setText("More options")
        self.more.setCheckable(True)
        self.more.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more.setArrowType(Qt.ArrowType.RightArrow)
        self.more.setAutoRaise(True)
        self.more.toggled.connect(self._toggle_more)
        layout.addWidget(self.more)

        self.more_box = QWidget(self)
        more_layout = QVBoxLayout(self.more_box)
        more_layout.setContentsMargins(18, 0, 0, 0)
        more_layout.setSpacing(2)
        heading = QLabel("Also keep (DICOM PS3.15 Annex E options):", self.more_box)
        heading.setWordWrap(True)
        more_layout.addWidget(heading)
        self.retain_boxes: dict[str, QCheckBox] = {}
        for name, description in RETAIN_OPTIONS.items():
            label = description[0].upper() + description[1:]
            box = accessible(
                QCheckBox(label, self.more_box), f"Keep {description}", f"--retain {name}"
            )
            box.toggled.connect(lambda checked, n=name: self._retain_toggled(n, checked))
            self.retain_boxes[name] = box
            more_layout.addWidget(box)
        clean_heading = QLabel("Keep, with identifying values cleaned out:", self.more_box)
        clean_heading.setWordWrap(True)
        more_layout.addWidget(clean_heading)
        self.clean_boxes: dict[str, QCheckBox] = {}
        for name, description in CLEAN_OPTIONS.items():
            label = description[0].upper() + description[1:]
            box = accessible(
                QCheckBox(label, self.more_box), f"Clean {description}", f"--clean {name}"
            )
            box.toggled.connect(lambda _=False: self.changed.emit())
            self.clean_boxes[name] = box
            more_layout.addWidget(box)
        self.stable_uids = accessible(
            QCheckBox("Replace UIDs the same way in every package", self.more_box),
            "Stable UIDs",
            "Follow-up images of the same patient line up at the recipient (a per-practice "
            "secret in the system keyring)",
        )
        self.stable_uids.toggled.connect(lambda _=False: self.changed.emit())
        more_layout.addWidget(self.stable_uids)
        self.more_box.setVisible(False)
        layout.addWidget(self.more_box)
        self.mode_buttons["deidentify"].setChecked(True)

    # -- state ----------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        for mode, button in self.mode_buttons.items():
            if button.isChecked():
                return mode
        return "deidentify"

    def set_mode(self, mode: str) -> None:
        self.mode_buttons.get(mode, self.mode_buttons["deidentify"]).setChecked(True)

    def apply_defaults(self, mode: str, retain: Sequence[str], stable_uids: bool) -> None:
        """Start from the practice's default choices (Settings)."""
        self.set_mode(mode)
        for name, box in self.retain_boxes.items():
            box.setChecked(name in retain)
        for box in self.clean_boxes.values():
            box.setChecked(False)
        self.stable_uids.setChecked(stable_uids)
        self.pseudonym.clear()

    def _mode_toggled(self, _button: Any, checked: bool) -> None:
        if not checked:
            return
        keep = self.mode == "keep"
        for mode, hint in self.mode_hints.items():
            hint.setVisible(mode == self.mode)  # only the chosen one is explained: less to read
        self.more.setEnabled(not keep)
        self.more_box.setEnabled(not keep)
        self.pseudonym.setEnabled(self.mode == "pseudonym")
        if self.mode == "pseudonym":
            self.pseudonym.setFocus()
        self.changed.emit()

    def _pseudonym_edited(self, _text: str) -> None:
        if not self.mode_buttons["pseudonym"].isChecked():
            self.mode_buttons["pseudonym"].setChecked(True)
        self.changed.emit()

    def _retain_toggled(self, name: str, checked: bool) -> None:
        # Full dates and shifted dates exclude each other.
        other = {"dates": "modified-dates", "modified-dates": "dates"}.get(name)
        if checked and other is not None and self.retain_boxes[other].isChecked():
            self.retain_boxes[other].setChecked(False)
        self.changed.emit()

    def _toggle_more(self, shown: bool) -> None:
        self.more_box.setVisible(shown)
        self.more.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    @property
    def retain(self) -> frozenset[str]:
        return frozenset(n for n, b in self.retain_boxes.items() if b.isChecked())

    @property
    def clean(self) -> frozenset[str]:
        return frozenset(n for n, b in self.clean_boxes.items() if b.isChecked())

    def options(
        self, entries: Sequence[FileEntry] = (), *, for_report: bool = False
    ) -> DeidOptions:
        """The package's de-identification options, with the files' boxes and confirmations.

        ``for_report``: boxes left out and every file treated as checked, so the report can be
        shown before the burned-in check is done (the check itself still blocks Create).
        """
        from dentsend.deid import Box, DeidOptions

        mode = self.mode
        if mode == "keep":
            return DeidOptions(mode="keep")
        redactions = (
            {}
            if for_report
            else {e.path: tuple(Box(*box) for box in e.boxes) for e in entries if e.boxes}
        )
        confirmed: bool | frozenset[Path] = (
            True if for_report else frozenset(e.path for e in entries if e.no_text)
        )
        return DeidOptions(
            mode="pseudonym" if mode == "pseudonym" else "deidentify",
            pseudonym=self.pseudonym.text().strip() if mode == "pseudonym" else None,
            retain=self.retain,
            clean=self.clean,
            redactions=redactions,
            confirmed_no_burned_in=confirmed,
            stable_uids=self.stable_uids.isChecked(),
        )

    def problem(self) -> str | None:
        """Why the choice cannot be used yet (one sentence), or ``None``."""
        if self.mode == "pseudonym" and not self.pseudonym.text().strip():
            return "Type the reference code the recipient should see."
        try:
            self.options(for_report=True).validate()
        except DentsendError as exc:
            text = str(exc)
            return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
        return None

    def report_key(self) -> tuple[Any, ...]:
        """What the report depends on (not the boxes: they are shown from the list)."""
        return (self.mode, self.pseudonym.text().strip(), self.retain, self.clean)


# --------------------------------------------------------------------------------------------
# the report (worker side)


@dataclass
class ReportPiece:
    """One file's de-identification report, delivered as the worker gets to it."""

    key: tuple[Any, ...]
    path: Path
    report: FileReport | None
    problem: str = ""


def package_reports(
    paths: Sequence[Path],
    options: DeidOptions,
    key: tuple[Any, ...],
    *,
    partial: Callable[[ReportPiece], None],
    cancel: threading.Event,
) -> int:
    """Clean each file in memory, in package order, and hand back its report (worker).

    Nothing is written. One :class:`~dentsend.deid.Deidentifier` for all, as for the package,
    so the neutral names match.
    """
    from dentsend.deid import Deidentifier
    from dentsend.intake import load

    deidentifier = Deidentifier(options)
    done = 0
    for path in paths:
        if cancel.is_set():
            break
        try:
            cleaned = deidentifier.clean(load(path))
        except FileProblem as problem:
            partial(ReportPiece(key, path, None, problem.reason))
            continue
        partial(ReportPiece(key, path, cleaned.report))
        done += 1
    return done


# --------------------------------------------------------------------------------------------
# the report (GUI side)

_ACTION_TONES = {
    "removed": Tone.OK,
    "emptied": Tone.OK,
    "stripped": Tone.OK,
    "redacted": Tone.OK,
    "replaced": Tone.INFO,
    "renamed": Tone.INFO,
    "kept": Tone.NEUTRAL,
}


class ReportPanel(QWidget):
    """Every field of the selected file that is removed, replaced or kept, before and after."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(self)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.filter = accessible(
            QLineEdit(self), "Filter fields", "Show only fields containing this text"
        )
        self.filter.setPlaceholderText("Filter…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setMaximumWidth(200)
        self.filter.textChanged.connect(self._apply_filter)
        self.table = accessible(
            QTableWidget(0, 4, self),
            "De-identification report",
            "Every field of this file that is removed, replaced or kept",
        )
        self.table.setHorizontalHeaderLabels(["Field", "What happens", "Before", "After"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 220)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        self.show_message(
            "What leaves with each file",
            "Select a radiograph to see what is removed, replaced or kept.",
        )

    def show_message(self, title: str, text: str) -> None:
        self.title.setText(title)
        self.summary.setText(text)
        self.table.setRowCount(0)

    def show_report(self, entry: FileEntry, report: FileReport, mode: str) -> None:
        sent_as = report.output_name or entry.name
        self.title.setText(f"What leaves with {entry.name}  →  sent as {sent_as}")
        counts: dict[str, int] = {}
        for change in report.changes:
            counts[change.action] = counts.get(change.action, 0) + 1
        parts = [f"{n} {action}" for action, n in sorted(counts.items(), key=lambda i: -i[1])]
        if mode == "keep":
            text = (
                "Sent unchanged: every field leaves, including the patient's name and details. "
                "Identifying fields found: " + (", ".join(c.name for c in report.changes) or "none")
            )
        else:
            text = "; ".join(parts) + "." if parts else "Nothing to change."
        if entry.boxes and mode != "keep":
            text += f" {len(entry.boxes)} area(s) of the image will be blacked out."
        self.summary.setText(text)
        palette = self.palette()
        # The patient's own fields (group 0010) first: what a dentist looks for.
        changes = sorted(report.changes, key=lambda c: not c.tag.startswith("(0010,"))
        self.table.setRowCount(len(changes))
        for row, change in enumerate(changes):
            tone = _ACTION_TONES.get(change.action, Tone.NEUTRAL)
            if mode == "keep":
                tone = Tone.WARNING
            background, foreground = tone_colors(tone, palette)
            field = f"{change.name} {change.tag}" if change.name != change.tag else change.name
            after = change.after or {
                "removed": "(removed)",
                "stripped": "(removed)",
                "emptied": "(empty)",
            }.get(change.action, "")
            cells = (field, change.action, change.before or "", after)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 1:
                    item.setBackground(background)
                    item.setForeground(foreground)
                self.table.setItem(row, column, item)
        self._apply_filter(self.filter.text())

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for row in range(self.table.rowCount()):
            cells = (self.table.item(row, c) for c in range(4))
            haystack = " ".join(c.text().lower() for c in cells if c is not None)
            self.table.setRowHidden(row, bool(needle) and needle not in haystack)
