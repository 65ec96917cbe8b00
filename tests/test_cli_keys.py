"""``dentsend keys``: import, list, export, delete and generate, as a user runs them."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pysequoia
import pytest
from keyring.backends import fail

from conftest import require_tool, run_cli
from dentsend.cli import main
from dentsend.openpgp import keygen, read_package, store, write_package
from dentsend.settings import load_settings
from memory_keyring import TempFileKeyring

pytestmark = pytest.mark.gpg


def _gpg(home: Path, *args: str, input: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--yes", "--no-tty", "--pinentry-mode",
         "loopback", *args],
        input=input, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.fixture(scope="module")
def colleagues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path | str]]:
    """Two colleagues' certificates exported by GnuPG: one armored, both in a binary keyring."""
    require_tool("gpg")
    folder = tmp_path_factory.mktemp("colleagues")
    home = folder / "gnupg"
    home.mkdir(mode=0o700)
    fingerprints = []
    for user_id in ("Anna Ortho <anna@example.org>", "Ben Kiefer <ben@example.org>"):
        _gpg(home, "--passphrase", "", "--quick-gen-key", user_id, "future-default", "default",
             "never")  # fmt: skip
        listing = _gpg(home, "--with-colons", "--list-keys", user_id).decode()
        fingerprints.append(
            next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
        )
    anna = folder / "anna.asc"
    anna.write_bytes(_gpg(home, "--armor", "--export", fingerprints[0]))
    keyring_file = folder / "colleagues.gpg"
    keyring_file.write_bytes(_gpg(home, "--export", *fingerprints))
    yield {"home": home, "anna": anna, "keyring": keyring_file, "anna_fpr": fingerprints[0],
           "ben_fpr": fingerprints[1]}  # fmt: skip
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


def _json_list(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["keys", "list", "--json"]) == 0
    listed: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return listed


def test_generate_makes_the_practice_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["keys", "generate", "--name", "Praxis Dr. Müller", "--email", "praxis@example.org"])
        == 0
    )
    out = capsys.readouterr().out
    fingerprint = load_settings().own_key_fingerprint
    assert len(fingerprint) == 40 and fingerprint in out
    assert "passphrase is kept in the OS keyring" in out
    passphrase = store.recall_passphrase(fingerprint)
    assert passphrase is not None and len(passphrase) >= 32
    secret = store.secret_path(fingerprint).read_bytes()
    assert keygen.secret_key_state(secret) == (True, True)  # present and protected
    assert passphrase.encode() not in secret

    [entry] = _json_list(capsys)
    assert entry["fingerprint"] == fingerprint and entry["own"] is True
    assert entry["user_ids"] == ["Praxis Dr. Müller <praxis@example.org>"]
    assert entry["algorithms"] == ["EdDSA Ed25519", "ECDH Cv25519"]
    assert (entry["can_encrypt"], entry["revoked"], entry["expires"]) == (True, False, None)

    # its public part, for colleagues (armor comments carry the UTF-8 name)
    exported = tmp_path / "praxis.asc"
    assert main(["keys", "export", fingerprint, "-o", str(exported)]) == 0
    cert = pysequoia.Cert.from_bytes(exported.read_bytes())
    assert [str(u) for u in cert.user_ids] == ["Praxis Dr. Müller <praxis@example.org>"]
    assert keygen.secret_key_state(exported.read_bytes()) == (False, False)

    # a second practice key only on request, and the first one stays to open old packages
    assert main(["keys", "generate", "--name", "Praxis", "--email", "praxis@example.org"]) == 1
    assert "add --replace" in capsys.readouterr().err
    assert main(["keys", "generate", "--name", "Praxis", "--email", "new@example.org",
                 "--replace"]) == 0  # fmt: skip
    assert load_settings().own_key_fingerprint != fingerprint
    assert store.secret_path(fingerprint).exists()


def test_generate_refuses_odd_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--name", "Eve <x>", "--email", "e@example.org"]) == 1
    assert main(["keys", "generate", "--name", "Eve", "--email", "not an address"]) == 1
    err = capsys.readouterr().err
    assert "without < or >" in err and "is not an e-mail address" in err


def test_without_a_keyring_the_passphrase_comes_from_the_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keyring.set_keyring(fail.Keyring())
    args = ["keys", "generate", "--name", "Praxis", "--email", "p@example.org"]
    assert main(args) == 1  # pytest's stdin is no terminal
    err = capsys.readouterr().err
    assert "no OS keyring is available" in err and "--passphrase-file" in err
    assert load_settings().own_key_fingerprint == ""

    passphrase_file = tmp_path / "pass.txt"
    passphrase_file.write_text("molar incisor canine\n")
    assert main([*args, "--passphrase-file", str(passphrase_file)]) == 0
    assert "protected by the passphrase you chose" in capsys.readouterr().out
    fingerprint = load_settings().own_key_fingerprint
    out = io.BytesIO()
    write_package(b"data", out, passphrase="p", sign_passphrase="molar incisor canine")
    opened = read_package(out.getvalue(), passphrase="p")
    assert opened.signature == "good" and fingerprint in (opened.signer or "")


def test_without_a_keyring_it_asks_on_the_terminal(tmp_path: Path) -> None:
    """A real pseudo-terminal: getpass reads the passphrase twice, without echo."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "dentsend", "keys", "generate", "--name", "Praxis", "--email",
         "p@example.org"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )  # fmt: skip
    os.close(slave)
    seen = b""

    def expect(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while text not in seen:
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break

    try:
        expect(b"Passphrase for the practice's key:")
        os.write(master, b"tooth fairy 42\n")
        expect(b"Repeat the passphrase:")
        os.write(master, b"tooth fairy 42\n")
        expect(b"generated the practice's key")
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(master)
    assert b"no OS keyring is available" in seen
    assert b"tooth fairy" not in seen  # not echoed
    fingerprint = load_settings().own_key_fingerprint
    out = io.BytesIO()
    write_package(b"x", out, passphrase="p", sign_passphrase="tooth fairy 42")
    assert fingerprint in (read_package(out.getvalue(), passphrase="p").signer or "")


def test_generate_a_key_file_for_scripts(
    tmp_path: Path, colleagues: dict[str, Path | str], capsys: pytest.CaptureFixture[str]
) -> None:
    passphrase_file = tmp_path / "pass.txt"
    passphrase_file.write_text("script pass\n")
    key_file = tmp_path / "sender.asc"
    args = ["keys", "generate", "--name", "Script", "--email", "s@example.org", "-o", str(key_file)]
    with pytest.raises(SystemExit) as usage:
        main(args)
    assert usage.value.code == 2
    assert main([*args, "--passphrase-file", str(passphrase_file)]) == 0
    assert key_file.read_bytes().startswith(b"-----BEGIN PGP PRIVATE KEY BLOCK-----")
    assert keygen.secret_key_state(key_file.read_bytes()) == (True, True)
    assert load_settings().own_key_fingerprint == ""  # a script's key is not the practice's
    [entry] = _json_list(capsys)
    assert entry["own"] is False and entry["user_ids"] == ["Script <s@example.org>"]

    # GnuPG imports it with that passphrase
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    _gpg(home, "--passphrase-file", str(passphrase_file), "--import", str(key_file))
    listing = _gpg(home, "--with-colons", "--list-secret-keys").decode()
    assert "Script <s@example.org>" in listing
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)

    before = key_file.read_bytes()
    assert main([*args, "--passphrase-file", str(passphrase_file)]) == 1
    assert "never overwritten" in capsys.readouterr().err
    assert key_file.read_bytes() == before


def test_import_list_export_delete(
    tmp_path: Path, colleagues: dict[str, Path | str], capsys: pytest.CaptureFixture[str]
) -> None:
    anna_fpr, ben_fpr = str(colleagues["anna_fpr"]), str(colleagues["ben_fpr"])
    assert main(["keys", "import", str(colleagues["keyring"]), str(colleagues["anna"])]) == 0
    out = capsys.readouterr().out
    assert out.count("new: ") == 2 and "unchanged: Anna Ortho" in out

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    for text in (anna_fpr, ben_fpr, "Ben Kiefer <ben@example.org>", "expires: never",
                 "revoked:     no", "EdDSA Ed25519, ECDH Cv25519", "can encrypt: yes"):  # fmt: skip
        assert text in listing

    exported = tmp_path / "anna-out.asc"
    assert main(["keys", "export", anna_fpr[-16:].lower(), "-o", str(exported)]) == 0
    shown = _gpg(Path(str(colleagues["home"])), "--show-keys", "--with-colons", str(exported))
    assert anna_fpr in shown.decode() and "Anna Ortho" in shown.decode()

    assert main(["keys", "delete", ben_fpr]) == 0
    assert [e["fingerprint"] for e in _json_list(capsys)] == [anna_fpr]
    assert main(["keys", "delete", ben_fpr]) == 1
    assert "no imported certificate has the fingerprint" in capsys.readouterr().err


def test_export_the_public_part_of_a_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "secret.asc"
    key_file.write_bytes(keygen.generate_secret_key("K <k@example.org>", "pw 1234"))
    public = tmp_path / "public.asc"
    assert main(["keys", "export", str(key_file), "-o", str(public)]) == 0
    assert public.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert keygen.secret_key_state(public.read_bytes()) == (False, False)


def test_deleting_the_practice_key_needs_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--name", "P", "--email", "p@example.org"]) == 0
    fingerprint = load_settings().own_key_fingerprint
    capsys.readouterr()
    assert main(["keys", "delete", fingerprint]) == 1
    assert "add --secret" in capsys.readouterr().err
    assert store.secret_path(fingerprint).exists()
    assert main(["keys", "delete", fingerprint, "--secret"]) == 0
    assert not store.secret_path(fingerprint).exists()
    assert load_settings().own_key_fingerprint == ""
    assert store.recall_passphrase(fingerprint) is None


def test_bad_files_are_named_and_the_rest_imported(
    tmp_path: Path, colleagues: dict[str, Path | str], capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_key = tmp_path / "letter.txt"
    not_a_key.write_text("Dear colleague, ...")
    code = main(["keys", "import", str(not_a_key), str(tmp_path / "gone.asc"),
                 str(colleagues["anna"])])  # fmt: skip
    assert code == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "dentsend: letter.txt: is not an OpenPGP certificate (expected an .asc, .gpg, .pgp or "
        ".pub key file)",
        "dentsend: gone.asc: does not exist",
    ]
    assert "new: Anna Ortho" in captured.out


def test_commands_in_separate_processes(tmp_path: Path, colleagues: dict[str, Path | str]) -> None:
    generated = run_cli("keys", "generate", "--name", "Praxis", "--email", "p@example.org")
    assert generated.returncode == 0, generated.stderr
    listed = run_cli("keys", "list", "--json", check=True)
    [entry] = json.loads(listed.stdout)
    assert entry["own"] is True
    # the first process kept the passphrase in the (test's file-backed) keyring: it unlocks
    # the key in this process
    fingerprint = str(entry["fingerprint"])
    kept = TempFileKeyring().get_password("dentsend", f"openpgp-key:{fingerprint}")
    assert kept is not None
    out = io.BytesIO()
    write_package(b"x", out, passphrase="p", sign_passphrase=kept)
    assert fingerprint in (read_package(out.getvalue(), passphrase="p").signer or "")

    bad = tmp_path / "bad.asc"
    bad.write_bytes(
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----"
    )
    failed = run_cli("keys", "import", bad)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "dentsend: bad.asc: is not an OpenPGP certificate (expected an .asc, .gpg, .pgp or "
        ".pub key file)"
    ]


def test_hostile_user_ids_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = pysequoia.Tsk.generate("Eve\x1b[2J\x1b]0;pwned\x07 <eve@example.org>")
    cert_file = tmp_path / "eve.asc"
    cert_file.write_bytes(bytes(hostile.extract_certificate()))
    assert main(["keys", "import", str(cert_file)]) == 0
    assert main(["keys", "list"]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x07" not in shown
    assert "Eve" in shown and "<eve@example.org>" in shown
