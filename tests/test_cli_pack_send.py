"""``dentsend pack`` hands the package to the mail program and records it in the sent-log."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
from pathlib import Path

import pytest

from conftest import run_cli
from dentsend.openpgp import selftest_key_paths
from dicom_factory import FAKE_PATIENT, intraoral
from test_handoff_linux import Desktop, desktop, thunderbird_get_args  # noqa: F401

PASSPHRASE = "gravel-orbit-tundra-fiddle-lantern-mosaic"
ADDRESS = "dr.jones@example.org"
SECRETS = [FAKE_PATIENT["PatientName"], FAKE_PATIENT["PatientID"], "Testperson", PASSPHRASE]


@pytest.fixture
def radiographs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "Testperson_Erika"
    folder.mkdir()
    study = "1.2.826.0.1.3680043.8.498.1"
    return [intraoral(folder / f"Testperson_Erika_{i}.dcm", study_uid=study) for i in range(2)]


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def _app_folders() -> list[Path]:
    return [Path(os.environ[v]) for v in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                                          "XDG_STATE_HOME")]  # fmt: skip


def _history() -> list[dict[str, object]]:
    result = run_cli("history", "--json", check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_eml_draft_and_sent_log_after_pack(
    tmp_path: Path, radiographs: list[Path], passphrase_file: Path
) -> None:
    package = tmp_path / "out" / "radiographs.html"
    draft = tmp_path / "out" / "draft.eml"
    run_cli("pack", *radiographs, "-o", package, "--html", "--passphrase-file", passphrase_file,
            "--to", ADDRESS, "--eml", draft, check=True)  # fmt: skip

    message = email.message_from_bytes(draft.read_bytes(), policy=email.policy.default)
    assert message["X-Unsent"] == "1" and message["To"] == ADDRESS
    attachments = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert [a.get_filename() for a in attachments] == ["radiographs.html"]
    assert attachments[0].get_content() == package.read_bytes()
    text = message["Subject"] + message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for secret in SECRETS:
        assert secret not in text

    (record,) = _history()
    assert record["format"] == "html" and record["recipient"] == ADDRESS
    assert record["file_count"] == 2 and record["deid_mode"] == "deidentify"
    packages = record["packages"]
    assert isinstance(packages, list)
    assert packages[0]["sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert record["passphrase_until"] is not None
    recalled = run_cli("history", "--passphrase", str(record["id"]), check=True).stdout
    assert PASSPHRASE in recalled

    # nothing identifying or secret anywhere in the app's own folders
    for folder in _app_folders():
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for secret in SECRETS:
                    for encoding in ("utf-8", "utf-16-le"):
                        assert secret.encode(encoding) not in data, (path, secret)


def test_mail_opens_a_new_message_in_the_default_mail_program(
    tmp_path: Path, radiographs: list[Path], passphrase_file: Path, desktop: Desktop  # noqa: F811
) -> None:
    program = desktop.program("thunderbird")
    desktop.install("recorder.desktop", f"{program} %u", "x-scheme-handler/mailto")
    package = tmp_path / "out" / "radiographs.html"
    result = run_cli("pack", *radiographs, "-o", package, "--html", "--passphrase-file",
                     passphrase_file, "--to", ADDRESS, "--mail", check=True)  # fmt: skip
    (call,) = desktop.wait_for_calls()
    assert call[1] == "-compose"
    compose = thunderbird_get_args(call[2])
    assert compose["to"] == ADDRESS
    assert compose["attachment"] == package.resolve().as_uri()
    for secret in SECRETS:
        assert secret not in call[2]
    assert "opened a new message with the package attached" in result.stderr
    assert result.stdout.strip() == str(package)  # no text to paste: the mail program has it


def test_openpgp_pack_records_the_recipient_certificate(
    tmp_path: Path, radiographs: list[Path]
) -> None:
    certificate, _ = selftest_key_paths()
    package = tmp_path / "out" / "radiographs.pgp"
    run_cli("pack", *radiographs, "-o", package, "--pgp", certificate, "--pseudonym",
            "REF-2026-114", check=True)  # fmt: skip
    (record,) = _history()
    assert record["format"] == "openpgp" and record["reference_code"] == "REF-2026-114"
    assert record["passphrase_until"] is None
    fingerprints = record["certificates"]
    assert isinstance(fingerprints, list) and len(fingerprints) == 1
    assert len(str(fingerprints[0])) == 40
