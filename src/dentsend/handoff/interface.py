"""The one interface every mail hand-off implements, and what a hand-off reports back.

Kept apart from the package ``__init__`` so the per-platform modules can import it without an
import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dentsend.errors import DentsendError
from dentsend.handoff.draft import Draft


class HandoffFailed(DentsendError):
    """This hand-off did not work; the chain tries the next one.

    The message names the program and the reason (an exit status, a MAPI code), never a patient
    detail: the attachments' names are the only file detail a hand-off knows.
    """


@dataclass(frozen=True)
class HandoffResult:
    """What happened when the draft was handed over, for the user and the GUI."""

    method: str
    """The hand-off that worked (``thunderbird``, ``mapi``, ``eml``, ``reveal``, ...)."""
    opened_mail: bool
    """True when a new message with the package attached should now be open in a mail program;
    False when the file was shown in its folder and the text is ready to paste."""
    message: str
    """One sentence for the user."""
    subject: str
    body: str
    """The prepared text, always returned so the GUI can offer "Copy" whatever happened."""
    revealed: Path | None = None
    """The file shown in the file manager, if that is what happened."""
    draft_path: Path | None = None
    """The ``.eml`` draft written, if that is what happened."""
    tried: tuple[str, ...] = ()
    """Hand-offs tried first that did not work, as ``"name: reason"``."""

    @property
    def text_to_paste(self) -> str:
        """Subject and body as one block, for a clipboard or a terminal."""
        return f"{self.subject}\n\n{self.body}"

    @classmethod
    def for_draft(
        cls,
        draft: Draft,
        *,
        method: str,
        opened_mail: bool,
        message: str,
        revealed: Path | None = None,
        draft_path: Path | None = None,
    ) -> HandoffResult:
        return cls(
            method=method,
            opened_mail=opened_mail,
            message=message,
            subject=draft.subject,
            body=draft.body,
            revealed=revealed,
            draft_path=draft_path,
        )


class MailHandoff(Protocol):
    """One way of getting a draft into the user's mail program (or next to it)."""

    @property
    def name(self) -> str:
        """Stable identifier, also the value of ``Settings.mail_handler`` that forces it."""
        ...

    @property
    def label(self) -> str:
        """Human name of the mail program or action, for messages and the settings dialog."""
        ...

    def available(self) -> bool:
        """Cheap check (no window opens) whether this hand-off can be tried here."""
        ...

    def send(self, draft: Draft) -> HandoffResult:
        """Open a new message with the attachments; raise :class:`HandoffFailed` if it fails."""
        ...
