"""The exceptions that reach the user as one clear sentence.

Everything the command line prints on exit code 1, and everything the GUI shows in a message, is
one of these. Any other exception is a bug and is allowed to show a traceback.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path


class DentsendError(Exception):
    """A failure the user can act on; ``str()`` is the sentence shown to them."""


class FileProblem(DentsendError):
    """One input file cannot be used; the message names the file and the reason.

    Only the file's *name* is shown, not its folder: folders are often named after the patient
    and messages end up in logs and screenshots.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{printable(self.path.name)}: {reason}")


def printable(text: str) -> str:
    """``text`` with control and bidirectional-formatting characters shown as escapes.

    File names come from outside: one holding an ANSI escape sequence or a right-to-left
    override must not be able to repaint the terminal or disguise itself in a message.
    """
    return "".join(
        (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
        else c
        for c in text
    )
