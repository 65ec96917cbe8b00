"""The Type (1, 2 or 3) of an attribute in the instance's IOD, for the combined Annex E codes.

X/Z, X/D, Z/D, X/Z/D and X/Z/U* mean "remove, unless the IOD needs the attribute present (Type 2:
empty) or present with a value (Type 1: a dummy)". The types come from ``resources/deid/
iod-types.json``, a reduction of the PS3.3 module tables to the IODs dental practices send (see
its README). An IOD not in the table falls back to the modules nearly every image IOD shares; an
attribute not listed is Type 3, so the safe choice (remove) is the default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from dentsend.resources import resource_path


@dataclass(frozen=True)
class IodTypes:
    """Attribute types of one IOD, by keyword or ``Parent>Keyword`` for nested attributes."""

    name: str
    types: Mapping[str, int]

    def type_of(self, keyword: str, parent: str | None) -> int:
        key = f"{parent}>{keyword}" if parent else keyword
        return self.types.get(key, 3)


@cache
def _table() -> dict[str, object]:
    data: dict[str, object] = json.loads(
        resource_path("deid", "iod-types.json").read_text(encoding="utf-8")
    )
    return data


def iod_types(sop_class_uid: str | None) -> IodTypes:
    """The types for a SOP Class (the common modules' types if the class is not listed)."""
    table = _table()
    classes = table["sop_classes"]
    iods = table["iods"]
    assert isinstance(classes, dict) and isinstance(iods, dict)
    name = classes.get(str(sop_class_uid or "").strip())
    if name is not None and name in iods:
        return IodTypes(name, iods[name])
    common = table["common"]
    assert isinstance(common, dict)
    return IodTypes("common", common)


def resolve(code: str, attribute_type: int) -> str:
    """One action out of an Annex E code, keeping the output valid for the attribute's Type.

    Combined codes pick the first of their actions the Type allows (X only for Type 3, Z for
    Types 2 and 3); a plain code the Type does not allow becomes the nearest valid one (an X or
    Z on a Type 1 attribute becomes a dummy, an X on a Type 2 attribute becomes empty), so
    removing never leaves an instance that viewers reject.
    """
    parts = code.split("/")
    for part in parts:
        if _allowed(part, attribute_type):
            return part
    return "D" if attribute_type == 1 else "Z"


def _allowed(action: str, attribute_type: int) -> bool:
    if action == "X":
        return attribute_type == 3
    if action == "Z":
        return attribute_type in (2, 3)
    return True
