"""Linux: find the user's mail program and ask it for a new message with the package attached.

``mailto:`` cannot carry attachments in general, so dentsend resolves the default mailto handler
itself (``xdg-mime query default x-scheme-handler/mailto``), reads its desktop entry from the XDG
data folders, and calls the program the way it accepts attachments:

- Thunderbird (and Betterbird, Icedove): ``-compose "to='…',subject='…',body='…',attachment='file:///…'"``
- Evolution: ``mailto:…?subject=…&body=…&attach=/path``
- KMail: ``--composer --subject=… --body=… --attach=/path``
- anything else: ``xdg-email --attach``, which knows a few more clients.

When the default handler is a web browser (webmail), no program can take the attachment, so the
chain goes straight to revealing the file. The command lines are built by pure functions (tested
on their own); the classes only start them.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from dentsend.handoff.draft import Draft
from dentsend.handoff.interface import HandoffFailed, HandoffResult, MailHandoff
from dentsend.handoff.launch import SETTLE_SECONDS, launch, run_quietly

log = logging.getLogger(__name__)

MAILTO_TYPE = "x-scheme-handler/mailto"

#: Words in a desktop file ID or program name that identify a mail client.
CLIENT_KEYWORDS = {
    "thunderbird": ("thunderbird", "betterbird", "icedove"),
    "evolution": ("evolution",),
    "kmail": ("kmail",),
}

#: Desktop file IDs to look for when a client is forced but is not the default handler.
KNOWN_DESKTOP_IDS = {
    "thunderbird": (
        "thunderbird.desktop",
        "org.mozilla.Thunderbird.desktop",
        "net.thunderbird.Thunderbird.desktop",
        "mozilla-thunderbird.desktop",
        "thunderbird_thunderbird.desktop",
        "eu.betterbird.Betterbird.desktop",
    ),
    "evolution": ("org.gnome.Evolution.desktop", "evolution.desktop"),
    "kmail": ("org.kde.kmail2.desktop", "org.kde.kmail.desktop", "kmail.desktop"),
}

_FIELD_CODES_WITH_TARGET = ("%u", "%U", "%f", "%F")


# --------------------------------------------------------------------------- desktop entries


@dataclass(frozen=True)
class DesktopEntry:
    desktop_id: str
    path: Path
    name: str
    exec_argv: tuple[str, ...]
    categories: tuple[str, ...]


def data_dirs(env: Mapping[str, str]) -> list[Path]:
    """XDG_DATA_HOME first, then XDG_DATA_DIRS, with the spec's defaults."""
    home = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local/share")
    others = env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    return [Path(home)] + [Path(p) for p in others.split(":") if p]


def desktop_file_candidates(desktop_id: str) -> list[str]:
    """Relative paths under ``applications/`` a desktop file ID can come from.

    The ID of ``applications/kde4/kmail.desktop`` is ``kde4-kmail.desktop``, so each dash may
    stand for a folder separator.
    """
    candidates = [desktop_id]
    pieces = desktop_id.split("-")
    for cut in range(1, len(pieces)):
        candidates.append("/".join(pieces[:cut]) + "/" + "-".join(pieces[cut:]))
    return candidates


def find_desktop_file(desktop_id: str, env: Mapping[str, str]) -> Path | None:
    if "/" in desktop_id or desktop_id.startswith(".") or not desktop_id.endswith(".desktop"):
        return None
    for folder in data_dirs(env):
        for relative in desktop_file_candidates(desktop_id):
            candidate = folder / "applications" / relative
            if candidate.is_file():
                return candidate
    return None


def _unescape_value(value: str) -> str:
    """Desktop entry string escapes: ``\\s \\n \\t \\r \\\\``."""
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        known = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
        # Unknown escapes (\" \$ in an Exec value) belong to the quoting rules applied next.
        out.append(known.get(following, "\\" + following))
    return "".join(out)


def parse_desktop_entry(text: str) -> dict[str, str]:
    """The unlocalised keys of the ``[Desktop Entry]`` group."""
    values: dict[str, str] = {}
    in_group = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            in_group = line == "[Desktop Entry]"
            continue
        if in_group and "=" in line:
            key, value = line.split("=", 1)
            key = key.strip()
            if "[" not in key:
                values.setdefault(key, value.strip())
    return values


def split_exec(value: str) -> list[str]:
    """Split an ``Exec`` value into argv as the Desktop Entry Specification says.

    Arguments are separated by spaces; an argument in double quotes may hold spaces, and inside
    it a backslash escapes ``"``, `````, ``$`` and ``\\``.
    """
    value = _unescape_value(value)
    argv: list[str] = []
    current: list[str] = []
    in_quotes = False
    started = False
    index = 0
    while index < len(value):
        char = value[index]
        if in_quotes:
            if char == "\\" and index + 1 < len(value) and value[index + 1] in '"`$\\':
                current.append(value[index + 1])
                index += 1
            elif char == '"':
                in_quotes = False
            else:
                current.append(char)
        elif char == '"':
            in_quotes = True
            started = True
        elif char in " \t":
            if started:
                argv.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
        index += 1
    if started:
        argv.append("".join(current))
    return argv


def expand_exec(exec_argv: Sequence[str], arguments: Sequence[str]) -> list[str]:
    """Put ``arguments`` where the entry's ``%u``/``%U``/``%f``/``%F`` stands (or at the end),
    drop the other field codes, and turn ``%%`` into ``%``.

    Flatpak entries wrap the field code in ``@@u %u @@`` (file forwarding): flatpak would take
    our options for file names there, so that region is dropped and the arguments go last.
    """
    argv = list(exec_argv)
    if "@@" in argv and any(marker in argv for marker in ("@@u", "@@f")):
        start = next(i for i, arg in enumerate(argv) if arg in ("@@u", "@@f"))
        end = argv.index("@@", start)
        argv = argv[:start] + argv[end + 1 :]
    result: list[str] = []
    placed = False
    for arg in argv:
        if arg in _FIELD_CODES_WITH_TARGET:
            if not placed:
                result.extend(arguments)
                placed = True
            continue
        if arg in ("%i", "%c", "%k", "%d", "%D", "%n", "%N", "%v", "%m"):
            continue
        result.append(arg.replace("%%", "%"))
    if not placed:
        result.extend(arguments)
    return result


def load_desktop_entry(desktop_id: str, env: Mapping[str, str]) -> DesktopEntry | None:
    path = find_desktop_file(desktop_id, env)
    if path is None:
        return None
    try:
        values = parse_desktop_entry(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    exec_argv = tuple(split_exec(values.get("Exec", "")))
    if not exec_argv:
        return None
    return DesktopEntry(
        desktop_id=desktop_id,
        path=path,
        name=values.get("Name", desktop_id),
        exec_argv=exec_argv,
        categories=tuple(c for c in values.get("Categories", "").split(";") if c),
    )


def query_default_mailto(env: Mapping[str, str]) -> str | None:
    """The desktop file ID of the default mailto handler, as xdg-mime reports it."""
    result = run_quietly(["xdg-mime", "query", "default", MAILTO_TYPE], env=env)
    if result is None or result.returncode != 0:
        return None
    desktop_id = result.stdout.strip().splitlines()[0].strip() if result.stdout.strip() else ""
    return desktop_id or None


def default_mailto_entry(env: Mapping[str, str]) -> DesktopEntry | None:
    desktop_id = query_default_mailto(env)
    if desktop_id is None:
        return None
    entry = load_desktop_entry(desktop_id, env)
    if entry is None:
        log.info("the default mailto handler's desktop file was not found")
    return entry


def classify(entry: DesktopEntry) -> str | None:
    """``thunderbird``, ``evolution``, ``kmail``, ``browser`` (webmail), or None (other)."""
    words = [entry.desktop_id.lower()] + [
        Path(arg).name.lower() for arg in entry.exec_argv if not arg.startswith(("%", "-", "@@"))
    ]
    for kind, keywords in CLIENT_KEYWORDS.items():
        if any(keyword in word for word in words for keyword in keywords):
            return kind
    if "WebBrowser" in entry.categories:
        return "browser"
    return None


# --------------------------------------------------------------------------- command lines


def _thunderbird_value(text: str) -> str:
    # Thunderbird ends a quoted value at a quote followed by a comma or the end, with no
    # escape; a typographic apostrophe reads the same and cannot end the value early.
    return text.replace("'", "\u2019")


def thunderbird_compose_argument(draft: Draft) -> str:
    """The single argument after ``-compose``."""
    fields = []
    if draft.to:
        fields.append(f"to='{_thunderbird_value(draft.to)}'")
    fields.append(f"subject='{_thunderbird_value(draft.subject)}'")
    fields.append(f"body='{_thunderbird_value(draft.body)}'")
    # file URIs percent-encode commas and quotes, so the list separator stays unambiguous.
    uris = ",".join(path.as_uri() for path in draft.attachments)
    fields.append(f"attachment='{uris}'")
    return ",".join(fields)


def thunderbird_arguments(draft: Draft) -> list[str]:
    return ["-compose", thunderbird_compose_argument(draft)]


def evolution_mailto(draft: Draft) -> str:
    """A mailto URL with Evolution's ``attach`` extension (it URL-decodes, then takes a path)."""
    to = ",".join(quote(a.strip(), safe="@") for a in draft.to.split(",") if a.strip())
    query = [f"subject={quote(draft.subject, safe='')}", f"body={quote(draft.body, safe='')}"]
    query += [f"attach={quote(str(path), safe='/')}" for path in draft.attachments]
    return f"mailto:{to}?" + "&".join(query)


def evolution_arguments(draft: Draft) -> list[str]:
    return [evolution_mailto(draft)]


def kmail_arguments(draft: Draft) -> list[str]:
    """``--option=value`` throughout, so a value starting with a dash stays a value."""
    args = ["--composer", f"--subject={draft.subject}", f"--body={draft.body}"]
    args += [f"--attach={path}" for path in draft.attachments]
    if draft.to:
        args += ["--", *[a.strip() for a in draft.to.split(",")]]
    return args


def xdg_email_command(draft: Draft) -> list[str]:
    command = ["xdg-email", "--utf8", "--subject", draft.subject, "--body", draft.body]
    for path in draft.attachments:
        command += ["--attach", str(path)]
    command += [a.strip() for a in draft.to.split(",") if a.strip()]
    return command


# --------------------------------------------------------------------------- hand-offs


class DesktopMailClient:
    """A mail program started through its desktop entry's Exec line with our arguments."""

    name = ""
    label = ""

    def __init__(
        self,
        exec_argv: Sequence[str] | None,
        *,
        env: Mapping[str, str] | None = None,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self.exec_argv = tuple(exec_argv) if exec_argv else None
        self.env = env
        self.settle = settle

    def arguments(self, draft: Draft) -> list[str]:
        raise NotImplementedError

    def command(self, draft: Draft) -> list[str]:
        if self.exec_argv is None:
            raise HandoffFailed(f"{self.label} is not installed.")
        return expand_exec(self.exec_argv, self.arguments(draft))

    def available(self) -> bool:
        if self.exec_argv is None:
            return False
        env = os.environ if self.env is None else self.env
        return shutil.which(self.exec_argv[0], path=env.get("PATH")) is not None

    def send(self, draft: Draft) -> HandoffResult:
        command = self.command(draft)
        try:
            status = launch(command, env=self.env, settle=self.settle)
        except OSError as exc:
            raise HandoffFailed(f"{self.label} could not be started ({exc.strerror}).") from None
        if status not in (None, 0):
            raise HandoffFailed(f"{self.label} ended with status {status}.")
        return HandoffResult.for_draft(
            draft,
            method=self.name,
            opened_mail=True,
            message=f"{self.label} opened a new message with the package attached.",
        )


class ThunderbirdCompose(DesktopMailClient):
    name = "thunderbird"
    label = "Thunderbird"

    def arguments(self, draft: Draft) -> list[str]:
        return thunderbird_arguments(draft)


class EvolutionCompose(DesktopMailClient):
    name = "evolution"
    label = "Evolution"

    def arguments(self, draft: Draft) -> list[str]:
        return evolution_arguments(draft)


class KMailCompose(DesktopMailClient):
    name = "kmail"
    label = "KMail"

    def arguments(self, draft: Draft) -> list[str]:
        return kmail_arguments(draft)


class XdgEmail:
    """``xdg-email --attach``: the freedesktop helper, for mail programs we do not know."""

    name = "xdg-email"
    label = "your mail program (xdg-email)"

    def __init__(
        self, *, env: Mapping[str, str] | None = None, settle: float = SETTLE_SECONDS
    ) -> None:
        self.env = env
        self.settle = settle

    def available(self) -> bool:
        env = os.environ if self.env is None else self.env
        return shutil.which("xdg-email", path=env.get("PATH")) is not None

    def send(self, draft: Draft) -> HandoffResult:
        try:
            status = launch(xdg_email_command(draft), env=self.env, settle=self.settle)
        except OSError as exc:
            raise HandoffFailed(f"xdg-email could not be started ({exc.strerror}).") from None
        if status not in (None, 0):
            # 3: no method available, 4: the action failed (xdg-utils exit codes).
            raise HandoffFailed(f"xdg-email ended with status {status}.")
        return HandoffResult.for_draft(
            draft,
            method=self.name,
            opened_mail=True,
            message=(
                "Your mail program was asked for a new message with the package attached; "
                "if the attachment is missing, use Show in folder and attach it by hand."
            ),
        )


CLIENT_CLASSES: dict[str, type[DesktopMailClient]] = {
    "thunderbird": ThunderbirdCompose,
    "evolution": EvolutionCompose,
    "kmail": KMailCompose,
}


def _find_client_exec(kind: str, env: Mapping[str, str]) -> tuple[str, ...] | None:
    """The Exec line of an installed client that is not the default handler."""
    for desktop_id in KNOWN_DESKTOP_IDS[kind]:
        entry = load_desktop_entry(desktop_id, env)
        if entry is not None:
            return entry.exec_argv
    program = shutil.which(kind, path=env.get("PATH"))
    return (program,) if program else None


def linux_handoff(
    name: str, *, env: Mapping[str, str] | None = None, default: DesktopEntry | None = None
) -> MailHandoff | None:
    """The hand-off called ``name`` (for ``Settings.mail_handler``), or None if unknown here."""
    environment = os.environ if env is None else env
    if name == "xdg-email":
        return XdgEmail(env=env)
    if name not in CLIENT_CLASSES:
        return None
    if default is not None and classify(default) == name:
        exec_argv: tuple[str, ...] | None = default.exec_argv
    else:
        exec_argv = _find_client_exec(name, environment)
    return CLIENT_CLASSES[name](exec_argv, env=env)


def linux_chain(env: Mapping[str, str] | None = None) -> list[MailHandoff]:
    """The default mailto handler if we know how to attach with it, then xdg-email.

    A web browser as mailto handler means webmail: nothing can attach there, so the chain is
    empty and the caller's reveal-in-folder takes over.
    """
    environment = os.environ if env is None else env
    entry = default_mailto_entry(environment)
    kind = classify(entry) if entry is not None else None
    chain: list[MailHandoff] = []
    if entry is not None and kind in CLIENT_CLASSES:
        chain.append(CLIENT_CLASSES[kind](entry.exec_argv, env=env))
    if kind != "browser":
        chain.append(XdgEmail(env=env))
    return chain


LINUX_HANDOFF_NAMES = ("thunderbird", "evolution", "kmail", "xdg-email")
