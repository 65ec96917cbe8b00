"""Driving the real main window in tests: add files, wait for them, create a package, open it.

Shared by the other ``test_gui_*`` modules (``from test_gui_support import ...``); it holds no
tests itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from conftest import run_cli
from dentsend.gui.files import FileEntry
from dentsend.gui.window import MainWindow
from dentsend.samples import sample_paths

#: What must never reach a package: the fake patient the samples carry everywhere.
PATIENT_MARKERS = (b"DEMO^PATIENT", b"DEMO PATIENT", b"DEMO_PATIENT", b"DEMO-0001", b"19700101")

SAMPLE = {p.name.split("-", 1)[1].split(".")[0]: p for p in sample_paths()}
"""``intraoral``, ``bitewing``, ``panoramic``, ``cbct-slices``, ``export`` → path."""


def make_window(qtbot: Any, **kwargs: Any) -> MainWindow:
    window = MainWindow(**kwargs)
    qtbot.addWidget(window)
    window.resize(1300, 860)
    window.show()
    # Shortcuts reach the active window only. (Not QTest.qWaitForWindowActive: it holds the
    # GIL while it waits, so the window's worker threads stall meanwhile.)
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    return window


def add_files(qtbot: Any, window: MainWindow, paths: list[Path], timeout: int = 20_000) -> None:
    """Add files the way a drop does, and wait until every one is loaded or failed."""
    before = len(window.model.entries)
    window.add_paths(paths)
    qtbot.waitUntil(
        lambda: (
            len(window.model.entries) > before
            and not window._adding
            and window.model.loading_count == 0
        ),
        timeout=timeout,
    )


def entry_named(window: MainWindow, fragment: str) -> FileEntry:
    return next(e for e in window.model.entries if fragment in e.name)


def select(qtbot: Any, window: MainWindow, entry: FileEntry) -> None:
    """Click the file in the list, and wait for its preview."""
    row = window.model.row_of(entry)
    view = window.file_view
    rect = view.visualRect(window.model.index(row))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_entry is entry
    if entry.ready:
        qtbot.waitUntil(
            lambda: (
                window.preview.preview is not None and window.preview.preview.path == entry.path
            ),
            timeout=10_000,
        )


def click(button: Any) -> None:
    """Click a button, radio button or check box where a user would: on its indicator / text
    start (a radio button's empty stretch to the right does not take clicks)."""
    QTest.mouseClick(
        button,
        Qt.MouseButton.LeftButton,
        pos=QPoint(min(8, button.width() // 2), button.height() // 2),
    )


def tick_no_text(qtbot: Any, window: MainWindow, entry: FileEntry) -> None:
    """Select a file that needs the burned-in check and tick "No text in this image"."""
    select(qtbot, window, entry)
    box = window.preview.no_text
    assert box.isVisible(), f"{entry.name} shows no burned-in check"
    click(box)
    assert entry.no_text


def resolve_checks(qtbot: Any, window: MainWindow) -> None:
    for entry in window.model.unresolved_checks():
        tick_no_text(qtbot, window, entry)


def drag(viewer: Any, start: QPointF, end: QPointF, steps: int = 5) -> None:
    """Press, move in steps and release the left button on the preview, as a hand would."""
    a, b = viewer.to_widget(start).toPoint(), viewer.to_widget(end).toPoint()
    QTest.mousePress(viewer, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, steps + 1):
        point = a + (b - a) * i / steps
        QTest.mouseMove(viewer, point)
    QTest.mouseRelease(viewer, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def create(qtbot: Any, window: MainWindow, timeout: int = 60_000) -> Any:
    """Click Create and wait for the result page; returns the :class:`Outcome`."""
    assert window.create_button.isEnabled(), window.missing.text()
    with qtbot.waitSignal(window.package_created, timeout=timeout) as blocker:
        QTest.mouseClick(window.create_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def open_package(package: Path, out: Path, *args: str) -> list[Path]:
    """``dentsend open`` in a subprocess, as the recipient's side would; returns the files."""
    result = run_cli("open", package, "-o", out, *args)
    assert result.returncode == 0, result.stderr
    return sorted(out.iterdir())


def assert_no_patient(paths: list[Path]) -> None:
    for path in paths:
        data = path.read_bytes()
        for marker in PATIENT_MARKERS:
            assert marker not in data, f"{path.name} holds {marker!r}"
            assert marker.decode() not in path.name


def copies(folder: Path, count: int) -> list[Path]:
    """``count`` copies of every sample under new names (a bigger package)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for n in range(count):
        for sample in sample_paths():
            target = folder / f"copy{n:02d}-{sample.name}"
            shutil.copyfile(sample, target)
            made.append(target)
    return made
