"""Around the flow: drops, shortcuts, settings, geometry, the log, the sent list, accessibility."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QScrollBar,
    QWidget,
)

from dentsend.gui.log_window import LogWindow, install_handler, remove_handler
from dentsend.gui.settings_dialog import SettingsDialog
from dentsend.gui.window import MainWindow
from dentsend.samples import sample_paths
from dentsend.settings import Settings, load_settings
from test_gui_support import (
    SAMPLE,
    add_files,
    create,
    make_window,
    resolve_checks,
)


def test_dropping_a_folder_adds_its_radiographs_and_skips_other_files(qtbot, tmp_path):
    folder = tmp_path / "Export of DEMO PATIENT"
    folder.mkdir()
    for sample in sample_paths()[:2]:
        (folder / sample.name).write_bytes(sample.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    window = make_window(qtbot)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.file_view.dropEvent(event)
    qtbot.waitUntil(
        lambda: len(window.model.entries) == 2 and window.model.loading_count == 0,
        timeout=10_000,
    )
    assert all(e.ready for e in window.model.entries)
    assert "Skipped 1 file" in window.statusBar().currentMessage()
    assert window.windowTitle() == "dentsend"


def test_ctrl_o_adds_files_and_delete_removes_them(qtbot, monkeypatch):
    window = make_window(qtbot)
    chosen = [str(SAMPLE["intraoral"]), str(SAMPLE["bitewing"])]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (chosen, "")))
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(window.model.ready_entries) == 2, timeout=10_000)
    window.file_view.setFocus()
    window.file_view.setCurrentIndex(window.model.index(0))
    QTest.keyClick(window.file_view, Qt.Key.Key_Delete)
    assert [e.name for e in window.model.entries] == [SAMPLE["bitewing"].name]


def test_settings_dialog_saves_and_the_window_uses_them(qtbot):
    window = make_window(qtbot)

    def fill_and_save() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SettingsDialog)
        dialog.practice.setText("Smile  Dental Practice")
        dialog.limit.setValue(15)
        dialog.mode.setCurrentIndex(dialog.mode.findData("pseudonym"))
        dialog.retain["patient-characteristics"].setChecked(True)
        dialog.accept()

    QTimer.singleShot(0, fill_and_save)
    window.settings_action.trigger()
    saved = load_settings()
    assert saved.practice_name == "Smile Dental Practice"
    assert saved.mail_size_limit_mb == 15.0
    assert saved.deid_mode == "pseudonym" and saved.retain == ["patient-characteristics"]
    assert window.practice_label.text() == "Sending as Smile Dental Practice"
    # With no files yet, the new defaults apply at once.
    assert window.decide.mode == "pseudonym"
    assert window.decide.retain_boxes["patient-characteristics"].isChecked()


def test_the_mail_text_is_edited_in_settings_and_checked_before_saving(qtbot, tmp_path):
    from dentsend.handoff.draft import DEFAULT_BODY_TEMPLATE, compose_draft

    dialog = SettingsDialog(Settings(practice_name="Smile Dental"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.body.toPlainText() == DEFAULT_BODY_TEMPLATE  # the default, to edit
    dialog.subject.setText("Radiographs for {patient}")
    dialog.accept()
    assert dialog.isVisible() and dialog.result() != SettingsDialog.DialogCode.Accepted
    assert "{patient}, which dentsend does not fill in" in dialog.problem.text()

    dialog.subject.setText("X-rays from {practice}, {files}")
    dialog.body.setPlainText("Dear colleague,\n\n{instructions}\n\n{practice}")
    dialog.accept()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    settings = dialog.result_settings()
    package = tmp_path / "package.html"
    package.write_bytes(b"x")
    draft = compose_draft([package], format="html", settings=settings)
    assert draft.subject == "X-rays from Smile Dental, one file"
    assert draft.body.startswith("Dear colleague,") and draft.body.rstrip().endswith("Smile Dental")

    # Back to the default text: stored as "", so a newer dentsend's wording reaches the user.
    restore = next(b for b in dialog.findChildren(QAbstractButton)
                   if b.text() == "Restore the default text")  # fmt: skip
    restore.click()
    assert (dialog.result_settings().subject_template, dialog.result_settings().body_template) == (
        "",
        "",
    )


def test_window_geometry_is_remembered(qtbot):
    from dentsend.settings import config_dir

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    # The offscreen test screen is 800 px wide, narrower than the window's minimum, so the
    # width is Qt's to clamp; the height and the panel sizes are what must come back.
    window.resize(1100, 640)
    qtbot.waitUntil(lambda: window.height() == 640)
    window.middle_split.setSizes([300, 250])
    sizes = window.middle_split.sizes()
    window.close()
    assert (config_dir() / "window.ini").is_file()
    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    assert again.height() == 640
    assert again.middle_split.sizes() == sizes


def test_the_first_window_fits_a_small_screen(qtbot):
    """Without stored geometry the window takes at most the screen's free area (the offscreen
    screen is 800 × 800; before, the window opened 880 px high, its step 5 off the screen)."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    available = window.screen().availableGeometry()
    frame = window.frameGeometry()
    assert frame.height() <= available.height()
    assert available.contains(frame.topLeft())


def test_files_the_system_opens_with_dentsend_are_added(qtbot):
    """macOS hands "Open With › dentsend" and drops on the Dock icon to the running app as a
    file-open event on the application, not on the command line."""
    from PySide6.QtGui import QFileOpenEvent

    from dentsend.gui.app import SystemFileOpen

    window = make_window(qtbot)
    receiver = SystemFileOpen(window)
    app = QApplication.instance()
    app.installEventFilter(receiver)
    try:
        sample = sample_paths()[0]
        QApplication.sendEvent(app, QFileOpenEvent(str(sample)))
        qtbot.waitUntil(
            lambda: [e.path for e in window.model.entries] == [sample]
            and window.model.loading_count == 0,
            timeout=20_000,
        )
    finally:
        app.removeEventFilter(receiver)


def test_a_second_start_hands_its_files_to_the_running_window(qtbot, tmp_path):
    """Explorer's "Send with dentsend" starts one process per file: each hands its file to the
    window already open and exits, instead of opening a window of its own."""
    import subprocess
    import sys

    from dentsend.gui.app import receive_files
    from dentsend.gui.instance import InstanceServer

    window = make_window(qtbot)
    server = InstanceServer()
    assert server.try_serve()
    server.received.connect(lambda files, demo: receive_files(window, files, demo))
    assert not InstanceServer().try_serve()  # the lock keeps a second server out
    try:
        samples = sample_paths()[:2]
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        starts = [
            subprocess.Popen([sys.executable, "-m", "dentsend", str(path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for path in samples
        ]  # fmt: skip
        qtbot.waitUntil(lambda: all(p.poll() is not None for p in starts), timeout=60_000)
        assert [p.returncode for p in starts] == [0, 0], [p.stderr.read() for p in starts]
        qtbot.waitUntil(
            lambda: sorted(e.path for e in window.model.entries) == sorted(samples),
            timeout=20_000,
        )
    finally:
        server.close()


def test_an_impostor_under_the_instance_name_learns_nothing(tmp_path):
    """Another user may listen under dentsend's socket name while no dentsend runs: it cannot
    answer the challenge, so a start sends it no file names and does not exit."""
    import subprocess
    import sys

    from PySide6.QtCore import QDir

    from dentsend.gui.instance import hand_over, server_name

    path = Path(QDir.tempPath()) / server_name()
    path.unlink(missing_ok=True)
    # A separate process, as another user's would be (and a blocking Qt call holds the GIL).
    impostor = subprocess.Popen(
        [sys.executable, "-c", IMPOSTOR, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert impostor.stdout is not None
        assert impostor.stdout.readline().strip() == "listening"
        secret_name = tmp_path / "Patient Erika Mustermann.dcm"
        assert hand_over([secret_name], demo=False) is False
        heard = bytes.fromhex(impostor.communicate(timeout=10)[0].strip())
        assert b"Mustermann" not in heard and len(heard.strip()) == 32  # only the challenge
    finally:
        impostor.kill()
        path.unlink(missing_ok=True)


IMPOSTOR = """
import socket, sys
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(sys.argv[1])
listener.listen(1)
print("listening", flush=True)
connection, _ = listener.accept()
connection.settimeout(5)
heard = connection.recv(4096)
connection.sendall(b"0" * 64 + b"\\n" + b"ok\\n")  # a guessed proof, then "ok"
try:
    while chunk := connection.recv(4096):
        heard += chunk
except OSError:
    pass
print(heard.hex())
"""


def test_the_app_names_its_installed_launcher(tmp_path):
    """The desktop file name (Wayland's app id: the window's icon and grouping) is the installed
    .desktop file's; on Windows the same id is the shortcuts' AppUserModelID."""
    import subprocess
    import sys

    from dentsend import APP_ID

    code = (
        "from dentsend.gui.app import create_application; "
        "print(create_application().desktopFileName())"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout.strip() == APP_ID, result.stderr
    root = Path(__file__).resolve().parent.parent / "installer"
    assert (root / "linux" / f"{APP_ID}.desktop").is_file()
    assert f'AppUserModelID: "{APP_ID}"' in (root / "windows" / "dentsend.iss").read_text()


def test_starting_the_app_forgets_expired_passphrases(qtbot):
    """run_app purges at start (off the GUI thread); here the same call on a fresh window."""
    import keyring

    from dentsend.audit import SentLog
    from dentsend.gui.app import _purge_expired_passphrases
    from test_audit import Clock, package, record

    clock = Clock()  # March 2025: a 30-day passphrase from then has long expired
    sent = SentLog(clock=clock)
    old = sent.record(record(packages=(package(seed="1"),)))
    assert sent.remember_passphrase(old, "first passphrase", days=30)
    recent = SentLog().record(record(packages=(package(seed="2"),)))
    assert SentLog().remember_passphrase(recent, "second passphrase", days=30)
    backend = keyring.get_keyring()
    assert len(backend.store) == 2

    window = make_window(qtbot)
    _purge_expired_passphrases(window)
    qtbot.waitUntil(lambda: len(backend.store) == 1, timeout=10_000)
    assert SentLog().recall_passphrase(recent) == "second passphrase"
    assert SentLog().recall_passphrase(old) is None


def test_log_window_shows_what_was_logged_also_before_it_opened(qtbot, caplog):
    caplog.set_level(logging.DEBUG, logger="dentsend")  # restored after the test
    handler = install_handler()
    try:
        logging.getLogger("dentsend.test").warning("first message")
        window = make_window(qtbot, log_handler=handler)
        QTest.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
        log_window = window.log_window
        assert isinstance(log_window, LogWindow) and log_window.isVisible()
        assert "first message" in log_window.text.toPlainText()
        logging.getLogger("dentsend.test").warning("second message")
        qtbot.waitUntil(lambda: "second message" in log_window.text.toPlainText())
        logging.getLogger("dentsend.test").info("only details")
        qtbot.waitUntil(lambda: "only details" in log_window.text.toPlainText())
        log_window.level.setCurrentIndex(2)  # problems only
        assert "only details" not in log_window.text.toPlainText()
        assert "second message" in log_window.text.toPlainText()
    finally:
        remove_handler(handler)


def test_sent_list_search_export_and_passphrase_recall(qtbot, tmp_path, monkeypatch):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"]])
    outcome = create(qtbot, window)
    QTest.keyClick(window, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    sent = window.sent_window
    assert sent is not None and sent.table.rowCount() == 1
    assert sent.table.item(0, 4).text() == outcome.parts[0].name
    QTest.keyClicks(sent.search, "nothing-like-this")
    qtbot.waitUntil(lambda: sent.table.rowCount() == 0)
    sent.search.clear()
    qtbot.waitUntil(lambda: sent.table.rowCount() == 1)

    target = tmp_path / "sent.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    QTest.mouseClick(sent.export, Qt.MouseButton.LeftButton)
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 2 and outcome.parts[0].name in lines[1]
    assert outcome.passphrase not in target.read_text(encoding="utf-8-sig")

    sent.table.selectRow(0)
    shown: list[str] = []

    def read_and_close() -> None:
        box = QApplication.activeModalWidget()
        shown.append(box.text())
        box.close()

    QTimer.singleShot(0, read_and_close)
    QTest.mouseClick(sent.reveal, Qt.MouseButton.LeftButton)
    assert outcome.passphrase in shown[0]


def interactive_widgets(root: QWidget) -> list[QWidget]:
    """Every control a user can reach, without Qt's own inner parts (scroll bars, the line
    edit inside a spin box, a table's header)."""
    kinds = (
        QAbstractButton,
        QLineEdit,
        QPlainTextEdit,
        QComboBox,
        QAbstractSlider,
        QAbstractSpinBox,
        QAbstractItemView,
        QProgressBar,
    )
    found = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not isinstance(widget, kinds) or isinstance(widget, QScrollBar):
            continue
        if widget.objectName().startswith("qt_"):
            continue
        parent = widget.parentWidget()
        if isinstance(parent, QAbstractSpinBox | QComboBox) or type(widget).__name__ in (
            "QHeaderView",
            "QTableCornerButton",
        ):
            continue
        if parent is not None and (
            isinstance(parent, QLineEdit)  # its clear button
            or parent.inherits("QComboBoxPrivateContainer")  # a combo box's drop-down list
            or parent.inherits("QToolBarExtension")
        ):
            continue
        found.append(widget)
    return found


def test_every_control_has_an_accessible_name(qtbot):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"]])
    create(qtbot, window)  # the result page is built too
    window.show_log()
    window.show_sent()
    dialog = SettingsDialog(Settings(), window)
    qtbot.addWidget(dialog)
    unnamed = [
        f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}"
        for root in (window, window.log_window, window.sent_window, dialog)
        for w in interactive_widgets(root)
        if not w.accessibleName()
    ]
    remove_handler(window.log_handler)
    assert unnamed == []


def test_the_window_follows_a_dark_palette(qtbot):
    from PySide6.QtGui import QColor, QPalette

    from dentsend.gui.widgets import Tone, tone_colors

    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["export"]])
    app = QApplication.instance()
    light = app.palette()
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Window, QColor(32, 33, 36))
    dark.setColor(QPalette.ColorRole.WindowText, QColor(232, 234, 237))
    try:
        app.setPalette(dark)
        qtbot.wait(50)
        background, text = tone_colors(Tone.WARNING, app.palette())
        assert background.lightnessF() < 0.5 < text.lightnessF()
        assert background.name() in window.preview.check_banner.styleSheet()
    finally:
        app.setPalette(light)


def test_shortcuts_reach_the_flow(qtbot):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["export"]])
    resolve_checks(qtbot, window)
    with qtbot.waitSignal(window.package_created, timeout=60_000):
        QTest.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.result_page
    QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentIndex() == 0 and window.model.entries == []
    assert window.preview.viewer.message.startswith("Add radiographs")
    assert QPoint(0, 0) == QPoint()  # the page switch needs no mouse


RECORDER = """#!{python}
import json, pathlib, sys
pathlib.Path({log!r}).open("a", encoding="utf-8").write(json.dumps(sys.argv) + "\\n")
"""


def test_open_in_mail_client_hands_the_package_to_the_default_mail_program(qtbot, tmp_path):
    """A Thunderbird-like default mailto handler (a recorder script) receives the package."""
    import json
    import os
    import subprocess
    import sys
    from urllib.parse import unquote

    from conftest import require_tool

    require_tool("xdg-mime")
    calls = tmp_path / "calls.jsonl"
    program = tmp_path / "bin" / "thunderbird"
    program.parent.mkdir()
    program.write_text(RECORDER.format(python=sys.executable, log=str(calls)))
    program.chmod(0o755)
    applications = Path(os.environ["XDG_DATA_HOME"]) / "applications"
    applications.mkdir(parents=True, exist_ok=True)
    (applications / "recorder.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Recorder\n"
        f"Exec={program} %u\nMimeType=x-scheme-handler/mailto;\n"
    )
    subprocess.run(
        ["xdg-mime", "default", "recorder.desktop", "x-scheme-handler/mailto"], check=True
    )

    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"]])
    outcome = create(qtbot, window)
    QTest.keyClicks(window.result_page.to, "dr.jones@example.org")
    QTest.mouseClick(window.result_page.mail_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: calls.exists(), timeout=15_000)
    argv = json.loads(calls.read_text().splitlines()[0])
    assert argv[1] == "-compose"
    assert f"attachment='file://{outcome.parts[0]}'" in unquote(argv[2])
    assert "dr.jones@example.org" in argv[2]
    assert outcome.passphrase not in argv[2]  # never in the mail
    qtbot.waitUntil(lambda: window.result_page.handoff_label.isVisible(), timeout=10_000)
    # the address typed after the package was made is noted in the sent-log
    from dentsend.audit import SentLog

    qtbot.waitUntil(
        lambda: SentLog().get(outcome.record_id).recipient == "dr.jones@example.org",
        timeout=10_000,
    )
