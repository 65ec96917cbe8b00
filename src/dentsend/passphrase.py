"""Passphrases for packages: generate six random words, or rate the user's own.

A package sent by email can be attacked offline for as long as the attacker likes, so the
passphrase must resist guessing on its own. Six words drawn uniformly from the EFF long list
(7,776 words, shipped with xkcdpass) give log2(7776^6) ≈ 77.5 bits; they are easy to read out
over the phone, which is how the passphrase should travel. A passphrase the user brings is rated
with zxcvbn and refused below an estimated 10^12 guesses (at 10^4 guesses a second against
PBKDF2 with a million iterations on one GPU, that is still years), with the reason in one
sentence.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dentsend.errors import DentsendError, read_user_file

WORDS = 6
MIN_GUESSES = 10**12
#: zxcvbn's cost grows with length; beyond this the first part is rated (a lower bound).
_RATED_LENGTH = 256
#: Words zxcvbn should treat as known to an attacker.
_CONTEXT = ("dentsend", "radiograph", "radiographs", "xray", "x-ray", "dental", "dentist")


class WeakPassphrase(DentsendError):
    """The user's passphrase is too easy to guess; the message says why and what to do."""


@cache
def wordlist() -> tuple[str, ...]:
    """The EFF long word list (7,776 words), as xkcdpass ships it."""
    from xkcdpass import xkcd_password

    path = Path(xkcd_password.locate_wordfile("eff-long"))
    words = tuple(
        dict.fromkeys(w.strip() for w in path.read_text(encoding="utf-8").split("\n") if w.strip())
    )
    if len(words) != 7776:
        raise RuntimeError(f"the EFF long word list has {len(words)} words, not 7,776")
    return words


def generate(words: int = WORDS) -> str:
    """``words`` words chosen uniformly at random (``secrets``), separated by spaces."""
    pool = wordlist()
    return " ".join(secrets.choice(pool) for _ in range(words))


def generated_bits(words: int = WORDS) -> float:
    return words * math.log2(len(wordlist()))


@dataclass(frozen=True)
class Strength:
    guesses: float
    """zxcvbn's estimate of the guesses needed."""
    acceptable: bool
    reason: str
    """Why it is weak (zxcvbn's warning, in its words), or empty."""

    @property
    def log10(self) -> float:
        return math.log10(max(self.guesses, 1.0))


def rate(passphrase: str, *, user_inputs: Sequence[str] = ()) -> Strength:
    """How hard ``passphrase`` (as the package will use it: normalised) is to guess."""
    from zxcvbn import zxcvbn

    from dentsend.bundle.format import normalise_passphrase

    text = normalise_passphrase(passphrase)
    if not text:
        return Strength(0.0, False, "it is empty")
    hints = [h for h in (*user_inputs, *_CONTEXT) if h]
    result = zxcvbn(text[:_RATED_LENGTH], user_inputs=hints, max_length=_RATED_LENGTH)
    guesses = float(result["guesses"])
    feedback = result.get("feedback") or {}
    warning = str(feedback.get("warning") or "").strip().rstrip(".")
    return Strength(guesses, guesses >= MIN_GUESSES, warning)


def require_strong(passphrase: str, *, user_inputs: Sequence[str] = ()) -> None:
    """Raise :class:`WeakPassphrase` if ``passphrase`` is below 10^12 estimated guesses."""
    strength = rate(passphrase, user_inputs=user_inputs)
    if strength.acceptable:
        return
    if strength.guesses < 1:
        raise WeakPassphrase("the passphrase is empty")
    why = f" ({strength.reason[0].lower()}{strength.reason[1:]})" if strength.reason else ""
    raise WeakPassphrase(
        f"the passphrase is too easy to guess: about 10^{strength.log10:.0f} guesses{why}, "
        f"and a package needs at least 10^12; use --new-passphrase for six random words, "
        "or a longer passphrase of unrelated words"
    )


def read_passphrase_file(path: Path) -> str:
    """The passphrase in ``path``: its first line, without the line break.

    Only the first line counts, so a file written by ``echo`` works; leading and trailing
    spaces are ignored anyway by the normalisation both readers apply.
    """
    raw = read_user_file(path, what="passphrase file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DentsendError(f"{path.name}: the passphrase file is not UTF-8 text") from None
    lines = text.splitlines()
    line = lines[0] if lines else ""
    if not line.strip():
        raise DentsendError(f"{path.name}: the passphrase file is empty")
    return line
