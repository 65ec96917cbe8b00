"""macOS: Apple Mail, or Outlook for Mac when it is the default mail program.

The default ``mailto`` handler comes from LaunchServices: ``LSCopyDefaultHandlerForURLScheme``
through ctypes (CoreServices), and if that cannot be called, the user's LaunchServices
preferences (``com.apple.launchservices.secure.plist``, read with plistlib, which takes the binary
format). No entry there means Mail, the system default.

Mail and Outlook are driven by AppleScript through ``osascript``: the subject, body, address and
file paths are passed as arguments to the script's ``run`` handler, never pasted into the script
text, so no quoting can go wrong. If Mail refuses scripting (the user declined the Automation
prompt), ``open -a Mail FILE`` still opens a new message with the file attached, without text.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import plistlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dentsend.handoff.draft import Draft
from dentsend.handoff.interface import HandoffFailed, HandoffResult, MailHandoff
from dentsend.handoff.launch import launch, run_quietly

log = logging.getLogger(__name__)

APPLE_MAIL = "com.apple.mail"
OUTLOOK = "com.microsoft.outlook"
LAUNCH_SERVICES_PLIST = (
    Path.home()
    / "Library/Preferences/com.apple.LaunchServices/com.apple.launchservices.secure.plist"
)
K_CF_STRING_ENCODING_UTF8 = 0x08000100

# The first script argument is a fixed marker so that osascript's option parsing has stopped
# before the user's text: a subject starting with "-" stays an argument.
_ARGUMENT_MARKER = "dentsend"

APPLE_MAIL_SCRIPT = (
    "on run argv",
    "set theSubject to item 2 of argv",
    "set theBody to item 3 of argv",
    "set theAddress to item 4 of argv",
    "set theFiles to {}",
    "repeat with i from 5 to count of argv",
    "set end of theFiles to (POSIX file (item i of argv)) as alias",
    "end repeat",
    'tell application "Mail"',
    "set theMessage to make new outgoing message with properties "
    "{subject:theSubject, content:theBody & return & return, visible:true}",
    "tell theMessage",
    'if theAddress is not "" then make new to recipient at end of to recipients '
    "with properties {address:theAddress}",
    "repeat with theFile in theFiles",
    "tell content to make new attachment with properties {file name:theFile} "
    "at after the last paragraph",
    "end repeat",
    "end tell",
    "activate",
    "end tell",
    "end run",
)

OUTLOOK_SCRIPT = (
    "on run argv",
    "set theSubject to item 2 of argv",
    "set theBody to item 3 of argv",
    "set theAddress to item 4 of argv",
    "set theFiles to {}",
    "repeat with i from 5 to count of argv",
    "set end of theFiles to (POSIX file (item i of argv)) as alias",
    "end repeat",
    'tell application "Microsoft Outlook"',
    "set theMessage to make new outgoing message with properties "
    "{subject:theSubject, plain text content:theBody}",
    'if theAddress is not "" then make new recipient at theMessage '
    "with properties {email address:{address:theAddress}}",
    "repeat with theFile in theFiles",
    "make new attachment at theMessage with properties {file:theFile}",
    "end repeat",
    "open theMessage",
    "activate",
    "end tell",
    "end run",
)


def osascript_command(script: Sequence[str], draft: Draft) -> list[str]:
    """``osascript -e LINE ... dentsend SUBJECT BODY ADDRESS FILE...``."""
    command = ["osascript"]
    for line in script:
        command += ["-e", line]
    # AppleScript's "return" is CR; Mail shows LF fine, Outlook's plain text wants CR or CRLF.
    body = draft.body.replace("\r\n", "\n").replace("\n", "\r")
    address = draft.to.split(",")[0].strip() if draft.to else ""
    command += [_ARGUMENT_MARKER, draft.subject, body, address]
    command += [str(path) for path in draft.attachments]
    return command


def open_with_mail_command(draft: Draft, app: str = "Mail") -> list[str]:
    return ["open", "-a", app, *[str(path) for path in draft.attachments]]


def mailto_handler_from_launchservices(data: bytes) -> str | None:
    """The bundle ID LaunchServices' preferences name for ``mailto``, lower-cased, or None."""
    try:
        preferences = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, TypeError):
        return None
    handlers = preferences.get("LSHandlers", []) if isinstance(preferences, dict) else []
    for handler in handlers if isinstance(handlers, list) else []:
        if not isinstance(handler, dict):
            continue
        if str(handler.get("LSHandlerURLScheme", "")).lower() == "mailto":
            bundle = handler.get("LSHandlerRoleAll") or handler.get("LSHandlerRoleViewer")
            return str(bundle).lower() if bundle else None
    return None


def _launch_services_default() -> str | None:  # pragma: no cover - macOS only
    """``LSCopyDefaultHandlerForURLScheme(CFSTR("mailto"))`` through ctypes."""
    core_foundation = ctypes.cdll.LoadLibrary(
        ctypes.util.find_library("CoreFoundation")
        or "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
    )
    core_services = ctypes.cdll.LoadLibrary(
        ctypes.util.find_library("CoreServices")
        or "/System/Library/Frameworks/CoreServices.framework/CoreServices"
    )
    create = core_foundation.CFStringCreateWithCString
    create.restype = ctypes.c_void_p
    create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32]
    get = core_foundation.CFStringGetCString
    get.restype = ctypes.c_bool
    get.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_uint32]
    release = core_foundation.CFRelease
    release.argtypes = [ctypes.c_void_p]
    copy_handler = core_services.LSCopyDefaultHandlerForURLScheme
    copy_handler.restype = ctypes.c_void_p
    copy_handler.argtypes = [ctypes.c_void_p]

    scheme = create(None, b"mailto", K_CF_STRING_ENCODING_UTF8)
    try:
        handler = copy_handler(scheme)
        if not handler:
            return None
        try:
            buffer = ctypes.create_string_buffer(512)
            if not get(handler, buffer, len(buffer), K_CF_STRING_ENCODING_UTF8):
                return None
            return buffer.value.decode("utf-8").lower()
        finally:
            release(handler)
    finally:
        release(scheme)


def default_mailto_bundle_id(preferences: Path = LAUNCH_SERVICES_PLIST) -> str:
    """The default mail program's bundle ID (lower case); Mail when nothing else is set."""
    try:
        found = _launch_services_default()
    except (OSError, AttributeError) as exc:
        log.info("LaunchServices could not be asked (%s); reading its preferences", exc)
        try:
            found = mailto_handler_from_launchservices(preferences.read_bytes())
        except OSError:
            found = None
    return found or APPLE_MAIL


class AppleScriptCompose:
    """A new message composed through the mail program's AppleScript dictionary."""

    name = ""
    label = ""
    script: tuple[str, ...] = ()

    def __init__(self, *, env: Mapping[str, str] | None = None) -> None:
        self.env = env

    def available(self) -> bool:
        return sys.platform == "darwin"

    def command(self, draft: Draft) -> list[str]:
        return osascript_command(self.script, draft)

    def send(self, draft: Draft) -> HandoffResult:
        result = run_quietly(self.command(draft), env=self.env, timeout=60.0)
        if result is None or result.returncode != 0:
            status = "did not run" if result is None else f"ended with status {result.returncode}"
            raise HandoffFailed(f"Scripting {self.label} {status}.")
        return HandoffResult.for_draft(
            draft,
            method=self.name,
            opened_mail=True,
            message=f"{self.label} opened a new message with the package attached.",
        )


class AppleMailCompose(AppleScriptCompose):
    name = "apple-mail"
    label = "Mail"
    script = APPLE_MAIL_SCRIPT


class OutlookMacCompose(AppleScriptCompose):
    name = "outlook-mac"
    label = "Outlook"
    script = OUTLOOK_SCRIPT


class AppleMailOpen:
    """``open -a Mail FILE``: Mail makes a new message with the file attached (no text).

    The fallback when Apple Events are refused (the user said no to "dentsend wants to control
    Mail", error -1743): opening a file with an app needs no permission.
    """

    name = "apple-mail-open"
    label = "Mail"
    app = "Mail"

    def __init__(self, *, env: Mapping[str, str] | None = None) -> None:
        self.env = env

    def available(self) -> bool:
        return sys.platform == "darwin"

    def send(self, draft: Draft) -> HandoffResult:
        try:
            status = launch(open_with_mail_command(draft, self.app), env=self.env)
        except OSError as exc:
            raise HandoffFailed(f"open could not be started ({exc.strerror}).") from None
        if status not in (None, 0):
            raise HandoffFailed(f"open -a {self.app} ended with status {status}.")
        return HandoffResult.for_draft(
            draft,
            method=self.name,
            opened_mail=True,
            message=(
                f"{self.label} opened a new message with the package attached; paste the "
                "prepared subject and text."
            ),
        )


class OutlookMacOpen(AppleMailOpen):
    """``open -a "Microsoft Outlook" FILE``: the same, for Outlook."""

    name = "outlook-mac-open"
    label = "Microsoft Outlook"
    app = "Microsoft Outlook"


MACOS_HANDOFFS: dict[str, type[AppleScriptCompose] | type[AppleMailOpen]] = {
    "apple-mail": AppleMailCompose,
    "apple-mail-open": AppleMailOpen,
    "outlook-mac": OutlookMacCompose,
    "outlook-mac-open": OutlookMacOpen,
}


def macos_handoff(name: str, *, env: Mapping[str, str] | None = None) -> MailHandoff | None:
    cls = MACOS_HANDOFFS.get(name)
    return cls(env=env) if cls is not None else None


def macos_chain(
    *, env: Mapping[str, str] | None = None, default_bundle: str | None = None
) -> list[MailHandoff]:
    """Outlook or Mail, whichever is the default (scripted, then ``open -a``); otherwise
    nothing, so the file is revealed rather than opening a mail program the user does not use."""
    bundle = (default_bundle or default_mailto_bundle_id()).lower()
    if bundle == OUTLOOK:
        return [OutlookMacCompose(env=env), OutlookMacOpen(env=env)]
    if bundle == APPLE_MAIL:
        return [AppleMailCompose(env=env), AppleMailOpen(env=env)]
    log.info("the default mail program (%s) cannot be given attachments", bundle)
    return []


MACOS_HANDOFF_NAMES = tuple(MACOS_HANDOFFS)
