"""The sent-log, and passphrase recall through the OS keyring.

The sent-log is one SQLite file in the user data folder. It answers "what did we send, when, to
whom, and which file was it?": the time, the format, the recipient (the address typed and/or the
certificate fingerprints), the number and size of the files, each package file's name, size and
SHA-256, the de-identification mode and reference code, and the parts of a split send. It never
holds a patient's name or any other content of the radiographs, nor a passphrase: nothing is
passed to it that could carry them (a note to the recipient, for instance, is not logged).

Passphrase recall: a dentist reads the passphrase to a recipient who calls days later. Each
package's passphrase goes to the OS keyring (service ``dentsend``) for
``Settings.passphrase_recall_days``; the log only notes until when. Expired entries are deleted by
:meth:`SentLog.purge_expired`, which the app calls at start. With no usable keyring backend,
dentsend says it cannot remember passphrases and stores nothing: it never writes a passphrase to
disk itself.

Concurrency: the GUI and the CLI may use the log at once. Every operation opens its own short
connection, writes happen in ``BEGIN IMMEDIATE`` transactions, and a busy timeout makes the
other side wait rather than fail.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dentsend import APP_NAME
from dentsend.atomic import atomic_write
from dentsend.errors import DentsendError, FileProblem
from dentsend.settings import data_dir

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
LOG_FILE_NAME = "sent-log.sqlite3"
KEYRING_SERVICE = APP_NAME
NO_KEYRING_MESSAGE = (
    "dentsend cannot remember passphrases on this computer (no system keyring is available): "
    "note the passphrase elsewhere if you may need it again."
)
FORMATS = ("html", "openpgp")
DEID_MODES = ("deidentify", "pseudonym", "keep")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FINGERPRINT = re.compile(r"^[0-9A-F]{16,64}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_SCHEMA = (
    """CREATE TABLE sent (
        id INTEGER PRIMARY KEY,
        sent_at TEXT NOT NULL,
        format TEXT NOT NULL,
        recipient TEXT NOT NULL DEFAULT '',
        certificates TEXT NOT NULL DEFAULT '',
        file_count INTEGER NOT NULL,
        payload_bytes INTEGER NOT NULL,
        deid_mode TEXT NOT NULL,
        reference_code TEXT NOT NULL DEFAULT '',
        passphrase_until TEXT
    )""",
    """CREATE TABLE package (
        sent_id INTEGER NOT NULL REFERENCES sent(id) ON DELETE CASCADE,
        part INTEGER NOT NULL,
        file_name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (sent_id, part)
    )""",
    "CREATE INDEX package_sha256 ON package(sha256)",
    "CREATE INDEX sent_when ON sent(sent_at)",
)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times in the sent-log must be timezone-aware")
    return moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    """UTC, to the second, one fixed format: such strings sort and compare as times."""
    return _utc(moment).isoformat(timespec="seconds")


def _parse_stamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class PackageFile:
    """One package file that was sent (one part of a split send)."""

    name: str
    sha256: str
    size: int

    @classmethod
    def from_path(cls, path: Path) -> PackageFile:
        """Name, SHA-256 and size of a package file on disk (read in chunks)."""
        digest = hashlib.sha256()
        size = 0
        try:
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
                    size += len(chunk)
        except OSError as exc:
            raise FileProblem(path, f"cannot be read ({exc.strerror or exc})") from None
        return cls(name=path.name, sha256=digest.hexdigest(), size=size)


@dataclass(frozen=True)
class SentRecord:
    """One send: what left the practice, never what was in it."""

    format: str
    """``html`` or ``openpgp``."""
    packages: tuple[PackageFile, ...]
    """The package file(s); more than one when the send was split into parts."""
    file_count: int
    """Number of radiograph files inside the package(s)."""
    payload_bytes: int
    """Total size of those files (before encryption)."""
    deid_mode: str
    """``deidentify``, ``pseudonym`` or ``keep``."""
    recipient: str = ""
    """The address typed by the user, if any."""
    certificates: tuple[str, ...] = ()
    """Fingerprints of the recipients' OpenPGP certificates, if any."""
    reference_code: str = ""
    """The pseudonym / reference code the practice uses to match replies."""
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: int | None = None
    """Set once recorded."""
    passphrase_until: datetime | None = None
    """Until when the passphrase is kept in the keyring; None if it is not."""

    @property
    def parts(self) -> int:
        return len(self.packages)

    @property
    def package_name(self) -> str:
        return self.packages[0].name if self.packages else ""

    @property
    def package_sha256(self) -> str:
        return self.packages[0].sha256 if self.packages else ""

    @property
    def package_bytes(self) -> int:
        return sum(p.size for p in self.packages)

    @classmethod
    def for_packages(
        cls, paths: Sequence[Path], *, format: str, file_count: int, payload_bytes: int,
        deid_mode: str, recipient: str = "", certificates: Sequence[str] = (),
        reference_code: str = "",
    ) -> SentRecord:  # fmt: skip
        """A record for package files on disk (hashes them)."""
        return cls(
            format=format,
            packages=tuple(PackageFile.from_path(Path(p)) for p in paths),
            file_count=file_count,
            payload_bytes=payload_bytes,
            deid_mode=deid_mode,
            recipient=recipient,
            certificates=tuple(certificates),
            reference_code=reference_code,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in UTC, ISO 8601)."""
        return {
            "id": self.id,
            "sent_at": _stamp(self.sent_at),
            "format": self.format,
            "recipient": self.recipient,
            "certificates": list(self.certificates),
            "file_count": self.file_count,
            "payload_bytes": self.payload_bytes,
            "package_bytes": self.package_bytes,
            "parts": self.parts,
            "packages": [
                {"name": p.name, "sha256": p.sha256, "size": p.size} for p in self.packages
            ],
            "deid_mode": self.deid_mode,
            "reference_code": self.reference_code,
            "passphrase_until": (_stamp(self.passphrase_until) if self.passphrase_until else None),
        }

    def search_text(self) -> str:
        """Everything a search matches against, lower-cased (case-insensitive, any script)."""
        local = self.sent_at.astimezone()
        parts = [
            self.recipient, " ".join(self.certificates), self.reference_code, self.format,
            self.deid_mode, local.strftime("%Y-%m-%d %H:%M"), _stamp(self.sent_at),
            *(f"{p.name} {p.sha256}" for p in self.packages),
        ]  # fmt: skip
        return " ".join(parts).casefold()


def _check_record(entry: SentRecord) -> SentRecord:
    if entry.format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    if entry.deid_mode not in DEID_MODES:
        raise ValueError(f"deid_mode must be one of {DEID_MODES}")
    if not entry.packages:
        raise ValueError("a sent-log entry needs at least one package file")
    for package in entry.packages:
        if Path(package.name).name != package.name or not package.name:
            raise ValueError("package names are file names, without a folder")
        if not _SHA256.match(package.sha256):
            raise ValueError("package sha256 must be 64 lower-case hex digits")
    if entry.file_count < 0 or entry.payload_bytes < 0:
        raise ValueError("counts and sizes cannot be negative")
    fingerprints = tuple(c.replace(" ", "").upper() for c in entry.certificates)
    for fingerprint in fingerprints:
        if not _FINGERPRINT.match(fingerprint):
            raise ValueError("certificate fingerprints are hex digits")
    return SentRecord(
        format=entry.format,
        packages=entry.packages,
        file_count=entry.file_count,
        payload_bytes=entry.payload_bytes,
        deid_mode=entry.deid_mode,
        recipient=" ".join(entry.recipient.split()),
        certificates=fingerprints,
        reference_code=" ".join(entry.reference_code.split()),
        sent_at=_utc(entry.sent_at),
    )


def keyring_available() -> bool:
    """True if the configured keyring is an OS keychain (allow-list: :mod:`dentsend.keychain`)."""
    from dentsend.keychain import keyring_is_trustworthy

    return keyring_is_trustworthy()


def _keyring_user(sha256: str) -> str:
    return f"package-passphrase:{sha256}"


def default_log_path() -> Path:
    return data_dir() / LOG_FILE_NAME


class SentLog:
    """The practice's record of sent packages. Cheap to create; holds no open connection."""

    def __init__(
        self, path: Path | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.path = path or default_log_path()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ready = False

    # ---------------------------------------------------------------- storage

    def _now(self) -> datetime:
        return _utc(self._clock())

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Owner-only from the first byte; SQLite gives its journal the same mode.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise DentsendError(
                f"The sent-log {self.path.name} cannot be opened ({exc})."
            ) from None
        try:
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA foreign_keys = ON")
            if not self._ready:
                self._migrate(connection)
                self._ready = True
            yield connection
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise DentsendError(
                    f"The sent-log {self.path.name} is busy in another dentsend window; try again."
                ) from None
            raise DentsendError(f"The sent-log {self.path.name} is damaged ({exc}).") from None
        finally:
            connection.close()

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DentsendError(
                    f"The sent-log {self.path.name} was written by a newer dentsend; "
                    "update dentsend to read it."
                )
            if version < 1:
                for statement in _SCHEMA:
                    connection.execute(statement)
            # Later versions add their ALTER TABLE steps here, one "if version < N" each.
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    # ---------------------------------------------------------------- records

    def record(self, entry: SentRecord) -> int:
        """Add one send; returns its id."""
        clean = _check_record(entry)
        with self._write() as connection:
            cursor = connection.execute(
                "INSERT INTO sent (sent_at, format, recipient, certificates, file_count, "
                "payload_bytes, deid_mode, reference_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _stamp(clean.sent_at), clean.format, clean.recipient,
                    " ".join(clean.certificates), clean.file_count, clean.payload_bytes,
                    clean.deid_mode, clean.reference_code,
                ),
            )  # fmt: skip
            record_id = int(cursor.lastrowid or 0)
            connection.executemany(
                "INSERT INTO package (sent_id, part, file_name, sha256, size) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (record_id, part, p.name, p.sha256, p.size)
                    for part, p in enumerate(clean.packages, start=1)
                ],
            )
        return record_id

    def set_recipient(self, record_id: int, recipient: str) -> None:
        """Note the address a package was mailed to, when it is typed after the package was made
        (the app's result page)."""
        address = " ".join(recipient.split())
        with self._write() as connection:
            connection.execute("UPDATE sent SET recipient = ? WHERE id = ?", (address, record_id))

    def _rows(self, where: str = "", params: Sequence[Any] = ()) -> list[SentRecord]:
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT * FROM sent {where} ORDER BY sent_at DESC, id DESC",  # noqa: S608
                params,
            ).fetchall()
            packages: dict[int, list[PackageFile]] = {}
            for row in connection.execute(
                "SELECT sent_id, file_name, sha256, size FROM package ORDER BY sent_id, part"
            ):
                packages.setdefault(row["sent_id"], []).append(
                    PackageFile(row["file_name"], row["sha256"], row["size"])
                )
        return [
            SentRecord(
                id=row["id"],
                sent_at=datetime.fromisoformat(row["sent_at"]),
                format=row["format"],
                recipient=row["recipient"],
                certificates=tuple(row["certificates"].split()),
                file_count=row["file_count"],
                payload_bytes=row["payload_bytes"],
                deid_mode=row["deid_mode"],
                reference_code=row["reference_code"],
                packages=tuple(packages.get(row["id"], ())),
                passphrase_until=_parse_stamp(row["passphrase_until"]),
            )
            for row in rows
        ]

    def entries(self, search: str = "") -> list[SentRecord]:
        """All sends, newest first; with ``search``, those matching every word of it
        (recipient, fingerprint, reference code, format, date, package name or SHA-256)."""
        records = self._rows()
        words = search.casefold().split()
        if not words:
            return records
        return [r for r in records if all(w in r.search_text() for w in words)]

    def get(self, record_id: int) -> SentRecord | None:
        found = self._rows("WHERE id = ?", (record_id,))
        return found[0] if found else None

    def export_csv(self, out: Path, *, search: str = "") -> int:
        """Write the (matching) sends as CSV for a spreadsheet; returns the number of rows."""
        records = self.entries(search)
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for record in records:
            writer.writerow([_csv_cell(value) for value in _csv_row(record)])
        with atomic_write(out) as handle:
            # utf-8-sig: Excel reads UTF-8 only with the byte-order mark.
            handle.write(buffer.getvalue().encode("utf-8-sig"))
        return len(records)

    # ---------------------------------------------------------------- passphrases

    def remember_passphrase(self, record_id: int, passphrase: str, *, days: int) -> bool:
        """Keep the package's passphrase in the OS keyring for ``days``; False if it cannot be
        kept (no keyring, ``days`` 0, keyring error), in which case nothing is stored."""
        if not passphrase:
            raise ValueError("empty passphrase")
        if days <= 0:
            return False
        record = self.get(record_id)
        if record is None:
            raise DentsendError(f"There is no sent-log entry {record_id}.")
        if not keyring_available():
            return False
        import keyring

        until = self._now() + timedelta(days=days)
        secret = json.dumps({"passphrase": passphrase, "until": _stamp(until)})
        try:
            keyring.set_password(KEYRING_SERVICE, _keyring_user(record.package_sha256), secret)
        except Exception as exc:  # backends raise their own error types (D-Bus, Keychain)
            log.warning("the keyring refused to store a passphrase (%s)", type(exc).__name__)
            return False
        with self._write() as connection:
            connection.execute(
                "UPDATE sent SET passphrase_until = ? WHERE id = ?", (_stamp(until), record_id)
            )
        return True

    def recall_passphrase(self, record_id: int) -> str | None:
        """The remembered passphrase of a send, or None (never kept, expired, no keyring)."""
        record = self.get(record_id)
        if record is None or not keyring_available():
            return None
        import keyring

        user = _keyring_user(record.package_sha256)
        try:
            stored = keyring.get_password(KEYRING_SERVICE, user)
        except Exception as exc:
            log.warning("the keyring could not be read (%s)", type(exc).__name__)
            return None
        if stored is None:
            return None
        try:
            value = json.loads(stored)
            passphrase, until = str(value["passphrase"]), datetime.fromisoformat(value["until"])
        except (ValueError, KeyError, TypeError):
            return None
        if until <= self._now():
            self._forget(record)
            return None
        return passphrase

    def forget_passphrase(self, record_id: int) -> None:
        record = self.get(record_id)
        if record is not None:
            self._forget(record)

    def _forget(self, record: SentRecord) -> bool:
        """Delete the keyring copy and the log's note of it; False if the keyring refused."""
        if keyring_available():
            import keyring
            from keyring.errors import PasswordDeleteError

            try:
                keyring.delete_password(KEYRING_SERVICE, _keyring_user(record.package_sha256))
            except PasswordDeleteError:
                pass  # already gone
            except Exception as exc:
                log.warning("the keyring could not delete a passphrase (%s)", type(exc).__name__)
                return False
        with self._write() as connection:
            connection.execute("UPDATE sent SET passphrase_until = NULL WHERE id = ?", (record.id,))
        return True

    def purge_expired(self) -> int:
        """Delete passphrases whose time is up from the keyring; returns how many."""
        expired = self._rows(
            "WHERE passphrase_until IS NOT NULL AND passphrase_until <= ?", (_stamp(self._now()),)
        )
        return sum(1 for record in expired if self._forget(record))


CSV_COLUMNS = (
    "id", "sent_at", "format", "recipient", "certificates", "file_count", "payload_bytes",
    "package_bytes", "parts", "package_names", "package_sha256", "deid_mode", "reference_code",
    "passphrase_kept_until",
)  # fmt: skip


def _csv_row(record: SentRecord) -> list[str | int]:
    local = record.sent_at.astimezone()
    kept = (
        record.passphrase_until.astimezone().isoformat(timespec="seconds")
        if (record.passphrase_until)
        else ""
    )
    return [
        record.id or 0, local.isoformat(timespec="seconds"), record.format, record.recipient,
        " ".join(record.certificates), record.file_count, record.payload_bytes,
        record.package_bytes, record.parts, "; ".join(p.name for p in record.packages),
        "; ".join(p.sha256 for p in record.packages), record.deid_mode, record.reference_code,
        kept,
    ]  # fmt: skip


def _csv_cell(value: str | int) -> str | int:
    """Typed text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@dataclass(frozen=True)
class Recorded:
    """What :func:`record_sent` managed to keep."""

    record_id: int | None
    """The sent-log entry, or None if the log could not be written."""
    passphrase_days: int
    """For how many days the passphrase is kept for recall (0: not kept)."""


def record_sent(
    parts: Sequence[Path],
    sha256: Sequence[str],
    *,
    format: str,
    file_count: int,
    payload_bytes: int,
    deid_mode: str,
    recipient: str = "",
    certificates: Sequence[str] = (),
    reference_code: str = "",
    passphrase: str | None = None,
    recall_days: int = 0,
    sent_log: SentLog | None = None,
) -> Recorded:
    """Note a package just made in the sent-log and keep its passphrase for recall.

    The one place both the command line and the app record a send. A log that cannot be written
    does not undo the package (it exists and may be sent): the failure is logged and reported
    as ``record_id=None``.
    """
    sent_log = sent_log or SentLog()
    try:
        record = SentRecord(
            format="openpgp" if format.startswith("openpgp") else format,
            packages=tuple(
                PackageFile(path.name, digest, path.stat().st_size)
                for path, digest in zip(parts, sha256, strict=True)
            ),
            file_count=file_count,
            payload_bytes=payload_bytes,
            deid_mode=deid_mode,
            recipient=recipient,
            certificates=tuple(certificates),
            reference_code=reference_code,
        )
        record_id = sent_log.record(record)
    except (DentsendError, OSError, sqlite3.Error) as exc:
        log.warning("the sent-log could not be written: %s", exc)
        return Recorded(None, 0)
    kept = 0
    if passphrase and recall_days > 0:
        try:
            if sent_log.remember_passphrase(record_id, passphrase, days=recall_days):
                kept = recall_days
        except DentsendError as exc:
            log.warning("the passphrase could not be kept for recall: %s", exc)
    return Recorded(record_id, kept)


def note_recipient(record_id: int, recipient: str, *, sent_log: SentLog | None = None) -> bool:
    """Add the address a package was mailed to, typed after it was made; like
    :func:`record_sent`, a log that cannot be written is logged, not raised."""
    try:
        (sent_log or SentLog()).set_recipient(record_id, recipient)
    except (DentsendError, OSError, sqlite3.Error) as exc:
        log.warning("the recipient could not be noted in the sent-log: %s", exc)
        return False
    return True
