"""The mail a package leaves in: subject and body from templates, and the ``.eml`` draft.

The templates can only name a fixed set of placeholders (practice name, date, number of files,
number of parts, format and the built-in opening instructions). None of them carries patient data
or the passphrase, and compose_draft is never given either, so a template cannot leak them: the
subject and body of every mail dentsend prepares are safe to show in a mail client's outbox,
in a webmail search index, and on the recipient's lock screen.
"""

from __future__ import annotations

import email.policy
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from dentsend.atomic import atomic_write
from dentsend.errors import DentsendError, FileProblem, read_user_file
from dentsend.settings import Settings

FORMATS = ("html", "openpgp")
"""Package formats: the self-decrypting HTML file, or an OpenPGP message."""

FORMAT_NAMES = {"html": "self-decrypting HTML file", "openpgp": "OpenPGP message"}

TEMPLATE_FIELDS = {
    "practice": "the practice name from the settings",
    "date": "today's date (YYYY-MM-DD)",
    "files": 'the number of attached files, as words ("one file", "2 files")',
    "parts": "the number of parts the radiographs were split into",
    "format": 'the package format ("self-decrypting HTML file" or "OpenPGP message")',
    "instructions": "how to open the attachment, written by dentsend for the format",
}
"""Every placeholder a subject or body template may use, with what it stands for."""

DEFAULT_SUBJECT_TEMPLATE = "Radiographs from {practice} ({date})"

DEFAULT_BODY_TEMPLATE = """\
Hello,

please find attached {files} with radiographs from {practice}, encrypted for you.

{instructions}

Kind regards,
{practice}
"""

_HTML_INSTRUCTIONS = """\
How to open it: save the attachment and open it in a web browser (Chrome, Edge, Firefox or \
Safari) on a computer. It works offline and needs nothing installed. Enter the passphrase, which \
we give you separately by phone or text message; it is never sent by email. You can then view \
the radiographs and download the files.

If your mail system holds back or removes the attachment (some block .html files), please reply \
and ask us for the OpenPGP version instead."""

_OPENPGP_CERTIFICATE_INSTRUCTIONS = """\
How to open it: the attachment is an OpenPGP message encrypted to your certificate. Open it with \
your OpenPGP program, for example Thunderbird, Kleopatra (Gpg4win) or GnuPG \
(gpg --output radiographs.zip --decrypt FILE). It contains a ZIP archive with the files."""

_OPENPGP_SYMMETRIC_INSTRUCTIONS = """\
How to open it: the attachment is an OpenPGP message protected by a passphrase, which we give \
you separately by phone or text message; it is never sent by email. Open it with your OpenPGP \
program, for example Thunderbird, Kleopatra (Gpg4win) or GnuPG \
(gpg --output radiographs.zip --decrypt FILE). It contains a ZIP archive with the files."""

_PARTS_NOTE = (
    "The radiographs come in {parts} parts, each a separate attachment (possibly in separate "
    "emails); open each one the same way."
)

_ADDRESS = re.compile(r"^[^@\s,;<>\"'()\[\]\\]+@[^@\s,;<>\"'()\[\]\\]+\.[^@\s,;<>\"'()\[\]\\]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Draft:
    """A new message to open: the package file(s) to attach and the prepared text."""

    attachments: list[Path]
    subject: str
    body: str
    to: str = ""
    """Recipient address(es) typed by the user, comma separated; empty leaves "To" blank."""
    format: str = field(default="html")
    """The package format the text was written for."""


def check_template(template: str, *, what: str = "mail template") -> None:
    """Raise DentsendError unless ``template`` uses only known placeholders, plainly.

    Attribute access, indexing and format specs are refused too: ``{practice.__class__}`` would
    otherwise let a settings file reach into Python objects.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise DentsendError(
            f"The {what} has an unmatched brace ({exc}); write {{{{ and }}}} for literal braces."
        ) from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            known = ", ".join("{" + key + "}" for key in TEMPLATE_FIELDS)
            shown = (
                "{"
                + name
                + ("!" + conversion if conversion else "")
                + (":" + spec if spec else "")
                + "}"
            )
            raise DentsendError(
                f"The {what} uses {shown}, which dentsend does not fill in; use {known}."
            )


def render_template(template: str, values: Mapping[str, str], *, what: str) -> str:
    check_template(template, what=what)
    return template.format_map(dict(values))


def check_recipients(to: str) -> str:
    """Normalise typed recipient addresses; refuse anything that is not plainly an address.

    Addresses end up on command lines and in mail headers, so a leading dash, a newline or a
    quote must never get through.
    """
    addresses = [part.strip() for part in re.split(r"[,;]", to) if part.strip()]
    for address in addresses:
        if not _ADDRESS.match(address) or address.startswith("-"):
            raise DentsendError(f"{address!r} is not an email address.")
    return ", ".join(addresses)


def _files_phrase(count: int) -> str:
    return "one file" if count == 1 else f"{count} files"


def instructions_for(format: str, *, passphrase_protected: bool, parts: int) -> str:
    """The built-in paragraph that tells the recipient how to open what they received."""
    if format == "html":
        text = _HTML_INSTRUCTIONS
    elif passphrase_protected:
        text = _OPENPGP_SYMMETRIC_INSTRUCTIONS
    else:
        text = _OPENPGP_CERTIFICATE_INSTRUCTIONS
    if parts > 1:
        text = _PARTS_NOTE.format(parts=parts) + "\n\n" + text
    return text


def compose_draft(
    packages: Sequence[Path],
    *,
    format: str,
    settings: Settings,
    to: str = "",
    parts: int = 1,
    passphrase_protected: bool | None = None,
    today: date | None = None,
) -> Draft:
    """The draft for sending ``packages``: attachments plus subject and body from the templates.

    ``parts`` is how many parts the radiographs were split into (the packages of one send);
    ``passphrase_protected`` defaults to True for HTML and False for OpenPGP (certificates).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {format!r}")
    if not packages:
        raise DentsendError("There is no package to send.")
    if parts < 1:
        raise ValueError("parts counts from 1")
    attachments = [Path(p).resolve() for p in packages]
    for path in attachments:
        if not path.is_file():
            raise FileProblem(path, "the package file is missing")
    protected = (format == "html") if passphrase_protected is None else passphrase_protected
    values = {
        "practice": settings.practice_name.strip() or "our practice",
        "date": (today or date.today()).isoformat(),
        "files": _files_phrase(len(attachments)),
        "parts": str(parts),
        "format": FORMAT_NAMES[format],
        "instructions": instructions_for(format, passphrase_protected=protected, parts=parts),
    }
    subject = render_template(
        settings.subject_template or DEFAULT_SUBJECT_TEMPLATE, values, what="mail subject template"
    )
    body = render_template(
        settings.body_template or DEFAULT_BODY_TEMPLATE, values, what="mail body template"
    )
    # A subject is one header line: newlines would let a template add headers.
    subject = " ".join(_CONTROL.sub(" ", subject).split())
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    # Other control characters (a NUL cannot even go on a command line) are dropped.
    body = _BODY_CONTROL.sub("", body)
    return Draft(
        attachments=attachments,
        subject=subject,
        body=body,
        to=check_recipients(to),
        format=format,
    )


def build_eml(draft: Draft, *, now: datetime | None = None) -> bytes:
    """The RFC 5322 draft as bytes: ``X-Unsent: 1`` (Outlook opens it for editing), no From
    (the mail program fills in the account), the attachments base64, byte-exact."""
    message = EmailMessage(policy=email.policy.default)
    if draft.to:
        message["To"] = draft.to
    message["Subject"] = draft.subject
    message["Date"] = format_datetime(now or datetime.now().astimezone())
    message["X-Unsent"] = "1"
    message.set_content(draft.body)
    for path in draft.attachments:
        data = read_user_file(path, what="package")
        # Opaque on purpose: an HTML package typed text/html is rendered inline by some mail
        # programs, and application/pgp-encrypted means a PGP/MIME part, which this is not.
        message.add_attachment(
            data, maintype="application", subtype="octet-stream", filename=path.name
        )
    return message.as_bytes(policy=email.policy.default.clone(linesep="\r\n"))


def write_eml(draft: Draft, out: Path) -> None:
    """Write the draft as an ``.eml`` file, atomically (whole or not at all)."""
    data = build_eml(draft)
    with atomic_write(out) as handle:
        handle.write(data)
