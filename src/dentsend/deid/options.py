"""What the user chose to let leave the practice: the de-identification options of one package."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dentsend.errors import DentsendError

Mode = Literal["deidentify", "pseudonym", "keep"]

#: ``--retain NAME``: the PS3.15 E.3 options that keep (or keep in modified form) something the
#: Basic Profile would remove.
RETAIN_OPTIONS: Mapping[str, str] = {
    "patient-characteristics": "age, sex, size and weight",
    "dates": "full dates and times",
    "modified-dates": "dates shifted by one offset per package (intervals kept)",
    "device": "device identity (station name, serial numbers)",
    "institution": "institution name and address",
    "uids": "the original UIDs",
    "safe-private": "private attributes known to be non-identifying",
}
#: ``--clean NAME``: keep these descriptive attributes, cleaned of identifying values.
CLEAN_OPTIONS: Mapping[str, str] = {
    "descriptors": "study, series and image descriptions and comments",
    "graphics": "overlays, curves and graphic annotations",
    "structured-content": "structured content (acquisition context, content sequences)",
}

#: A pseudonym goes into PatientName (PN) and PatientID (LO): plain characters only, so it can
#: neither break the encoding nor smuggle a second value (``\``) or a name component (``^``).
_PSEUDONYM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._\-]{0,63}")


@dataclass(frozen=True)
class Box:
    """A redaction box in stored-pixel coordinates of the file, applied to every frame."""

    x: int
    y: int
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.width},{self.height}"

    def inside(self, columns: int, rows: int) -> bool:
        return (
            self.x >= 0
            and self.y >= 0
            and self.width >= 1
            and self.height >= 1
            and self.x + self.width <= columns
            and self.y + self.height <= rows
        )


@dataclass(frozen=True)
class DeidOptions:
    mode: Mode = "deidentify"
    pseudonym: str | None = None
    """E.g. ``"REF-2026-114"`` (mode ``pseudonym``): becomes PatientName and PatientID."""
    retain: frozenset[str] = frozenset()
    """Names from :data:`RETAIN_OPTIONS`."""
    clean: frozenset[str] = frozenset()
    """Names from :data:`CLEAN_OPTIONS`."""
    redactions: Mapping[Path, tuple[Box, ...]] = field(default_factory=dict)
    """Boxes per input file; key: ``Path(input).resolve()``."""
    confirmed_no_burned_in: bool | frozenset[Path] = False
    """``True``: confirmed for every file; or the resolved paths confirmed."""
    stable_uids: bool = False
    """Replace UIDs the same way in every package, with a per-practice secret in the keyring."""

    def __post_init__(self) -> None:
        # Callers key files by the path they hold; lookups resolve, so resolve the keys too.
        object.__setattr__(
            self,
            "redactions",
            {_resolved(path): tuple(boxes) for path, boxes in self.redactions.items()},
        )
        if not isinstance(self.confirmed_no_burned_in, bool):
            confirmed = frozenset(_resolved(p) for p in self.confirmed_no_burned_in)
            object.__setattr__(self, "confirmed_no_burned_in", confirmed)

    def validate(self) -> None:
        """Raise :class:`DentsendError` (one sentence) if the options do not fit together."""
        if self.mode not in ("deidentify", "pseudonym", "keep"):
            raise DentsendError(f"unknown de-identification mode {self.mode!r}")
        unknown = sorted(self.retain - RETAIN_OPTIONS.keys())
        if unknown:
            raise DentsendError(
                f"unknown retain option {unknown[0]!r} (choose from {', '.join(RETAIN_OPTIONS)})"
            )
        unknown = sorted(self.clean - CLEAN_OPTIONS.keys())
        if unknown:
            raise DentsendError(
                f"unknown clean option {unknown[0]!r} (choose from {', '.join(CLEAN_OPTIONS)})"
            )
        if {"dates", "modified-dates"} <= self.retain:
            raise DentsendError("retain either full dates or modified dates, not both")
        if self.mode == "pseudonym":
            if self.pseudonym is None or not _PSEUDONYM.fullmatch(self.pseudonym):
                raise DentsendError(
                    "a pseudonym is 1 to 64 letters, digits, spaces, dots, dashes or "
                    "underscores, starting with a letter or digit (e.g. REF-2026-114)"
                )
        elif self.pseudonym is not None:
            raise DentsendError("a pseudonym is only used in pseudonym mode")
        if self.mode == "keep" and (self.retain or self.clean or self.redactions):
            raise DentsendError(
                "keeping the metadata sends files byte-identical: it takes no retain, clean "
                "or redaction options"
            )

    @property
    def profile_options(self) -> frozenset[str]:
        """The option column names of the Annex E table that apply (retain and clean)."""
        return self.retain | self.clean

    def boxes_for(self, path: Path) -> tuple[Box, ...]:
        return tuple(self.redactions.get(_resolved(path), ()))

    def confirmed(self, path: Path) -> bool:
        if isinstance(self.confirmed_no_burned_in, bool):
            return self.confirmed_no_burned_in
        return _resolved(path) in self.confirmed_no_burned_in


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path).absolute()
