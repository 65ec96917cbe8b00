"""Make the README screenshots from the real app: docs/images/app-main.png, app-result.png.

Run on a virtual screen, so the window looks as on a desktop (not the offscreen test platform)::

    xvfb-run -a -s "-screen 0 1440x900x24" python docs/make_screenshots.py docs/images

It drives the window the way a user would: adds the demo samples, covers the burned-in name on
the panoramic with a redaction box, confirms the JPEG has no text, types a note, grabs the main
window, clicks Create and grabs the result page. Everything it writes (settings, sent-log,
package) goes to a temporary folder, and passphrases go to an in-memory keyring: the user's own
settings and keychain are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class _ScreenshotKeyring(KeyringBackend):
    """Keeps secrets in memory, so the result page can say the passphrase is kept."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="folder for app-main.png and app-result.png")
    parser.add_argument(
        "--documents",
        type=Path,
        default=None,
        help="the Documents folder the result page shows (default: a temporary one)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dentsend-screens-") as temp:
        root = Path(temp)
        for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            (root / variable).mkdir()
            os.environ[variable] = str(root / variable)
        documents = args.documents or root / "home" / "dentist" / "Documents"
        os.environ["XDG_DOCUMENTS_DIR"] = str(documents)
        keyring.set_keyring(_ScreenshotKeyring())
        # dentsend trusts only OS keychains (dentsend.keychain); this one is trusted by name
        os.environ["DENTSEND_TRUSTED_KEYRING"] = f"{__name__}._ScreenshotKeyring"
        return _shoot(args.output)


def _shoot(output: Path) -> int:
    from PySide6.QtCore import QCoreApplication, QEventLoop, QPointF, Qt
    from PySide6.QtTest import QTest

    from dentsend.gui.app import create_application
    from dentsend.gui.window import MainWindow
    from dentsend.samples import sample_paths
    from dentsend.settings import Settings, save_settings

    save_settings(Settings(practice_name="Smile Dental Practice"))
    create_application()

    def settle(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.005)

    window = MainWindow()
    window.resize(1440, 900)
    window.move(0, 0)
    window.show()
    window.add_paths(sample_paths())
    settle(3.0)
    entries = {entry.name.split("-", 1)[1]: entry for entry in window.model.entries}
    export = entries["export.jpg"]
    window.select_entry(export)
    settle(0.8)
    export.no_text = True
    window.model.entry_changed(export)
    window.select_entry(entries["panoramic.dcm"])
    settle(0.8)
    window.preview.set_tool("redact")
    viewer = window.preview.viewer
    start = viewer.to_widget(QPointF(6, 4)).toPoint()
    end = viewer.to_widget(QPointF(338, 46)).toPoint()
    QTest.mousePress(viewer, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(viewer, (start + end) / 2)
    QTest.mouseMove(viewer, end)
    QTest.mouseRelease(viewer, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    window.preview.set_tool("window")
    window.protect.note.setPlainText(
        "Please assess the periapical area of 46 and advise on endodontic treatment."
    )
    settle(2.5)
    output.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(output / "app-main.png"))

    done: list[object] = []
    window.package_created.connect(done.append)
    window.package_failed.connect(done.append)
    window.create_button.click()
    deadline = time.monotonic() + 120
    while not done and time.monotonic() < deadline:
        settle(0.1)
    if not done or isinstance(done[0], str):
        print(f"the package was not created: {done[0] if done else 'timeout'}", file=sys.stderr)
        return 1
    settle(0.5)
    window.grab().save(str(output / "app-result.png"))
    print(f"wrote {output / 'app-main.png'} and {output / 'app-result.png'}")
    window.workers.cancel_all()
    window.workers.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
