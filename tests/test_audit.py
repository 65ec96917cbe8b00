"""The sent-log (real SQLite in the app's data folder) and passphrase recall (keyring)."""

from __future__ import annotations

import csv
import os
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from conftest import fixture_file
from dentsend.audit import (
    KEYRING_SERVICE,
    SCHEMA_VERSION,
    PackageFile,
    SentLog,
    SentRecord,
    default_log_path,
    keyring_available,
)
from dentsend.errors import DentsendError
from dentsend.handoff import compose_draft, outgoing_folder, write_eml
from dentsend.settings import Settings, data_dir
from memory_keyring import MemoryKeyring

PASSPHRASE = "gravel-tundra-orbit-saffron"
T0 = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def package(name: str = "radiographs-2025-03-04-K7QX.html", seed: str = "a") -> PackageFile:
    return PackageFile(name=name, sha256=(seed * 64)[:64], size=123_456)


def record(**changes: object) -> SentRecord:
    values: dict[str, object] = {
        "format": "html",
        "packages": (package(),),
        "file_count": 3,
        "payload_bytes": 2_000_000,
        "deid_mode": "deidentify",
        "recipient": "dr.jones@example.org",
        "sent_at": T0,
    }
    values.update(changes)
    return SentRecord(**values)  # type: ignore[arg-type]


def test_rows_after_recording(tmp_path: Path) -> None:
    log = SentLog()
    assert log.path == default_log_path() == data_dir() / "sent-log.sqlite3"
    first = log.record(record())
    split = log.record(
        record(
            format="openpgp",
            packages=(package("r.part1.pgp", "b"), package("r.part2.pgp", "c")),
            recipient="",
            certificates=("ab12 cd34 ef56 7890 ab12 cd34 ef56 7890 ab12 cd34",),
            deid_mode="pseudonym",
            reference_code="REF-0042",
            sent_at=T0 + timedelta(hours=1),
        )
    )
    rows = log.entries()
    assert [r.id for r in rows] == [split, first]  # newest first
    newest = rows[0]
    assert newest.parts == 2 and newest.package_bytes == 2 * 123_456
    assert [p.name for p in newest.packages] == ["r.part1.pgp", "r.part2.pgp"]
    assert newest.certificates == ("AB12CD34EF567890AB12CD34EF567890AB12CD34",)
    assert newest.reference_code == "REF-0042" and newest.deid_mode == "pseudonym"
    assert newest.sent_at == T0 + timedelta(hours=1)
    assert rows[1].recipient == "dr.jones@example.org" and rows[1].file_count == 3
    assert log.get(first) == rows[1] and log.get(999) is None
    with sqlite3.connect(log.path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_record_hashes_real_package_files(tmp_path: Path) -> None:
    path = tmp_path / "p.html"
    path.write_bytes(b"abc")
    entry = SentRecord.for_packages(
        [path], format="html", file_count=1, payload_bytes=10, deid_mode="keep"
    )
    assert entry.packages == (
        PackageFile(
            "p.html", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3
        ),
    )


def test_record_refuses_what_does_not_belong(tmp_path: Path) -> None:
    log = SentLog()
    for bad in (
        record(packages=(package("../../etc/x.html"),)),
        record(packages=(PackageFile("x.html", "not-a-hash", 1),)),
        record(format="zip"),
        record(deid_mode="whatever"),
        record(packages=()),
        record(certificates=("not hex!",)),
        record(sent_at=datetime(2025, 1, 1)),  # no time zone
    ):
        with pytest.raises(ValueError):
            log.record(bad)
    assert log.entries() == []


def test_search(tmp_path: Path) -> None:
    log = SentLog()
    log.record(record(recipient="Dr.Jones@Example.org", reference_code="ortho-17"))
    log.record(record(recipient="lab@smile.example", packages=(package("Ärztin-Bild.html", "d"),)))
    assert [r.recipient for r in log.entries("JONES")] == ["Dr.Jones@Example.org"]
    assert [r.reference_code for r in log.entries("ortho-17 jones")] == ["ortho-17"]
    assert log.entries("ortho-17 lab") == []  # every word must match
    assert [r.recipient for r in log.entries("ärztin")] == ["lab@smile.example"]
    assert len(log.entries("dddddddd")) == 1  # SHA-256 prefix
    assert len(log.entries(T0.astimezone().strftime("%Y-%m-%d"))) == 2
    assert len(log.entries("")) == 2


def test_csv_export(tmp_path: Path) -> None:
    log = SentLog()
    log.record(record(reference_code='=HYPERLINK("http://evil")'))
    log.record(record(recipient="second@example.org", sent_at=T0 + timedelta(days=1)))
    out = tmp_path / "export" / "sent.csv"
    assert log.export_csv(out) == 2
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel's UTF-8 mark
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert [r["recipient"] for r in rows] == ["second@example.org", "dr.jones@example.org"]
    assert rows[1]["reference_code"] == '\'=HYPERLINK("http://evil")'  # not a formula
    assert rows[0]["package_sha256"] == "a" * 64 and rows[0]["parts"] == "1"
    assert rows[0]["package_names"] == "radiographs-2025-03-04-K7QX.html"
    assert log.export_csv(tmp_path / "jones.csv", search="second") == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["sent.csv"]


def test_passphrase_recall_round_trip_and_expiry() -> None:
    clock = Clock()
    log = SentLog(clock=clock)
    entry = log.record(record())
    assert log.remember_passphrase(entry, PASSPHRASE, days=30)
    got = log.get(entry)
    assert got is not None and got.passphrase_until == T0 + timedelta(days=30)
    clock.now = T0 + timedelta(days=29, hours=23)
    assert log.recall_passphrase(entry) == PASSPHRASE
    # Another process (the GUI) sees it too: the keyring, not this object, holds it.
    assert SentLog(clock=clock).recall_passphrase(entry) == PASSPHRASE
    clock.now = T0 + timedelta(days=30)
    assert log.recall_passphrase(entry) is None
    backend = keyring.get_keyring()
    assert isinstance(backend, MemoryKeyring) and backend.store == {}
    got = log.get(entry)
    assert got is not None and got.passphrase_until is None


def test_purge_expired_deletes_only_expired_entries() -> None:
    clock = Clock()
    log = SentLog(clock=clock)
    short = log.record(record(packages=(package(seed="1"),)))
    long = log.record(record(packages=(package(seed="2"),)))
    assert log.remember_passphrase(short, "first passphrase", days=1)
    assert log.remember_passphrase(long, "second passphrase", days=30)
    clock.now = T0 + timedelta(days=2)
    assert log.purge_expired() == 1
    backend = keyring.get_keyring()
    assert isinstance(backend, MemoryKeyring)
    assert list(backend.store) == [(KEYRING_SERVICE, f"package-passphrase:{'2' * 64}")]
    assert log.recall_passphrase(long) == "second passphrase"
    assert log.purge_expired() == 0


def test_zero_days_keeps_nothing() -> None:
    log = SentLog()
    entry = log.record(record())
    assert not log.remember_passphrase(entry, PASSPHRASE, days=0)
    backend = keyring.get_keyring()
    assert isinstance(backend, MemoryKeyring) and backend.store == {}


def test_without_a_keyring_nothing_is_stored() -> None:
    keyring.set_keyring(fail.Keyring())
    assert not keyring_available()
    log = SentLog()
    entry = log.record(record())
    assert not log.remember_passphrase(entry, PASSPHRASE, days=30)
    assert log.recall_passphrase(entry) is None
    got = log.get(entry)
    assert got is not None and got.passphrase_until is None
    assert log.purge_expired() == 0


def test_a_keyring_that_refuses_is_reported_not_raised() -> None:
    class LockedKeyring(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise keyring.errors.KeyringLocked("locked")

    keyring.set_keyring(LockedKeyring())
    log = SentLog()
    entry = log.record(record())
    assert not log.remember_passphrase(entry, PASSPHRASE, days=30)
    got = log.get(entry)
    assert got is not None and got.passphrase_until is None


def test_concurrent_writers_lose_nothing() -> None:
    def write(worker: int) -> None:
        log = SentLog()  # each its own connection, as the GUI and a CLI run are
        for index in range(10):
            log.record(record(packages=(package(f"w{worker}-{index}.html"),)))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(SentLog().entries()) == 30


def test_a_newer_or_damaged_log_is_one_clear_error(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DentsendError, match="newer dentsend"):
        SentLog(newer).entries()
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DentsendError, match=r"damaged\.sqlite3 is damaged"):
        SentLog(damaged).entries()


def test_nothing_identifying_or_secret_in_the_app_folders(
    isolated_home: Path, tmp_path: Path
) -> None:
    """The whole send as the pack command does it, then a byte search of every file under the
    app's folders for the test patient's data and the passphrase."""
    import pydicom

    dataset = pydicom.dcmread(fixture_file("ortho_photo_vl.dcm"))
    name = str(dataset.PatientName)
    family, given = name.split("^")[:2]
    needles = [name, f"{given} {family}", f"{family}, {given}", str(dataset.PatientID), PASSPHRASE]
    if dataset.get("PatientBirthDate"):
        needles.append(str(dataset.PatientBirthDate))

    settings = Settings(practice_name="Smile Dental")
    folder = outgoing_folder(settings)
    package_path = folder / "radiographs-2025-03-04-K7QX.html"
    package_path.write_bytes(b"\x00" * 64)  # stands in for the ciphertext
    draft = compose_draft([package_path], format="html", settings=settings, to="dr@example.org")
    write_eml(draft, folder / "radiographs-2025-03-04-K7QX.eml")
    log = SentLog()
    entry = log.record(
        SentRecord.for_packages(
            [package_path],
            format="html",
            file_count=1,
            payload_bytes=fixture_file("ortho_photo_vl.dcm").stat().st_size,
            deid_mode="pseudonym",
            recipient="dr@example.org",
            reference_code="P-0001",
        )
    )
    assert log.remember_passphrase(entry, PASSPHRASE, days=30)
    assert log.recall_passphrase(entry) == PASSPHRASE
    log.export_csv(data_dir() / "export.csv")

    searched = []
    for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME",
                     "XDG_DOCUMENTS_DIR"):  # fmt: skip
        for path in Path(os.environ[variable]).rglob("*"):
            if path.is_file():
                searched.append(path)
                content = path.read_bytes()
                for needle in needles:
                    for encoded in (needle.encode("utf-8"), needle.encode("utf-16-le")):
                        assert encoded not in content, f"{needle!r} found in {path.name}"
    assert {p.name for p in searched} >= {
        "sent-log.sqlite3", "export.csv", "radiographs-2025-03-04-K7QX.eml",
    }  # fmt: skip
