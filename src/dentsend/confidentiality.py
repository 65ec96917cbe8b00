"""The DICOM PS3.15 Annex E attribute confidentiality table (Table E.1-1), read as data.

The table says, for every attribute that may identify a person, what the Basic Application Level
Confidentiality Profile does with it and how each option changes that. Keeping it as data means a
new edition of the standard is a file drop, not a code change: the newest
``resources/annex-e/annex-e-confidentiality-<edition>.json`` wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache

from dentsend.resources import resource_path

#: The option columns of the table, by the names the command line uses (``--retain NAME``,
#: ``--clean NAME``).
OPTION_COLUMNS: Mapping[str, str] = {
    "safe-private": "rtnSafePrivOpt",
    "uids": "rtnUIDsOpt",
    "device": "rtnDevIdOpt",
    "institution": "rtnInstIdOpt",
    "patient-characteristics": "rtnPatCharsOpt",
    "dates": "rtnLongFullDatesOpt",
    "modified-dates": "rtnLongModifDatesOpt",
    "descriptors": "cleanDescOpt",
    "structured-content": "cleanStructContOpt",
    "graphics": "cleanGraphOpt",
}


@dataclass(frozen=True)
class Rule:
    """One row of the table: what happens to one attribute (or a masked group of them)."""

    tag: str
    """As printed in the standard: ``(0010,0010)``, ``(60XX,3000)``."""
    name: str
    basic: str
    """The Basic Profile action: ``D``, ``Z``, ``X``, ``K``, ``C``, ``U`` or a combined code."""
    options: Mapping[str, str] = field(default_factory=dict)
    """Option name (see :data:`OPTION_COLUMNS`) → the action under that option."""
    in_standard_iod: bool = True

    def action(self, options: frozenset[str] = frozenset()) -> str:
        """The action under the chosen options.

        Where several chosen options change the same attribute, keeping wins over cleaning and
        cleaning over the Basic Profile, which is how PS3.15 E.3 composes them.
        """
        chosen = [self.options[o] for o in options if o in self.options]
        if "K" in chosen:
            return "K"
        if "C" in chosen:
            return "C"
        return self.basic


@dataclass(frozen=True)
class _Mask:
    value: int
    care: int


class ConfidentialityTable:
    """Lookup of :class:`Rule` by tag, with the ``xx`` masked rows (curves, overlays)."""

    def __init__(self, edition: str, rows: list[dict[str, str]]) -> None:
        self.edition = edition
        self._exact: dict[int, Rule] = {}
        self._masked: list[tuple[_Mask, Rule]] = []
        self.private_rule: Rule | None = None
        for row in rows:
            rule = Rule(
                tag=row["tag"],
                name=row["name"].split("\n")[0].strip(),
                basic=row["basicProfile"],
                options={
                    name: row[column] for name, column in OPTION_COLUMNS.items() if column in row
                },
                in_standard_iod=row.get("stdCompIOD", "Y") == "Y",
            )
            ident = row["id"].lower()
            if ident.startswith("gggg"):
                self.private_rule = rule
            elif "x" in ident:
                care = int("".join("0" if c == "x" else "f" for c in ident), 16)
                value = int(ident.replace("x", "0"), 16)
                self._masked.append((_Mask(value, care), rule))
            else:
                self._exact[int(ident, 16)] = rule

    def __len__(self) -> int:
        return len(self._exact) + len(self._masked) + (self.private_rule is not None)

    def __iter__(self) -> Iterator[tuple[int | None, Rule]]:
        """Every exact rule with its tag, then the masked and private rules with ``None``."""
        yield from self._exact.items()
        for _, rule in self._masked:
            yield None, rule
        if self.private_rule is not None:
            yield None, self.private_rule

    def rule_for(self, tag: int) -> Rule | None:
        """The rule for a standard attribute, or ``None`` if the table does not list it.

        Private attributes (odd groups) are not looked up here: see :attr:`private_rule`.
        """
        rule = self._exact.get(tag)
        if rule is not None:
            return rule
        for mask, masked_rule in self._masked:
            if tag & mask.care == mask.value:
                return masked_rule
        return None


def _editions() -> dict[str, str]:
    folder = resource_path("annex-e")
    prefix = "annex-e-confidentiality-"
    return {p.stem.removeprefix(prefix): p.name for p in folder.glob(f"{prefix}*.json")}


@cache
def load_table(edition: str | None = None) -> ConfidentialityTable:
    """The table of the given edition (``"2024b"``), or of the newest one shipped."""
    editions = _editions()
    if not editions:
        raise RuntimeError("no Annex E table found in resources/annex-e")
    chosen = edition or max(editions)
    if chosen not in editions:
        raise ValueError(f"no Annex E table for edition {chosen!r} (have {sorted(editions)})")
    rows = json.loads(resource_path("annex-e", editions[chosen]).read_text(encoding="utf-8"))
    return ConfidentialityTable(chosen, rows)
