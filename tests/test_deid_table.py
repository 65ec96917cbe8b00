"""Every row of the Annex E table, under every option, at the top level and inside a sequence.

One dataset holds every attribute the table lists (with a fake value that names nobody but is
unique per attribute), once at the top level and once inside an item of a sequence the table
does not list (so the walk must recurse into it). Each option is applied in turn and each row's
outcome is read back from the cleaned file.
"""

from __future__ import annotations

from typing import Any

import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dentsend.confidentiality import OPTION_COLUMNS, Rule, load_table
from dentsend.deid import CLEAN_OPTIONS, RETAIN_OPTIONS, Deidentifier, DeidOptions
from dentsend.deid.iod import iod_types, resolve
from dentsend.intake import load_bytes
from test_deid_samples import INTRAORAL_CLASS, base_dataset, item, to_bytes

TABLE = load_table()
CONTAINER = "ProcedureCodeSequence"  # not in the table: its content is de-identified in place
OPTION_SETS = [frozenset(), *(frozenset({name}) for name in (*RETAIN_OPTIONS, *CLEAN_OPTIONS))]
DATE = "20240311"


def _rows() -> list[tuple[int, str, Rule]]:
    rows = []
    for tag, rule in TABLE:
        if tag is None or tag >> 16 in (0x0000, 0x0002):
            continue  # masked rows, private rows, command and file meta groups: own tests
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue
        rows.append((tag, vr, rule))
    return rows


ROWS = _rows()


def fake_value(tag: int, vr: str) -> Any:
    n = f"{tag:08X}"
    values: dict[str, Any] = {
        "AE": f"AE{n}",
        "AS": "045Y",
        "CS": f"CS{n}",
        "DA": DATE,
        "DT": DATE + "101500",
        "TM": "101500",
        "DS": "1.5",
        "IS": "7",
        "LO": f"V{n}",
        "LT": f"V{n}",
        "SH": f"V{n}",
        "ST": f"V{n}",
        "UT": f"V{n}",
        "UC": f"V{n}",
        "PN": f"N{n}^G{n}",
        "UI": f"1.2.3.{tag}",
        "UR": f"http://example.invalid/{n}",
        "FL": 1.5,
        "FD": 1.5,
        "SL": 7,
        "SS": 7,
        "UL": 7,
        "US": 7,
        "SV": 7,
        "UV": 7,
        "AT": 0x00100010,
    }
    if vr == "SQ":
        return Sequence([item(CodeValue="C1", CodingSchemeDesignator="DCM", CodeMeaning="m")])
    return values.get(vr, b"\x01\x02\x03\x04")


def table_dataset() -> Dataset:
    ds = base_dataset()
    nested = Dataset()
    for tag, vr, _rule in ROWS:
        ds.add_new(tag, vr, fake_value(tag, vr))
        nested.add_new(tag, vr, fake_value(tag, vr))
    ds.ProcedureCodeSequence = Sequence([nested])
    return ds


@pytest.fixture(scope="module")
def source() -> tuple[bytes, Dataset]:
    data = to_bytes(table_dataset())
    return data, pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))


def expected_action(rule: Rule, options: frozenset[str], tag: int, parent: str | None) -> str:
    code = rule.action(options)
    if "/" not in code and code not in ("X", "Z"):
        return code
    attribute_type = iod_types(INTRAORAL_CLASS).type_of(keyword_for_tag(tag), parent)
    action = resolve(code, attribute_type)
    # independent of resolve(): a combined code yields one of its parts unless that would
    # break the IOD, and never removes a Type 1 or 2 attribute nor empties a Type 1 one
    assert action in code.split("/") or attribute_type in (1, 2)
    assert not (action == "X" and attribute_type in (1, 2))
    assert not (action == "Z" and attribute_type == 1)
    return action


def check_row(
    action: str,
    rule: Rule,
    options: frozenset[str],
    vr: str,
    original: Any,
    out: Dataset,
    tag: int,
    shifted: set[str],
) -> str | None:
    """``None`` if the outcome matches the action, else what is wrong."""
    present = tag in out
    value = out[tag].value if present else None
    if action == "X":
        return None if not present else f"kept {value!r}, expected removed"
    if not present:
        return f"removed, expected {action}"
    if action == "Z":
        return None if out[tag].is_empty else f"{value!r}, expected empty"
    if action == "D":
        if vr == "SQ":
            return None if len(value) >= 1 else "empty sequence, expected a dummy item"
        if out[tag].is_empty or str(value) == str(original):
            return f"{value!r}, expected a dummy"
        return None
    if action in ("U", "U*"):
        if vr == "UI":
            ok = str(value).startswith("2.25.") and str(value) != str(original)
            return None if ok else f"{value!r}, expected a replaced UID"
        return None if vr != "SQ" or len(value) >= 1 else "sequence emptied"
    if action == "K":
        if vr == "SQ":
            return None if len(value) == len(original) else "items lost"
        return None if str(value) == str(original) else f"{value!r}, expected kept"
    if action == "C":
        if vr == "SQ":
            return None if len(value) >= 1 else "cleaned sequence lost its items"
        dates = "modified-dates" in options and rule.options.get("modified-dates") == "C"
        if dates and vr in ("DA", "DT"):
            if str(value)[:8] == DATE or not str(value)[:8].isdigit():
                return f"{value!r}, expected a shifted date"
            shifted.add(str(value)[:8])
            return None
        return None if str(value) == str(original) else f"{value!r}, expected kept (cleaned)"
    return f"unknown action {action}"


@pytest.mark.parametrize(
    "options", OPTION_SETS, ids=lambda o: "+".join(sorted(o)) or "basic-profile"
)
def test_every_row_under_each_option(
    source: tuple[bytes, Dataset], options: frozenset[str]
) -> None:
    data, original = source
    retain = options & RETAIN_OPTIONS.keys()
    clean = options & CLEAN_OPTIONS.keys()
    deid = Deidentifier(DeidOptions(retain=frozenset(retain), clean=frozenset(clean)))
    cleaned = deid.clean(load_bytes(data, "table.dcm"))
    out = pydicom.dcmread(pydicom.filebase.DicomBytesIO(cleaned.data))
    nested_out = out[CONTAINER].value[0]
    nested_in = original[CONTAINER].value[0]
    problems = []
    shifted: set[str] = set()
    for tag, vr, rule in ROWS:
        for parent, before, after in ((None, original, out), (CONTAINER, nested_in, nested_out)):
            action = expected_action(rule, options, tag, parent)
            wrong = check_row(action, rule, options, vr, before[tag].value, after, tag, shifted)
            if wrong:
                where = f"{parent} > " if parent else ""
                problems.append(
                    f"{where}{rule.tag} {rule.name} [{rule.action(options)}→{action}]: {wrong}"
                )
    assert not problems, f"{len(problems)} rows wrong:\n" + "\n".join(problems[:40])
    # one offset for every date of the package: intervals between dates are kept
    assert len(shifted) <= 1


def test_the_table_is_the_2024b_edition_with_every_option_column() -> None:
    assert TABLE.edition == "2024b"
    assert len(TABLE) == 621
    assert len(ROWS) > 550  # a handful of retired tags are unknown to pydicom's dictionary
    columns = {name for _, rule in TABLE for name in rule.options}
    assert columns == set(OPTION_COLUMNS)


def test_combined_codes_follow_the_intraoral_iod() -> None:
    """Spot checks against PS3.3 by hand, not through resolve()."""
    types = iod_types(INTRAORAL_CLASS)
    assert types.name == "digital-intra-oral-x-ray-image"
    assert types.type_of("PatientID", None) == 2  # Patient Module
    assert types.type_of("ContentDate", None) == 2
    assert types.type_of("SOPInstanceUID", None) == 1
    assert types.type_of("InstitutionName", None) == 3
    assert types.type_of("PatientID", "OtherPatientIDsSequence") == 1
    assert resolve("Z/D", 2) == "Z" and resolve("Z/D", 1) == "D"
    assert resolve("X/Z/D", 3) == "X" and resolve("X/Z/D", 2) == "Z"
    assert resolve("X/Z/D", 1) == "D"
    assert resolve("X/D", 3) == "X" and resolve("X/D", 1) == "D"
    assert resolve("X/Z/U*", 1) == "U*" and resolve("X/Z/U*", 2) == "Z"
    # an IOD the table does not know uses the common modules (PatientID Type 2 there too)
    assert iod_types("1.2.3.4.5.6").type_of("PatientID", None) == 2
    assert iod_types(None).type_of("StationName", None) == 3


def test_private_attributes_are_removed_unless_allow_listed() -> None:
    ds = base_dataset()
    safe = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    safe.add_new(0x23, "DS", "5.0")  # Table Speed: on the standard's safe list
    safe.add_new(0x9E, "LO", "FSE")  # on the standard's list, but text: not kept
    safe.add_new(0x24, "LO", "Quixwhistle")  # listed as DS, but holds text: not kept
    vendor = ds.private_block(0x0029, "SIRONA SIDEXIS", create=True)
    vendor.add_new(0x01, "DS", "1.0")
    data = to_bytes(ds)
    for retain, kept in ((frozenset(), set()), (frozenset({"safe-private"}), {0x00191023})):
        cleaned = Deidentifier(DeidOptions(retain=retain)).clean(load_bytes(data, "p.dcm"))
        out = pydicom.dcmread(pydicom.filebase.DicomBytesIO(cleaned.data))
        private = {int(e.tag) for e in out if e.tag.is_private and not e.tag.is_private_creator}
        assert private == kept
        creators = {str(e.value) for e in out if e.tag.is_private_creator}
        assert creators == ({"GEMS_ACQU_01"} if kept else set())


@pytest.mark.parametrize("graphics", [False, True])
def test_overlay_and_curve_groups(graphics: bool) -> None:
    from test_deid_samples import planted_dataset

    data = to_bytes(planted_dataset())
    options = DeidOptions(
        clean=frozenset({"graphics"}) if graphics else frozenset(), confirmed_no_burned_in=True
    )
    cleaned = Deidentifier(options).clean(load_bytes(data, "o.dcm"))
    out = pydicom.dcmread(pydicom.filebase.DicomBytesIO(cleaned.data))
    overlay = {int(e.tag) for e in out if e.tag.group == 0x6000}
    curve = {int(e.tag) for e in out if e.tag.group == 0x5000}
    if graphics:
        assert 0x60003000 in overlay  # the bitmap stays (the user confirmed it holds no text)
        assert "Quixwhistle" not in str(out[0x60004000].value)  # comments are cleaned
        assert "Quixwhistle" not in str(out[0x50000022].value)
    else:
        assert overlay == set() and curve == set()
