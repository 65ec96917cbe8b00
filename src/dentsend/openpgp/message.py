"""Writing and opening OpenPGP packages.

What is written: PKESK v3 (one per recipient key) and/or SKESK v4, then one SEIPDv1 packet
(AES-256, MDC), optionally with a one-pass signature: the RFC 4880 subset every OpenPGP program
in use reads (GnuPG 2.2+, Thunderbird/RNP, Kleopatra, Mailvelope). pysequoia 0.1.35 offers no
choice of packet versions: Sequoia writes SEIPDv2 unless a recipient's certificate announces
SEIPDv1 only, and it reads a certificate that announces nothing (RNP/Thunderbird make those) as
SEIPDv2-capable. dentsend therefore makes sure one recipient announces SEIPDv1 only: the
practice's own key does (see :mod:`.keygen`), and when there is none a throwaway certificate is
added (:func:`.keygen.throwaway_cert`). Every written message is checked to be SEIPDv1.

Opening: Sequoia decrypts and verifies, in two passes over the message:

* the plaintext comes from a worker process that stops at a size limit (:mod:`.bounded`): the
  content may be compressed inside the encryption, and a few megabytes can inflate to gigabytes
  (a decompression bomb);
* the signature is then checked here by a second pass whose output goes nowhere: pysequoia's
  verifying decrypt fails the whole message when there is no valid signature (unsigned, unknown
  signer, bad signature), and the signature state is read from what that pass saw.

pysequoia 0.1.35 cannot check a signature *inside compressed data* within encryption (GnuPG's
default when the recipient's key allows compression; dentsend's keys ask for no compression, so
GnuPG and Kleopatra do not compress to them). Such a message opens with
``signature == "unchecked"``, which names no signer: nothing about it was verified. Nor can it
read BZip2-compressed content (GnuPG's ``--compress-algo bzip2``); that is refused with a
sentence asking the sender for ZIP/ZLIB or no compression. Compressed messages that are only
signed are decompressed here (ZIP, ZLIB and BZip2, within the same size limit) and checked
normally.
"""

from __future__ import annotations

import bz2
import logging
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pysequoia

from dentsend.errors import DentsendError, FileProblem
from dentsend.openpgp import bounded, certs, keygen, packets, store
from dentsend.openpgp.certs import CertInfo
from dentsend.openpgp.packets import SEQUOIA_ERRORS, PacketError

log = logging.getLogger(__name__)


class KeyProblem(DentsendError):
    """A secret key cannot be used (wrong passphrase, revoked, no key to sign with): the message
    names the key, since the package it was meant for is not at fault."""

UNSIGNED = "unsigned"
GOOD = "good"
BAD = "bad"
UNKNOWN_SIGNER = "unknown-signer"
UNCHECKED = "unchecked"
"""Signed, but the signature sits inside compressed data that pysequoia 0.1.35 cannot check.
The sender is *not* verified, and no signer (not even the key ID it claims) is reported."""

_ERROR_FIRST_LINE_LIMIT = 200


@dataclass
class OpenedMessage:
    data: bytes
    filename: str
    """The literal-data file name (may be hostile: the caller sanitises). Empty when unknown:
    pysequoia 0.1.35 does not report it for encrypted messages."""
    signature: str
    """``unsigned``, ``good``, ``bad``, ``unknown-signer`` or ``unchecked``."""
    signer: str | None
    """"Name <email> (FINGERPRINT)" when the signature verified (good) or failed (bad) against
    that certificate; None otherwise."""
    signer_key: str | None = None
    """The fingerprint or key ID a good, bad or unknown-signer signature names (a claim, not a
    verified fact, for an unknown signer); None when unsigned or unchecked."""
    encrypted: bool = True
    recipients: list[str] = field(default_factory=list)
    """Key IDs the message is encrypted to (upper-case hex)."""


def is_openpgp(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts an OpenPGP message."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"-----BEGIN PGP MESSAGE-----"):
        return True
    try:
        tag, position, length, _partial = packets.read_header(head, 0)
    except PacketError:
        return False
    if tag not in packets.MESSAGE_START_TAGS:
        return False
    if position >= len(head):
        return length > 0
    first = head[position]
    plausible = {
        packets.PKESK: (3, 6),
        packets.SKESK: (4, 5, 6),
        packets.ONE_PASS_SIGNATURE: (3, 6),
        packets.SIGNATURE: (3, 4, 5, 6),
        packets.SEIPD: (1, 2),
        packets.COMPRESSED: (0, 1, 2, 3),
        packets.LITERAL: tuple(b"btuml18"),
        packets.MARKER: (0x50,),  # "PGP"
    }
    allowed = plausible.get(tag)
    return allowed is None or first in allowed


# -- writing ---------------------------------------------------------------------------------


def write_package(
    data: bytes,
    out: BinaryIO,
    *,
    recipients: Sequence[str | Path] = (),
    sign_with: Path | None = None,
    sign_passphrase: str | None = None,
    passphrase: str | None = None,
    armor: bool = False,
    literal_name: str = "radiographs.zip",
    include_own_key: bool = True,
    sign_with_own_key: bool = True,
) -> None:
    """Encrypt ``data`` to ``recipients`` (and the practice's own key) and write it to ``out``.

    ``recipients`` are certificate files or fingerprints of imported certificates. With no
    recipients, ``passphrase`` makes a passphrase-only message (SKESK + SEIPDv1; the own key is
    not added, so the message opens with the passphrase alone). ``sign_with`` is a secret key
    file; without it the package is signed with the practice's own key when one exists
    (``sign_passphrase`` or the keyring unlocks it; ``sign_with_own_key=False`` leaves it
    unsigned). ``literal_name`` is accepted for the interface's sake: pysequoia 0.1.35 cannot
    set the literal-data name, so the name inside is empty (neutral, as required); GnuPG,
    Kleopatra and Thunderbird name the output after the package file instead.
    """
    del literal_name  # see the docstring: pysequoia writes an empty literal-data name
    if not recipients and not passphrase:
        raise DentsendError("an OpenPGP package needs at least one recipient or a passphrase")
    if passphrase is not None and not passphrase:
        raise DentsendError("the passphrase must not be empty")
    chosen = [recipient_cert(r) for r in recipients]
    if recipients and include_own_key:
        own = _own_recipient()
        if own is not None:
            chosen.append(own)
    unique = list({c.fingerprint: c for c in chosen}.values())
    passwords = [passphrase] if passphrase else []
    if unique and _seipd_version(_encrypt(b"", unique, None, passwords, armor=False)) != 1:
        unique.append(keygen.throwaway_cert())
    signer = _signer(sign_with, sign_passphrase, use_own=sign_with_own_key)
    written = _encrypt(data, unique, signer, passwords, armor=armor)
    if _seipd_version(written) != 1:
        raise DentsendError(
            "the package could not be written in the format every OpenPGP program reads (SEIPDv1)"
        )
    out.write(written)


def _encrypt(
    data: bytes, recipients: list[pysequoia.Cert], signer: Any, passwords: list[str], *, armor: bool
) -> bytes:
    try:
        written = pysequoia.encrypt(
            data, recipients=recipients, signer=signer, passwords=passwords, armor=armor
        )
    except SEQUOIA_ERRORS as exc:
        log.warning("encryption failed: %s", _first_line(exc))
        raise DentsendError(f"the package could not be encrypted ({_first_line(exc)})") from None
    return bytes(written)


def recipient_cert(recipient: str | Path) -> pysequoia.Cert:
    """A usable certificate from a file or an imported fingerprint, or a clear error."""
    path = Path(recipient)
    fingerprint = None if isinstance(recipient, Path) else store.normalise_fingerprint(recipient)
    if fingerprint is not None and not path.is_file():
        cert = store.find_cert(fingerprint)
        _require_usable(cert, None)
        return cert
    found = store.parse_certs(store.read_key_file(path), path.name)
    if len(found) > 1:
        raise FileProblem(
            path, f"holds {len(found)} certificates; give one certificate per recipient"
        )
    cert = pysequoia.Cert.from_bytes(bytes(found[0]))
    _require_usable(cert, path)
    return cert


def _require_usable(cert: pysequoia.Cert, path: Path | None) -> CertInfo:
    info = certs.inspect(cert)
    if info.problem is not None:
        sentence = f"the certificate of {info.label} {info.problem}"
        if path is not None:
            raise FileProblem(path, sentence)
        raise DentsendError(sentence)
    return info


def _own_recipient() -> pysequoia.Cert | None:
    cert = store.own_cert()
    if cert is None:
        return None
    info = certs.inspect(cert)
    if info.problem is not None:
        log.warning("the practice's own key %s is not used: it %s", info.fingerprint, info.problem)
        return None
    return cert


def own_key_needing_passphrase() -> str | None:
    """The practice key's fingerprint when it would sign a package but its passphrase is not in
    the keyring (the app then asks for it); None when no passphrase needs asking."""
    fingerprint = store.own_fingerprint()
    if fingerprint is None:
        return None
    try:
        secret = store.secret_path(fingerprint).read_bytes()
    except FileNotFoundError:
        return None
    if not store.protected(secret) or store.recall_passphrase(fingerprint) is not None:
        return None
    return fingerprint


def _signer(sign_with: Path | None, passphrase: str | None, *, use_own: bool) -> Any:
    if sign_with is not None:
        return unlock_secret_key(
            store.read_key_file(sign_with), sign_with.name, passphrase, purpose="sign"
        )
    if not use_own:
        return None
    fingerprint = store.own_fingerprint()
    if fingerprint is None:
        return None
    try:
        secret = store.secret_path(fingerprint).read_bytes()
    except FileNotFoundError:
        log.info("the own key %s has no secret key here; the package is not signed", fingerprint)
        return None
    unlock = passphrase if passphrase is not None else store.recall_passphrase(fingerprint)
    if unlock is None:
        raise KeyProblem(
            f"the practice's key {fingerprint} needs its passphrase to sign, and the OS keyring "
            "does not have it: give it with --key-passphrase-file"
        )
    return unlock_secret_key(secret, f"the practice's key {fingerprint}", unlock, purpose="sign")


def unlock_secret_key(data: bytes, name: str, passphrase: str | None, *, purpose: str) -> Any:
    """A pysequoia signer (``purpose="sign"``) or decryptor (``"decrypt"``) from key bytes."""
    try:
        tsk = pysequoia.Tsk.from_bytes(data)
        has_secret, protected = keygen.secret_key_state(data)
    except SEQUOIA_ERRORS:  # PacketError is a ValueError
        raise KeyProblem(f"{name}: is not an OpenPGP secret key") from None
    if not has_secret:
        raise KeyProblem(
            f"{name}: holds only a public certificate; a secret key file is needed to {purpose}"
        )
    info = certs.inspect(tsk.extract_certificate())
    capable = [
        k
        for k in info.keys
        if (k.can_sign if purpose == "sign" else k.can_encrypt) and not k.revoked
    ]
    if purpose == "sign" and (
        info.revoked or (info.expires is not None and info.expires <= datetime.now(UTC))
    ):
        raise KeyProblem(f"{name}: the key {info.label} {info.problem}")
    if not capable:
        raise KeyProblem(f"{name}: the key {info.label} has no key to {purpose} with")
    if protected and passphrase is None:
        raise KeyProblem(
            f"{name}: the secret key is protected by a passphrase; give it with "
            "--key-passphrase-file"
        )
    make: Callable[[str | None], Any] = tsk.signer if purpose == "sign" else tsk.decryptor
    try:
        return make(passphrase if protected else None)
    except SEQUOIA_ERRORS as exc:
        message = _first_line(exc)
        if "not encrypted" in message:  # some subkeys protected, this one not
            return make(None)
        if message.startswith("No suitable"):
            raise KeyProblem(
                f"{name}: the key {info.label} has no valid key to {purpose} with "
                "(expired or revoked)"
            ) from None
        raise KeyProblem(f"{name}: the passphrase for this secret key is wrong") from None


def _seipd_version(message: bytes) -> int | None:
    """The version of a written message's SEIPD packet (1 or 2), read from its first bytes.

    Only the start is looked at: a binary package is not scanned end to end for an armor line.
    """
    if packets.is_armored(message):
        head = packets.dearmor(message, max_body_chars=16384)
    else:
        head = message[: 1024 * 1024]  # session key packets come first, and they are small
    for tag, body in packets.first_packets(head, 4096):
        if tag == packets.SEIPD:
            return body[0] if body else None
    return None


# -- opening ---------------------------------------------------------------------------------


def read_package(
    data: bytes,
    *,
    key: Path | None = None,
    key_passphrase: str | None = None,
    passphrase: str | None = None,
    max_plaintext: int | None = None,
) -> OpenedMessage:
    """Decrypt (and verify) an OpenPGP message.

    With neither ``key`` nor ``passphrase``, the keys generated here are tried, the practice's
    own key first, each unlocked with ``key_passphrase`` or its passphrase from the keyring.
    Signatures are checked against the imported certificates and the keys generated here.
    A message whose content is larger than ``max_plaintext`` bytes (default:
    :func:`.bounded.plaintext_limit` of its size) is refused without being held in memory.
    """
    return open_message(
        data,
        key=key,
        key_passphrase=key_passphrase,
        passphrase=passphrase,
        extra_certs=(),
        max_plaintext=max_plaintext,
    )


def open_message(
    data: bytes,
    *,
    key: Path | None,
    key_passphrase: str | None,
    passphrase: str | None,
    extra_certs: Sequence[pysequoia.Cert],
    max_plaintext: int | None = None,
) -> OpenedMessage:
    """:func:`read_package` with additional certificates to verify signatures against."""
    structure = _peek(data)
    limit = max_plaintext if max_plaintext is not None else bounded.plaintext_limit(len(data))
    if not structure.encrypted:
        return _open_signed(data, extra_certs, limit)
    openers = _openers(structure, key, key_passphrase, passphrase)
    with bounded.spooled(data) as ciphertext:
        for index, opener in enumerate(openers):
            try:
                return _decrypt(ciphertext, opener, structure, extra_certs, limit)
            except bounded.TooLarge:
                raise  # another key would decrypt the same bomb
            except DentsendError:
                if index == len(openers) - 1:
                    raise
    raise AssertionError("no way to open the message was tried")  # _openers never returns []


@dataclass(frozen=True)
class _Structure:
    encrypted: bool
    recipients: tuple[str, ...]
    has_skesk: bool


def _peek(data: bytes) -> _Structure:
    try:
        head = packets.dearmor(data, max_body_chars=65536) if packets.is_armored(data) else data
        found = packets.first_packets(head[: 1024 * 1024], 4096)
    except PacketError as exc:
        raise DentsendError(f"this is not an OpenPGP message, or it is damaged ({exc})") from None
    tags = [t for t, _ in found if t not in (packets.MARKER, packets.PADDING)]
    if not tags:
        raise DentsendError("this OpenPGP message is empty")
    first = tags[0]
    if first in (packets.PUBLIC_KEY, packets.SECRET_KEY):
        raise DentsendError(
            "this is an OpenPGP key, not a message: import it with `dentsend keys import`"
        )
    if first not in packets.MESSAGE_START_TAGS:
        raise DentsendError("this is not an OpenPGP message")
    if first == packets.SYMMETRIC_ENCRYPTED:
        raise DentsendError(
            "this message uses the obsolete encryption without integrity protection and is refused"
        )
    recipients = tuple(
        body[1:9].hex().upper() for t, body in found if t == packets.PKESK and body[:1] == b"\x03"
    )
    has_skesk = any(t == packets.SKESK for t, _ in found)
    return _Structure(first in packets.ENCRYPTION_TAGS, recipients, has_skesk)


@dataclass(frozen=True)
class _Opener:
    """A way to open the message: for the worker (:class:`.bounded.Opener`) and for the
    signature pass here (the key, already unlocked: a wrong passphrase is reported at once)."""

    worker: bounded.Opener
    decryptor: Any

    @property
    def passwords(self) -> list[str]:
        return list(self.worker.passwords)


def _openers(
    structure: _Structure, key: Path | None, key_passphrase: str | None, passphrase: str | None
) -> list[_Opener]:
    """The ways to open the message, in the order to try them."""
    if passphrase is not None:
        if not structure.has_skesk:
            raise DentsendError(
                "this message is encrypted to keys, not protected by a passphrase: open it with "
                "the recipient's secret key"
            )
        return [_Opener(bounded.Opener(None, "", None, (passphrase,)), None)]
    if key is not None:
        data = store.read_key_file(key)
        if not _for_key(data, structure):
            raise DentsendError(
                f"{key.name}: the message is not encrypted to this key "
                f"(it is for {_key_ids(structure)})"
            )
        decryptor = unlock_secret_key(data, key.name, key_passphrase, purpose="decrypt")
        return [_Opener(bounded.Opener(data, key.name, key_passphrase, ()), decryptor)]
    stored = store.secret_keys()
    matching = [(fpr, data) for fpr, data in stored if _for_key(data, structure)]
    if not matching:
        if structure.has_skesk:
            raise DentsendError("this message is protected by a passphrase: give the passphrase")
        if not stored:
            raise DentsendError(
                "dentsend has no key of its own to open this message (create one with "
                "`dentsend keys generate`, or give the secret key file with --key)"
            )
        raise DentsendError(
            f"this message is not encrypted to the practice's key (it is for {_key_ids(structure)})"
        )
    openers: list[_Opener] = []
    for fingerprint, data in matching:
        unlock = (
            key_passphrase if key_passphrase is not None else store.recall_passphrase(fingerprint)
        )
        if unlock is None and store.protected(data):
            raise KeyProblem(
                f"the practice's key {fingerprint} needs its passphrase, and the OS keyring does "
                "not have it: give it with --key-passphrase-file"
            )
        label = f"the practice's key {fingerprint}"
        decryptor = unlock_secret_key(data, label, unlock, purpose="decrypt")
        openers.append(_Opener(bounded.Opener(data, label, unlock, ()), decryptor))
    return openers


def _for_key(data: bytes, structure: _Structure) -> bool:
    """Whether one of the message's PKESKs names a (sub)key of this key (or nobody)."""
    if not structure.recipients:
        return False
    try:
        tsk = pysequoia.Tsk.from_bytes(data)
    except SEQUOIA_ERRORS:
        return True  # let unlocking report what is wrong with the file
    ids = {f[-16:] for f in store.key_fingerprints(tsk.extract_certificate())}
    return any(r in ids or r == "0" * 16 for r in structure.recipients)


def _key_ids(structure: _Structure) -> str:
    if not structure.recipients:
        return "a passphrase"
    shown = ", ".join(structure.recipients[:4])
    more = len(structure.recipients) - 4
    return f"key ID {shown}" + (f" and {more} more" if more > 0 else "")


def _decrypt(
    ciphertext: Path,
    opener: _Opener,
    structure: _Structure,
    extra_certs: Sequence[pysequoia.Cert],
    limit: int,
) -> OpenedMessage:
    try:
        plaintext = bounded.decrypt(ciphertext, opener.worker, limit)
    except bounded.DecryptionFailed as failure:
        raise _decryption_error(failure, opener.passwords) from None
    # The plaintext is known to be within the limit now, so a second pass is safe; its output
    # goes nowhere: it is only there for the signature.
    lookup = _CertLookup(extra_certs)
    try:
        result = pysequoia.decrypt_file(
            str(ciphertext),
            os.devnull,
            decryptor=opener.decryptor,
            store=lookup,
            passwords=opener.passwords,
        )
    except SEQUOIA_ERRORS as failure:
        status, signer_cert = lookup.status_after_failure(_first_line(failure))
        return OpenedMessage(
            data=plaintext,
            filename="",
            signature=status,
            signer=_label(signer_cert),
            signer_key=None if status == UNCHECKED else lookup.first_handle(),
            encrypted=True,
            recipients=list(structure.recipients),
        )
    signer_cert = lookup.cert_for(result.valid_sigs[0].certificate) if result.valid_sigs else None
    return OpenedMessage(
        data=plaintext,
        filename="",
        signature=GOOD if result.valid_sigs else UNSIGNED,
        signer=_label(signer_cert),
        signer_key=lookup.first_handle(),
        encrypted=True,
        recipients=list(structure.recipients),
    )


def _decryption_error(exc: Exception, passwords: list[str]) -> DentsendError:
    message = _first_line(exc)
    log.info("decryption failed: %s", message)
    if message.startswith("No key to decrypt message"):
        if passwords:
            return DentsendError("the passphrase is wrong (or the package was damaged)")
        return DentsendError("the message could not be decrypted with this key")
    if message.startswith("Malformed Message:"):
        # Decrypted, integrity intact, and yet the content cannot be parsed: what GnuPG writes
        # with --compress-algo bzip2, which pysequoia 0.1.35 does not read.
        return DentsendError(
            "the package's content cannot be read: it is probably compressed with BZip2, "
            "which dentsend cannot read; ask the sender to use ZIP/ZLIB or no compression"
        )
    return DentsendError("the package is damaged or incomplete and cannot be opened")


class _CertLookup:
    """The certificate store as Sequoia's verification callback, remembering what it was asked."""

    def __init__(self, extra: Sequence[pysequoia.Cert]) -> None:
        self.extra = list(extra)
        self.own = store.own_cert()
        self.handles: list[str] = []
        self.returned: list[pysequoia.Cert] = []

    def __call__(self, handles: list[str]) -> list[pysequoia.Cert]:
        try:
            self.handles += [str(h) for h in handles]
            candidates = [*self.extra, *([self.own] if self.own is not None else [])]
            found = store.certs_for(list(handles), candidates) if handles else []
            self.returned += found
            return found
        except Exception:  # never let a lookup problem abort decryption
            log.exception("certificate lookup failed")
            return []

    def first_handle(self) -> str | None:
        return self.handles[0].upper() if self.handles else None

    def cert_for(self, fingerprint: str) -> pysequoia.Cert | None:
        for cert in self.returned:
            if cert.fingerprint.lower() == fingerprint.lower():
                return cert
        return None

    def status_after_failure(self, error: str) -> tuple[str, pysequoia.Cert | None]:
        if not self.handles:
            return UNSIGNED, None
        claimed = self.returned[0] if self.returned else None
        if claimed is None:
            return UNKNOWN_SIGNER, None
        if "Unexpected message structure" in error:
            return UNCHECKED, None  # the claimed signer is not named: nothing was verified
        return BAD, claimed


def _label(cert: pysequoia.Cert | None) -> str | None:
    return certs.inspect(cert).label if cert is not None else None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:_ERROR_FIRST_LINE_LIMIT]


# -- signed (not encrypted) messages ----------------------------------------------------------


def _open_signed(data: bytes, extra_certs: Sequence[pysequoia.Cert], limit: int) -> OpenedMessage:
    try:
        binary = packets.dearmor(data)
        items = list(packets.read_packets(binary))
        for _ in range(3):  # nested compression is legal, but not deep
            body = [p for p in items if p.tag not in (packets.MARKER, packets.PADDING)]
            if len(body) == 1 and body[0].tag == packets.COMPRESSED:
                binary = _decompress(body[0].body, limit)
                items = list(packets.read_packets(binary))
            else:
                break
    except PacketError as exc:
        raise DentsendError(f"the package is damaged or incomplete ({exc})") from None
    literals = [p for p in items if p.tag == packets.LITERAL]
    if len(literals) != 1:
        raise DentsendError("this OpenPGP message holds no data (a signature or key on its own?)")
    filename, content = _literal(literals[0].body)
    signed = any(p.tag in (packets.SIGNATURE, packets.ONE_PASS_SIGNATURE) for p in items)
    if not signed:
        return OpenedMessage(content, filename, UNSIGNED, None, encrypted=False)
    lookup = _CertLookup(extra_certs)
    try:
        result = pysequoia.verify(bytes=binary, store=lookup)
    except SEQUOIA_ERRORS as exc:
        status, claimed = lookup.status_after_failure(_first_line(exc))
        if status == UNSIGNED:  # signature packets Sequoia could not even read
            status = BAD
        claimed_key = None if status == UNCHECKED else lookup.first_handle()
        return OpenedMessage(
            content, filename, status, _label(claimed), claimed_key, encrypted=False
        )
    signer_cert = lookup.cert_for(result.valid_sigs[0].certificate) if result.valid_sigs else None
    if result.bytes is not None and result.bytes != content:
        raise DentsendError("the package is damaged (its signed content is ambiguous)")
    return OpenedMessage(
        content, filename, GOOD, _label(signer_cert), lookup.first_handle(), encrypted=False
    )


def _literal(body: bytes) -> tuple[str, bytes]:
    if len(body) < 6:
        raise DentsendError("the package is damaged (a truncated literal data packet)")
    name_length = body[1]
    if len(body) < 2 + name_length + 4:
        raise DentsendError("the package is damaged (a truncated literal data packet)")
    name = body[2 : 2 + name_length].decode("utf-8", "replace")
    return name, body[2 + name_length + 4 :]


def _decompress(body: bytes, limit: int) -> bytes:
    """A compressed data packet's content (ZIP, ZLIB or BZip2), at most ``limit`` bytes."""
    if not body:
        raise PacketError("an empty compressed packet")
    algorithm, payload = body[0], body[1:]
    if algorithm == 0:
        return payload
    decompressor: Any
    if algorithm == 1:
        decompressor = zlib.decompressobj(-15)
    elif algorithm == 2:
        decompressor = zlib.decompressobj()
    elif algorithm == 3:
        decompressor = bz2.BZ2Decompressor()
    else:
        raise PacketError(f"unknown compression algorithm {algorithm}")
    try:
        result: bytes = decompressor.decompress(payload, limit + 1)
    except (zlib.error, OSError, EOFError) as exc:
        raise PacketError(f"the compressed data is corrupt ({exc})") from None
    if len(result) > limit:
        raise bounded.TooLarge(limit)
    return result
