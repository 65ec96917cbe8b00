"""Mail text from templates and the .eml draft, parsed back with Python's email package."""

from __future__ import annotations

import email
import email.policy
import random
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import fixture_file
from dentsend.errors import DentsendError, FileProblem
from dentsend.handoff import (
    TEMPLATE_FIELDS,
    check_template,
    compose_draft,
    hand_off,
    outgoing_folder,
    write_eml,
)
from dentsend.settings import Settings, default_outgoing_dir

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def patient() -> list[str]:
    """The identifying values of the test patient in the real fixture file."""
    import pydicom

    dataset = pydicom.dcmread(fixture_file("ortho_photo_vl.dcm"))
    name = str(dataset.PatientName)  # "Doe^John"
    family, given = name.split("^")[:2]
    # Whole names only: a three-letter piece turns up by chance in base64.
    return [name, f"{given} {family}", f"{family}, {given}", str(dataset.PatientID)]


def make_package(folder: Path, name: str = "radiographs 2025-03-04, part 'A'.html") -> Path:
    """A stand-in package: noise (as ciphertext is, but repeatable), every byte value, and
    line endings and a "From " line that a careless encoder would mangle."""
    path = folder / name
    noise = random.Random(name).randbytes(70_000)
    path.write_bytes(bytes(range(256)) + noise + b"\r\n.\r\nFrom x\n")
    return path


def test_html_text_tells_how_to_open_and_where_the_passphrase_comes_from(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    draft = compose_draft(
        [package], format="html", settings=Settings(practice_name="Smile Dental"),
        today=date(2025, 3, 4),
    )  # fmt: skip
    assert draft.subject == "Radiographs from Smile Dental (2025-03-04)"
    assert draft.attachments == [package.resolve()]
    body = draft.body
    assert "web browser" in body
    assert "separately by phone or text message" in body
    assert "OpenPGP version" in body  # what to do when the mail system holds the attachment
    assert "one file" in body and "Smile Dental" in body


def test_openpgp_text_names_openpgp_programs_and_no_passphrase(tmp_path: Path) -> None:
    draft = compose_draft([make_package(tmp_path, "x.pgp")], format="openpgp", settings=Settings())
    assert "OpenPGP program" in draft.body
    assert "Kleopatra" in draft.body and "GnuPG" in draft.body
    assert "passphrase" not in draft.body.lower()
    assert "our practice" in draft.subject  # no practice name set yet


def test_passphrase_protected_openpgp_and_parts(tmp_path: Path) -> None:
    packages = [make_package(tmp_path, f"x.part{i}.pgp") for i in (1, 2)]
    draft = compose_draft(
        packages, format="openpgp", settings=Settings(), parts=2, passphrase_protected=True
    )
    assert "separately by phone or text message" in draft.body
    assert "2 parts" in draft.body and "2 files" in draft.body


def test_edited_templates_fill_every_placeholder(tmp_path: Path) -> None:
    settings = Settings(
        practice_name="Dr. Ana's Practice",
        subject_template="X-rays {date} / {parts} / {files}\nBcc: evil@example.org",
        body_template=" ".join("{" + name + "}" for name in TEMPLATE_FIELDS) + " {{literal}}\x00",
    )
    draft = compose_draft([make_package(tmp_path)], format="html", settings=settings)
    # A newline in the subject template cannot add a header.
    assert "\n" not in draft.subject and "Bcc: evil" in draft.subject
    assert "{literal}" in draft.body and "Dr. Ana's Practice" in draft.body
    assert "\x00" not in draft.body
    assert "self-decrypting HTML file" in draft.body


@pytest.mark.parametrize(
    "template",
    ["{patient_name}", "{practice.__class__}", "{practice[0]}", "{practice!r}", "{date:>99}", "{"],
)
def test_templates_cannot_reach_anything_else(template: str) -> None:
    with pytest.raises(DentsendError) as caught:
        check_template(template, what="mail body template")
    assert "mail body template" in str(caught.value)


def test_bad_recipient_and_missing_package(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    for bad in ("-oProxyCommand=x@y.z", "a@b.c\nBcc: x@y.z", "not an address", "a@b"):
        with pytest.raises(DentsendError):
            compose_draft([package], format="html", settings=Settings(), to=bad)
    draft = compose_draft(
        [package], format="html", settings=Settings(), to=" a@example.org; b@example.net "
    )
    assert draft.to == "a@example.org, b@example.net"
    with pytest.raises(FileProblem, match=r"gone\.html"):
        compose_draft([tmp_path / "gone.html"], format="html", settings=Settings())


def test_eml_draft_parses_back_with_the_package_byte_exact(
    tmp_path: Path, patient: list[str]
) -> None:
    package = make_package(tmp_path)
    draft = compose_draft(
        [package], format="html", settings=Settings(practice_name="Smile Dental"),
        to="dr.jones@example.org",
    )  # fmt: skip
    out = tmp_path / "out" / "draft.eml"
    write_eml(draft, out)
    raw = out.read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["X-Unsent"] == "1"
    assert message["Subject"] == draft.subject
    assert message["To"] == "dr.jones@example.org"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"].datetime is not None
    assert message["From"] is None  # the mail program fills in the account
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == draft.body
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    assert attachments[0].get_filename() == package.name
    assert attachments[0].get_content_type() == "application/octet-stream"
    assert attachments[0].get_payload(decode=True) == package.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF throughout
    for secret in [PASSPHRASE, *patient]:
        assert secret.lower() not in draft.subject.lower()
        assert secret.lower() not in draft.body.lower()
        assert secret.encode() not in raw
    assert [p.name for p in out.parent.iterdir()] == ["draft.eml"]  # no temp file left


def test_eml_with_two_parts_and_no_recipient(tmp_path: Path) -> None:
    packages = [make_package(tmp_path, f"x.part{i}.html") for i in (1, 2)]
    draft = compose_draft(packages, format="html", settings=Settings(), parts=2)
    out = tmp_path / "d.eml"
    write_eml(draft, out)
    message = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] is None
    got = {a.get_filename(): a.get_payload(decode=True) for a in message.iter_attachments()}
    assert got == {p.name: p.read_bytes() for p in packages}


def test_outgoing_folder_is_persistent_and_created(tmp_path: Path) -> None:
    default = outgoing_folder(Settings())
    assert default == default_outgoing_dir() and default.is_dir()
    assert "Documents" in default.parts  # the user's documents, not a temp folder
    chosen = outgoing_folder(Settings(outgoing_dir=str(tmp_path / "Sent packages")))
    assert chosen == tmp_path / "Sent packages" and chosen.is_dir()


def test_hand_off_refuses_a_missing_package(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    draft = compose_draft([package], format="html", settings=Settings())
    package.unlink()
    with pytest.raises(FileProblem, match="the package file is missing"):
        hand_off(draft, settings=Settings())
