"""OpenPGP packages against real GnuPG: what dentsend writes, gpg opens, and the reverse.

Two colleagues each have their own GnuPG home, as on their own machines: one with an
RSA-3072 key, one with Ed25519/Cv25519. A third home holds the certificates dentsend must
refuse (expired, revoked, RSA-1024, sign-only). Keys are made once per module.
"""

from __future__ import annotations

import io
import re
import subprocess
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pysequoia
import pytest

from conftest import require_tool
from dentsend.errors import DentsendError, FileProblem
from dentsend.openpgp import (
    BAD,
    GOOD,
    UNCHECKED,
    UNKNOWN_SIGNER,
    UNSIGNED,
    bounded,
    certs,
    is_openpgp,
    keygen,
    packets,
    read_package,
    selfsig,
    store,
    write_package,
)

pytestmark = pytest.mark.gpg

PAYLOAD = b"PK\x03\x04" + bytes(range(256)) * 400  # stands in for the ZIP payload
OWN_PASSPHRASE = "correct horse battery staple"


@dataclass
class GnuPG:
    home: Path

    def run(
        self, *args: str | Path, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [
                "gpg", "--homedir", str(self.home), "--batch", "--yes", "--no-tty",
                "--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always",
                *map(str, args),
            ],
            input=input,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"gpg {args} failed:\n{result.stderr.decode(errors='replace')}")
        return result

    def make_key(self, user_id: str, algo: str, usage: str, expire: str, *extra: str) -> str:
        self.run(*extra, "--quick-gen-key", user_id, algo, usage, expire)
        return self.fingerprint(user_id)

    def fingerprint(self, user_id: str) -> str:
        listing = self.run("--with-colons", "--list-keys", user_id).stdout.decode()
        return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))

    def export(self, fingerprint: str, path: Path, *, armor: bool = True) -> Path:
        path.write_bytes(self.run(*(["--armor"] if armor else []), "--export", fingerprint).stdout)
        return path

    def decrypt(self, message: bytes, *extra: str) -> tuple[bytes, str]:
        """Plaintext and the status lines gpg printed (GOODSIG, VALIDSIG, ENC_TO …)."""
        result = self.run("--status-fd", "2", *extra, "--decrypt", input=message)
        return result.stdout, result.stderr.decode(errors="replace")

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
        )


def _gnupg(folder: Path) -> GnuPG:
    folder.mkdir(mode=0o700)
    return GnuPG(folder)


@dataclass
class World:
    folder: Path
    rsa: GnuPG
    ed: GnuPG
    refused: GnuPG
    rsa_fpr: str
    ed_fpr: str
    rsa_cert: Path
    ed_cert: Path
    own_secret: bytes
    own_fpr: str
    bad: dict[str, Path]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_tool("gpg")
    folder = tmp_path_factory.mktemp("pgp")
    rsa, ed, refused = _gnupg(folder / "rsa"), _gnupg(folder / "ed"), _gnupg(folder / "bad")
    rsa_fpr = rsa.make_key("Rita RSA <rita@example.org>", "rsa3072", "sign,cert", "never")
    rsa.run("--quick-add-key", rsa_fpr, "rsa3072", "encr", "never")
    ed_fpr = ed.make_key("Edda Ed <edda@example.org>", "future-default", "default", "never")
    # The practice's key, made by dentsend, known to both colleagues' GnuPG.
    own_secret = keygen.generate_secret_key("Praxis Zahn <praxis@example.org>", OWN_PASSPHRASE)
    own_cert = pysequoia.Tsk.from_bytes(own_secret).extract_certificate()
    for home in (rsa, ed):
        home.run("--import", input=bytes(own_cert))

    past = ("--faked-system-time", "20200101T000000")
    expired = refused.make_key(
        "Old Expired <expired@example.org>", "future-default", "default", "2021-01-01", *past
    )
    revoked = refused.make_key(
        "Rev Oked <revoked@example.org>", "future-default", "default", "never"
    )
    revocation = (refused.home / "openpgp-revocs.d" / f"{revoked}.rev").read_text()
    refused.run("--import", input=revocation.replace(":-----BEGIN", "-----BEGIN").encode())
    weak = refused.make_key("Weak Rsa <weak@example.org>", "rsa1024", "sign,cert", "never")
    refused.run("--quick-add-key", weak, "rsa1024", "encr", "never")
    sign_only = refused.make_key("Sign Only <sign@example.org>", "ed25519", "sign,cert", "never")
    subkey_expired = refused.make_key(
        "Sub Expired <subexp@example.org>", "ed25519", "sign,cert", "never", *past
    )
    refused.run(*past, "--quick-add-key", subkey_expired, "cv25519", "encr", "2021-01-01")
    garbage = folder / "garbage.asc"
    garbage.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP")
    bad = {
        "expired": refused.export(expired, folder / "expired.asc"),
        "revoked": refused.export(revoked, folder / "revoked.asc"),
        "weak": refused.export(weak, folder / "weak.asc"),
        "sign-only": refused.export(sign_only, folder / "sign-only.gpg", armor=False),
        "subkey-expired": refused.export(subkey_expired, folder / "subkey-expired.asc"),
        "garbage": garbage,
    }
    yield World(
        folder=folder,
        rsa=rsa,
        ed=ed,
        refused=refused,
        rsa_fpr=rsa_fpr,
        ed_fpr=ed_fpr,
        rsa_cert=rsa.export(rsa_fpr, folder / "rita.asc"),
        ed_cert=ed.export(ed_fpr, folder / "edda.gpg", armor=False),
        own_secret=own_secret,
        own_fpr=own_cert.fingerprint.upper(),
        bad=bad,
    )
    for home in (rsa, ed, refused):
        home.close()


@pytest.fixture
def own_key(world: World) -> str:
    """Install the practice's key in this test's (fresh) data folder and keyring."""
    fingerprint = store.save_secret_key(world.own_secret)
    store.make_own(fingerprint)
    store.remember_passphrase(fingerprint, OWN_PASSPHRASE)
    return fingerprint


def _write(**options: object) -> bytes:
    out = io.BytesIO()
    write_package(PAYLOAD, out, **options)  # type: ignore[arg-type]
    return out.getvalue()


def _status(lines: str, keyword: str) -> list[str]:
    return [line for line in lines.splitlines() if line.startswith(f"[GNUPG:] {keyword} ")]


# -- gpg opens what dentsend writes ------------------------------------------------------------


def test_gpg_decrypts_one_package_to_rsa_and_ed25519_and_sees_the_practice_signature(
    world: World, own_key: str
) -> None:
    message = _write(recipients=[world.rsa_cert, world.ed_cert])

    for colleague in (world.rsa, world.ed):
        plaintext, status = colleague.decrypt(message)
        assert plaintext == PAYLOAD
        assert _status(status, "GOODSIG"), status
        valid = _status(status, "VALIDSIG")
        assert valid and valid[0].split()[-1] == own_key  # primary key fingerprint
        # SEIPDv1 with MDC (2), AES-256 (9): what GnuPG 2.2, Thunderbird and Kleopatra read
        assert "[GNUPG:] DECRYPTION_INFO 2 9" in status
        assert "[GNUPG:] GOODMDC" in status
    # encrypted to both colleagues and to the practice itself (three encryption subkeys)
    assert len(_status(status, "ENC_TO")) == 3
    assert read_package(message).data == PAYLOAD  # the practice reopens what it sent


def test_armored_package_opens_in_gpg(world: World, own_key: str) -> None:
    message = _write(recipients=[world.ed_cert], armor=True)
    assert message.startswith(b"-----BEGIN PGP MESSAGE-----")
    plaintext, status = world.ed.decrypt(message)
    assert plaintext == PAYLOAD
    assert _status(status, "GOODSIG")


def test_recipient_by_fingerprint_of_an_imported_certificate(world: World) -> None:
    store.import_file(world.rsa_cert)
    spaced = " ".join(world.rsa_fpr[i : i + 4] for i in range(0, 40, 4)).lower()
    message = _write(recipients=[spaced])
    plaintext, status = world.rsa.decrypt(message)
    assert plaintext == PAYLOAD
    assert not _status(status, "GOODSIG")  # no practice key here: unsigned
    assert len(_status(status, "ENC_TO")) == 1


def test_gpg_opens_a_passphrase_only_package(world: World, own_key: str) -> None:
    message = _write(passphrase="Zahnarzt röntgen 2024!")
    secret = world.folder / "pass.txt"
    secret.write_text("Zahnarzt röntgen 2024!\n", encoding="utf-8")
    plaintext, status = world.ed.decrypt(message, "--passphrase-file", str(secret))
    assert plaintext == PAYLOAD
    assert not _status(status, "ENC_TO")  # no public-key packet: the passphrase alone opens it
    assert "[GNUPG:] DECRYPTION_INFO 2 9" in status
    listing = world.ed.run("--list-packets", input=message, check=False).stdout.decode()
    assert ":symkey enc packet: version 4, cipher 9" in listing


def test_signed_with_a_key_file_and_its_passphrase(world: World, tmp_path: Path) -> None:
    key_file = tmp_path / "sender.asc"
    secret = keygen.generate_secret_key("Sender Script <script@example.org>", "file pass")
    key_file.write_bytes(packets.armor(packets.ARMOR_PRIVATE_KEY, secret))
    fingerprint = pysequoia.Tsk.from_bytes(secret).extract_certificate().fingerprint.upper()
    world.ed.run("--import", input=bytes(pysequoia.Tsk.from_bytes(secret).extract_certificate()))

    message = _write(recipients=[world.ed_cert], sign_with=key_file, sign_passphrase="file pass")
    _, status = world.ed.decrypt(message)
    assert _status(status, "VALIDSIG")[0].split()[-1] == fingerprint

    with pytest.raises(
        DentsendError, match=r"sender.asc: the passphrase for this secret key is wrong"
    ):
        _write(recipients=[world.ed_cert], sign_with=key_file, sign_passphrase="nope")
    with pytest.raises(DentsendError, match=r"protected by a passphrase.*--key-passphrase-file"):
        _write(recipients=[world.ed_cert], sign_with=key_file)
    with pytest.raises(DentsendError, match=r"rita.asc: holds only a public certificate"):
        _write(recipients=[world.ed_cert], sign_with=world.rsa_cert)


def test_the_generated_key_is_v4_protected_and_asks_for_seipdv1_uncompressed(
    world: World, own_key: str
) -> None:
    listing = world.ed.run(
        "--list-packets", input=store.secret_path(own_key).read_bytes()
    ).stdout.decode()
    assert listing.count("version 4, algo 22") == 2  # Ed25519 primary and signing subkey
    assert "version 4, algo 18" in listing  # Cv25519 encryption subkey
    assert listing.count("iter+salt S2K, algo: 9") == 3  # every secret key AES-256 protected
    assert "features: 01" in listing and "features: 09" not in listing
    assert "pref-zip-algos: 0" in listing
    assert store.recall_passphrase(own_key) == OWN_PASSPHRASE


# -- dentsend opens what gpg writes --------------------------------------------------------


def test_opens_what_gpg_encrypts_and_signs_to_the_practice(world: World, own_key: str) -> None:
    store.import_file(world.ed_cert)
    message = world.ed.run(
        "--encrypt", "--sign", "-r", own_key, "-r", world.ed_fpr, "-u", world.ed_fpr, input=PAYLOAD
    ).stdout
    opened = read_package(message)
    assert opened.data == PAYLOAD
    assert opened.signature == GOOD
    assert opened.signer == f"Edda Ed <edda@example.org> ({world.ed_fpr})"


def test_opens_what_gpg_writes_with_an_rsa_signature(world: World, own_key: str) -> None:
    store.import_file(world.rsa_cert)
    message = world.rsa.run(
        "--armor", "--encrypt", "--sign", "-r", own_key, "-u", world.rsa_fpr, input=PAYLOAD
    ).stdout
    opened = read_package(message)
    assert (opened.data, opened.signature) == (PAYLOAD, GOOD)
    assert world.rsa_fpr in (opened.signer or "")


def test_unknown_signer_and_unsigned(world: World, own_key: str) -> None:
    signed = world.ed.run("--encrypt", "--sign", "-r", own_key, input=PAYLOAD).stdout
    opened = read_package(signed)  # Edda's certificate was not imported here
    assert (opened.data, opened.signature, opened.signer) == (PAYLOAD, UNKNOWN_SIGNER, None)
    assert opened.signer_key is not None and world.ed_fpr.endswith(opened.signer_key[-16:])

    unsigned = world.ed.run("--encrypt", "-r", own_key, input=PAYLOAD).stdout
    assert read_package(unsigned).signature == UNSIGNED


def test_bad_signature_after_tampering(world: World) -> None:
    store.import_file(world.ed_cert)
    signed = world.ed.run("--sign", "--compress-algo", "none", input=PAYLOAD).stdout
    assert read_package(signed).signature == GOOD
    position = signed.index(PAYLOAD[1000:1032]) + 5
    tampered = signed[:position] + bytes([signed[position] ^ 0x01]) + signed[position + 1 :]
    opened = read_package(tampered)
    assert opened.signature == BAD
    assert opened.signer is not None and world.ed_fpr in opened.signer


@pytest.mark.parametrize("algorithm", ["zlib", "zip", "bzip2"])
def test_signed_only_compressed_message_is_decompressed_and_verified(
    world: World, algorithm: str
) -> None:
    store.import_file(world.ed_cert)
    signed = world.ed.run("--sign", "--compress-algo", algorithm, input=PAYLOAD).stdout
    opened = read_package(signed)
    assert (opened.data, opened.signature, opened.encrypted) == (PAYLOAD, GOOD, False)


def test_encrypted_compressed_signature_is_reported_unchecked(world: World, own_key: str) -> None:
    """pysequoia 0.1.35 cannot verify inside compressed data: dentsend says so, and names no
    signer, not even the key ID the signature claims (it could be anybody's)."""
    store.import_file(world.ed_cert)
    message = world.ed.run(
        "--encrypt", "--sign", "--compress-algo", "zlib", "-r", own_key, input=PAYLOAD
    ).stdout
    opened = read_package(message)
    assert (opened.data, opened.signature, opened.signer) == (PAYLOAD, UNCHECKED, None)
    assert opened.signer_key is None


def test_bzip2_inside_encryption_is_refused_with_what_to_ask_the_sender(
    world: World, own_key: str
) -> None:
    message = world.ed.run("--encrypt", "--compress-algo", "bzip2", "-r", own_key,
                           input=PAYLOAD).stdout  # fmt: skip
    expected = (
        r"probably compressed with BZip2, which dentsend cannot read; "
        r"ask the sender to use ZIP/ZLIB or no compression$"
    )
    with pytest.raises(DentsendError, match=expected):
        read_package(message)


# -- decompression bombs ---------------------------------------------------------------------

#: Zeros compress about 1000:1; more of them than the smallest limit (64 MiB) makes a bomb.
BOMB_SIZE = bounded.MIN_PLAINTEXT_ALLOWANCE + 8 * 1024 * 1024
SMALL_SIZE = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def bombs(world: World) -> dict[str, bytes]:
    """Zeros, zlib-compressed and passphrase-encrypted by gpg: 72 MiB ("large"), 4 MiB."""
    secret = world.folder / "bomb-pass.txt"
    secret.write_text("bomb\n")
    return {
        name: world.ed.run("--symmetric", "--compress-algo", "zlib", "--passphrase-file",
                           str(secret), input=bytes(size)).stdout
        for name, size in (("large", BOMB_SIZE), ("small", SMALL_SIZE))
    }  # fmt: skip


def test_an_encrypted_decompression_bomb_is_refused(bombs: dict[str, bytes]) -> None:
    """A ~95 kB message that inflates to 72 MiB: beyond 64 times its size and beyond 64 MiB."""
    large, small = bombs["large"], bombs["small"]
    assert len(large) * bounded.EXPANSION_RATIO < bounded.MIN_PLAINTEXT_ALLOWANCE
    expected = (
        r"^the message expands to more than 64 MiB when decrypted and is refused "
        r"\(a decompression bomb, or too large to open here\)$"
    )
    with pytest.raises(bounded.TooLarge, match=expected):
        read_package(large, passphrase="bomb")
    # within the limit the same kind of message opens; a lower limit refuses it
    assert read_package(small, passphrase="bomb").data == bytes(SMALL_SIZE)
    with pytest.raises(bounded.TooLarge, match=r"more than 1 MiB"):
        read_package(small, passphrase="bomb", max_plaintext=1024 * 1024)


def test_the_memory_capped_worker_used_on_windows_refuses_a_bomb_too(
    bombs: dict[str, bytes],
) -> None:
    """Windows cannot stream from Sequoia into a pipe: its worker decrypts in memory under a
    memory limit (a Job object there, RLIMIT_AS here) and checks the size itself."""
    opener = bounded.Opener(None, "", None, ("bomb",))
    with bounded.spooled(bombs["small"]) as path:
        with pytest.raises(bounded.TooLarge):
            bounded.decrypt(path, opener, 1024 * 1024, streaming=False)
        assert bounded.decrypt(path, opener, SMALL_SIZE, streaming=False) == bytes(SMALL_SIZE)
        wrong = bounded.Opener(None, "", None, ("wrong",))
        with pytest.raises(bounded.DecryptionFailed, match=r"^No key to decrypt message"):
            bounded.decrypt(path, wrong, SMALL_SIZE, streaming=False)


def test_an_unencrypted_compressed_bomb_is_refused() -> None:
    """Signed-only (unencrypted) messages are decompressed here, within the same limit."""
    literal = packets.write_packet(packets.LITERAL, b"b\x00\x00\x00\x00\x00" + bytes(BOMB_SIZE))
    message = packets.write_packet(packets.COMPRESSED, b"\x02" + zlib.compress(literal, 9))
    assert len(message) < 100_000
    with pytest.raises(bounded.TooLarge, match=r"more than 64 MiB"):
        read_package(message)


# -- certificates: only verified self-signatures count --------------------------------------


def _subpacket(kind: int, data: bytes) -> bytes:
    return bytes([len(data) + 1, kind]) + data


def _with_forged_binding(cert: bytes) -> bytes:
    """``cert`` plus what anyone can append: a subkey binding for its last subkey, newer, with
    no expiry and the encryption flags, whose EdDSA "signature" is garbage."""
    items = list(packets.read_packets(packets.dearmor(cert)))
    primary = selfsig.fingerprint(items[0].body)
    hashed = (
        _subpacket(2, int(time.time()).to_bytes(4, "big"))  # created now
        + _subpacket(33, b"\x04" + bytes.fromhex(primary))  # "issued by the primary key"
        + _subpacket(27, b"\x0c")  # encrypt communications and storage; no key expiry
    )
    body = (
        bytes([4, selfsig.SUBKEY_BINDING, keygen.EDDSA_LEGACY, keygen.SHA512])
        + len(hashed).to_bytes(2, "big")
        + hashed
        + b"\x00\x00"  # no unhashed subpackets
        + b"\x00\x00"  # left 16 bits of the hash
        + packets.write_mpi(b"\x01" * 32)
        + packets.write_mpi(b"\x01" * 32)
    )
    kept = b"".join(packets.write_packet(p.tag, p.body) for p in items)
    return kept + packets.write_packet(packets.SIGNATURE, body)


def test_a_forged_binding_does_not_revive_an_expired_encryption_subkey(
    world: World, tmp_path: Path
) -> None:
    original = world.bad["subkey-expired"]
    forged = tmp_path / "update.pgp"
    forged.write_bytes(_with_forged_binding(original.read_bytes()))
    with pytest.raises(FileProblem, match=r"its encryption key expired on 2021-01-01\)$"):
        _write(recipients=[forged])

    # Imported while it was valid, expired since (a new import of it is refused).
    (refused,) = store.import_file(original)
    assert refused.status == "refused" and store.get_cert(refused.info.fingerprint) is None
    store.save_cert(pysequoia.Cert.from_bytes(original.read_bytes()))
    stored = store.get_cert(refused.info.fingerprint)
    assert stored is not None
    # the forgery neither changes the stored certificate nor counts as an update
    assert store.import_file(forged)[0].status == "unchanged"
    assert bytes(store.get_cert(refused.info.fingerprint) or b"") == bytes(stored)
    with pytest.raises(DentsendError, match=r"its encryption key expired on 2021-01-01\)$"):
        _write(recipients=[refused.info.fingerprint])


def test_a_real_renewal_by_the_owner_makes_the_subkey_usable_again(
    world: World, tmp_path: Path
) -> None:
    cert = pysequoia.Cert.from_bytes(world.bad["subkey-expired"].read_bytes())
    primary, subkey = store.key_fingerprints(cert)
    store.save_cert(cert)  # imported while valid; its encryption key expired since
    world.refused.run("--quick-set-expire", primary, "1y", subkey)
    renewed = world.refused.export(primary, tmp_path / "renewed.asc")
    assert store.import_file(renewed)[0].status == "updated"
    message = _write(recipients=[primary], include_own_key=False)
    plaintext, status = world.refused.decrypt(message)
    assert plaintext == PAYLOAD
    assert f"ENC_TO {subkey[-16:]}" in status


@pytest.fixture(scope="module")
def algorithm_certs(world: World) -> dict[str, bytes]:
    """Certificates whose primary keys sign with each algorithm the self-signature check knows."""
    found = {
        "RSA (GnuPG)": world.rsa_cert.read_bytes(),
        "EdDSA (GnuPG)": world.ed_cert.read_bytes(),
        "EdDSA (dentsend)": bytes(pysequoia.Tsk.from_bytes(world.own_secret).extract_certificate()),
    }
    for suite in ("P256", "P521", "RSA2k"):
        generated = pysequoia.Tsk.generate("Suite <suite@example.org>",
                                           cipher_suite=getattr(pysequoia.CipherSuite, suite),
                                           profile=pysequoia.Profile.RFC4880)  # fmt: skip
        found[f"{suite} (Sequoia)"] = bytes(generated.extract_certificate())
    home = _gnupg(world.folder / "algorithms")
    # (Brainpool curves are checked too, but this Sequoia build refuses them anyway.)
    for algo in ("dsa2048", "nistp384"):
        fpr = home.make_key(f"{algo} <{algo}@example.org>", algo, "sign,cert", "never")
        home.run("--quick-add-key", fpr, "cv25519", "encr", "never")
        found[f"{algo} (GnuPG)"] = home.export(fpr, world.folder / f"{algo}.asc").read_bytes()
    home.close()
    return found


def test_stored_certificates_lose_forgeries_but_keep_misplaced_genuine_signatures() -> None:
    """Sequoia writes signatures it cannot check itself at the end of a certificate; such a
    genuine binding, away from its subkey, is not mistaken for a forgery."""
    cert = pysequoia.Tsk.generate("Moved <moved@example.org>").extract_certificate()
    items = list(packets.read_packets(bytes(cert)))
    # primary, direct-key sig, User ID, certification, subkey 1, binding 1, subkey 2, binding 2
    assert [p.tag for p in items][-4:] == [packets.PUBLIC_SUBKEY, packets.SIGNATURE] * 2
    moved = [*items[:-3], items[-1], items[-2]]  # binding 2 now sits under subkey 1
    data = b"".join(packets.write_packet(p.tag, p.body) for p in moved)
    assert selfsig.without_forgeries(data) == data
    forged = _with_forged_binding(data)
    assert selfsig.without_forgeries(forged) == data


def test_self_signatures_of_every_algorithm_verify_and_a_changed_one_does_not(
    algorithm_certs: dict[str, bytes],
) -> None:
    for name, data in algorithm_certs.items():
        cert = pysequoia.Cert.from_bytes(data)
        parts = selfsig.components(bytes(cert))
        verdicts = [verdict for part in parts for _, verdict in part.signatures]
        assert verdicts and set(verdicts) == {selfsig.Verdict.GOOD}, name
        assert certs.inspect(cert).problem is None, name
        # one bit changed in the last signature value: that signature no longer counts
        signature, _ = parts[-1].signatures[-1]
        changed = signature.body[:-1] + bytes([signature.body[-1] ^ 0x01])
        parsed = selfsig.parse_signature(changed)
        assert parsed is not None
        material = selfsig.signed_material(parsed, parts[0].body, subkey=parts[-1].body)
        assert material is not None
        assert selfsig.verify(parsed, parts[0].body, material) is selfsig.Verdict.BAD, name


def test_a_package_larger_than_sequoias_buffer_opens() -> None:
    """Beyond 25 MB Sequoia streams, and pysequoia reports "no signature" as OSError."""
    large = bytes(30 * 1024 * 1024)
    out = io.BytesIO()
    write_package(large, out, passphrase="large one")
    opened = read_package(out.getvalue(), passphrase="large one")
    assert opened.data == large
    assert opened.signature == UNSIGNED


def test_opens_with_a_secret_key_file_and_a_passphrase(world: World, tmp_path: Path) -> None:
    key_file = tmp_path / "praxis.key"
    key_file.write_bytes(world.own_secret)
    message = world.ed.run("--encrypt", "-r", world.own_fpr, input=PAYLOAD).stdout
    opened = read_package(message, key=key_file, key_passphrase=OWN_PASSPHRASE)
    assert opened.data == PAYLOAD

    with pytest.raises(
        DentsendError, match=r"praxis.key: the passphrase for this secret key is wrong"
    ):
        read_package(message, key=key_file, key_passphrase="wrong")

    secret = world.folder / "pass2.txt"
    secret.write_text("s3cret words\n")
    by_passphrase = world.ed.run(
        "--symmetric", "--cipher-algo", "AES256", "--passphrase-file", str(secret), input=PAYLOAD
    ).stdout
    assert read_package(by_passphrase, passphrase="s3cret words").data == PAYLOAD
    with pytest.raises(DentsendError, match=r"^the passphrase is wrong"):
        read_package(by_passphrase, passphrase="s3cret word")


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("expired", r"expired\.asc: the certificate of Old Expired .* expired on 2021-01-01$"),
        ("revoked", r"revoked\.asc: the certificate of Rev Oked .* was revoked by its owner$"),
        ("weak", r"weak\.asc: .* uses a 1024-bit RSA key, which is too weak"),
        ("sign-only", r"sign-only\.gpg: .* has no key for encryption \(it can only sign\)$"),
        ("subkey-expired", r"its encryption key expired on 2021-01-01\)$"),
        ("garbage", r"^garbage\.asc: is not an OpenPGP certificate"),
    ],
)
def test_unusable_certificates_are_refused_with_one_sentence(
    world: World, which: str, reason: str
) -> None:
    with pytest.raises(DentsendError, match=reason) as caught:
        _write(recipients=[world.bad[which]])
    assert "\n" not in str(caught.value)
    if which != "garbage":
        assert isinstance(caught.value, FileProblem)


def test_refused_by_fingerprint_too_and_unknown_fingerprints(world: World) -> None:
    (refused,) = store.import_file(world.bad["revoked"])
    assert refused.status == "refused" and store.stored_certs() == []
    # Revoked after it was imported: the revocation updates the stored certificate.
    store.save_cert(pysequoia.Cert.from_bytes(world.bad["revoked"].read_bytes()))
    revoked = store.stored_certs()[0].fingerprint
    with pytest.raises(DentsendError, match=r"^the certificate of Rev Oked .* was revoked"):
        _write(recipients=[revoked])
    with pytest.raises(DentsendError, match=r"no imported certificate has the fingerprint"):
        _write(recipients=["0123456789ABCDEF0123456789ABCDEF01234567"])
    with pytest.raises(DentsendError, match=r"missing.asc: does not exist"):
        _write(recipients=[world.folder / "missing.asc"])
    with pytest.raises(DentsendError, match=r"at least one recipient or a passphrase"):
        _write()


def test_wrong_key_wrong_passphrase_and_damage_are_clear(world: World, own_key: str) -> None:
    to_colleague = _write(recipients=[world.ed_cert], include_own_key=False)
    with pytest.raises(
        DentsendError, match=r"^this message is not encrypted to the practice's key"
    ):
        read_package(to_colleague)

    protected = _write(passphrase="right one")
    with pytest.raises(DentsendError, match=r"^the passphrase is wrong"):
        read_package(protected, passphrase="wrong one")
    with pytest.raises(DentsendError, match=r"protected by a passphrase: give the passphrase"):
        read_package(protected)

    message = _write(recipients=[world.ed_cert])
    with pytest.raises(DentsendError, match=r"damaged or incomplete"):
        read_package(message[: len(message) // 2])
    middle = len(message) // 2
    flipped = message[:middle] + bytes([message[middle] ^ 0x40]) + message[middle + 1 :]
    with pytest.raises(DentsendError, match=r"damaged or incomplete"):
        read_package(flipped)
    with pytest.raises(DentsendError, match=r"^this is not an OpenPGP message"):
        read_package(b"PK\x03\x04 a zip file, not a message")
    with pytest.raises(DentsendError, match=r"is an OpenPGP key, not a message"):
        read_package(world.rsa_cert.read_bytes())


def test_no_key_of_its_own(world: World) -> None:
    message = _write(recipients=[world.ed_cert])
    with pytest.raises(DentsendError, match=r"has no key of its own.*dentsend keys generate"):
        read_package(message)


def test_own_key_passphrase_missing_from_the_keyring(world: World, own_key: str) -> None:
    message = _write(recipients=[world.ed_cert])
    store.forget_passphrase(own_key)
    with pytest.raises(DentsendError, match=r"needs its passphrase.*--key-passphrase-file"):
        read_package(message)
    assert read_package(message, key_passphrase=OWN_PASSPHRASE).data == PAYLOAD
    with pytest.raises(DentsendError, match=r"needs its passphrase to sign"):
        _write(recipients=[world.ed_cert])
    unsigned = _write(recipients=[world.ed_cert], sign_with_own_key=False)
    assert read_package(unsigned, key_passphrase=OWN_PASSPHRASE).signature == UNSIGNED


# -- recognising messages --------------------------------------------------------------------


def test_is_openpgp(world: World) -> None:
    binary = _write(passphrase="x")
    armored = _write(passphrase="x", armor=True)
    from_gpg = world.ed.run("--encrypt", "-r", world.ed_fpr, input=b"x").stdout
    for message in (binary, armored, from_gpg, b"\n" + armored):
        assert is_openpgp(message[:64])
    for other in (
        b"PK\x03\x04\x14\x00",  # ZIP
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"\xff\xd8\xff\xe0\x00\x10JFIF",
        b"<!doctype html><html>",
        b"\x00" * 128 + b"DICM",
        b"II*\x00",
        b"",
        world.rsa_cert.read_bytes()[:64],  # a key, not a message
    ):
        assert not is_openpgp(other), other


def test_armor_round_trip_and_truncation() -> None:
    data = bytes(range(256)) * 3
    armored = packets.armor(packets.ARMOR_MESSAGE, data, comments=("hello",))
    assert packets.dearmor(armored) == data
    assert b"\n=" in armored  # the CRC-24 line GnuPG 2.2 checks
    with pytest.raises(packets.PacketError):
        list(packets.read_packets(packets.write_packet(11, b"x" * 300)[:-1]))


# -- Thunderbird's OpenPGP engine (RNP) ---------------------------------------------------


@dataclass
class Rnp:
    home: Path
    cert: Path

    def run(self, *args: str | Path, tool: str = "rnp") -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [tool, "--homedir", str(self.home), *map(str, args)],
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result


@pytest.fixture(scope="module")
def thunderbird(world: World) -> Rnp:
    """A colleague whose key was made by RNP, the OpenPGP library inside Thunderbird.

    RNP's certificates carry no Features subpacket, which Sequoia reads as "SEIPDv2 is fine":
    the case dentsend has to steer back to SEIPDv1.
    """
    require_tool("rnp")
    home = world.folder / "rnp"
    home.mkdir(mode=0o700)
    rnp = Rnp(home, world.folder / "tom.asc")
    user_id = "Tom Bird <tom@example.org>"
    rnp.run("--generate-key", "--userid", user_id, "--password", "", tool="rnpkeys")
    rnp.cert.write_bytes(rnp.run("--export-key", "tom@example.org", tool="rnpkeys").stdout)
    own = world.folder / "praxis-public.pgp"
    own.write_bytes(bytes(pysequoia.Tsk.from_bytes(world.own_secret).extract_certificate()))
    rnp.run("--import", own, tool="rnpkeys")
    return rnp


def test_thunderbirds_engine_opens_the_package_and_checks_the_signature(
    world: World, thunderbird: Rnp, tmp_path: Path
) -> None:
    key_file = tmp_path / "praxis.key"
    key_file.write_bytes(world.own_secret)
    # no practice key in the store: only Tom's announcement-less certificate as recipient
    message = _write(
        recipients=[thunderbird.cert], sign_with=key_file, sign_passphrase=OWN_PASSPHRASE
    )
    versions = [(tag, body[0]) for tag, body in packets.first_packets(message, 8)]
    assert (packets.SEIPD, 1) in versions  # SEIPDv1, although Tom's certificate says nothing
    package = tmp_path / "to-tom.pgp"
    package.write_bytes(message)
    result = thunderbird.run("--password", "", "--decrypt", package, "--output", "-")
    assert result.stdout == PAYLOAD
    assert b"Good signature" in result.stderr
    assert b"Signature(s) verified successfully" in result.stderr
    own = pysequoia.Tsk.from_bytes(world.own_secret).extract_certificate()
    signing_subkey = store.key_fingerprints(own)[1]  # rnp names the subkey that signed
    assert signing_subkey.lower().encode() in result.stderr


def test_opens_what_thunderbirds_engine_sends_back(
    world: World, thunderbird: Rnp, own_key: str, tmp_path: Path
) -> None:
    store.import_file(thunderbird.cert)
    plain = tmp_path / "reply.txt"
    plain.write_bytes(PAYLOAD)
    # Thunderbird calls RNP without compression (the library's default); the rnp command line
    # compresses unless told -z 0.
    for level, expected in (("0", GOOD), ("6", UNCHECKED)):
        reply = tmp_path / f"reply-{level}.pgp"
        thunderbird.run("--password", "", "--encrypt", "--sign", "-z", level, "-r", own_key,
                        "-u", "tom@example.org", "--output", reply, plain)  # fmt: skip
        opened = read_package(reply.read_bytes())
        assert (opened.data, opened.signature) == (PAYLOAD, expected)
        if expected == GOOD:
            assert "Tom Bird <tom@example.org>" in (opened.signer or "")


@pytest.mark.parametrize(
    ("which", "why"),
    [
        ("expired", r"expired on 2021-01-01"),
        ("revoked", r"was revoked by its owner"),
        ("weak", r"1024-bit RSA key, which is too weak"),
        ("sign-only", r"no key for encryption"),
        ("subkey-expired", r"its encryption key expired on 2021-01-01"),
    ],
)
def test_keys_import_refuses_what_cannot_be_encrypted_to(
    world: World, which: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from dentsend.cli import main

    path = world.bad[which]
    assert main(["keys", "import", str(path), str(world.rsa_cert)]) == 1
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"dentsend: {path.name}: ") and "was not imported: it " in line
    assert re.search(why, line), line
    assert "new: " in captured.out  # the good certificate beside it still came in
    assert [c.fingerprint.upper() for c in store.stored_certs()] == [world.rsa_fpr.upper()]
