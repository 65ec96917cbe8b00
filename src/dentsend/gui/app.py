"""Start the desktop app: ``dentsend [--demo] [FILE...]`` ends up in :func:`run_app`.

Start-up timing hook (for the release checks of the frozen app): with
``DENTSEND_EXIT_AFTER_SHOW=1`` in the environment the app prints one line,
``dentsend: window shown 0.84 s after process start``, once the main window has been shown
and painted, and quits with exit code 0. The time is measured from the operating system's
record of when the process started (``/proc`` on Linux, ``GetProcessTimes`` on Windows), so it
includes the interpreter's and the frozen bootloader's start; where that record is not
available (macOS) it counts from the moment this module was imported, and says so.
"""

from __future__ import annotations

import time

_IMPORTED_AT = time.time()

import logging  # noqa: E402 - the import time above is the fallback start time
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from PySide6.QtCore import (  # noqa: E402
    QEvent,
    QMessageLogContext,
    QObject,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QFileOpenEvent  # noqa: E402

from dentsend import APP_ID  # noqa: E402

if TYPE_CHECKING:
    from dentsend.gui.window import MainWindow

log = logging.getLogger(__name__)

EXIT_AFTER_SHOW = "DENTSEND_EXIT_AFTER_SHOW"


def process_start_time() -> tuple[float, str]:
    """When this process started (``time.time()`` scale) and what that was measured from."""
    if sys.platform.startswith("linux"):
        try:
            stat = Path("/proc/self/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
            uptime = float(Path("/proc/uptime").read_text().split()[0])
            since_start = uptime - ticks / os.sysconf("SC_CLK_TCK")
            return time.time() - since_start, "process start"
        except (OSError, ValueError, IndexError):
            pass
    if sys.platform == "win32":
        try:
            return _windows_process_start(), "process start"
        except OSError:
            pass
    return _IMPORTED_AT, "app module import"


def _windows_process_start() -> float:
    import ctypes
    from ctypes import wintypes

    creation, exit_, kernel, user = (wintypes.FILETIME() for _ in range(4))
    handle = ctypes.windll.kernel32.GetCurrentProcess()  # type: ignore[attr-defined]
    ok = ctypes.windll.kernel32.GetProcessTimes(  # type: ignore[attr-defined]
        handle,
        ctypes.byref(creation),
        ctypes.byref(exit_),
        ctypes.byref(kernel),
        ctypes.byref(user),
    )
    if not ok:
        raise OSError("GetProcessTimes failed")
    filetime = (creation.dwHighDateTime << 32) | creation.dwLowDateTime
    return filetime / 10_000_000 - 11_644_473_600  # 100 ns since 1601 → Unix time


def _has_display() -> bool:
    if sys.platform != "linux" and not sys.platform.startswith("freebsd"):
        return True
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def create_application() -> object:
    """The QApplication (created once), set up for dentsend: name, icon, HiDPI."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    if existing is not None:
        return existing
    # Fractional scale factors (125 %, 150 %) as the system sets them, not rounded.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    qInstallMessageHandler(_qt_message)
    app = QApplication([sys.argv[0] if sys.argv else "dentsend"])
    app.setApplicationName("dentsend")
    app.setApplicationDisplayName("dentsend")
    app.setOrganizationName("dentsend")
    # The installed launcher's name, so Wayland and the taskbar group the window with it.
    app.setDesktopFileName(APP_ID)
    if sys.platform == "win32":
        import ctypes

        ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(APP_ID)
    from dentsend.gui.window import window_icon

    app.setWindowIcon(window_icon())
    return app


_QT_LOG = logging.getLogger("dentsend.gui.qt")


def _qt_message(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Qt's own warnings go to the log window, not to a terminal the user never sees."""
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.DEBUG,
        QtMsgType.QtWarningMsg: logging.INFO,
    }.get(mode, logging.WARNING)
    _QT_LOG.log(level, "%s", message)


def run_app(files: list[str], demo: bool) -> int:
    """Open the main window with ``files`` (and the bundled samples with ``demo``)."""
    started_at, started_from = process_start_time()
    if not _has_display():
        print(
            "dentsend: no display to open the window on (set DISPLAY, or use the commands: "
            "dentsend --help)",
            file=sys.stderr,
        )
        return 1
    from PySide6.QtWidgets import QApplication

    from dentsend.gui.log_window import install_handler
    from dentsend.gui.window import MainWindow

    app = create_application()
    assert isinstance(app, QApplication)
    from dentsend.gui.instance import serve_or_hand_over

    instance = serve_or_hand_over([Path(f) for f in files], demo)
    if instance is None:
        return 0  # the running dentsend took the files and came forward
    handler = install_handler(logging.INFO)
    window = MainWindow(log_handler=handler, demo=demo)
    window.show()
    receive_files(window, files, demo)
    instance.received.connect(lambda more, wants_demo: receive_files(window, more, wants_demo))
    app.aboutToQuit.connect(instance.close)
    app.installEventFilter(SystemFileOpen(window))
    _purge_expired_passphrases(window)

    if os.environ.get(EXIT_AFTER_SHOW) == "1":

        def report() -> None:
            elapsed = time.time() - started_at
            print(f"dentsend: window shown {elapsed:.2f} s after {started_from}", flush=True)
            window.close()
            app.quit()

        watcher = FirstPaint(lambda: QTimer.singleShot(0, report))
        window.installEventFilter(watcher)
    status = app.exec()
    return int(status)


def receive_files(window: MainWindow, files: list[str], demo: bool) -> None:
    """Add files given at start or by a later start (and the samples for ``--demo``)."""
    paths = [Path(f) for f in files]
    if demo:
        from dentsend.samples import sample_paths

        paths += sample_paths()
    if paths:
        window.add_paths(paths)
    if window.isMinimized():
        window.showNormal()
    window.raise_()
    window.activateWindow()


class SystemFileOpen(QObject):
    """Files the system hands to the running app: on macOS, Finder's "Open With" and files
    dropped on the Dock icon arrive as QFileOpenEvent, not on the command line."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.FileOpen:
            return False
        assert isinstance(event, QFileOpenEvent)
        path = event.file() or event.url().toLocalFile()
        if path:
            receive_files(self.window, [path], demo=False)
        return True


class FirstPaint(QObject):
    """Calls back once, at the watched window's first paint: when the user first sees it."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self.callback: Callable[[], None] | None = callback

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self.callback is not None:
            callback, self.callback = self.callback, None
            callback()
        return False


def _purge_expired_passphrases(window: object) -> None:
    """Delete passphrases whose time is up from the keyring (issue 7), off the GUI thread."""
    from dentsend.gui.window import MainWindow
    from dentsend.gui.workers import Task

    assert isinstance(window, MainWindow)

    def purge() -> int:
        from dentsend.audit import SentLog

        return SentLog().purge_expired()

    def purged(count: int) -> None:
        if count:
            log.info("forgot %d expired passphrase(s)", count)

    window.workers.start(
        window.workers.quick_pool, Task(purge, name="purge passphrases"), on_finished=purged
    )
