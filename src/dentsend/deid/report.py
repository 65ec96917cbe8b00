"""The record of every change made to a file, shown before/after in the GUI and saved locally.

The report holds the original values (that is its point), so it stays on the sender's machine:
it is never put into a package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What happened to an attribute or metadata block.
ACTIONS = ("removed", "emptied", "replaced", "kept", "redacted", "stripped", "renamed")

_MAX_TEXT = 200


@dataclass
class Change:
    """One line of the report."""

    tag: str
    """``(0010,0010)``, a path such as ``(0008,1140)[1] > (0008,1155)``, or for rasters e.g.
    ``EXIF`` / ``PNG tEXt Author`` / ``file name``."""
    name: str
    action: str
    before: str | None
    after: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "name": self.name,
            "action": self.action,
            "before": self.before,
            "after": self.after,
        }


@dataclass
class FileReport:
    source: Path
    output_name: str
    changes: list[Change] = field(default_factory=list)

    def add(self, tag: str, name: str, action: str, before: Any = None, after: Any = None) -> None:
        self.changes.append(Change(tag, name, action, shown(before), shown(after)))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "output_name": self.output_name,
            "changes": [change.to_json() for change in self.changes],
        }


def shown(value: Any) -> str | None:
    """A value as short text for the report: long text is cut, binary data is summarised."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    listed = isinstance(value, (list, tuple))
    text = "\\".join(str(v) for v in value) if listed else str(value)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"
