"""``dentsend history``: the sent-log as a table, JSON lines, CSV, and passphrase recall."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from conftest import run_cli
from dentsend.audit import PackageFile, SentLog, SentRecord
from dentsend.cli import main
from memory_keyring import TempFileKeyring

PASSPHRASE = "velvet-harbor-quartz-meadow"
NOW = datetime.now(UTC)


def _fill() -> tuple[int, int]:
    log = SentLog()
    first = log.record(
        SentRecord(
            format="html",
            packages=(PackageFile("radiographs-K7QX.html", "a" * 64, 1_500_000),),
            file_count=4,
            payload_bytes=9_000_000,
            deid_mode="deidentify",
            recipient="dr.jones@example.org",
            sent_at=NOW - timedelta(days=2),
        )
    )
    second = log.record(
        SentRecord(
            format="openpgp",
            packages=(
                PackageFile("ceph.part1.pgp", "b" * 64, 10),
                PackageFile("ceph.part2.pgp", "c" * 64, 20),
            ),
            file_count=1,
            payload_bytes=30,
            deid_mode="pseudonym",
            reference_code="ORTHO-17",
            certificates=("0123456789ABCDEF0123456789ABCDEF01234567",),
            sent_at=NOW - timedelta(days=1),
        )
    )
    return first, second


def test_empty_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history"]) == 0
    assert capsys.readouterr().out == "No packages sent yet.\n"
    assert main(["history", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _fill()
    assert main(["history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "ID", "Sent", "Format", "To", "Files", "Size", "Package", "De-identification",
    ]  # fmt: skip
    assert lines[1].split()[0] == str(second)  # newest first
    assert "OpenPGP" in lines[1] and "ceph.part1.pgp (+1 part)" in lines[1]
    assert "pseudonym ORTHO-17" in lines[1] and "89ABCDEF01234567" in lines[1]
    assert "dr.jones@example.org" in lines[2] and "1.5 MB" in lines[2]
    assert "de-identified" in lines[2]

    assert main(["history", "--json"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in objects] == [second, first]
    assert objects[0]["parts"] == 2 and objects[0]["reference_code"] == "ORTHO-17"
    assert objects[1]["packages"] == [
        {"name": "radiographs-K7QX.html", "sha256": "a" * 64, "size": 1_500_000}
    ]
    assert objects[1]["recipient"] == "dr.jones@example.org"

    assert main(["history", "--json", "--search", "ortho"]) == 0
    assert [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()] == [second]


def test_csv_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill()
    out = tmp_path / "sent.csv"
    assert main(["history", "--csv", str(out)]) == 0
    assert "wrote 2 entries to sent.csv" in capsys.readouterr().err
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert [r["format"] for r in rows] == ["openpgp", "html"]


def test_passphrase_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _fill()
    assert SentLog().remember_passphrase(first, PASSPHRASE, days=30)
    assert main(["history", "--passphrase", str(first)]) == 0
    assert capsys.readouterr().out == PASSPHRASE + "\n"
    assert main(["history", "--passphrase", str(second)]) == 1
    assert "no passphrase is remembered" in capsys.readouterr().err
    assert main(["history", "--passphrase", "99"]) == 1
    assert "no sent-log entry 99" in capsys.readouterr().err
    # The table never shows it.
    assert main(["history"]) == 0
    assert PASSPHRASE not in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:
        main(["history", "--passphrase", str(first), "--json"])
    assert usage.value.code == 2


def test_without_keyring_it_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    first, _ = _fill()
    keyring.set_keyring(fail.Keyring())
    assert main(["history", "--passphrase", str(first)]) == 1
    assert "cannot remember passphrases" in capsys.readouterr().err


def test_history_as_a_subprocess() -> None:
    first, second = _fill()
    # The subprocess's keyring is TempFileKeyring (conftest); store through the same one.
    keyring.set_keyring(TempFileKeyring())
    assert SentLog().remember_passphrase(first, PASSPHRASE, days=30)
    result = run_cli("history", "--json", check=True)
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [second, first]
    recalled = run_cli("history", "--passphrase", str(first), check=True)
    assert recalled.stdout == PASSPHRASE + "\n" and recalled.stderr == ""
