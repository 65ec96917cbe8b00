"""Hand a package to the user's mail program: a new message with the package attached.

``mailto:`` cannot carry attachments, so each platform has its own ways, tried in order until one
works (see :func:`handoff_chain`):

- Windows: Simple MAPI, then an ``X-Unsent: 1`` ``.eml`` draft opened with the default program.
- macOS: Outlook if it is the default mail program; else Mail by AppleScript, then ``open -a Mail``.
- Linux: the default mailto handler (Thunderbird, Evolution, KMail) called directly, then
  ``xdg-email --attach``.
- Everywhere, last: the package shown selected in its folder, with the subject and body returned
  for the clipboard (webmail users).

``Settings.mail_handler`` forces one of them (then the reveal fallback). Typical use, one call
each for ``pack --mail`` and ``pack --eml``::

    draft = compose_draft([package], format="html", settings=settings, to=address)
    result = hand_off(draft, settings=settings)      # print(result.message)
    write_eml(draft, Path("draft.eml"))

Packages must live in :func:`outgoing_folder`, not a temporary folder: the mail program reads the
attachment only when the user presses Send.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from dentsend.errors import DentsendError, FileProblem
from dentsend.handoff.draft import (
    DEFAULT_BODY_TEMPLATE,
    DEFAULT_SUBJECT_TEMPLATE,
    FORMATS,
    TEMPLATE_FIELDS,
    Draft,
    build_eml,
    check_template,
    compose_draft,
    write_eml,
)
from dentsend.handoff.interface import HandoffFailed, HandoffResult, MailHandoff
from dentsend.handoff.reveal import RevealInFolder, open_with_default_app, reveal_in_folder
from dentsend.settings import Settings

__all__ = [
    "DEFAULT_BODY_TEMPLATE",
    "DEFAULT_SUBJECT_TEMPLATE",
    "FORMATS",
    "TEMPLATE_FIELDS",
    "Draft",
    "HandoffFailed",
    "HandoffResult",
    "MailHandoff",
    "build_eml",
    "check_template",
    "compose_draft",
    "hand_off",
    "handler_choices",
    "handoff_chain",
    "open_with_default_app",
    "outgoing_folder",
    "reveal_in_folder",
    "write_eml",
]

log = logging.getLogger(__name__)

AUTO = "auto"

_LABELS = {
    "mapi": "Default mail program (Simple MAPI)",
    "eml": "Email draft file (.eml)",
    "apple-mail": "Mail",
    "apple-mail-open": "Mail (attachment only)",
    "outlook-mac": "Microsoft Outlook",
    "outlook-mac-open": "Microsoft Outlook (attachment only)",
    "thunderbird": "Thunderbird",
    "evolution": "Evolution",
    "kmail": "KMail",
    "xdg-email": "xdg-email",
    "reveal": "Show in folder (webmail)",
}


def _platform_names(platform: str) -> tuple[str, ...]:
    if platform == "win32":
        from dentsend.handoff.windows import WINDOWS_HANDOFF_NAMES

        return WINDOWS_HANDOFF_NAMES
    if platform == "darwin":
        from dentsend.handoff.macos import MACOS_HANDOFF_NAMES

        return (*MACOS_HANDOFF_NAMES, "eml")
    from dentsend.handoff.linux import LINUX_HANDOFF_NAMES

    return (*LINUX_HANDOFF_NAMES, "eml")


def handler_choices(platform: str | None = None) -> list[tuple[str, str]]:
    """``(Settings.mail_handler value, label)`` pairs for a settings dialog, ``auto`` first."""
    names = (*_platform_names(platform or sys.platform), "reveal")
    return [(AUTO, "Automatic")] + [(name, _LABELS[name]) for name in names]


def outgoing_folder(settings: Settings) -> Path:
    """The persistent folder packages are written to (created on demand)."""
    folder = settings.outgoing_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _named_handoff(name: str, platform: str, env: Mapping[str, str] | None) -> MailHandoff | None:
    if name == "reveal":
        return RevealInFolder(platform=platform, env=env)
    if name == "eml":
        from dentsend.handoff.windows import OpenEmlDraft

        return OpenEmlDraft(platform=platform, env=env)
    if platform == "win32":
        if name == "mapi":
            from dentsend.handoff.windows import SimpleMapi

            return SimpleMapi(platform=platform)
        return None
    if platform == "darwin":
        from dentsend.handoff.macos import macos_handoff

        return macos_handoff(name, env=env)
    from dentsend.handoff.linux import default_mailto_entry, linux_handoff

    if name not in _platform_names(platform):
        return None
    return linux_handoff(
        name, env=env, default=default_mailto_entry(os.environ if env is None else env)
    )


def handoff_chain(
    settings: Settings, *, platform: str | None = None, env: Mapping[str, str] | None = None
) -> list[MailHandoff]:
    """The hand-offs to try in order; the last is always revealing the file in its folder."""
    platform = platform or sys.platform
    forced = (settings.mail_handler or AUTO).strip()
    chain: list[MailHandoff]
    if forced != AUTO:
        handoff = _named_handoff(forced, platform, env)
        if handoff is not None:
            return (
                [handoff]
                if forced == "reveal"
                else [handoff, RevealInFolder(platform=platform, env=env)]
            )
        log.warning("mail handler setting %r is unknown here; trying each in turn", forced)
    if platform == "win32":
        from dentsend.handoff.windows import OpenEmlDraft, SimpleMapi

        chain = [SimpleMapi(platform=platform), OpenEmlDraft(platform=platform, env=env)]
    elif platform == "darwin":
        from dentsend.handoff.macos import macos_chain

        chain = macos_chain(env=env)
    else:
        from dentsend.handoff.linux import linux_chain

        chain = linux_chain(env)
    chain.append(RevealInFolder(platform=platform, env=env))
    return chain


def hand_off(
    draft: Draft,
    *,
    settings: Settings,
    chain: Sequence[MailHandoff] | None = None,
    platform: str | None = None,
    env: Mapping[str, str] | None = None,
) -> HandoffResult:
    """Try each hand-off in turn; the result says which worked, or that the file was revealed.

    Blocks for up to a few seconds per attempt (a mail program that fails usually does so at
    once): the GUI calls it from a worker thread.
    """
    # Command lines and file URIs need absolute paths, whoever built the draft.
    draft = replace(draft, attachments=[Path(p).absolute() for p in draft.attachments])
    if not draft.attachments:
        raise DentsendError("There is no package to send.")
    for path in draft.attachments:
        if not path.is_file():
            raise FileProblem(path, "the package file is missing")
    handoffs = (
        list(chain) if chain is not None else handoff_chain(settings, platform=platform, env=env)
    )
    failures: list[str] = []
    for handoff in handoffs:
        if not handoff.available():
            log.info("hand-off %s is not available here", handoff.name)
            continue
        try:
            result = handoff.send(draft)
        except HandoffFailed as exc:
            log.info("hand-off %s failed: %s", handoff.name, exc)
            failures.append(f"{handoff.name}: {exc}")
            continue
        log.info("handed off with %s", handoff.name)
        return replace(result, tried=tuple(failures))
    # Only reachable with a custom chain that lacks the reveal fallback.
    first = draft.attachments[0]
    return replace(
        HandoffResult.for_draft(
            draft,
            method="none",
            opened_mail=False,
            message=(
                f"No mail program could be opened: attach {first.name} from {first.parent} "
                "and paste the prepared subject and text."
            ),
        ),
        tried=tuple(failures),
    )
