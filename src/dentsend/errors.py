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


def read_user_file(path: Path | str, *, limit: int | None = None, what: str = "file") -> bytes:
    """The bytes of a file the user named (only the first ``limit`` if given), or a
    :class:`FileProblem` that says in the user's words why it cannot be read.

    ``what`` names the kind of file in the message ("is a folder, not a key file").
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except FileNotFoundError:
        raise FileProblem(path, "does not exist") from None
    except IsADirectoryError:
        raise FileProblem(path, f"is a folder, not a {what}") from None
    except PermissionError:
        raise FileProblem(path, "cannot be read (permission denied)") from None
    except OSError as exc:
        raise FileProblem(path, f"cannot be read ({exc.strerror or exc})") from None
