"""Windows hand-off checked on any platform: the Simple MAPI structures dentsend builds, the
flags it passes and its fallbacks. Only the DLL function itself is replaced, by a recorder that
reads the structure through its pointers as mapi32.dll would."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import Any

import pytest

from dentsend.handoff import HandoffResult, compose_draft, handler_choices, handoff_chain
from dentsend.handoff.draft import Draft
from dentsend.handoff.interface import HandoffFailed
from dentsend.handoff.reveal import explorer_select_command
from dentsend.handoff.windows import (
    MAPI_DIALOG,
    MAPI_DIALOG_MODELESS,
    MAPI_LOGON_UI,
    MAPI_TO,
    MapiFileDescW,
    MapiMessage,
    MapiMessageW,
    MapiRecipDescW,
    SimpleMapi,
    build_mapi_message,
)
from dentsend.settings import Settings


@pytest.fixture
def draft(tmp_path: Path) -> Draft:
    packages = []
    for name in ("Röntgen 1.html", "Röntgen 2.html"):
        path = tmp_path / name
        path.write_bytes(b"ciphertext " + name.encode())
        packages.append(path)
    return compose_draft(
        packages, format="html", settings=Settings(practice_name="Zahnarzt Ü"), parts=2,
        to="a@example.org, b@example.net",
    )  # fmt: skip


class RecordingMapi:
    """Stands in for MAPISendMail(W): reads the message like the DLL does, returns a status."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, session: int, ui: int, message_ref: Any, flags: int, reserved: int) -> int:
        message = message_ref._obj
        recipients = [message.lpRecips[i] for i in range(message.nRecipCount)]
        files = [message.lpFiles[i] for i in range(message.nFileCount)]
        self.calls.append({
            "thread": threading.current_thread(),
            "session": session, "ui": ui, "flags": flags, "reserved": reserved,
            "subject": message.lpszSubject, "text": message.lpszNoteText,
            "to": [(r.ulRecipClass, r.lpszName, r.lpszAddress) for r in recipients],
            "files": [(f.lpszPathName, f.lpszFileName, f.nPosition) for f in files],
        })  # fmt: skip
        return self.statuses.pop(0)


def test_structures_have_the_windows_x64_layout() -> None:
    pointer = ctypes.sizeof(ctypes.c_void_p)
    if pointer != 8:
        pytest.skip("layout figures below are for 64-bit")
    assert ctypes.sizeof(MapiFileDescW) == 40
    assert ctypes.sizeof(MapiRecipDescW) == 40
    assert ctypes.sizeof(MapiMessageW) == 96
    assert MapiMessageW.flFlags.offset == 48
    assert MapiMessageW.lpFiles.offset == 88
    assert ctypes.sizeof(MapiMessage) == ctypes.sizeof(MapiMessageW)


def test_unicode_message_carries_text_recipients_and_files(draft: Draft) -> None:
    call = build_mapi_message(draft)
    message = call.message
    assert isinstance(message, MapiMessageW)
    assert message.lpszSubject == draft.subject
    assert message.lpszNoteText == draft.body.replace("\n", "\r\n")
    assert message.nRecipCount == 2
    recipients = [message.lpRecips[i] for i in (0, 1)]
    assert [(r.ulRecipClass, r.lpszName, r.lpszAddress) for r in recipients] == [
        (MAPI_TO, "a@example.org", "SMTP:a@example.org"),
        (MAPI_TO, "b@example.net", "SMTP:b@example.net"),
    ]
    assert message.nFileCount == 2
    files = [message.lpFiles[i] for i in range(2)]
    assert [f.lpszPathName for f in files] == [str(p) for p in draft.attachments]
    assert [f.lpszFileName for f in files] == ["Röntgen 1.html", "Röntgen 2.html"]
    assert all(f.nPosition == 0xFFFFFFFF for f in files)  # attachments, not inline
    assert not message.lpOriginator


def test_ansi_message_uses_the_code_page(draft: Draft) -> None:
    call = build_mapi_message(draft, unicode=False, encoding="cp1252")
    message = call.message
    assert isinstance(message, MapiMessage)
    assert message.lpFiles[0].lpszFileName == "Röntgen 1.html".encode("cp1252")
    assert message.lpszSubject == draft.subject.encode("cp1252")
    with pytest.raises(UnicodeEncodeError):
        build_mapi_message(
            Draft(attachments=draft.attachments, subject="Снимки", body=""), unicode=False,
            encoding="cp1252",
        )  # fmt: skip


def test_send_is_modeless_and_off_the_calling_thread(draft: Draft) -> None:
    unicode_send = RecordingMapi(0)
    result = SimpleMapi(functions=(unicode_send, None)).send(draft)
    assert isinstance(result, HandoffResult) and result.method == "mapi" and result.opened_mail
    [call] = unicode_send.calls
    assert call["flags"] == MAPI_LOGON_UI | MAPI_DIALOG_MODELESS
    assert call["flags"] & MAPI_DIALOG  # the modeless flag includes MAPI_DIALOG
    assert (call["session"], call["ui"], call["reserved"]) == (0, 0, 0)
    assert call["thread"] is not threading.current_thread()
    assert call["files"][0][0] == str(draft.attachments[0])


def test_modal_retry_then_ansi_fallback(draft: Draft) -> None:
    # An old provider: the Unicode call is "not supported" modeless, then "Unicode not
    # supported"; the ANSI call works.
    unicode_send, ansi_send = RecordingMapi(26, 27), RecordingMapi(0)
    SimpleMapi(functions=(unicode_send, ansi_send), ansi_encoding="cp1252").send(draft)
    assert [c["flags"] for c in unicode_send.calls] == [
        MAPI_LOGON_UI | MAPI_DIALOG_MODELESS, MAPI_LOGON_UI | MAPI_DIALOG,
    ]  # fmt: skip
    assert ansi_send.calls[0]["subject"] == draft.subject.encode("cp1252")
    # No MAPISendMailW at all (before Windows 8): straight to ANSI.
    only_ansi = RecordingMapi(0)
    SimpleMapi(functions=(None, only_ansi), ansi_encoding="cp1252").send(draft)
    assert len(only_ansi.calls) == 1


def test_failure_and_cancel(draft: Draft) -> None:
    with pytest.raises(HandoffFailed, match="code 2"):
        SimpleMapi(functions=(RecordingMapi(2), None)).send(draft)
    cancelled = SimpleMapi(functions=(RecordingMapi(1), None)).send(draft)
    assert cancelled.opened_mail and "without sending" in cancelled.message


def test_explorer_select_command_quotes_the_path() -> None:
    command = explorer_select_command(Path("/Users/dr/Documents/dentsend/outgoing/a b.html"))
    assert command.startswith('explorer /select,"') and command.endswith('a b.html"')


def test_windows_chain_and_forced_handler() -> None:
    chain = handoff_chain(Settings(), platform="win32")
    assert [h.name for h in chain] == ["mapi", "eml", "reveal"]
    forced = handoff_chain(Settings(mail_handler="eml"), platform="win32")
    assert [h.name for h in forced] == ["eml", "reveal"]
    # A stale setting (say, copied from a Linux machine) does not leave the user stuck.
    stale = handoff_chain(Settings(mail_handler="kmail"), platform="win32")
    assert [h.name for h in stale] == ["mapi", "eml", "reveal"]
    assert [name for name, _ in handler_choices("win32")] == ["auto", "mapi", "eml", "reveal"]
