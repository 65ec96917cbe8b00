"""Apply the DICOM PS3.15 Annex E Basic Profile, with options, to one instance.

The walk builds a new dataset from the source (the source, which the GUI still shows, is never
modified) and decides for every attribute, at every depth of nesting:

* listed in Table E.1-1 (:mod:`dentsend.confidentiality`): the action under the chosen options,
  combined codes resolved by the attribute's Type in the instance's IOD (:mod:`.iod`);
* private: removed, or kept under Retain Safe Private when allow-listed (:mod:`.private`);
* overlay (``60xx``) and curve (``50xx``) groups: removed as a whole unless graphics are kept
  cleaned;
* not listed, but a person's name, free text, a URL, a date or a time: handled as if listed (the
  table is not exhaustive, see PS3.15 E.1.1 note 4); unknown public attributes (VR UN) and
  encrypted original attributes are removed;
* anything else is kept (pixel data, geometry, acquisition parameters, codes).

Then a sweep removes any value the profile took out (names, IDs, birth date, institution…) from
the text that remains, wherever it was copied (a patient name typed into a description or a
manufacturer field). The file meta group is replaced, UIDs are remapped consistently for the
package, and the de-identification is recorded in the instance itself.
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dentsend import __version__
from dentsend.confidentiality import ConfidentialityTable, Rule
from dentsend.deid.iod import iod_types, resolve
from dentsend.deid.private import safe_vr, value_is_safe
from dentsend.deid.report import Change, FileReport

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
        text = value.strip()
        if len(text) >= 8 and text[:8].isdigit():
            try:
                day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            except ValueError:
                return _DUMMY_DATE
            shifted = day - dt.timedelta(days=self.days)
            return shifted.strftime("%Y%m%d") + text[8:]
        return _DUMMY_DATE

    def datetime(self, value: str) -> str:
        text = value.strip()
        if len(text) >= 8 and text[:8].isdigit():
            return self.date(text[:8]) + text[8:]
        return _DUMMY_DATE + "000000"


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
    removed_overlays: list[int] = field(default_factory=list)


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
            self._overlays(source, outcome)
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
            if 0x6000 <= group <= 0x601E and not group % 2:
                if "graphics" in self.options:
                    self._copy_cleaned(elem, target, where, name)
                continue  # otherwise the whole overlay group goes (reported in _overlays)
            if tag in _ALWAYS_REMOVED:
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
        if vr == "SQ":
            target.add(self._sequence(elem, level, level.mode))
            return
        if vr == "UN" and not elem.keyword:
            self._report.add(where, name, "removed", _before(elem), None)
            return
        if level.mode == "dummy" and vr in _STRING_VRS and not elem.is_empty:
            self._act("U" if vr == "UI" else "D", None, elem, target, level, where, name)
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

    def _overlays(self, source: Dataset, outcome: DicomOutcome) -> None:
        groups = sorted(
            {
                t >> 16
                for t in source.keys()  # noqa: SIM118 - iterating a Dataset decodes every element
                if 0x6000 <= (t >> 16) <= 0x601E and not (t >> 16) % 2
            }
        )
        if not groups:
            return
        if "graphics" in self.options:
            return  # kept, cleaned (and the burned-in check asks about them)
        for group in groups:
            label = source.get((group << 16) | 0x1500)
            before = f"overlay plane {group:04X}" + (f" {label.value}" if label else "")
            self._report.add(f"({group:04X},xxxx)", "Overlay plane", "removed", before, None)
        outcome.removed_overlays = groups

    # --- the sweep ------------------------------------------------------------------------------

    def _sweep(self, dataset: Dataset, path: str) -> None:
        """Remove identifying values the profile took out from any text that is left."""
        for elem in list(dataset):
            if elem.VR == "SQ":
                for index, item in enumerate(elem.value or [], start=1):
                    self._sweep(item, f"{_where(path, int(elem.tag))}[{index}]")
                continue
            if elem.VR not in _TEXT_VRS or elem.is_empty or elem.tag.is_private:
                continue
            original = [str(v) for v in _values(elem.value)]
            values = [self._scrub(v) for v in original]
            if values != original:
                value: Any = values[0] if len(values) == 1 else values
                dataset.add(_new(elem, value))
                self._report.add(
                    _where(path, int(elem.tag)),
                    _name(elem, path),
                    "replaced",
                    "\\".join(original),
                    _before_value(value),
                )


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
        escaped = re.escape(ident)
        start = r"(?<!\w)" if ident[:1].isalnum() else ""
        end = r"(?!\w)" if ident[-1:].isalnum() else ""
        patterns.append(f"{start}{escaped}{end}")
    if not patterns:
        return lambda text: text
    regex = re.compile("|".join(patterns), re.IGNORECASE)
    return lambda text: regex.sub(_SCRUBBED, text)


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


# --------------------------------------------------------------------------------------------
# metadata inside compressed frames

_JPEG_FAMILY = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
}
_JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
_JPEG_2000 = {
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}


def tidy_pixel_data(dataset: Dataset, frames: int, report: FileReport) -> None:
    """Keep only the pixels in Pixel Data: no metadata inside frames, nothing hidden around them.

    Software that wraps a camera JPEG into DICOM keeps the camera's EXIF (and whatever comment
    the practice software wrote) inside the frames; bytes can also hide after the last frame,
    in extra fragments or in the offset table, where no viewer shows them. Frames are edited as
    byte streams: nothing is decoded, and the compressed image data is copied unchanged.
    """
    if "PixelData" not in dataset or not dataset["PixelData"].value:
        return
    ts = dataset.file_meta.TransferSyntaxUID
    if ts.is_encapsulated:
        _tidy_frames(dataset, frames, report)
    else:
        _trim_native(dataset, report)


def _trim_native(dataset: Dataset, report: FileReport) -> None:
    from pydicom.pixels.utils import get_expected_length

    value = dataset["PixelData"].value
    try:
        expected = int(get_expected_length(dataset, "bytes"))
    except (AttributeError, KeyError, TypeError, ValueError):
        return
    expected += expected % 2
    if len(value) > expected:
        hidden = value[expected:]
        if hidden.strip(b"\x00"):
            report.add(
                "(7FE0,0010)",
                "data after the last frame",
                "removed",
                f"<{len(hidden)} bytes>",
                None,
            )
        dataset.add(_new(dataset["PixelData"], value[:expected]))


def _tidy_frames(dataset: Dataset, frames: int, report: FileReport) -> None:
    from pydicom.encaps import encapsulate, generate_frames

    from dentsend.deid.raster import strip_j2k_comments, strip_jpeg_stream

    ts = str(dataset.file_meta.TransferSyntaxUID)
    strip: Callable[[bytes], tuple[bytes, list[Change]]] | None = None
    if ts in _JPEG_FAMILY or ts in _JPEG_LS:

        def strip(frame: bytes) -> tuple[bytes, list[Change]]:
            return strip_jpeg_stream(frame, jpeg_ls=ts in _JPEG_LS)
    elif ts in _JPEG_2000:
        strip = strip_j2k_comments
    pixel_data = dataset["PixelData"]
    try:
        originals = list(generate_frames(pixel_data.value, number_of_frames=frames))
    except (ValueError, KeyError, EOFError, struct.error):
        log.warning("compressed frames could not be split; left as they are")
        return
    if len(originals) != frames:
        return
    cleaned = []
    for index, frame in enumerate(originals, start=1):
        new = frame
        changes: list[Change] = []
        if strip is not None:
            try:
                new, changes = strip(frame)
            except ValueError:
                new, changes = frame, []
        for change in changes:
            if change.tag == "trailing data" and not frame[len(new) :].strip(b"\x00"):
                continue  # the zero byte that pads a fragment to even length
            prefix = f"frame {index} " if len(originals) > 1 else ""
            report.add(
                f"(7FE0,0010) {change.tag}",
                f"{prefix}{change.name}",
                change.action,
                change.before,
                None,
            )
        cleaned.append(new)
    rebuilt = encapsulate(cleaned, has_bot=True)
    if rebuilt == pixel_data.value:
        return
    dataset.add(_new_undefined(pixel_data, rebuilt))
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in dataset:
            del dataset[keyword]


def _new_undefined(elem: DataElement, value: bytes) -> DataElement:
    from pydicom import config
    from pydicom.dataelem import DataElement

    return DataElement(
        elem.tag, elem.VR, value, is_undefined_length=True, validation_mode=config.IGNORE
    )
