"""Apply the DICOM PS3.15 Annex E Basic Profile, with options, to one instance.

The walk builds a new dataset from the source (the source, which the GUI still shows, is never
modified) and decides for every attribute, at every depth of nesting:

* listed in Table E.1-1 (:mod:`dentsend.confidentiality`): the action under the chosen options,
  combined codes resolved by the attribute's Type in the instance's IOD (:mod:`.iod`);
* private: removed, or kept under Retain Safe Private when allow-listed (:mod:`.private`);
* overlay (``60xx``) and curve (``50xx``) groups: removed as a whole unless graphics are kept
  cleaned (and then only the groups the standard defines, ``6000``-``601E``/``5000``-``501E``);
  the retired variable pixel data groups (``7F00``-``7FDE``) and file meta elements found in the
  data set body are removed;
* not listed, but a person's name, free text, a URL, a date or a time: handled as if listed (the
  table is not exhaustive, see PS3.15 E.1.1 note 4); a UID is replaced unless it is a well-known
  UID (a transfer syntax, a SOP class, a coding scheme…), so no original instance UID survives;
* public attributes the data dictionary does not know (any VR: a newer edition, or a hiding
  place), bulk data other than the pixels and what displays them (waveforms, audio, encapsulated
  data…) and encrypted original attributes are removed;
* anything else is kept (pixel data, geometry, acquisition parameters, codes).

Then a sweep removes any value the profile took out (names, IDs, birth date, institution…) from
the text that remains, wherever it was copied (a patient name typed into a description or a
manufacturer field, also joined to other words as in ``Mueller_Anna`` or ``Mueller2024``); a
kept private value or code string that holds one is removed or replaced. The file meta group is
replaced, UIDs are remapped consistently for the package, and the de-identification is recorded
in the instance itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import logging
import re
import struct
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dentsend import __version__
from dentsend.confidentiality import ConfidentialityTable, Rule
from dentsend.deid.icc import normalise_icc
from dentsend.deid.iod import iod_types, resolve
from dentsend.deid.private import safe_vr, value_is_safe
from dentsend.deid.report import FileReport

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

log = logging.getLogger(__name__)

#: dentsend's implementation class UID (file meta), a UUID-derived 2.25 UID fixed for the app.
IMPLEMENTATION_CLASS_UID = "2.25.170473233411939598418331384404411346131"
IMPLEMENTATION_VERSION_NAME = f"DENTSEND_{__version__}"[:16]

_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN"}
_STRING_VRS = _TEXT_VRS | {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"}
_DATE_VRS = {"DA", "DT", "TM"}
_FREE_TEXT_VRS = {"LT", "ST", "UT", "UR"}
#: Binary VRs: bulk data a viewer never shows as text, so a good hiding place.
_BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
#: The bulk data attributes kept when the table does not list them: the pixels and what
#: displays them (palettes, LUTs, the colour profile, the frame offsets).
_KEPT_BULK = {
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "AlphaPaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "SegmentedAlphaPaletteColorLookupTableData",
    "LUTData",
    "ICCProfile",
}
#: Code strings and application entity titles: text with no room for a "***" mark, so a value
#: that holds an identifier is replaced whole.
_CODE_VRS = {"CS", "AE"}
#: Not in Table E.1-1 but never sent: encrypted original values (a hiding place that viewers
#: never show), signature parameters (the signatures no longer match), and the description of
#: private blocks that are removed anyway.
_ALWAYS_REMOVED = {0x04000500, 0x4FFE0001, 0x00080300}
#: Dates that version a code set rather than record an event.
_STRUCTURAL_DATES = {0x00080106, 0x00080107}  # ContextGroupVersion, ContextGroupLocalVersion

_DUMMY_TEXT = "ANONYMOUS"
_DUMMY_DATE = "19000101"
_DUMMIES: dict[str, Any] = {
    "AE": _DUMMY_TEXT,
    "AS": "000Y",
    "CS": _DUMMY_TEXT,
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": _DUMMY_TEXT,
    "LT": _DUMMY_TEXT,
    "PN": _DUMMY_TEXT,
    "SH": _DUMMY_TEXT,
    "ST": _DUMMY_TEXT,
    "TM": "000000",
    "UC": _DUMMY_TEXT,
    "UR": _DUMMY_TEXT,
    "UT": _DUMMY_TEXT,
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "SV": 0,
    "UL": 0,
    "US": 0,
    "UV": 0,
    "OB": b"\x00\x00",
    "OD": b"\x00" * 8,
    "OF": b"\x00" * 4,
    "OL": b"\x00" * 4,
    "OV": b"\x00" * 8,
    "OW": b"\x00\x00",
    "UN": b"\x00\x00",
}
_SCRUBBED = "***"

#: Attributes whose values identify the patient, the practice or the device; values the
#: profile removes from them are swept out of every text value that remains.
_IDENTITY_KEYWORDS = {
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PersonTelephoneNumbers",
    "PersonAddress",
    "MedicalRecordLocator",
    "AccessionNumber",
    "AdmissionID",
    "IssuerOfPatientID",
    "PatientBirthName",
    "PatientMotherBirthName",
    "OtherPatientNames",
    "MilitaryRank",
    "BranchOfService",
    "RegionOfResidence",
    "CountryOfResidence",
    "PatientInsurancePlanCodeSequence",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "PersonTelecomInformation",
    "PatientTelecomInformation",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID",
    "StudyID",
}
_INSTITUTION_KEYWORDS = {"InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName"}
_DEVICE_KEYWORDS = {"StationName", "DeviceSerialNumber", "DetectorID", "DeviceUID"}

#: CID 7050 De-identification Method codes (scheme DCM), by option name.
DEID_CODES: dict[str, tuple[str, str]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "pixels": ("113101", "Clean Pixel Data Option"),
    "graphics": ("113103", "Clean Graphics Option"),
    "structured-content": ("113104", "Clean Structured Content Option"),
    "descriptors": ("113105", "Clean Descriptors Option"),
    "dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "modified-dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "patient-characteristics": ("113108", "Retain Patient Characteristics Option"),
    "device": ("113109", "Retain Device Identity Option"),
    "uids": ("113110", "Retain UIDs Option"),
    "safe-private": ("113111", "Retain Safe Private Option"),
    "institution": ("113112", "Retain Institution Identity Option"),
}


# --------------------------------------------------------------------------------------------
# UIDs and dates: consistent for one package


def new_uid(key: bytes, original: str) -> str:
    """The replacement of ``original``: the same for the same key, unlinkable without it.

    HMAC-SHA256 of the original UID, 128 bits of it laid out as a version-8 UUID and written
    as a ``2.25`` UID (PS3.5 B.2), so the result is a valid UID of at most 44 characters.
    """
    digest = hmac.new(key, original.strip().encode("ascii", "replace"), hashlib.sha256).digest()
    value = int.from_bytes(digest[:16], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8 (custom)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return f"2.25.{value}"


@dataclass(frozen=True)
class DateShift:
    """Move every date back by the same number of days (Retain Modified Dates): intervals
    between images, and the order of events, stay as they were."""

    days: int

    def date(self, value: str) -> str:
        """The shifted date (DA): eight digits, nothing after them (text after a date is a
        place to hide a name)."""
        text = value.strip()
        if len(text) >= 8 and text[:8].isdigit():
            try:
                day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            except ValueError:
                return _DUMMY_DATE
            shifted = day - dt.timedelta(days=self.days)
            return shifted.strftime("%Y%m%d")
        return _DUMMY_DATE

    def datetime(self, value: str) -> str:
        """The shifted date and time (DT): the time and zone are kept if they are a time
        and zone, else dropped."""
        text = value.strip()
        if len(text) >= 8 and text[:8].isdigit():
            rest = text[8:]
            return self.date(text[:8]) + (rest if _DT_TIME.fullmatch(rest) else "")
        return _DUMMY_DATE + "000000"


#: What may follow the date in a DT value: HHMMSS.FFFFFF (right-truncated) and &ZZXX.
_DT_TIME = re.compile(r"(\d\d(\d\d(\d\d(\.\d{1,6})?)?)?)?([+-]\d{4})?")


# --------------------------------------------------------------------------------------------
# the walk


@dataclass
class _Level:
    """Where the walk is: the enclosing sequence's keyword and how its content is treated."""

    parent: str | None = None
    path: str = ""
    mode: str = "normal"
    """``normal``; ``dummy`` inside a sequence replaced by a dummy (every unlisted string
    becomes a dummy); ``clean`` inside a sequence being cleaned (unlisted text is scrubbed)."""


@dataclass
class DicomOutcome:
    dataset: Dataset


class DicomCleaner:
    """Applies the profile to datasets; one per package (it holds the UID key and date shift)."""

    def __init__(
        self,
        table: ConfidentialityTable,
        options: frozenset[str],
        uid_key: bytes,
        date_shift: DateShift,
    ) -> None:
        self.table = table
        self.options = options
        self.uid_key = uid_key
        self.date_shift = date_shift
        self._graphics = "graphics" in options

    # --- public -----------------------------------------------------------------------------

    def uid(self, original: str) -> str:
        return new_uid(self.uid_key, original)

    def apply(self, source: Dataset, report: FileReport) -> DicomOutcome:
        """The de-identified copy of ``source`` (file meta still to be written by the caller)."""
        self._report = report
        self._types = iod_types(_text(source.get("SOPClassUID")))
        with warnings.catch_warnings():
            # pydicom warns about every non-conforming value it converts; the walk decides
            # what happens to each value and reports it.
            warnings.simplefilter("ignore")
            identifiers = _collect_identifiers(source, self.options)
            self._scrub = _scrubber(identifiers)
            outcome = DicomOutcome(dataset=self._walk(source, _Level()))
            self._overlays(source)
            self._sweep(outcome.dataset, "")
        return outcome

    # --- one dataset level --------------------------------------------------------------------

    def _walk(self, source: Dataset, level: _Level) -> Dataset:
        from pydicom.dataset import Dataset

        target = Dataset()
        creators = _private_creators(source)
        kept_blocks: set[tuple[int, int]] = set()
        for tag in list(source.keys()):
            group, element = tag >> 16, tag & 0xFFFF
            where = _where(level.path, tag)
            try:
                elem = source[tag]
            except Exception as exc:  # a value pydicom cannot even convert goes
                log.debug("unreadable element %s: %s", where, type(exc).__name__)
                self._report.add(where, "unreadable attribute", "removed", None, None)
                continue
            name = _name(elem, level.path)
            if element == 0x0000:
                continue  # group lengths are recomputed when writing
            if group % 2:
                if 0x0010 <= element <= 0x00FF:
                    continue  # private creators: kept below only if their block is
                self._private(elem, creators, target, kept_blocks, where, name)
                continue
            if 0x6000 <= group <= 0x60FF:
                if group <= 0x601E and "graphics" in self.options:
                    self._copy_cleaned(elem, target, where, name)
                continue  # otherwise the whole overlay group goes (reported in _overlays)
            if (
                group == 0x0002  # file meta elements belong in the meta group, never here
                or tag in _ALWAYS_REMOVED
                or (0x5000 <= group <= 0x50FF and not (group <= 0x501E and self._graphics))
                or 0x7F00 <= group <= 0x7FDF  # retired variable pixel data
            ):
                self._report.add(where, name, "removed", _before(elem), None)
                continue
            rule = self.table.rule_for(int(tag))
            if rule is not None:
                code = rule.action(self.options)
                action = self._resolve(code, elem, level)
                self._act(action, rule, elem, target, level, where, name)
            else:
                self._unlisted(elem, target, level, where, name)
        for group, block in sorted(kept_blocks):
            creator_tag = (group << 16) | block
            target.add(_copy(source[creator_tag]))
        return target

    def _resolve(self, code: str, elem: DataElement, level: _Level) -> str:
        if "/" not in code and code not in ("X", "Z"):
            return code
        keyword = elem.keyword or ""
        return resolve(code, self._types.type_of(keyword, level.parent))

    def _act(
        self,
        action: str,
        rule: Rule | None,
        elem: DataElement,
        target: Dataset,
        level: _Level,
        where: str,
        name: str,
    ) -> None:
        vr = elem.VR
        if action == "X":
            self._report.add(where, name, "removed", _before(elem), None)
        elif action == "Z":
            if vr == "SQ":
                target.add(_new(elem, []))
            else:
                target.add(_new(elem, None))
            if not elem.is_empty:
                self._report.add(where, name, "emptied", _before(elem), "")
        elif action == "D":
            if vr == "SQ":
                target.add(self._sequence(elem, level, "dummy"))
            else:
                value = self._dummy(elem)
                target.add(_new(elem, value))
                self._report.add(where, name, "replaced", _before(elem), _before_value(value))
        elif action in ("U", "U*"):
            if vr == "SQ":
                target.add(self._sequence(elem, level, level.mode))
            elif vr == "UI":
                uids = [self.uid(str(v)) for v in _values(elem.value)]
                replaced: Any = uids[0] if len(uids) == 1 else uids
                target.add(_new(elem, replaced if uids else None))
                if uids:
                    self._report.add(
                        where, name, "replaced", _before(elem), _before_value(replaced)
                    )
            else:  # a U on a non-UID attribute (never in the table): keep it safe
                self._act("D", rule, elem, target, level, where, name)
        elif action == "K":
            if vr == "SQ":
                target.add(self._sequence(elem, level, level.mode))
            else:
                target.add(_copy(elem))
                if not elem.is_empty:
                    self._report.add(where, name, "kept", _before(elem), _before(elem))
        elif action == "C":
            self._clean(rule, elem, target, level, where, name)
        else:
            raise ValueError(f"unknown Annex E action {action!r} for {where}")

    def _clean(
        self,
        rule: Rule | None,
        elem: DataElement,
        target: Dataset,
        level: _Level,
        where: str,
        name: str,
    ) -> None:
        """The C action: dates shifted (Modified Dates), sequences and text cleaned."""
        vr = elem.VR
        dates_option = "modified-dates" in self.options and (
            rule is None or rule.options.get("modified-dates") == "C"
        )
        if vr in _DATE_VRS and dates_option:
            if vr == "TM" or elem.is_empty:
                target.add(_copy(elem))
                return
            shift = self.date_shift.date if vr == "DA" else self.date_shift.datetime
            values = [shift(str(v)) for v in _values(elem.value)]
            value: Any = values[0] if len(values) == 1 else values
            target.add(_new(elem, value))
            self._report.add(where, name, "replaced", _before(elem), _before_value(value))
        elif vr == "SQ":
            target.add(self._sequence(elem, level, "clean"))
        else:
            self._copy_cleaned(elem, target, where, name)

    def _copy_cleaned(self, elem: DataElement, target: Dataset, where: str, name: str) -> None:
        """Keep the attribute, with identifying values found elsewhere in the file removed."""
        if elem.VR == "SQ":
            target.add(self._sequence(elem, _Level(path=where), "clean"))
            return
        if elem.VR in _TEXT_VRS and not elem.is_empty:
            values = [self._scrub(str(v)) for v in _values(elem.value)]
            value: Any = values[0] if len(values) == 1 else values
            if values != [str(v) for v in _values(elem.value)]:
                target.add(_new(elem, value))
                self._report.add(where, name, "replaced", _before(elem), _before_value(value))
                return
        target.add(_copy(elem))
        if not elem.is_empty:
            self._report.add(where, name, "kept", _before(elem), _before(elem))

    def _unlisted(
        self, elem: DataElement, target: Dataset, level: _Level, where: str, name: str
    ) -> None:
        """Attributes Table E.1-1 does not name."""
        vr = elem.VR
        tag = int(elem.tag)
        if not elem.keyword or (vr in _BULK_VRS and elem.keyword not in _KEPT_BULK):
            # Unknown to the dictionary (nothing says what it holds) or bulk data no viewer
            # shows: the places to hide a name.
            self._report.add(where, name, "removed", _before(elem), None)
            return
        if vr == "SQ":
            target.add(self._sequence(elem, level, level.mode))
            return
        if level.mode == "dummy" and vr in _STRING_VRS and not elem.is_empty:
            self._act("U" if vr == "UI" else "D", None, elem, target, level, where, name)
            return
        if vr == "UI":
            self._unlisted_uid(elem, target, where, name)
            return
        if elem.keyword == "ICCProfile":
            self._icc_profile(elem, target, where, name)
            return
        if vr == "PN":
            code = "X/Z/D"
        elif vr in _FREE_TEXT_VRS:
            # Free text the table does not name: kept (cleaned) with Clean Descriptors or
            # inside a sequence being cleaned, else handled like a listed description.
            cleaning = "descriptors" in self.options or level.mode == "clean"
            code = "C" if cleaning else "X/Z/D"
        elif vr in _DATE_VRS and tag not in _STRUCTURAL_DATES:
            if "dates" in self.options:
                code = "K"
            elif "modified-dates" in self.options:
                code = "C"
            else:
                code = "X/Z/D"
        else:
            target.add(_copy(elem))
            return
        action = self._resolve(code, elem, level)
        self._act(action, None, elem, target, level, where, name)

    def _unlisted_uid(self, elem: DataElement, target: Dataset, where: str, name: str) -> None:
        """A UID attribute the table does not list: every UID that could name an instance,
        a study or a device is replaced (as U), well-known UIDs stay (PS3.15 E.3.9 lets
        all of them stay with Retain UIDs)."""
        values = [str(v).strip() for v in _values(elem.value)]
        if "uids" in self.options or all(well_known_uid(v) for v in values):
            target.add(_copy(elem))
            return
        replaced = [v if well_known_uid(v) else self.uid(v) for v in values]
        value: Any = replaced[0] if len(replaced) == 1 else replaced
        target.add(_new(elem, value))
        self._report.add(where, name, "replaced", _before(elem), _before_value(value))

    def _icc_profile(self, elem: DataElement, target: Dataset, where: str, name: str) -> None:
        """The colour profile stays (photographs need it), without what hides past or
        between its tags."""
        whole = normalise_icc(bytes(elem.value or b""))
        if whole is None:
            self._report.add(where, f"{name} (damaged)", "removed", _before(elem), None)
            return
        profile, hidden = whole
        target.add(_new(elem, profile + b"\x00" * (len(profile) % 2)))
        if hidden:
            self._report.add(where, name, "replaced", _before(elem), f"<{hidden} bytes cleared>")

    def _sequence(self, elem: DataElement, level: _Level, mode: str) -> DataElement:
        from pydicom.sequence import Sequence

        items = []
        for index, item in enumerate(elem.value or [], start=1):
            child = _Level(
                parent=elem.keyword or None,
                path=f"{_where(level.path, int(elem.tag))}[{index}]",
                mode=mode,
            )
            items.append(self._walk(item, child))
        return _new(elem, Sequence(items))

    def _dummy(self, elem: DataElement) -> Any:
        if elem.VR == "UI":
            values = [self.uid(str(v)) for v in _values(elem.value)]
            return (values[0] if len(values) == 1 else values) if values else self.uid("dummy")
        return _DUMMIES.get(elem.VR, b"\x00\x00")

    # --- private attributes -------------------------------------------------------------------

    def _private(
        self,
        elem: DataElement,
        creators: dict[tuple[int, int], str],
        target: Dataset,
        kept_blocks: set[tuple[int, int]],
        where: str,
        name: str,
    ) -> None:
        rule = self.table.private_rule
        action = rule.action(self.options) if rule is not None else "X"
        group, element = elem.tag.group, elem.tag.element
        block = element >> 8
        creator = creators.get((group, block))
        if action == "C" and creator is not None and element >= 0x1000:
            expected = safe_vr(group, creator, element & 0xFF)
            raw = _raw_bytes(elem)
            if (
                expected is not None
                and elem.VR in (expected, "UN")
                and raw is not None
                and value_is_safe(expected, raw)
            ):
                target.add(_copy(elem))
                kept_blocks.add((group, block))
                self._report.add(where, f"{name} [{creator}]", "kept", _before(elem), _before(elem))
                return
        label = f"{name} [{creator}]" if creator else name
        self._report.add(where, label, "removed", _before(elem), None)

    # --- overlays ------------------------------------------------------------------------------

    def _overlays(self, source: Dataset) -> None:
        groups = sorted(
            {
                t >> 16
                for t in source.keys()  # noqa: SIM118 - iterating a Dataset decodes every element
                if 0x6000 <= (t >> 16) <= 0x60FF and not (t >> 16) % 2
            }
        )
        if "graphics" in self.options:
            # kept, cleaned (and the burned-in check asks about them); groups past 601E are
            # no overlays the standard knows, so they go
            groups = [group for group in groups if group > 0x601E]
        if not groups:
            return
        for group in groups:
            label = source.get((group << 16) | 0x1500)
            before = f"overlay plane {group:04X}" + (f" {label.value}" if label else "")
            self._report.add(f"({group:04X},xxxx)", "Overlay plane", "removed", before, None)

    # --- the sweep ------------------------------------------------------------------------------

    def _sweep(self, dataset: Dataset, path: str) -> None:
        """Remove identifying values the profile took out from any text that is left."""
        for elem in list(dataset):
            if elem.VR == "SQ":
                for index, item in enumerate(elem.value or [], start=1):
                    self._sweep(item, f"{_where(path, int(elem.tag))}[{index}]")
                continue
            if elem.is_empty:
                continue
            where, name = _where(path, int(elem.tag)), _name(elem, path)
            if elem.tag.is_private:
                # Kept by Retain Safe Private as a number or a code: a value that turns out
                # to hold an identifier is no safe value.
                if elem.tag.element >= 0x1000 and self._scrub(_as_text(elem)) != _as_text(elem):
                    del dataset[elem.tag]
                    self._report.add(where, name, "removed", _before(elem), None)
                continue
            if elem.VR not in _TEXT_VRS and (elem.VR not in _CODE_VRS or elem.tag.group == 0x0028):
                continue  # (the codes that say how to decode the pixels are never names)
            original = [str(v) for v in _values(elem.value)]
            values = [self._scrub(v) for v in original]
            if values == original:
                continue
            if elem.VR in _CODE_VRS:
                values = [
                    _DUMMY_TEXT if new != old else old
                    for new, old in zip(values, original, strict=True)
                ]
            value: Any = values[0] if len(values) == 1 else values
            dataset.add(_new(elem, value))
            self._report.add(where, name, "replaced", "\\".join(original), _before_value(value))


# --------------------------------------------------------------------------------------------
# identifiers and the scrubber


def _collect_identifiers(source: Dataset, options: frozenset[str]) -> list[str]:
    """Every value that names or identifies the patient, a person, the practice or a device
    (those the chosen options do not retain), as text to sweep out of what remains."""
    keywords = set(_IDENTITY_KEYWORDS)
    if "institution" not in options:
        keywords |= _INSTITUTION_KEYWORDS
    if "device" not in options:
        keywords |= _DEVICE_KEYWORDS
    found: set[str] = set()
    datasets: list[Dataset] = [source]
    meta = source.__dict__.get("file_meta")
    if meta is not None:
        datasets.append(meta)
    for dataset in datasets:
        for elem in _iter_all(dataset):
            if elem.tag.is_private or elem.is_empty:
                continue
            if elem.VR == "PN":
                for value in _values(elem.value):
                    found.update(_name_parts(value))
            elif elem.keyword in keywords and elem.VR in _STRING_VRS:
                for value in _values(elem.value):
                    text = str(value).strip()
                    if elem.VR == "DA":
                        found.update(_date_forms(text))
                    elif len(text) >= 3:
                        found.add(text)
    return sorted(found, key=len, reverse=True)


def _iter_all(dataset: Dataset) -> Iterator[DataElement]:
    for tag in list(dataset.keys()):
        try:
            elem = dataset[tag]
        except Exception:  # noqa: S112 - unreadable elements are removed by the walk
            continue
        yield elem
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from _iter_all(item)


def _name_parts(value: Any) -> set[str]:
    """The components of a person name (all representations), and the whole name."""
    text = str(value)
    parts = {text.strip()} if len(text.strip()) >= 3 else set()
    for representation in text.split("="):
        if len(representation.strip("^ ")) >= 3:
            parts.add(representation.strip())
            parts.add(" ".join(p for p in representation.split("^") if p.strip()))
        for component in re.split(r"[\^,]", representation):
            component = component.strip().rstrip(".")
            if len(component) >= 2:
                parts.add(component)
    return parts


def _date_forms(text: str) -> set[str]:
    if not (len(text) >= 8 and text[:8].isdigit()):
        return {text} if len(text) >= 6 else set()
    y, m, d = text[:4], text[4:6], text[6:8]
    return {
        f"{y}{m}{d}",
        f"{y}-{m}-{d}",
        f"{d}.{m}.{y}",
        f"{m}/{d}/{y}",
        f"{d}/{m}/{y}",
        f"{y}/{m}/{d}",
    }


def _scrubber(identifiers: Iterable[str]) -> Any:
    """A function that replaces every occurrence of the identifiers (case-insensitive)."""
    patterns = []
    for ident in identifiers:
        # A name ends where the letters end and a number where the digits end, whatever
        # follows: "Mueller_Anna", "Mueller2024" and "IMG_12345" all hold an identifier,
        # "Muellerstrasse" and "123456" do not hold "Mueller" or "12345".
        patterns.append(
            f"{_boundary(ident[:1], ahead=False)}{re.escape(ident)}"
            f"{_boundary(ident[-1:], ahead=True)}"
        )
    if not patterns:
        return lambda text: text
    regex = re.compile("|".join(patterns), re.IGNORECASE)
    return lambda text: regex.sub(_SCRUBBED, text)


_LETTER = r"[^\W\d_]"


def _boundary(char: str, *, ahead: bool) -> str:
    """A look-around that stops an identifier at the edge of its own kind of characters."""
    if char.isdigit():
        other = r"\d"
    elif char.isalpha():
        other = _LETTER
    else:
        return ""
    return f"(?!{other})" if ahead else f"(?<!{other})"


def well_known_uid(uid: str) -> bool:
    """A UID the standard defines (transfer syntax, SOP class, coding scheme, well-known
    frame of reference…): it names a kind of thing, never a patient's instance.

    Besides pydicom's dictionary, any UID under the DICOM root ``1.2.840.10008`` counts: the
    root is NEMA's, no device may issue instance UIDs under it, and SOP classes newer than
    the dictionary must survive or the recipient cannot tell what the file is.
    """
    from pydicom._uid_dict import UID_dictionary

    return uid in UID_dictionary or uid.startswith("1.2.840.10008.")


def _as_text(elem: DataElement) -> str:
    value = elem.value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return "\\".join(str(v) for v in _values(value))


# --------------------------------------------------------------------------------------------
# the finished instance


def finish(
    dataset: Dataset,
    source: Dataset,
    cleaner: DicomCleaner,
    report: FileReport,
    *,
    edition: str,
    options: frozenset[str],
    pseudonym: str | None,
    clean_pixels: bool,
) -> None:
    """Record the de-identification in the instance and give it a new file meta group."""
    from pydicom.dataset import Dataset as PydicomDataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import UID

    if pseudonym is not None:
        for keyword in ("PatientName", "PatientID"):
            before = source.data_element(keyword) if keyword in source else None
            setattr(dataset, keyword, pseudonym)
            report.add(
                _where("", int(dataset[keyword].tag)),
                keyword,
                "replaced",
                _before(before),
                pseudonym,
            )
    dataset.PatientIdentityRemoved = "YES"
    methods = [f"PS3.15 {edition} Basic Application Confidentiality Profile"]
    codes = [DEID_CODES["basic"]]
    for option in sorted(options):
        if option in DEID_CODES:
            codes.append(DEID_CODES[option])
    if clean_pixels:
        codes.append(DEID_CODES["pixels"])
    methods += [meaning.removesuffix(" Option")[:64] for _, meaning in codes[1:]]
    if pseudonym is not None:
        methods.append("Pseudonym set by sender")
    methods.append(f"dentsend {__version__}")
    dataset.DeidentificationMethod = methods
    items = []
    for value, meaning in codes:
        item = PydicomDataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    dataset.DeidentificationMethodCodeSequence = Sequence(items)
    if "dates" in options:
        dataset.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif "modified-dates" in options:
        dataset.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        dataset.LongitudinalTemporalInformationModified = "REMOVED"

    old_meta = source.__dict__.get("file_meta") or FileMetaDataset()
    meta = FileMetaDataset()
    sop_class = dataset.get("SOPClassUID") or old_meta.get("MediaStorageSOPClassUID")
    if sop_class is not None:
        meta.MediaStorageSOPClassUID = sop_class
    sop_instance = dataset.get("SOPInstanceUID")
    if sop_instance is None:
        original = old_meta.get("MediaStorageSOPInstanceUID") or "dentsend-missing-instance"
        sop_instance = cleaner.uid(str(original))
        dataset.SOPInstanceUID = sop_instance
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = UID(str(old_meta.TransferSyntaxUID))
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    for elem in old_meta:
        keyword = elem.keyword
        if keyword in (
            "FileMetaInformationGroupLength",
            "FileMetaInformationVersion",
            "TransferSyntaxUID",
            "MediaStorageSOPClassUID",
        ):
            continue
        where = _where("", int(elem.tag))
        if keyword in meta:
            if str(meta[keyword].value) != str(elem.value):
                report.add(where, keyword, "replaced", _before(elem), _before(meta[keyword]))
        elif not elem.is_empty:
            report.add(where, keyword or "file meta attribute", "removed", _before(elem), None)
    dataset.file_meta = meta
    dataset.preamble = b"\x00" * 128


def encode(dataset: Dataset) -> bytes:
    """The instance as a DICOM file (preamble, meta group, data set)."""
    import pydicom

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# small helpers


def _private_creators(dataset: Dataset) -> dict[tuple[int, int], str]:
    creators = {}
    for tag in dataset.keys():  # noqa: SIM118 - iterating a Dataset decodes every element
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 and 0x0010 <= element <= 0x00FF:
            try:
                creators[(group, element)] = str(dataset[tag].value or "").strip()
            except Exception:  # noqa: S112 - an unreadable creator keeps nothing of its block
                continue
    return creators


def _raw_bytes(elem: DataElement) -> bytes | None:
    """The value as encoded (little-endian), for checking an allow-listed private value."""
    value = elem.value
    if isinstance(value, bytes):
        return value
    if elem.VR in ("DS", "IS", "CS"):
        return "\\".join(str(v) for v in _values(value)).encode("ascii", "replace")
    if elem.VR in ("US", "SS", "UL", "SL", "FL", "FD"):
        code = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}[elem.VR]
        try:
            values = _values(value)
            return struct.pack(f"<{len(values)}{code}", *values)
        except (struct.error, TypeError):
            return None
    return None


def _values(value: Any) -> list[Any]:
    """The values of a (possibly multi-valued) attribute; a PersonName is one value."""
    from pydicom.multival import MultiValue

    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _copy(elem: DataElement) -> DataElement:
    """A new element with the same value, so later edits never reach the source dataset."""
    from pydicom import config
    from pydicom.dataelem import DataElement

    return DataElement(
        elem.tag,
        elem.VR,
        elem.value,
        is_undefined_length=elem.is_undefined_length,
        already_converted=True,
        validation_mode=config.IGNORE,
    )


def _new(elem: DataElement, value: Any) -> DataElement:
    from pydicom import config
    from pydicom.dataelem import DataElement

    return DataElement(elem.tag, elem.VR, value, validation_mode=config.IGNORE)


def _where(path: str, tag: int) -> str:
    here = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{path} > {here}" if path else here


def _name(elem: DataElement, path: str) -> str:
    if elem.keyword:
        return elem.keyword
    if elem.tag.is_private:
        label = elem.name[1:-1] if elem.name.startswith("[") else ""
        return f"Private {label}" if label else "Private attribute"
    return elem.name or "unknown attribute"


def _before(elem: DataElement | None) -> Any:
    if elem is None:
        return None
    if elem.VR == "SQ":
        count = len(elem.value or [])
        return f"{count} item{'s' if count != 1 else ''}"
    return _before_value(elem.value)


def _before_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value
    if value is None:
        return None
    values = _values(value)
    return "\\".join(str(v) for v in values)
