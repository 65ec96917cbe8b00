"""The main window: Add → Look → Decide what leaves → Choose how → Create, in one window.

Left, the package's files; in the middle, the preview and the de-identification report of the
selected file; right, the choices and the Create button, with a line saying what is still
missing. Creating switches to a progress page and then to the result page.

The window title is always just "dentsend": file names (often the patient's name) never reach
it, nor the task bar, nor a screenshot of the title bar.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QItemSelectionModel, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QIcon,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from dentsend.errors import DentsendError
from dentsend.gui.decide import DecidePanel, ReportPanel, ReportPiece, package_reports
from dentsend.gui.files import FileEntry, FileListModel, FileListView, Loaded, load_file
from dentsend.gui.log_window import LogWindow, QtLogHandler
from dentsend.gui.preview_panel import PreviewPanel
from dentsend.gui.protect import ProtectPanel, format_fingerprint
from dentsend.gui.result import Outcome, ProgressPage, ResultPage, human_size
from dentsend.gui.widgets import Banner, StepHeading, Tone, accessible, make_primary
from dentsend.gui.workers import Task, Workers
from dentsend.settings import Settings, config_dir, load_settings, save_settings

if TYPE_CHECKING:
    from dentsend.handoff import Draft, HandoffResult
    from dentsend.pipeline import PackRequest, PackResult

log = logging.getLogger(__name__)

WINDOW_TITLE = "dentsend"

#: Shown by Help → Keyboard shortcuts (and in the README); an empty key starts a group.
SHORTCUTS = (
    ("", "Anywhere"),
    ("Ctrl+O", "Add files"),
    ("Ctrl+Shift+O", "Add a folder"),
    ("Delete", "Remove the selected files"),
    ("Ctrl+Enter", "Create the package"),
    ("Ctrl+N", "Start over"),
    ("Ctrl+,", "Settings"),
    ("Ctrl+H", "Sent packages"),
    ("Ctrl+L", "Log"),
    ("F1", "How it works"),
    ("", "Preview"),
    ("W / H / M / B", "Contrast, Move, Measure, Cover text (redaction box)"),
    ("I / R / F", "Invert, Rotate, Fit"),
    ("Ctrl++ / Ctrl+− / Ctrl+0", "Zoom in, out, actual size"),
    ("Page Up / Page Down", "Previous / next frame"),
    ("Ctrl+Z", "Undo the last box"),
    ("Esc", "Clear the measurement"),
    ("", "Result page"),
    ("Ctrl+E", "Open in mail client"),
    ("Ctrl+Shift+F", "Show in folder"),
    ("Ctrl+Shift+C", "Copy the passphrase"),
)
WORK, PROGRESS, RESULT = 0, 1, 2


def expand_for_adding(paths: list[Path]) -> tuple[list[Path], int]:
    """Files to add: those given, plus the images inside given folders (worker).

    Inside a folder, files that are not DICOM or images (DICOMDIR indexes excepted, they are
    DICOM) are skipped quietly and counted; a file given by name is always added, so its
    problem is shown.
    """
    from dentsend.intake import expand_paths, sniff

    chosen: list[Path] = []
    skipped = 0
    for path in paths:
        if not path.is_dir():
            chosen.append(path)
            continue
        for inner in expand_paths([path]):
            try:
                with inner.open("rb") as handle:
                    head = handle.read(512)
            except OSError:
                skipped += 1
                continue
            if sniff(head) is None or inner.name.upper() == "DICOMDIR":
                skipped += 1
            else:
                chosen.append(inner)
    return chosen, skipped


def package_name(format: str, now: datetime | None = None) -> str:
    """``dentsend-2026-11-29-1432.html``: a date, never anything about the patient."""
    stamp = (now or datetime.now()).strftime("%Y-%m-%d-%H%M")
    return f"dentsend-{stamp}.{'html' if format == 'html' else 'pgp'}"


def unique_output(folder: Path, format: str) -> Path:
    base = folder / package_name(format)
    candidate, number = base, 1
    while candidate.exists() or any(folder.glob(f"{candidate.stem}-*-of-*{candidate.suffix}")):
        number += 1
        candidate = base.with_name(f"{base.stem}-{number}{base.suffix}")
    return candidate


@dataclass(frozen=True)
class SentDetails:
    """What the sent-log keeps of a package besides its files (never patient data)."""

    format: str
    deid_mode: str
    certificates: tuple[str, ...]
    reference_code: str
    passphrase: str
    recall_days: int


@dataclass
class Made:
    """A package made and recorded (a worker's result)."""

    result: PackResult
    record_id: int | None
    passphrase_kept_days: int
    recipients: tuple[str | Path, ...] = ()
    """What it was encrypted to (fingerprints, or the demo's certificate file)."""


def pack_and_record(
    request: PackRequest,
    sent: SentDetails,
    *,
    progress: Callable[[float, str], None],
    cancel: threading.Event,
) -> Made:
    """Make the package, then note it in the sent-log and keep its passphrase for recall.

    Runs in the package worker: SQLite and the keyring may take their time (a commit waits
    for the disk, a keyring may wake up a daemon), which the GUI thread must not.
    A sent-log that cannot be written does not undo the package; it is logged.
    """
    from dentsend.audit import record_sent
    from dentsend.pipeline import pack

    if request.format == "html":
        result = pack(request, progress=progress, cancel=cancel)
    else:
        from dentsend.gui.package_process import pack_in_process

        result = pack_in_process(request, progress=progress, cancel=cancel)
    recorded = record_sent(
        result.parts,
        result.sha256,
        format=sent.format,
        file_count=len(result.file_names),
        payload_bytes=result.input_bytes,
        deid_mode=sent.deid_mode,
        certificates=sent.certificates,
        reference_code=sent.reference_code,
        passphrase=sent.passphrase,
        recall_days=sent.recall_days,
    )
    record_id, kept = recorded.record_id, recorded.passphrase_days
    return Made(result, record_id, kept, tuple(request.recipients))


def _hand_off_and_note(draft: Draft, record_id: int | None, settings: Settings) -> HandoffResult:
    """In a worker: open the mail program, and note the address typed in the sent-log."""
    from dentsend.audit import note_recipient
    from dentsend.handoff import hand_off

    if record_id is not None and draft.to:
        note_recipient(record_id, draft.to)
    return hand_off(draft, settings=settings)


class MainWindow(QMainWindow):
    """The whole flow. ``settings`` defaults to the saved ones."""

    package_created = Signal(object)
    """An :class:`Outcome` (tests and the benchmark wait for it)."""
    package_failed = Signal(str)

    def __init__(
        self,
        settings: Settings | None = None,
        log_handler: QtLogHandler | None = None,
        parent: QWidget | None = None,
        *,
        demo: bool = False,
    ) -> None:
        super().__init__(parent)
        self.settings = settings or load_settings()
        self.demo = demo
        self.log_handler = log_handler
        self.log_window: LogWindow | None = None
        self.sent_window: QWidget | None = None
        self.workers = Workers(self)
        self.model = FileListModel(self)
        self.model.changed.connect(self._files_changed)
        self.package_task: Task | None = None
        self.outcome: Outcome | None = None
        self._report_cache: dict[tuple[Any, ...], dict[Path, ReportPiece]] = {}
        self._report_task: Task | None = None
        self._report_task_key: tuple[Any, ...] | None = None
        self._estimate_generation = 0
        self._estimate: int | None = None
        self._adding = 0
        self._waiting: list[Path] = []
        self._started = time.monotonic()

        self.setWindowTitle(WINDOW_TITLE)
        self.setAcceptDrops(True)
        self.setAccessibleName("dentsend")
        self._report_timer = QTimer(self)
        self._report_timer.setSingleShot(True)
        self._report_timer.setInterval(200)
        self._report_timer.timeout.connect(self._update_report)
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(300)
        self._estimate_timer.timeout.connect(self._update_estimate)
        self._build()
        self._build_menus()
        self._restore_geometry()
        self.decide.apply_defaults(
            self.settings.deid_mode, self.settings.retain, self.settings.stable_uids
        )
        self.protect.regenerate()
        self._refresh()

    # ------------------------------------------------------------------------------------------
    # layout

    def _build(self) -> None:
        self.pages = QStackedWidget(self)
        self.setCentralWidget(self.pages)

        # Left: step 1, the files.
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(8, 4, 4, 8)
        left_layout.addWidget(StepHeading(1, "Add radiographs", left))
        self.file_view = FileListView(self.model, left)
        self.file_view.files_dropped.connect(self.add_paths)
        self.file_view.remove_requested.connect(self.remove_selected)
        self.file_view.selectionModel().currentChanged.connect(lambda *_: self._selection_changed())
        left_layout.addWidget(self.file_view, 1)
        buttons = QHBoxLayout()
        self.add_button = accessible(
            QPushButton("Add files…", left), "Add files", "Choose radiographs to add (Ctrl+O)"
        )
        self.add_button.clicked.connect(self.choose_files)
        self.add_folder_button = accessible(
            QPushButton("Add folder…", left),
            "Add folder",
            "Add every image in a folder (Ctrl+Shift+O)",
        )
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.remove_button = accessible(
            QPushButton("Remove", left),
            "Remove selected files",
            "Leave the selected files out (Delete)",
        )
        self.remove_button.clicked.connect(self.remove_selected)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.add_folder_button)
        buttons.addWidget(self.remove_button)
        left_layout.addLayout(buttons)
        self.files_status = QLabel(left)
        self.files_status.setWordWrap(True)
        self.files_status.setAccessibleName("Files status")
        left_layout.addWidget(self.files_status)

        # Middle: step 2, look; and the report.
        middle = QWidget(self)
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(4, 4, 4, 8)
        middle_layout.addWidget(StepHeading(2, "Look", middle))
        self.preview = PreviewPanel(self.workers, middle)
        self.preview.boxes_changed.connect(self._boxes_changed)
        self.report = ReportPanel(middle)
        self.middle_split = QSplitter(Qt.Orientation.Vertical, middle)
        self.middle_split.addWidget(self.preview)
        self.middle_split.addWidget(self.report)
        self.middle_split.setStretchFactor(0, 3)
        self.middle_split.setStretchFactor(1, 1)
        self.middle_split.setChildrenCollapsible(False)
        middle_layout.addWidget(self.middle_split, 1)

        # Right: steps 3–5.
        right_content = QWidget(self)
        right_layout = QVBoxLayout(right_content)
        right_layout.setContentsMargins(8, 4, 12, 8)
        right_layout.addWidget(StepHeading(3, "Decide what leaves the practice", right_content))
        self.decide = DecidePanel(right_content)
        self.decide.changed.connect(self._decision_changed)
        right_layout.addWidget(self.decide)
        right_layout.addWidget(StepHeading(4, "Choose how it is protected", right_content))
        demo_recipient = None
        if self.demo:
            from dentsend.openpgp import selftest_key_paths

            demo_recipient = selftest_key_paths()[0]
        self.protect = ProtectPanel(self.workers, right_content, demo_recipient=demo_recipient)
        self.protect.changed.connect(self._protection_changed)
        right_layout.addWidget(self.protect)
        self.size_label = QLabel(right_content)
        self.size_label.setWordWrap(True)
        self.size_label.setAccessibleName("Estimated size")
        right_layout.addWidget(self.size_label)
        self.size_banner = Banner(Tone.WARNING, right_content)
        self.split = accessible(
            QCheckBox("Split into parts", self.size_banner),
            "Split into parts",
            "Make several packages, each small enough for one email",
        )
        self.split.toggled.connect(lambda _=False: self._refresh())
        self.size_banner.row.addWidget(self.split)
        right_layout.addWidget(self.size_banner)
        right_layout.addStretch(1)
        self.right_scroll = QScrollArea(self)
        self.right_scroll.setWidgetResizable(True)
        self.right_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.right_scroll.setWidget(right_content)
        self.right_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        # Step 5 stays in sight below the scrolling choices.
        create_box = QWidget(self)
        create_layout = QVBoxLayout(create_box)
        create_layout.setContentsMargins(8, 0, 12, 8)
        create_layout.addWidget(StepHeading(5, "Create the package", create_box))
        self.create_button = accessible(
            QPushButton("Create package", create_box),
            "Create package",
            "Clean, encrypt and save the package (Ctrl+Enter)",
        )
        self.create_button.setMinimumHeight(44)
        font = QFont(self.create_button.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.create_button.setFont(font)
        make_primary(self.create_button)
        self.create_button.clicked.connect(self.create_package)
        create_layout.addWidget(self.create_button)
        self.missing = QLabel(create_box)
        self.missing.setWordWrap(True)
        self.missing.setAccessibleName("What is still missing")
        self.missing.setTextFormat(Qt.TextFormat.PlainText)
        self.show_missing_button = accessible(
            QPushButton("Show me", create_box), "Show me", "Go to the first file that needs a check"
        )
        self.show_missing_button.clicked.connect(self.show_first_unchecked)
        missing_row = QHBoxLayout()
        missing_row.addWidget(self.missing, 1)
        missing_row.addWidget(self.show_missing_button, 0, Qt.AlignmentFlag.AlignTop)
        create_layout.addLayout(missing_row)
        right = QWidget(self)
        right.setMinimumWidth(340)
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(0, 0, 0, 0)
        right_column.setSpacing(0)
        right_column.addWidget(self.right_scroll, 1)
        separator = QFrame(right)
        separator.setFrameShape(QFrame.Shape.HLine)
        separator.setFrameShadow(QFrame.Shadow.Sunken)
        right_column.addWidget(separator)
        right_column.addWidget(create_box)

        self.main_split = QSplitter(Qt.Orientation.Horizontal, self)
        self.main_split.addWidget(left)
        self.main_split.addWidget(middle)
        self.main_split.addWidget(right)
        self.main_split.setStretchFactor(0, 0)
        self.main_split.setStretchFactor(1, 1)
        self.main_split.setStretchFactor(2, 0)
        self.main_split.setSizes([320, 730, 390])
        self.main_split.setChildrenCollapsible(False)
        self.pages.addWidget(self.main_split)

        self.progress_page = ProgressPage(self)
        self.progress_page.cancel_requested.connect(self.cancel_package)
        self.pages.addWidget(self.progress_page)
        self.result_page = ResultPage(self)
        self.result_page.open_mail.connect(self.open_in_mail)
        self.result_page.show_folder.connect(self.show_in_folder)
        self.result_page.start_over.connect(self.start_over)
        self.pages.addWidget(self.result_page)

        self.practice_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.practice_label)
        self._show_practice()

    def _build_menus(self) -> None:
        def action(
            text: str,
            shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
            slot: Any,
            tip: str = "",
        ) -> QAction:
            item = QAction(text, self)
            if shortcut is not None:
                item.setShortcut(QKeySequence(shortcut))
            if tip:
                item.setStatusTip(tip)
            item.triggered.connect(slot)
            self.addAction(item)
            return item

        menu = self.menuBar().addMenu("&File")
        self.open_action = action(
            "&Add files…", QKeySequence.StandardKey.Open, self.choose_files, "Add radiographs"
        )
        self.open_folder_action = action(
            "Add &folder…", "Ctrl+Shift+O", self.choose_folder, "Add every image in a folder"
        )
        self.remove_action = action("&Remove selected", None, self.remove_selected)
        self.create_action = action(
            "&Create package", "Ctrl+Return", self.create_package, "Clean, encrypt and save"
        )
        self.create_action_enter = QAction(self)
        self.create_action_enter.setShortcut(QKeySequence("Ctrl+Enter"))
        self.create_action_enter.triggered.connect(self.create_package)
        self.addAction(self.create_action_enter)
        self.start_over_action = action(
            "&Start over", QKeySequence.StandardKey.New, self.start_over
        )
        quit_action = action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        for item in (
            self.open_action,
            self.open_folder_action,
            self.remove_action,
            None,
            self.create_action,
            self.start_over_action,
            None,
            quit_action,
        ):
            if item is None:
                menu.addSeparator()
            else:
                menu.addAction(item)

        view = self.menuBar().addMenu("&View")
        self.sent_action = action("&Sent packages…", "Ctrl+H", self.show_sent, "What was sent")
        self.log_action = action("&Log…", "Ctrl+L", self.show_log, "What dentsend did")
        view.addAction(self.sent_action)
        view.addAction(self.log_action)
        view.addSeparator()
        for item in self.preview.actions():
            view.addAction(item)

        settings_menu = self.menuBar().addMenu("&Settings")
        self.settings_action = action(
            "&Settings…", QKeySequence.StandardKey.Preferences, self.edit_settings
        )
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        settings_menu.addAction(self.settings_action)

        help_menu = self.menuBar().addMenu("&Help")
        self.guide_action = action(
            "&How it works", QKeySequence.StandardKey.HelpContents, self.show_guide
        )
        help_menu.addAction(self.guide_action)
        help_menu.addAction(action("&Keyboard shortcuts", None, self.show_shortcuts))
        help_menu.addAction(action("&About dentsend", None, self.show_about))

    # ------------------------------------------------------------------------------------------
    # geometry

    def _qsettings(self) -> QSettings:
        return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        stored = self._qsettings()
        geometry = stored.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self._default_geometry()
        for key, splitter in (("main_split", self.main_split), ("middle_split", self.middle_split)):
            state = stored.value(key)
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)

    def _default_geometry(self) -> None:
        """1440 × 880, or the screen's free area on a smaller screen (a 1366 × 768 laptop), centred:
        a first window wider than the screen would hide step 5 off its edge."""
        available = self.screen().availableGeometry()
        # The frame (title bar, borders) is unknown before the first show: leave room for it.
        width = min(1440, available.width() * 96 // 100)
        self.resize(width, min(880, available.height() * 92 // 100))
        frame = self.frameGeometry()
        frame.moveCenter(available.center())
        self.move(frame.topLeft())

    def save_geometry(self) -> None:
        stored = self._qsettings()
        stored.setValue("geometry", self.saveGeometry())
        stored.setValue("main_split", self.main_split.saveState())
        stored.setValue("middle_split", self.middle_split.saveState())
        stored.sync()

    # ------------------------------------------------------------------------------------------
    # step 1: adding files

    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self,
            "Add radiographs",
            "",
            # DICOM files often have no extension at all, hence the lone "*".
            "Radiographs (*.dcm *.dicom *.jpg *.jpeg *.png *.tif *.tiff *.bmp *);;All files (*)",
        )
        if paths:
            self.add_paths([Path(p) for p in paths])

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add every radiograph in a folder")
        if folder:
            self.add_paths([Path(folder)])

    def add_paths(self, paths: list[Path]) -> None:
        """Add files and folders; folders are walked and files loaded off the GUI thread.

        While a package is made or its result shown, they wait for the next package (files
        another start or Finder handed over must not get lost)."""
        if self.pages.currentIndex() != WORK:
            self._waiting += paths
            self.statusBar().showMessage(
                f"{len(self._waiting)} file(s) or folder(s) will be added for the next package "
                "(Start over).",
                15000,
            )
            return
        self._adding += 1
        self._refresh()
        self.workers.start(
            self.workers.quick_pool,
            Task(expand_for_adding, list(paths), name="expand folders"),
            on_finished=self._expanded,
            on_failed=self._add_failed,
        )

    def _add_failed(self, message: str) -> None:
        self._adding -= 1
        self.statusBar().showMessage(message, 8000)
        self._refresh()

    def _expanded(self, result: tuple[list[Path], int]) -> None:
        self._adding -= 1
        files, skipped = result
        new = self.model.add_paths(files)
        for entry in new:
            self.workers.start(
                self.workers.load_pool,
                Task(load_file, entry.path, name="load"),
                on_finished=self._loaded,
            )
        if skipped:
            self.statusBar().showMessage(
                f"Skipped {skipped} file(s) in the folder that are not radiographs.", 8000
            )
        if new and not self.file_view.currentIndex().isValid():
            self.select_entry(new[0])
        self._refresh()

    def _loaded(self, loaded: Loaded) -> None:
        entry = self.model.apply_loaded(loaded)
        if entry is None:
            return
        if loaded.info is None:
            log.info("a file could not be used: %s", loaded.problem)
        if entry is self.current_entry:
            self.preview.show_entry(entry)
        self._schedule_report()
        self._estimate_timer.start()

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.file_view.selectedIndexes()})
        if not rows and self.file_view.currentIndex().isValid():
            rows = [self.file_view.currentIndex().row()]
        if rows:
            self.model.remove_rows(rows)
            self._selection_changed()
            self._schedule_report()
            self._estimate_timer.start()

    @property
    def current_entry(self) -> FileEntry | None:
        index = self.file_view.currentIndex()
        if not index.isValid() or index.row() >= len(self.model.entries):
            return None
        return self.model.entries[index.row()]

    def select_entry(self, entry: FileEntry) -> None:
        row = self.model.row_of(entry)
        if row >= 0:
            self.file_view.selectionModel().setCurrentIndex(
                self.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect
            )

    def _selection_changed(self) -> None:
        self.preview.show_entry(self.current_entry)
        self._show_report()
        self._schedule_report()

    def _files_changed(self) -> None:
        self._refresh()

    def _boxes_changed(self, entry: FileEntry) -> None:
        self.model.entry_changed(entry)
        self._show_report()

    def show_first_unchecked(self) -> None:
        unchecked = self.model.unresolved_checks()
        if unchecked:
            self.select_entry(unchecked[0])
            self.preview.set_tool("redact")
            self.preview.viewer.setFocus()

    # ------------------------------------------------------------------------------------------
    # step 3: the report

    def _decision_changed(self) -> None:
        self.model.set_mode(self.decide.mode)
        self.preview.set_mode(self.decide.mode)
        self._schedule_report()
        self._refresh()

    def _report_key(self) -> tuple[Any, ...]:
        return (*self.decide.report_key(), tuple(e.path for e in self.model.ready_entries))

    def _schedule_report(self) -> None:
        self._report_timer.start()

    def _update_report(self) -> None:
        """Run the de-identification over the package (worker) unless it is already known."""
        self._show_report()
        if self.decide.problem() is not None or not self.model.ready_entries:
            return
        key = self._report_key()
        if key in self._report_cache or key == self._report_task_key:
            return
        if self._report_task is not None:
            self._report_task.cancel.set()
        if len(self._report_cache) > 8:
            self._report_cache.clear()
        self._report_cache[key] = {}
        paths = [e.path for e in self.model.ready_entries]
        try:
            options = self.decide.options(for_report=True)
        except DentsendError as exc:
            self.report.show_message("What leaves with each file", str(exc))
            return
        task = Task(package_reports, paths, options, key, with_partial=True, name="report")
        self._report_task = task
        self._report_task_key = key

        def finished(_count: Any, task: Task = task) -> None:
            if self._report_task is task:
                self._report_task = None
                self._report_task_key = None

        self.workers.start(
            self.workers.detail_pool,
            task,
            on_partial=self._report_piece,
            on_finished=finished,
            on_failed=lambda message: self.report.show_message("Report not available", message),
        )

    def _report_piece(self, piece: ReportPiece) -> None:
        pieces = self._report_cache.get(piece.key)
        if pieces is None:
            return
        pieces[piece.path] = piece
        entry = self.current_entry
        if entry is not None and entry.path == piece.path and piece.key == self._report_key():
            self._show_report()

    def _show_report(self) -> None:
        entry = self.current_entry
        if entry is None:
            self.report.show_message(
                "What leaves with each file",
                "Select a radiograph to see what is removed, replaced or kept.",
            )
            return
        if entry.state == "problem":
            self.report.show_message(f"{entry.name} will be left out", entry.problem)
            return
        if entry.state == "loading":
            self.report.show_message(f"What leaves with {entry.name}", "Loading…")
            return
        problem = self.decide.problem()
        if problem is not None:
            self.report.show_message(f"What leaves with {entry.name}", problem)
            return
        piece = self._report_cache.get(self._report_key(), {}).get(entry.path)
        if piece is None:
            self.report.show_message(f"What leaves with {entry.name}", "Preparing the report…")
        elif piece.report is None:
            self.report.show_message(f"{entry.name} cannot be cleaned", piece.problem)
        else:
            self.report.show_report(entry, piece.report, self.decide.mode)

    # ------------------------------------------------------------------------------------------
    # step 4: protection and size

    def _protection_changed(self) -> None:
        self._estimate_timer.start()
        self._refresh()

    def _update_estimate(self) -> None:
        from dentsend.pipeline import estimate_mail_size

        paths = [e.path for e in self.model.ready_entries]
        self._estimate_generation += 1
        generation = self._estimate_generation
        if not paths:
            self._estimate = None
            self._refresh()
            return
        self.workers.start(
            self.workers.quick_pool,
            Task(estimate_mail_size, paths, self.protect.format, name="estimate"),
            on_finished=lambda size: self._estimated(size, generation),
        )

    def _estimated(self, size: int, generation: int) -> None:
        if generation == self._estimate_generation:
            self._estimate = int(size)
            self._refresh()

    @property
    def mail_limit_bytes(self) -> int:
        return int(self.settings.mail_size_limit_mb * 1_000_000)

    def _update_size(self) -> None:
        if self._estimate is None or not self.model.ready_entries:
            self.size_label.setText("")
            self.size_banner.setVisible(False)
            return
        limit_mb = self.settings.mail_size_limit_mb
        self.size_label.setText(
            f"Estimated size in an email: about {human_size(self._estimate)} "
            f"(limit {limit_mb:g} MB, in Settings)."
        )
        over = self._estimate > self.mail_limit_bytes
        self.size_banner.setVisible(over)
        if over:
            self.size_banner.set_text(
                f"That is more than the {limit_mb:g} MB most mail systems accept. "
                f"Split it into parts of at most {limit_mb:g} MB, each sent in its own email:"
            )
        self.split.setText(f"Split into parts of at most {limit_mb:g} MB")

    # ------------------------------------------------------------------------------------------
    # what is missing

    def blocking_problem(self) -> str | None:
        """The first thing that stops Create, as one sentence; ``None`` when ready."""
        if not self.model.entries and not self._adding:
            return "Add the radiographs to send (drop them on the window, or Ctrl+O)."
        if self._adding or self.model.loading_count:
            return "Loading the radiographs…"
        if not self.model.ready_entries:
            return "None of the files can be used; add readable radiographs."
        unchecked = self.model.unresolved_checks()
        if unchecked:
            count = len(unchecked)
            images = "1 image needs" if count == 1 else f"{count} images need"
            return (
                f"{images} a check for burned-in text (or a face): cover it with boxes, or "
                "tick the box above the image."
            )
        problem = self.decide.problem() or self.protect.problem()
        return problem

    def _refresh(self) -> None:
        problem = self.blocking_problem()
        ready = problem is None and self.pages.currentIndex() == WORK
        self.create_button.setEnabled(ready)
        self.create_action.setEnabled(ready)
        unchecked = bool(self.model.unresolved_checks()) and problem is not None
        self.show_missing_button.setVisible(unchecked and "burned-in" in (problem or ""))
        left_out = self.model.problem_entries
        if problem is not None:
            self.missing.setText(problem)
        elif left_out:
            count = len(left_out)
            self.missing.setText(
                f"Ready. {count} unreadable file{'s' if count > 1 else ''} will be left out."
            )
        else:
            count = len(self.model.ready_entries)
            self.missing.setText(
                f"Ready to create a package of {count} file{'s' if count > 1 else ''}."
            )
        total = len(self.model.entries)
        if total:
            parts = [f"{total} file{'s' if total > 1 else ''}"]
            if self.model.loading_count:
                parts.append(f"{self.model.loading_count} loading")
            if left_out:
                parts.append(f"{len(left_out)} unreadable (left out)")
            self.files_status.setText(", ".join(parts))
        else:
            self.files_status.setText("")
        self.remove_button.setEnabled(bool(total))
        self._update_size()

    # ------------------------------------------------------------------------------------------
    # step 5: create

    def _ask_signing_passphrase(self) -> tuple[bool, str | None]:
        """(go on, the practice key's passphrase if the keyring does not hold it). It signs this
        package and is not stored."""
        from dentsend.openpgp.message import own_key_needing_passphrase

        fingerprint = own_key_needing_passphrase()
        if fingerprint is None:
            return True, None
        text, ok = QInputDialog.getText(
            self,
            "Practice key passphrase",
            "The package is signed with the practice key, whose passphrase is not in the "
            f"system keyring.\nPassphrase of key {format_fingerprint(fingerprint)}:",
            QLineEdit.EchoMode.Password,
        )
        return (True, text) if ok and text else (False, None)

    def create_package(self) -> None:
        from dentsend.pipeline import PackRequest

        if self.pages.currentIndex() != WORK or self.package_task is not None:
            return
        problem = self.blocking_problem()
        if problem is not None:
            self.missing.setText(problem)
            return
        entries = self.model.ready_entries
        try:
            from dentsend.handoff import outgoing_folder

            folder = outgoing_folder(self.settings)
        except OSError as exc:
            QMessageBox.warning(
                self, "No output folder", f"The output folder cannot be created ({exc.strerror})."
            )
            return
        format = self.protect.format
        split = self.split.isChecked() and self.size_banner.isVisible()
        sign_passphrase = None
        if format == "openpgp":
            proceed, sign_passphrase = self._ask_signing_passphrase()
            if not proceed:
                return
        request = PackRequest(
            files=[e.path for e in entries],
            output=unique_output(folder, format),
            format="html" if format == "html" else "openpgp",
            deid=self.decide.options(entries),
            passphrase=self.protect.passphrase or None,
            recipients=self.protect.recipient_sources if format == "openpgp" else (),
            note=self.protect.note_text,
            practice_name=self.settings.practice_name,
            max_part_bytes=self.mail_limit_bytes if split else None,
            sign_passphrase=sign_passphrase,
        )
        self._pending_outcome = Outcome(
            parts=[],
            format=format,
            passphrase=self.protect.passphrase if format == "html" else "",
            file_count=len(entries),
            deid_mode=self.decide.mode,
            recipients=self._recipient_labels(),
        )
        self.pages.setCurrentIndex(PROGRESS)
        self.progress_page.start()
        self._refresh()
        log.info("creating a %s package of %d file(s)", format, len(entries))
        sent = SentDetails(
            format=format,
            deid_mode=self.decide.mode,
            certificates=tuple(self.protect.recipients) if format == "openpgp" else (),
            reference_code=(
                self.decide.pseudonym.text().strip() if self.decide.mode == "pseudonym" else ""
            ),
            passphrase=self.protect.passphrase if format == "html" else "",
            recall_days=self.settings.passphrase_recall_days,
        )
        task = Task(pack_and_record, request, sent, with_progress=True, name="pack")
        self.package_task = task
        self.workers.start(
            self.workers.package_pool,
            task,
            on_progress=self.progress_page.set_progress,
            on_finished=self._package_done,
            on_failed=self._package_failed,
        )

    def _recipient_labels(self) -> list[str]:
        chosen = set(self.protect.recipients)
        return [c.label for c in self.protect.certificates if c.fingerprint in chosen]

    def cancel_package(self) -> None:
        if self.package_task is not None:
            log.info("cancelling the package")
            self.package_task.cancel.set()

    def _package_done(self, made: Made) -> None:
        self.package_task = None
        result = made.result
        outcome = self._pending_outcome
        outcome.parts = list(result.parts)
        outcome.warnings = [w[0].upper() + w[1:] for w in result.warnings]
        outcome.input_bytes = result.input_bytes
        outcome.output_bytes = result.output_bytes
        outcome.file_count = len(result.file_names)
        outcome.record_id = made.record_id
        demo = self.protect.demo_recipient
        if outcome.format == "openpgp" and demo is not None and demo in made.recipients:
            from dentsend.openpgp import SELFTEST_PASSPHRASE, selftest_key_paths

            secret = selftest_key_paths()[1]
            outcome.how_to_open = (
                "It is encrypted to dentsend's test key, so you can open it yourself: "
                f"dentsend open {outcome.parts[0]} -o received --key {secret} "
                f"(the test key's passphrase: “{SELFTEST_PASSPHRASE}”)."
            )
        outcome.passphrase_kept_days = made.passphrase_kept_days
        self.outcome = outcome
        self.result_page.show_outcome(outcome)
        self.pages.setCurrentIndex(RESULT)
        self._refresh()
        log.info("package created: %d part(s), %d bytes", len(outcome.parts), outcome.output_bytes)
        self.package_created.emit(outcome)

    def _package_failed(self, message: str) -> None:
        self.package_task = None
        self.pages.setCurrentIndex(WORK)
        self._refresh()
        self._add_waiting()
        sentence = message[0].upper() + message[1:] if message else message
        if message.startswith("cancelled"):
            self.statusBar().showMessage("Cancelled: no package was written.", 10000)
        else:
            log.warning("package not created: %s", message)
            self.missing.setText(sentence)
            QMessageBox.warning(self, "The package was not created", sentence)
        self.package_failed.emit(message)

    # ------------------------------------------------------------------------------------------
    # result page

    def open_in_mail(self) -> None:
        outcome = self.outcome
        if outcome is None:
            return
        from dentsend.handoff import compose_draft

        try:
            draft = compose_draft(
                outcome.parts,
                format=outcome.format,
                settings=self.settings,
                to=self.result_page.to.text().strip(),
                parts=len(outcome.parts),
            )
        except DentsendError as exc:
            self.result_page.show_handoff(str(exc), "")
            return
        self.result_page.show_handoff("Opening your mail program…", "")
        self.workers.start(
            self.workers.quick_pool,
            Task(_hand_off_and_note, draft, outcome.record_id, self.settings, name="hand off"),
            on_finished=lambda result: self.result_page.show_handoff(
                result.message, "" if result.opened_mail else result.text_to_paste
            ),
            on_failed=lambda message: self.result_page.show_handoff(message, ""),
        )

    def show_in_folder(self) -> None:
        outcome = self.outcome
        if outcome is None or not outcome.parts:
            return
        from dentsend.handoff import reveal_in_folder

        self.workers.start(
            self.workers.quick_pool,
            Task(reveal_in_folder, outcome.parts[0], name="reveal"),
            on_failed=lambda message: self.result_page.show_handoff(message, ""),
        )

    def start_over(self) -> None:
        if self.package_task is not None:
            return
        self.model.clear()
        self._report_cache.clear()
        self.outcome = None
        self.decide.apply_defaults(
            self.settings.deid_mode, self.settings.retain, self.settings.stable_uids
        )
        self.protect.reset()
        self.split.setChecked(False)
        self._estimate = None
        self.pages.setCurrentIndex(WORK)
        self.preview.show_entry(None)
        self._show_report()
        self._refresh()
        self.file_view.setFocus()
        self._add_waiting()

    def _add_waiting(self) -> None:
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            self.add_paths(waiting)

    # ------------------------------------------------------------------------------------------
    # around it

    def _show_practice(self) -> None:
        name = self.settings.practice_name
        self.practice_label.setText(f"Sending as {name}" if name else "No practice name (Settings)")

    def edit_settings(self) -> None:
        from dentsend.gui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        new = dialog.result_settings()
        try:
            save_settings(new)
        except OSError as exc:
            QMessageBox.warning(self, "Settings not saved", f"Settings could not be saved ({exc}).")
            return
        defaults_changed = (new.deid_mode, new.retain, new.stable_uids) != (
            self.settings.deid_mode,
            self.settings.retain,
            self.settings.stable_uids,
        )
        self.settings = new
        if defaults_changed and not self.model.entries:
            self.decide.apply_defaults(new.deid_mode, new.retain, new.stable_uids)
        self._show_practice()
        self._refresh()

    def show_log(self) -> None:
        if self.log_handler is None:
            from dentsend.gui.log_window import install_handler

            self.log_handler = install_handler()
        if self.log_window is None:
            self.log_window = LogWindow(self.log_handler, self)
        self.log_window.show()
        self.log_window.raise_()
        self.log_window.activateWindow()

    def show_sent(self) -> None:
        from dentsend.gui.sent_view import SentWindow

        if self.sent_window is None:
            self.sent_window = SentWindow(self)
        assert isinstance(self.sent_window, SentWindow)
        self.sent_window.refresh()
        self.sent_window.show()
        self.sent_window.raise_()
        self.sent_window.activateWindow()

    def show_guide(self) -> None:
        QMessageBox.information(
            self,
            "How dentsend works",
            "1. Add the radiographs: drop files or folders on the window, or press Ctrl+O.\n\n"
            "2. Look at each one. Images marked “Check for burned-in text” may show the "
            "patient's name in the pixels: drag “Cover text” boxes over it, or tick “No text "
            "in this image”.\n\n"
            "3. Decide what leaves: by default every identifying detail is removed. The table "
            "under the image lists each field and what happens to it.\n\n"
            "4. Choose how it is protected: a passphrase (the recipient opens the file in any "
            "web browser) or OpenPGP (for recipients with a key).\n\n"
            "5. Create the package, open it in your mail program, and give the passphrase by "
            "phone or text message — never in the same email.",
        )

    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td style='padding-right:18px'><b>{keys}</b></td><td>{what}</td></tr>"
            if keys
            else f"<tr><td colspan=2 style='padding-top:8px'><i>{what}</i></td></tr>"
            for keys, what in SHORTCUTS
        )
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<table>{rows}</table>")
        box.exec()

    def show_about(self) -> None:
        from dentsend import __version__

        QMessageBox.about(
            self,
            "About dentsend",
            f"dentsend {__version__}\n\nSends dental radiographs to another doctor, "
            "de-identified and encrypted, openable with nothing to install.",
        )

    # ------------------------------------------------------------------------------------------
    # Qt events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and self.pages.currentIndex() == WORK:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        from dentsend.gui.files import dropped_paths

        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.package_task is not None:
            answer = QMessageBox.question(
                self,
                "A package is being created",
                "Stop creating the package and quit? Nothing will be written.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.package_task.cancel.set()
        self.save_geometry()
        self.workers.cancel_all()
        self.workers.wait(30_000)
        super().closeEvent(event)


def window_icon() -> QIcon:
    """The app icon (256 px PNG from ``resources/icons``), or none if it is missing."""
    from dentsend.resources import resource_path

    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        path = resource_path("icons", f"dentsend-{size}.png")
        if path.is_file():
            icon.addFile(str(path))
    return icon


__all__ = ["MainWindow", "expand_for_adding", "package_name", "window_icon"]
