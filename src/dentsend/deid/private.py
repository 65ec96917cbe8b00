"""The Retain Safe Private option: which private attributes may stay.

Private attributes hold whatever a vendor put there (dental imaging software is known to store
the patient's name and the practice's paths in them), so by default all are removed. With
``--retain safe-private`` only the attributes of ``resources/deid/safe-private.json`` stay: the
numeric and code-string entries of PS3.15 Table E.3.10-1, matched by private creator, group and
element, and only while their value really is a number or a short code. Blocks that call
themselves "SAFE" in the file are not trusted: the file is the thing being cleaned.
"""

from __future__ import annotations

import json
import re
from functools import cache

from dentsend.resources import resource_path

_NUMERIC_TEXT = re.compile(rb"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
_CODE_STRING = re.compile(rb"[A-Z0-9 _]{0,16}")
_BINARY_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8}


@cache
def _allow_list() -> dict[tuple[int, str, int], str]:
    data = json.loads(resource_path("deid", "safe-private.json").read_text(encoding="utf-8"))
    return {
        (int(row["group"], 16), row["creator"].strip(), int(row["element"], 16)): row["vr"]
        for row in data["attributes"]
    }


def safe_vr(group: int, creator: str, element_low: int) -> str | None:
    """The VR the allow-list expects for this private attribute, or ``None`` if not listed."""
    return _allow_list().get((group, creator.strip(), element_low))


def value_is_safe(vr: str, raw: bytes) -> bool:
    """Whether the encoded value is what the allow-list promises: numbers or a short code."""
    if vr in _BINARY_SIZES:
        return len(raw) % _BINARY_SIZES[vr] == 0
    values = raw.rstrip(b"\x00 ").split(b"\\") if raw else []
    if vr in ("DS", "IS"):
        return all(_NUMERIC_TEXT.fullmatch(v) for v in values)
    if vr == "CS":
        return all(_CODE_STRING.fullmatch(v.strip()) for v in values)
    return False
