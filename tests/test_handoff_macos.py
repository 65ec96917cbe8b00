"""macOS hand-off checked on any platform: the default-handler lookup from LaunchServices'
preferences, the chain it picks, and the osascript / open command lines."""

from __future__ import annotations

import plistlib
from pathlib import Path

import pytest

from dentsend.handoff import compose_draft, handler_choices, handoff_chain
from dentsend.handoff.draft import Draft
from dentsend.handoff.macos import (
    APPLE_MAIL_SCRIPT,
    OUTLOOK_SCRIPT,
    default_mailto_bundle_id,
    macos_chain,
    mailto_handler_from_launchservices,
    open_with_mail_command,
    osascript_command,
)
from dentsend.handoff.reveal import macos_reveal_command
from dentsend.settings import Settings


@pytest.fixture
def draft(tmp_path: Path) -> Draft:
    package = tmp_path / "Radiographs - 2025.html"
    package.write_bytes(b"x")
    return compose_draft(
        [package],
        format="html",
        settings=Settings(practice_name="Smile"),
        to="dr@example.org",
    )


def _launch_services(handlers: list[dict[str, str]]) -> bytes:
    return plistlib.dumps({"LSHandlers": handlers}, fmt=plistlib.FMT_BINARY)


def test_default_mailto_handler_from_launchservices_preferences(tmp_path: Path) -> None:
    data = _launch_services(
        [
            {"LSHandlerContentType": "public.html", "LSHandlerRoleAll": "com.apple.safari"},
            {"LSHandlerURLScheme": "mailto", "LSHandlerRoleAll": "com.microsoft.Outlook"},
        ]
    )
    assert mailto_handler_from_launchservices(data) == "com.microsoft.outlook"
    assert mailto_handler_from_launchservices(_launch_services([])) is None
    assert mailto_handler_from_launchservices(b"not a plist") is None
    preferences = tmp_path / "com.apple.launchservices.secure.plist"
    preferences.write_bytes(data)
    # Here CoreServices cannot be loaded, so the preferences file answers.
    assert default_mailto_bundle_id(preferences) == "com.microsoft.outlook"
    assert default_mailto_bundle_id(tmp_path / "missing.plist") == "com.apple.mail"


def test_chain_follows_the_default_mail_program() -> None:
    assert [h.name for h in macos_chain(default_bundle="com.microsoft.outlook")] == [
        "outlook-mac",
        "outlook-mac-open",
    ]
    assert [h.name for h in macos_chain(default_bundle="com.apple.mail")] == [
        "apple-mail",
        "apple-mail-open",
    ]
    # Some other program (a browser for webmail, Spark...): reveal, rather than start Mail.
    assert macos_chain(default_bundle="com.google.chrome") == []
    forced = handoff_chain(Settings(mail_handler="apple-mail-open"), platform="darwin")
    assert [h.name for h in forced] == ["apple-mail-open", "reveal"]
    names = [name for name, _label in handler_choices("darwin")]
    assert names[0] == "auto" and "outlook-mac" in names and names[-1] == "reveal"


def test_osascript_passes_text_as_arguments_not_script(draft: Draft) -> None:
    command = osascript_command(APPLE_MAIL_SCRIPT, draft)
    assert command[0] == "osascript" and set(command[1 : 2 * len(APPLE_MAIL_SCRIPT) : 2]) == {"-e"}
    script = command[2 : 2 * len(APPLE_MAIL_SCRIPT) + 1 : 2]
    assert script == list(APPLE_MAIL_SCRIPT)
    arguments = command[2 * len(APPLE_MAIL_SCRIPT) + 1 :]
    assert arguments == [
        "dentsend",
        draft.subject,
        draft.body.replace("\n", "\r"),
        "dr@example.org",
        str(draft.attachments[0]),
    ]
    # The user's text never becomes part of the script.
    assert not any(draft.subject in line for line in script)
    assert any("make new attachment" in line for line in script)
    assert 'tell application "Microsoft Outlook"' in OUTLOOK_SCRIPT


def test_open_and_reveal_commands(draft: Draft) -> None:
    assert open_with_mail_command(draft) == ["open", "-a", "Mail", str(draft.attachments[0])]
    outlook = open_with_mail_command(draft, "Microsoft Outlook")
    assert outlook == ["open", "-a", "Microsoft Outlook", str(draft.attachments[0])]
    assert macos_reveal_command(draft.attachments[0]) == ["open", "-R", str(draft.attachments[0])]
