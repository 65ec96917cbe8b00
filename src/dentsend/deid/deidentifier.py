"""One package's de-identification: the UID key, the date offset and the file names it shares."""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dentsend.confidentiality import load_table
from dentsend.deid import dicom
from dentsend.deid.frames import tidy_pixel_data
from dentsend.deid.names import Namer
from dentsend.deid.options import DeidOptions
from dentsend.deid.raster import check_tiff_pages, strip_metadata
from dentsend.deid.redact import (
    burned_in_reason,
    check_boxes,
    embedded_overlay_bits,
    may_show_face,
    needs_burned_in_check,
    redact_dicom,
    redact_raster,
)
from dentsend.deid.report import Change, FileReport
from dentsend.errors import DentsendError, FileProblem, read_user_file
from dentsend.intake import Kind, Radiograph, load_bytes

log = logging.getLogger(__name__)

#: Where the per-practice secret for stable UIDs lives in the OS keyring.
KEYRING_SERVICE = "dentsend"
UID_SECRET_NAME = "deid-uid-secret"  # noqa: S105 - the entry's name, not a secret
#: Modified dates move back by 1 to 9 years, the same for every file of a package.
_MIN_SHIFT_DAYS, _MAX_SHIFT_DAYS = 366, 9 * 365


@dataclass
class CleanFile:
    name: str
    """Neutral name in the package (``IO-01.dcm``, ``image-03.jpg``); the original in keep mode."""
    data: bytes
    radiograph: Radiograph
    """The cleaned file re-loaded: viewers show these pixels, never the source's."""
    report: FileReport


class Deidentifier:
    """One per package: holds the UID map, the date offset and the name counters."""

    def __init__(self, options: DeidOptions) -> None:
        options.validate()
        self.options = options
        self.table = load_table()
        self.edition: str = self.table.edition
        self._namer = Namer()
        key = practice_secret() if options.stable_uids else secrets.token_bytes(32)
        shift = dicom.DateShift(
            _MIN_SHIFT_DAYS + secrets.randbelow(_MAX_SHIFT_DAYS - _MIN_SHIFT_DAYS)
        )
        self._dicom = dicom.DicomCleaner(self.table, options.profile_options, key, shift)

    # --- the burned-in check ------------------------------------------------------------------

    def check(self, radiograph: Radiograph) -> None:
        """Raise :class:`FileProblem` if the file cannot be sent as chosen yet.

        Call it for every file before cleaning any, so a package is never half made.
        """
        if self.options.mode == "keep":
            return
        with _one_sentence(radiograph, "checked"):
            self._check(radiograph)

    def _check(self, radiograph: Radiograph) -> None:
        boxes = self.options.boxes_for(radiograph.path)
        check_boxes(radiograph, boxes)
        if radiograph.format == "TIFF" and radiograph.frames > 1:
            check_tiff_pages(_source_bytes(radiograph), radiograph.path)
        if boxes or self.options.confirmed(radiograph.path):
            return
        if needs_burned_in_check(radiograph):
            raise FileProblem(radiograph.path, burned_in_reason(radiograph))
        if "graphics" in self.options.clean and _has_overlays(radiograph):
            raise FileProblem(
                radiograph.path,
                "keeps its overlays (--clean graphics), which may show text: draw redaction "
                "boxes (--redact) or confirm they hold no identifying text "
                "(--confirm-no-burned-in)",
            )

    # --- cleaning ----------------------------------------------------------------------------

    def clean(self, radiograph: Radiograph) -> CleanFile:
        """The file as it may leave the practice; :class:`FileProblem` (one sentence naming
        the file) if it cannot be, whatever went wrong inside, so a batch carries on."""
        self.check(radiograph)
        if self.options.mode == "keep":
            return self._keep(radiograph, _source_bytes(radiograph))
        with _one_sentence(radiograph, "cleaned"):
            return self._clean(radiograph)

    def _clean(self, radiograph: Radiograph) -> CleanFile:
        if radiograph.kind is Kind.DICOM:
            data, name, report = self._clean_dicom(radiograph)  # from the parsed dataset
        else:
            data, name, report = self._clean_raster(radiograph, _source_bytes(radiograph))
        report.output_name = name
        report.add("file name", "file name", "renamed", radiograph.path.name, name)
        try:
            cleaned = load_bytes(data, name)
        except FileProblem as problem:
            log.error("cleaned copy unreadable: %s", problem.reason)
            raise FileProblem(
                radiograph.path,
                f"could not be cleaned (the result was unreadable: {problem.reason})",
            ) from None
        return CleanFile(name=name, data=data, radiograph=cleaned, report=report)

    def _keep(self, radiograph: Radiograph, source: bytes) -> CleanFile:
        name = self._namer.original(radiograph)
        report = FileReport(radiograph.path, name)
        for field in radiograph.identifying_fields:
            report.add(field, field, "kept", None, None)
        return CleanFile(name=name, data=source, radiograph=load_bytes(source, name), report=report)

    def _clean_dicom(self, radiograph: Radiograph) -> tuple[bytes, str, FileReport]:
        source = radiograph.dataset
        assert source is not None
        report = FileReport(radiograph.path, "")
        outcome = self._dicom.apply(source, report)
        target = outcome.dataset
        boxes = self.options.boxes_for(radiograph.path)
        # Confirming "no identifying text" completes the Clean Pixel Data Option; confirming a
        # face may go as it is does not.
        confirmed = (
            not boxes and needs_burned_in_check(radiograph) and not may_show_face(radiograph)
        )
        dicom.finish(
            target,
            source,
            self._dicom,
            report,
            edition=self.edition,
            options=self.options.profile_options,
            pseudonym=self.options.pseudonym if self.options.mode == "pseudonym" else None,
            clean_pixels=bool(boxes) or confirmed,
        )
        if boxes:
            redact_dicom(target, source, radiograph, boxes)
            for box in boxes:
                report.add(
                    "(7FE0,0010)", "pixel data", "redacted", None, f"box {box} on every frame"
                )
        else:
            tidy_pixel_data(
                target, radiograph.frames, report, radiograph.path, embedded_overlay_bits(target)
            )
        return dicom.encode(target), self._namer.neutral(radiograph), report

    def _clean_raster(self, radiograph: Radiograph, source: bytes) -> tuple[bytes, str, FileReport]:
        report = FileReport(radiograph.path, "")
        _, stripped = strip_metadata(
            source, radiograph.format, radiograph.path, radiograph.orientation
        )
        boxes = self.options.boxes_for(radiograph.path)
        if boxes:
            data, fmt, extra = redact_raster(radiograph, source, boxes)
            report.changes += [c for c in stripped if c.tag != "EXIF Orientation"] + extra
            for box in boxes:
                report.add("pixels", "image pixels", "redacted", None, f"box {box} on every frame")
        else:
            data, changes = strip_metadata(
                source, radiograph.format, radiograph.path, radiograph.orientation
            )
            fmt = radiograph.format
            report.changes += changes
        return data, self._namer.neutral(radiograph, fmt), report


def practice_secret() -> bytes:
    """The per-practice secret behind stable UIDs, created in the OS keyring on first use.

    Stable UIDs are a setting the user turned on so that follow-up images line up at the
    recipient; a secret the keyring does not keep would make new UIDs in every package while
    the user believes otherwise. So a keyring that cannot keep it (none installed, a locked
    or failing one, or the "null" backend that silently forgets) is a :class:`DentsendError`
    naming the setting, never a quiet fallback to per-package UIDs.
    """
    import keyring
    from keyring.errors import KeyringError

    try:
        stored = keyring.get_password(KEYRING_SERVICE, UID_SECRET_NAME)
        if stored is None:
            created = secrets.token_hex(32)
            keyring.set_password(KEYRING_SERVICE, UID_SECRET_NAME, created)
            stored = keyring.get_password(KEYRING_SERVICE, UID_SECRET_NAME)
            if stored != created:
                log.info("the keyring did not keep the UID secret; stable UIDs refused")
                raise DentsendError(
                    "stable UIDs need a system keyring that keeps the practice's secret, and "
                    "this one does not: set one up, or turn off stable UIDs in the settings"
                )
        secret = bytes.fromhex(stored)
        if len(secret) < 16:
            raise ValueError("the stored secret is too short")
        return secret
    except (KeyringError, ValueError) as exc:
        log.info("keyring unusable for stable UIDs (%s)", type(exc).__name__)
        raise DentsendError(
            f"stable UIDs need the system keyring, which is not usable here ({type(exc).__name__}):"
            " set one up, or turn off stable UIDs in the settings"
        ) from None


def _source_bytes(radiograph: Radiograph) -> bytes:
    if radiograph.data is not None:
        return radiograph.data
    return read_user_file(radiograph.path)


@contextmanager
def _one_sentence(radiograph: Radiograph, doing: str) -> Iterator[None]:
    """Whatever a library raises on a damaged or hostile file becomes one sentence naming the
    file (no traceback, and the other files of a batch are still processed).

    Library messages can quote the values they choke on (a patient's name), so only the kind
    of error is shown and logged.
    """
    try:
        yield
    except DentsendError:
        raise
    except MemoryError:
        raise FileProblem(
            radiograph.path, f"is too large to be {doing} in the memory available"
        ) from None
    except Exception as exc:
        kind = type(exc).__name__
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        log.info("file could not be %s: %s at %s", doing, kind, where)
        raise FileProblem(
            radiograph.path, f"is damaged in a way that means it cannot be {doing} ({kind})"
        ) from None


def _has_overlays(radiograph: Radiograph) -> bool:
    ds = radiograph.dataset
    if ds is None:
        return False
    return any(
        0x6000 <= (tag >> 16) <= 0x601E and not (tag >> 16) % 2 and (tag & 0xFFFF) == 0x3000
        for tag in ds.keys()  # noqa: SIM118 - iterating a Dataset decodes every element
    )


__all__ = ["Change", "CleanFile", "Deidentifier", "practice_secret"]
