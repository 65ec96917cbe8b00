"""Show a file in the file manager, and open a file with its default program.

Revealing is the hand-off that always works: for webmail users, or when no mail program can be
driven, the package is shown selected in its folder and the prepared text goes to the clipboard
(the GUI copies :attr:`HandoffResult.subject` and ``body``).

Per platform: Windows Explorer ``/select,``; macOS ``open -R``; on Linux the freedesktop
``org.freedesktop.FileManager1.ShowItems`` D-Bus call (Nautilus, Dolphin, Nemo, Caja, Thunar...)
through ``gdbus`` or ``dbus-send``, falling back to opening the folder with ``xdg-open``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dentsend.handoff.draft import Draft
from dentsend.handoff.interface import HandoffResult
from dentsend.handoff.launch import launch, run_quietly

log = logging.getLogger(__name__)

FILE_MANAGER1 = "org.freedesktop.FileManager1"
FILE_MANAGER1_PATH = "/org/freedesktop/FileManager1"


def _gvariant_string(text: str) -> str:
    """A GVariant text-format string literal (what ``gdbus call`` parses its arguments as)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def show_items_gdbus_command(path: Path) -> list[str]:
    """``gdbus call`` for FileManager1.ShowItems([uri], startup_id="")."""
    uri = path.absolute().as_uri()
    return [
        "gdbus", "call", "--session",
        "--dest", FILE_MANAGER1,
        "--object-path", FILE_MANAGER1_PATH,
        "--method", f"{FILE_MANAGER1}.ShowItems",
        f"[{_gvariant_string(uri)}]",
        "''",
    ]  # fmt: skip


def show_items_dbus_send_command(path: Path) -> list[str]:
    """The same call through ``dbus-send`` (its ``array:string:`` splits on commas, which a
    file URI never contains: ``as_uri`` percent-encodes them)."""
    uri = path.absolute().as_uri()
    return [
        "dbus-send", "--session", "--print-reply", f"--dest={FILE_MANAGER1}",
        FILE_MANAGER1_PATH, f"{FILE_MANAGER1}.ShowItems",
        f"array:string:{uri}", "string:",
    ]  # fmt: skip


def explorer_select_command(path: Path) -> str:
    """Explorer's command line. A string, not a list: Explorer wants ``/select,"C:\\a b\\x"``
    and Python's list quoting would wrap the whole ``/select,...`` in quotes, which it rejects."""
    return f'explorer /select,"{os.path.normpath(str(path))}"'


def macos_reveal_command(path: Path) -> list[str]:
    return ["open", "-R", str(path.absolute())]


def open_command(path: Path, platform: str) -> list[str]:
    """Open a file or folder with its default program (not on Windows: os.startfile)."""
    if platform == "darwin":
        return ["open", str(path.absolute())]
    return ["xdg-open", str(path.absolute())]


def open_with_default_app(
    path: Path, *, platform: str | None = None, env: Mapping[str, str] | None = None
) -> bool:
    """Open ``path`` as a double-click would; True if the system accepted the request."""
    platform = platform or sys.platform
    if platform == "win32":
        try:
            os.startfile(str(path))  # type: ignore[attr-defined,unused-ignore]  # noqa: S606
        except OSError as exc:
            log.info("no program opens %s files: %s", path.suffix, exc.strerror)
            return False
        return True
    try:
        status = launch(open_command(path, platform), env=env)
    except OSError:
        return False
    return status in (None, 0)


def reveal_in_folder(
    path: Path, *, platform: str | None = None, env: Mapping[str, str] | None = None
) -> bool:
    """Show ``path`` selected in the file manager (or at least open its folder).

    True if a file manager was asked to show it. Blocks for up to a few seconds (D-Bus), so the
    GUI calls it from a worker.
    """
    platform = platform or sys.platform
    path = path.absolute()
    if platform == "win32":
        import subprocess

        # Explorer's exit status is 1 even when it worked: only a failure to start counts.
        try:
            subprocess.Popen(explorer_select_command(path))
        except OSError:
            return open_with_default_app(path.parent, platform=platform)
        return True
    if platform == "darwin":
        try:
            return launch(macos_reveal_command(path), env=env) in (None, 0)
        except OSError:
            return False
    for command in (show_items_gdbus_command(path), show_items_dbus_send_command(path)):
        result = run_quietly(command, env=env, timeout=5.0)
        if result is not None and result.returncode == 0:
            return True
    log.info("no FileManager1 service answered; opening the folder instead")
    return open_with_default_app(path.parent, platform=platform, env=env)


class RevealInFolder:
    """The always-available last resort: the package shown in its folder, text to paste."""

    name = "reveal"
    label = "Show in folder"

    def __init__(
        self, *, platform: str | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.platform = platform or sys.platform
        self.env = env

    def available(self) -> bool:
        return True

    def send(self, draft: Draft) -> HandoffResult:
        target = draft.attachments[0]
        shown = reveal_in_folder(target, platform=self.platform, env=self.env)
        if shown:
            message = (
                f"The package {target.name} is shown in its folder: attach it to a new message "
                "and paste the prepared subject and text."
            )
        else:
            message = (
                f"Attach the package {target.name} from {target.parent} to a new message "
                "and paste the prepared subject and text."
            )
        return HandoffResult.for_draft(
            draft,
            method=self.name,
            opened_mail=False,
            message=message,
            revealed=target if shown else None,
        )
