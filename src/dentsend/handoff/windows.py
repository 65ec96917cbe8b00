"""Windows: Simple MAPI (classic Outlook, Thunderbird, eM Client...), else an ``.eml`` draft.

Simple MAPI is the one Windows interface through which any installed mail program opens a new
message with attachments. ``MAPISendMailW`` (Windows 8+) takes Unicode; the ANSI ``MAPISendMail``
is the fallback for old MAPI providers. The call runs on a thread of its own: some providers
initialise COM on the calling thread and clash with Qt's OLE set-up on the GUI thread, and with
``MAPI_DIALOG_MODELESS`` the call returns once the compose window is up.

The new Outlook (and a system with no mail program) has no MAPI. Then dentsend writes an
RFC 5322 draft with ``X-Unsent: 1`` beside the package and opens it: classic Outlook opens such a
file as an editable, unsent message.

The ctypes structures are built by :func:`build_mapi_message`, a pure function that runs (and is
tested) on any platform; only the DLL call itself needs Windows.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dentsend.handoff.draft import Draft, write_eml
from dentsend.handoff.interface import HandoffFailed, HandoffResult
from dentsend.handoff.reveal import open_with_default_app

log = logging.getLogger(__name__)

# mapi.h. ULONG is 32 bits on Windows whatever the pointer size, hence c_uint32 (c_ulong
# would be 64 bits when the structures are built on Linux for the tests).
ULONG = ctypes.c_uint32
ULONG_PTR = ctypes.c_size_t

MAPI_ORIG = 0
MAPI_TO = 1
MAPI_LOGON_UI = 0x00000001
MAPI_DIALOG = 0x00000008
MAPI_DIALOG_MODELESS = 0x00000004 | MAPI_DIALOG
SEND_FLAGS = MAPI_LOGON_UI | MAPI_DIALOG_MODELESS
FALLBACK_FLAGS = MAPI_LOGON_UI | MAPI_DIALOG
NO_POSITION = 0xFFFFFFFF

SUCCESS_SUCCESS = 0
MAPI_USER_ABORT = 1
MAPI_E_NOT_SUPPORTED = 26
MAPI_E_UNICODE_NOT_SUPPORTED = 27

MAPI_ERRORS = {
    1: "cancelled",
    2: "general failure",
    3: "logon failed",
    5: "not enough memory",
    9: "too many files",
    11: "attachment not found",
    12: "attachment could not be opened",
    14: "unknown recipient",
    18: "text too large",
    25: "invalid recipients",
    26: "not supported",
    27: "Unicode not supported",
    28: "attachment too large",
}


class MapiFileDescW(ctypes.Structure):
    _fields_ = [
        ("ulReserved", ULONG),
        ("flFlags", ULONG),
        ("nPosition", ULONG),
        ("lpszPathName", ctypes.c_wchar_p),
        ("lpszFileName", ctypes.c_wchar_p),
        ("lpFileType", ctypes.c_void_p),
    ]


class MapiRecipDescW(ctypes.Structure):
    _fields_ = [
        ("ulReserved", ULONG),
        ("ulRecipClass", ULONG),
        ("lpszName", ctypes.c_wchar_p),
        ("lpszAddress", ctypes.c_wchar_p),
        ("ulEIDSize", ULONG),
        ("lpEntryID", ctypes.c_void_p),
    ]


class MapiMessageW(ctypes.Structure):
    _fields_ = [
        ("ulReserved", ULONG),
        ("lpszSubject", ctypes.c_wchar_p),
        ("lpszNoteText", ctypes.c_wchar_p),
        ("lpszMessageType", ctypes.c_wchar_p),
        ("lpszDateReceived", ctypes.c_wchar_p),
        ("lpszConversationID", ctypes.c_wchar_p),
        ("flFlags", ULONG),
        ("lpOriginator", ctypes.POINTER(MapiRecipDescW)),
        ("nRecipCount", ULONG),
        ("lpRecips", ctypes.POINTER(MapiRecipDescW)),
        ("nFileCount", ULONG),
        ("lpFiles", ctypes.POINTER(MapiFileDescW)),
    ]


class MapiFileDesc(ctypes.Structure):
    _fields_ = [
        ("ulReserved", ULONG),
        ("flFlags", ULONG),
        ("nPosition", ULONG),
        ("lpszPathName", ctypes.c_char_p),
        ("lpszFileName", ctypes.c_char_p),
        ("lpFileType", ctypes.c_void_p),
    ]


class MapiRecipDesc(ctypes.Structure):
    _fields_ = [
        ("ulReserved", ULONG),
        ("ulRecipClass", ULONG),
        ("lpszName", ctypes.c_char_p),
        ("lpszAddress", ctypes.c_char_p),
        ("ulEIDSize", ULONG),
        ("lpEntryID", ctypes.c_void_p),
    ]


class MapiMessage(ctypes.Structure):
    _fields_ = [
        ("ulReserved", ULONG),
        ("lpszSubject", ctypes.c_char_p),
        ("lpszNoteText", ctypes.c_char_p),
        ("lpszMessageType", ctypes.c_char_p),
        ("lpszDateReceived", ctypes.c_char_p),
        ("lpszConversationID", ctypes.c_char_p),
        ("flFlags", ULONG),
        ("lpOriginator", ctypes.POINTER(MapiRecipDesc)),
        ("nRecipCount", ULONG),
        ("lpRecips", ctypes.POINTER(MapiRecipDesc)),
        ("nFileCount", ULONG),
        ("lpFiles", ctypes.POINTER(MapiFileDesc)),
    ]


@dataclass
class MapiCall:
    """A filled MapiMessage(W) plus everything its pointers point into (kept alive)."""

    message: ctypes.Structure
    unicode: bool
    keep_alive: list[Any] = field(default_factory=list)


def _windows_text(text: str) -> str:
    # MAPI providers expect CRLF in the note text; a lone LF shows as one long line in Outlook.
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def build_mapi_message(draft: Draft, *, unicode: bool = True, encoding: str = "mbcs") -> MapiCall:
    """The Simple MAPI message for ``draft``: subject, note text, To recipients, attachments.

    ``encoding`` is the ANSI code page for the non-Unicode call (``mbcs`` on Windows); text that
    it cannot represent makes the ANSI call impossible (UnicodeEncodeError).
    """
    message_type, recip_type, file_type = (
        (MapiMessageW, MapiRecipDescW, MapiFileDescW)
        if unicode
        else (MapiMessage, MapiRecipDesc, MapiFileDesc)
    )

    def text(value: str) -> Any:
        return value if unicode else value.encode(encoding)

    addresses = [a.strip() for a in draft.to.split(",") if a.strip()]
    recipients = (recip_type * max(len(addresses), 1))()
    for slot, address in zip(recipients, addresses, strict=False):
        slot.ulRecipClass = MAPI_TO
        slot.lpszName = text(address)
        slot.lpszAddress = text(f"SMTP:{address}")
    files = (file_type * len(draft.attachments))()
    for slot, path in zip(files, draft.attachments, strict=True):
        slot.nPosition = NO_POSITION
        slot.lpszPathName = text(str(path))
        # Outlook 2013 fails a modeless send when the display name is NULL.
        slot.lpszFileName = text(path.name)
    message = message_type()
    message.lpszSubject = text(draft.subject)
    message.lpszNoteText = text(_windows_text(draft.body))
    message.nRecipCount = len(addresses)
    message.lpRecips = ctypes.cast(recipients, ctypes.POINTER(recip_type)) if addresses else None
    message.nFileCount = len(draft.attachments)
    message.lpFiles = ctypes.cast(files, ctypes.POINTER(file_type))
    return MapiCall(message=message, unicode=unicode, keep_alive=[recipients, files])


SendMailFunction = Callable[[int, int, Any, int, int], int]
"""``MAPISendMail(W)(lhSession, ulUIParam, lpMessage, flFlags, ulReserved) -> ULONG``."""


def _load_mapi() -> tuple[SendMailFunction | None, SendMailFunction | None]:
    """(MAPISendMailW, MAPISendMail) from mapi32.dll, either None when absent."""
    dll = ctypes.WinDLL("mapi32.dll")  # type: ignore[attr-defined,unused-ignore]

    def bind(name: str, message_type: type[ctypes.Structure]) -> SendMailFunction | None:
        try:
            function = getattr(dll, name)
        except AttributeError:
            return None
        function.argtypes = [
            ULONG_PTR, ULONG_PTR, ctypes.POINTER(message_type), ULONG, ULONG,
        ]  # fmt: skip
        function.restype = ULONG
        return function  # type: ignore[no-any-return]

    return bind("MAPISendMailW", MapiMessageW), bind("MAPISendMail", MapiMessage)


if sys.platform == "win32":

    def default_mail_client() -> str | None:
        """The registered default mail program (``HKCU``, then ``HKLM``,
        ``Software\\Clients\\Mail``): none means Simple MAPI has nobody to call."""
        import winreg

        for root in (winreg.HKEY_CURRENT_USER, winreg.HKEY_LOCAL_MACHINE):
            try:
                with winreg.OpenKey(root, r"Software\Clients\Mail") as key:
                    value, _kind = winreg.QueryValueEx(key, "")
            except OSError:
                continue
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

else:

    def default_mail_client() -> str | None:
        return None


def run_off_thread(function: Callable[[], int]) -> int:
    """Run ``function`` on a fresh thread (its own COM apartment) and wait for it."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="dentsend-mapi", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return int(outcome["value"])


class SimpleMapi:
    """Simple MAPI: the default mail program's own compose window, attachments included."""

    name = "mapi"
    label = "your mail program (Simple MAPI)"

    def __init__(
        self,
        *,
        functions: tuple[SendMailFunction | None, SendMailFunction | None] | None = None,
        ansi_encoding: str = "mbcs",
        platform: str | None = None,
    ) -> None:
        self._functions = functions
        self.ansi_encoding = ansi_encoding
        self.platform = platform or sys.platform

    def available(self) -> bool:
        if self._functions is not None:
            return True
        if self.platform != "win32":
            return False
        try:
            client = default_mail_client()
        except OSError:
            return False
        if client is None:
            log.info("no default mail program is registered for Simple MAPI")
        return client is not None

    def _send_functions(self) -> tuple[SendMailFunction | None, SendMailFunction | None]:
        if self._functions is None:
            try:
                self._functions = _load_mapi()
            except OSError:
                raise HandoffFailed("mapi32.dll is not available.") from None
        return self._functions

    def _call(self, function: SendMailFunction, call: MapiCall) -> int:
        status = run_off_thread(lambda: function(0, 0, ctypes.byref(call.message), SEND_FLAGS, 0))
        if status == MAPI_E_NOT_SUPPORTED:
            # Providers before Windows 8's MAPI do not know the modeless flag.
            status = run_off_thread(
                lambda: function(0, 0, ctypes.byref(call.message), FALLBACK_FLAGS, 0)
            )
        return status

    def send(self, draft: Draft) -> HandoffResult:
        unicode_send, ansi_send = self._send_functions()
        status: int | None = None
        if unicode_send is not None:
            status = self._call(unicode_send, build_mapi_message(draft, unicode=True))
        if status in (None, MAPI_E_UNICODE_NOT_SUPPORTED) and ansi_send is not None:
            try:
                call = build_mapi_message(draft, unicode=False, encoding=self.ansi_encoding)
            except UnicodeEncodeError:
                raise HandoffFailed(
                    "The mail program only takes ANSI text and a file name or the text "
                    "does not fit its code page."
                ) from None
            status = self._call(ansi_send, call)
        if status is None:
            raise HandoffFailed("mapi32.dll has no MAPISendMail function.")
        if status == MAPI_USER_ABORT:
            return HandoffResult.for_draft(
                draft,
                method=self.name,
                opened_mail=True,
                message="The new message was closed without sending.",
            )
        if status != SUCCESS_SUCCESS:
            reason = MAPI_ERRORS.get(status, "error")
            raise HandoffFailed(f"Simple MAPI failed ({reason}, code {status}).")
        return HandoffResult.for_draft(
            draft,
            method=self.name,
            opened_mail=True,
            message="Your mail program opened a new message with the package attached.",
        )


def eml_draft_path(draft: Draft) -> Path:
    """Beside the (first) package, in the persistent outgoing folder: mail programs read the
    attachment when the user presses Send, possibly much later."""
    first = draft.attachments[0]
    return first.with_name(first.stem + ".eml")


class OpenEmlDraft:
    """Write an ``X-Unsent: 1`` draft beside the package and open it with the default program."""

    name = "eml"
    label = "an email draft (.eml)"

    def __init__(
        self, *, platform: str | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.platform = platform or sys.platform
        self.env = env

    def available(self) -> bool:
        return True

    def send(self, draft: Draft) -> HandoffResult:
        path = eml_draft_path(draft)
        try:
            write_eml(draft, path)
        except OSError as exc:
            raise HandoffFailed(f"The draft {path.name} could not be written ({exc}).") from None
        if not open_with_default_app(path, platform=self.platform, env=self.env):
            path.unlink(missing_ok=True)
            raise HandoffFailed("No program opens .eml files.")
        return HandoffResult.for_draft(
            draft,
            method=self.name,
            opened_mail=True,
            message=(
                f"The draft {path.name} was opened with the package attached; if your mail "
                "program shows it as received mail, use Show in folder and attach the package."
            ),
            draft_path=path,
        )


WINDOWS_HANDOFF_NAMES = ("mapi", "eml")
