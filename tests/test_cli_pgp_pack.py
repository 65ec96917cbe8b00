"""``dentsend pack --pgp`` and ``dentsend open`` with a colleague who only has GnuPG.

The round trip of the issue's "done when": the colleague opens the package in gpg and sees the
practice's valid signature; the practice opens what the colleague sends back.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import fixture_file, require_tool, run_cli
from dentsend.cli import main
from dentsend.settings import load_settings

pytestmark = pytest.mark.gpg


@dataclass
class Colleague:
    home: Path
    fingerprint: str
    cert: Path

    def gpg(self, *args: str | Path, input: bytes | None = None) -> tuple[bytes, str]:
        result = subprocess.run(
            ["gpg", "--homedir", str(self.home), "--batch", "--yes", "--no-tty",
             "--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always",
             "--status-fd", "2", *map(str, args)],
            input=input, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        status = result.stderr.decode(errors="replace")
        assert result.returncode == 0, status
        return result.stdout, status


@pytest.fixture(scope="module")
def colleague(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Colleague]:
    require_tool("gpg")
    folder = tmp_path_factory.mktemp("colleague")
    home = folder / "gnupg"
    home.mkdir(mode=0o700)
    someone = Colleague(home, "", folder / "edda.asc")
    user_id = "Edda Endo <edda@example.org>"
    someone.gpg("--quick-gen-key", user_id, "future-default", "default", "never")
    listing, _ = someone.gpg("--with-colons", "--list-keys", user_id)
    someone.fingerprint = next(
        line.split(":")[9] for line in listing.decode().splitlines() if line.startswith("fpr")
    )
    someone.cert.write_bytes(someone.gpg("--armor", "--export", someone.fingerprint)[0])
    yield someone
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


@pytest.fixture
def practice(colleague: Colleague, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The practice's key, generated here and known to the colleague's GnuPG."""
    assert main(["keys", "generate", "--name", "Praxis Zahn", "--email", "praxis@example.org"]) == 0
    fingerprint = load_settings().own_key_fingerprint
    exported = tmp_path / "praxis.asc"
    assert main(["keys", "export", fingerprint, "-o", str(exported)]) == 0
    colleague.gpg("--import", exported)
    capsys.readouterr()
    return fingerprint


def test_colleague_opens_the_package_in_gpg_and_sees_the_signature(
    colleague: Colleague, practice: str, tmp_path: Path
) -> None:
    package = tmp_path / "to-edda.pgp"
    dicom = fixture_file("ortho_photo_vl.dcm")  # a photograph: its check is confirmed here
    assert main(["pack", str(dicom), "-o", str(package), "--pgp", str(colleague.cert),
                 "--confirm-no-burned-in"]) == 0  # fmt: skip

    plaintext, status = colleague.gpg("--decrypt", package)
    validsig = [line.split() for line in status.splitlines() if " VALIDSIG " in line]
    assert validsig and validsig[0][-1] == practice  # the practice's primary key
    assert "[GNUPG:] DECRYPTION_INFO 2 9" in status  # SEIPDv1, AES-256
    with zipfile.ZipFile(io.BytesIO(plaintext)) as archive:
        assert "manifest.json" in archive.namelist()
    # nothing identifying in the clear or in the literal data name
    plaintext_status = next(line for line in status.splitlines() if " PLAINTEXT " in line)
    assert plaintext_status.split()[4:] == []  # "PLAINTEXT format time [name]": no name
    assert b"Doe" not in package.read_bytes()


def test_passphrase_package_armored_opens_with_gpg(
    colleague: Colleague, practice: str, tmp_path: Path
) -> None:
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("ulcer molar tunnel quartz violet anchor\n")
    package = tmp_path / "package.asc"
    dicom = fixture_file("ortho_photo_vl.dcm")
    code = main(["pack", str(dicom), "-o", str(package), "--pgp-passphrase", "--armor",
                 "--passphrase-file", str(passphrase), "--confirm-no-burned-in"])  # fmt: skip
    assert code == 0
    assert package.read_bytes().startswith(b"-----BEGIN PGP MESSAGE-----")
    plaintext, status = colleague.gpg("--passphrase-file", passphrase, "--decrypt", package)
    assert zipfile.is_zipfile(io.BytesIO(plaintext))
    assert "ENC_TO" not in status


def test_practice_opens_what_the_colleague_sends_back(
    colleague: Colleague, practice: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = tmp_path / "befund.pdf.pgp"
    reply.write_bytes(
        colleague.gpg("--encrypt", "--sign", "-r", practice, input=b"%PDF-1.4 findings")[0]
    )
    assert main(["keys", "import", str(colleague.cert)]) == 0
    capsys.readouterr()
    out = tmp_path / "received"
    assert main(["open", str(reply), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert (out / "befund.pdf").read_bytes() == b"%PDF-1.4 findings"
    assert f"good signature from Edda Endo <edda@example.org> ({colleague.fingerprint})" in (
        captured.err
    )


def test_a_signature_inside_compressed_data_is_not_attributed_to_anyone(
    colleague: Colleague, practice: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GnuPG compresses when told to (or for keys that allow it), and dentsend cannot check a
    signature inside compressed data: it must say so, and not name the key the signature
    claims, which could be anybody's colleague."""
    reply = tmp_path / "befund.txt.pgp"
    signed = colleague.gpg("--encrypt", "--sign", "--compress-algo", "zlib", "-r", practice,
                           input=b"findings")[0]  # fmt: skip
    reply.write_bytes(signed)
    assert main(["keys", "import", str(colleague.cert)]) == 0
    capsys.readouterr()
    out = tmp_path / "received"
    assert main(["open", str(reply), "-o", str(out)]) == 0
    stderr = capsys.readouterr().err
    assert (out / "befund.txt").read_bytes() == b"findings"
    assert "the sender is NOT verified" in stderr
    assert colleague.fingerprint[-16:] not in stderr and "Edda" not in stderr


def test_a_message_for_someone_else_or_damaged_writes_nothing(
    colleague: Colleague, practice: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_ours = tmp_path / "not-ours.pgp"
    not_ours.write_bytes(colleague.gpg("--encrypt", "-r", colleague.fingerprint, input=b"x")[0])
    out = tmp_path / "received"
    result = run_cli("open", not_ours, "-o", out)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"dentsend: not-ours.pgp: this message is not encrypted to the practice's key (it is "
        f"for key ID "
        f"{result.stderr.split('key ID ')[1].split(')')[0]})"
    ]
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())
    damaged = tmp_path / "damaged.pgp"
    data = colleague.gpg("--encrypt", "-r", practice, input=bytes(range(256)) * 400)[0]
    damaged.write_bytes(data[: len(data) // 2])
    assert main(["open", str(damaged), "-o", str(out)]) == 1  # in-process: the test keyring
    err = capsys.readouterr().err
    assert err.startswith("dentsend: damaged.pgp: the package is damaged"), err
    assert len(err.strip().splitlines()) == 1


def test_open_with_a_key_file_and_its_passphrase_file(colleague: Colleague, tmp_path: Path) -> None:
    passphrase = tmp_path / "key-pass.txt"
    passphrase.write_text("script key passphrase\n")
    key = tmp_path / "script.asc"
    made = run_cli("keys", "generate", "--name", "Script", "--email", "s@example.org", "-o", key,
                   "--passphrase-file", passphrase)  # fmt: skip
    assert made.returncode == 0, made.stderr
    public = tmp_path / "script-public.asc"
    assert run_cli("keys", "export", key, "-o", public).returncode == 0
    colleague.gpg("--import", public)
    fingerprint = made.stdout.split("(")[1].split(")")[0]
    message = tmp_path / "data.bin.gpg"
    message.write_bytes(colleague.gpg("--encrypt", "-r", fingerprint, input=b"\x00\x01data")[0])

    out = tmp_path / "out"
    opened = run_cli("open", message, "-o", out, "--key", key, "--key-passphrase-file", passphrase)
    assert opened.returncode == 0, opened.stderr
    assert (out / "data.bin").read_bytes() == b"\x00\x01data"
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n")
    failed = run_cli("open", message, "-o", tmp_path / "out2", "--key", key,
                     "--key-passphrase-file", wrong)  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        "dentsend: script.asc: the passphrase for this secret key is wrong"
    )


def test_no_sign_packs_without_the_practice_key(
    colleague: Colleague, practice: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Signing is optional: with the key's passphrase out of reach, --no-sign still packs."""
    from dentsend.openpgp import store

    store.forget_passphrase(practice)
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("ulcer molar tunnel quartz violet anchor\n")
    dicom = fixture_file("ortho_photo_vl.dcm")
    args = ["pack", str(dicom), "--pgp-passphrase", "--passphrase-file", str(passphrase),
            "--confirm-no-burned-in"]  # fmt: skip
    assert main([*args, "-o", str(tmp_path / "signed.pgp")]) == 1
    assert "needs its passphrase to sign" in capsys.readouterr().err
    assert not (tmp_path / "signed.pgp").exists()

    package = tmp_path / "unsigned.pgp"
    assert main([*args, "-o", str(package), "--no-sign"]) == 0
    plaintext, status = colleague.gpg("--passphrase-file", passphrase, "--decrypt", package)
    assert zipfile.is_zipfile(io.BytesIO(plaintext))
    assert "VALIDSIG" not in status and "NEWSIG" not in status
    with pytest.raises(SystemExit) as usage:
        main([*args, "-o", str(tmp_path / "x.pgp"), "--no-sign", "--sign", str(dicom)])
    assert usage.value.code == 2
    assert "--sign and --no-sign exclude each other" in capsys.readouterr().err
