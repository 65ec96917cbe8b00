"""Making a practice's key: Ed25519 + Cv25519, version 4, passphrase-protected.

pysequoia 0.1.35 generates the key material and binding signatures, but it cannot do two things
dentsend needs, so this module does them with the ``cryptography`` package, following RFC 9580
to the letter (GnuPG and Sequoia both check the result in the tests):

1. **Protect the secret key with a passphrase.** pysequoia can *use* a protected key
   (``Tsk.signer(password)``) but has no call to protect one. The secret key packets are
   rewritten with S2K usage 254: AES-256 in CFB mode, the key derived by iterated and salted
   SHA-256 (count 65011712), a SHA-1 check over the secret values — the format GnuPG 2.2+,
   Thunderbird and Kleopatra import.
2. **Announce what the practice's software reads.** Sequoia's self-signatures announce
   SEIPDv2 ("AEAD") support, so any sender using Sequoia, and Sequoia itself when the practice
   is the only recipient, would write SEIPDv2 messages that GnuPG 2.2/2.4 and Thunderbird
   cannot read. The two self-signatures that carry preferences (the direct-key signature and the
   User ID binding) are re-made, signed with the primary Ed25519 key, announcing SEIPDv1 only,
   AES-256/AES-128, SHA-512/SHA-256 and *no compression*. No compression matters: the payload
   is already a ZIP, and pysequoia 0.1.35 cannot check a signature inside a compressed message,
   so GnuPG (which honours the preference) sends the practice uncompressed messages whose
   signatures dentsend can verify.

Subkey binding signatures (with the signing subkey's back-signature) stay as Sequoia made them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass

import pysequoia
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography ≥ 47 keeps CFB among the "decrepit" modes; OpenPGP still needs it
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

from dentsend.errors import DentsendError
from dentsend.openpgp import packets
from dentsend.openpgp.packets import PacketError

# Public-key algorithm ids (RFC 9580 §9.1).
RSA_ENCRYPT_SIGN = 1
RSA_ENCRYPT_ONLY = 2
RSA_SIGN_ONLY = 3
ELGAMAL = 16
DSA = 17
ECDH = 18
ECDSA = 19
ELGAMAL_SIGN = 20
EDDSA_LEGACY = 22
X25519 = 25
X448 = 26
ED25519 = 27
ED448 = 28

_MPI_COUNTS = {
    RSA_ENCRYPT_SIGN: 2,
    RSA_ENCRYPT_ONLY: 2,
    RSA_SIGN_ONLY: 2,
    ELGAMAL: 3,
    ELGAMAL_SIGN: 3,
    DSA: 4,
}
_NATIVE_SIZES = {X25519: 32, X448: 56, ED25519: 32, ED448: 57}

S2K_USAGE_SHA1 = 254
AES256 = 9
AES128 = 7
SHA256 = 8
SHA512 = 10
S2K_ITERATED_SALTED = 3
#: Encoded S2K count 255 = 65,011,712 bytes hashed: the strongest RFC 4880 allows.
S2K_COUNT_OCTET = 0xFF

# Signature types and subpacket types used in the self-signatures.
SIG_POSITIVE_CERTIFICATION = 0x13
SIG_DIRECT_KEY = 0x1F
_CERTIFICATIONS = {0x10, 0x11, 0x12, 0x13}
SUB_CREATION_TIME = 2
SUB_PREFERRED_SYMMETRIC = 11
SUB_ISSUER_KEY_ID = 16
SUB_PREFERRED_HASH = 21
SUB_PREFERRED_COMPRESSION = 22
SUB_KEYSERVER_PREFERENCES = 23
SUB_PRIMARY_USER_ID = 25
SUB_KEY_FLAGS = 27
SUB_FEATURES = 30
SUB_ISSUER_FINGERPRINT = 33
CRITICAL = 0x80

FEATURE_SEIPD_V1 = 0x01
KEY_FLAG_CERTIFY = 0x01
UNCOMPRESSED = 0


@dataclass(frozen=True)
class PublicKeyFields:
    """The parts of a version 4 key packet dentsend looks at."""

    version: int
    created: int
    algorithm: int
    public_length: int
    """Bytes of the packet body that form the public key (the rest is secret material)."""
    bits: int | None
    """Modulus/prime size for RSA, DSA and ElGamal; None for elliptic curves."""


def parse_key_fields(body: bytes) -> PublicKeyFields:
    """Split a public or secret key packet body into its public fields."""
    if len(body) < 6:
        raise PacketError("the key packet is truncated")
    version = body[0]
    created = int.from_bytes(body[1:5], "big")
    algorithm = body[5]
    if version == 6:
        if len(body) < 10:
            raise PacketError("the key packet is truncated")
        material = int.from_bytes(body[6:10], "big")
        return PublicKeyFields(6, created, algorithm, 10 + material, None)
    if version != 4:
        raise PacketError(f"key packets of version {version} are not supported")
    offset = 6
    bits = None
    if algorithm in _MPI_COUNTS:
        bits = packets.mpi_bits(body, offset)
        for _ in range(_MPI_COUNTS[algorithm]):
            _, offset = packets.read_mpi(body, offset)
    elif algorithm in (ECDH, ECDSA, EDDSA_LEGACY):
        offset = _skip_length_prefixed(body, offset)  # curve OID
        _, offset = packets.read_mpi(body, offset)
        if algorithm == ECDH:
            offset = _skip_length_prefixed(body, offset)  # KDF parameters
    elif algorithm in _NATIVE_SIZES:
        offset += _NATIVE_SIZES[algorithm]
    else:
        raise PacketError(f"public-key algorithm {algorithm} is not supported")
    if offset > len(body):
        raise PacketError("the key packet is truncated")
    return PublicKeyFields(version, created, algorithm, offset, bits)


def _skip_length_prefixed(body: bytes, offset: int) -> int:
    if offset >= len(body):
        raise PacketError("the key packet is truncated")
    return offset + 1 + body[offset]


GNU_DUMMY_S2K = 101
"""GnuPG's S2K extension for a secret key that is not there (offline primary, smartcard)."""


def secret_key_state(tsk_bytes: bytes) -> tuple[bool, bool]:
    """``(has_secret_material, protected)`` over all secret key packets of a key."""
    has_secret = False
    protected = False
    for packet in packets.read_packets(packets.dearmor(tsk_bytes)):
        if packet.tag not in (packets.SECRET_KEY, packets.SECRET_SUBKEY):
            continue
        fields = parse_key_fields(packet.body)
        rest = packet.body[fields.public_length :]
        if not rest:
            continue
        usage = rest[0]
        if usage in (254, 255) and len(rest) > 2 and rest[2] == GNU_DUMMY_S2K:
            continue
        has_secret = True
        protected = protected or usage != 0
    return has_secret, protected


# -- S2K passphrase protection --------------------------------------------------------------


def _s2k_count(octet: int) -> int:
    return (16 + (octet & 15)) << ((octet >> 4) + 6)


def s2k_iterated_sha256(passphrase: bytes, salt: bytes, count: int) -> bytes:
    """RFC 9580 §3.7.1.3 iterated and salted S2K with SHA-256 (one 32-byte AES-256 key)."""
    unit = salt + passphrase
    count = max(count, len(unit))
    digest = hashlib.sha256()
    block = unit * max(1, 65536 // len(unit))
    whole, rest = divmod(count, len(block))
    for _ in range(whole):
        digest.update(block)
    digest.update(block[:rest])
    return digest.digest()


def protect_secret_body(body: bytes, passphrase: str) -> bytes:
    """Encrypt the secret material of an unprotected v4 secret key packet body."""
    fields = parse_key_fields(body)
    if fields.version != 4:
        raise PacketError("only version 4 secret keys are protected here")
    public, rest = body[: fields.public_length], body[fields.public_length :]
    if not rest or rest[0] != 0:
        raise PacketError("the secret key is already protected or has no secret material")
    secret_values, checksum = rest[1:-2], rest[-2:]
    if len(rest) < 3 or sum(secret_values) % 65536 != int.from_bytes(checksum, "big"):
        raise PacketError("the secret key's checksum does not match")
    salt = os.urandom(8)
    iv = os.urandom(16)
    key = s2k_iterated_sha256(passphrase.encode("utf-8"), salt, _s2k_count(S2K_COUNT_OCTET))
    plain = secret_values + hashlib.sha1(secret_values).digest()  # noqa: S324 - RFC 9580 §5.5.3
    encryptor = Cipher(algorithms.AES(key), CFB(iv)).encryptor()
    encrypted = encryptor.update(plain) + encryptor.finalize()
    s2k = bytes([S2K_ITERATED_SALTED, SHA256]) + salt + bytes([S2K_COUNT_OCTET])
    return public + bytes([S2K_USAGE_SHA1, AES256]) + s2k + iv + encrypted


def protect(tsk_bytes: bytes, passphrase: str) -> bytes:
    """A binary transferable secret key with every secret key packet passphrase-protected."""
    if not passphrase:
        raise DentsendError("a key's passphrase must not be empty")
    out = []
    for packet in packets.read_packets(packets.dearmor(tsk_bytes)):
        body = packet.body
        if packet.tag in (packets.SECRET_KEY, packets.SECRET_SUBKEY):
            body = protect_secret_body(body, passphrase)
        out.append(packets.write_packet(packet.tag, body))
    return b"".join(out)


# -- self-signatures ---------------------------------------------------------------------


def _subpacket(kind: int, data: bytes) -> bytes:
    length = len(data) + 1
    if length >= 192:
        raise ValueError("subpacket too long for this writer")
    return bytes([length, kind]) + data


def _self_signature_subpackets(created: int, fingerprint: bytes, *, primary_user_id: bool) -> bytes:
    parts = [
        _subpacket(SUB_CREATION_TIME | CRITICAL, created.to_bytes(4, "big")),
        _subpacket(SUB_ISSUER_FINGERPRINT, b"\x04" + fingerprint),
        _subpacket(SUB_ISSUER_KEY_ID, fingerprint[-8:]),
        _subpacket(SUB_KEY_FLAGS | CRITICAL, bytes([KEY_FLAG_CERTIFY])),
        _subpacket(SUB_PREFERRED_SYMMETRIC, bytes([AES256, AES128])),
        _subpacket(SUB_PREFERRED_HASH, bytes([SHA512, SHA256])),
        _subpacket(SUB_PREFERRED_COMPRESSION, bytes([UNCOMPRESSED])),
        _subpacket(SUB_KEYSERVER_PREFERENCES, b"\x80"),  # "no-modify"
        _subpacket(SUB_FEATURES, bytes([FEATURE_SEIPD_V1])),
    ]
    if primary_user_id:
        parts.append(_subpacket(SUB_PRIMARY_USER_ID | CRITICAL, b"\x01"))
    return b"".join(parts)


def _ed25519_seed(secret_body: bytes) -> bytes:
    fields = parse_key_fields(secret_body)
    if fields.algorithm != EDDSA_LEGACY:
        raise PacketError("the primary key is not Ed25519")
    rest = secret_body[fields.public_length :]
    if not rest or rest[0] != 0:
        raise PacketError("the primary key is protected")
    seed, _ = packets.read_mpi(rest, 1)
    if len(seed) > 32:
        raise PacketError("the Ed25519 secret is too long")
    return seed.rjust(32, b"\x00")


def _sign_self(
    public_body: bytes, seed: bytes, sig_type: int, hashed: bytes, user_id: bytes | None
) -> bytes:
    """A v4 EdDSA self-signature (RFC 9580 §5.2.4) over the primary key (and a User ID)."""
    prefix = bytes([4, sig_type, EDDSA_LEGACY, SHA512]) + len(hashed).to_bytes(2, "big") + hashed
    digest = hashlib.sha512()
    digest.update(b"\x99" + len(public_body).to_bytes(2, "big") + public_body)
    if user_id is not None:
        digest.update(b"\xb4" + len(user_id).to_bytes(4, "big") + user_id)
    digest.update(prefix)
    digest.update(b"\x04\xff" + len(prefix).to_bytes(4, "big"))
    hashed_value = digest.digest()
    # OpenPGP's legacy EdDSA signs the digest itself; R and S are stored as MPIs.
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(hashed_value)
    return (
        prefix
        + b"\x00\x00"  # no unhashed subpackets: the issuer is in the hashed area
        + hashed_value[:2]
        + packets.write_mpi(signature[:32])
        + packets.write_mpi(signature[32:])
    )


def with_dentsend_preferences(tsk_bytes: bytes) -> bytes:
    """Re-make the primary key's preference-bearing self-signatures (see the module notes)."""
    items = list(packets.read_packets(tsk_bytes))
    if not items or items[0].tag != packets.SECRET_KEY:
        raise PacketError("not a secret key")
    primary = items[0].body
    fields = parse_key_fields(primary)
    public_body = primary[: fields.public_length]
    fingerprint = hashlib.sha1(  # noqa: S324 - the v4 fingerprint is defined as SHA-1
        b"\x99" + len(public_body).to_bytes(2, "big") + public_body
    ).digest()
    seed = _ed25519_seed(primary)
    out = [packets.write_packet(packets.SECRET_KEY, primary)]
    component: int | None = packets.SECRET_KEY
    user_id: bytes | None = None
    first_user_id = True
    for packet in items[1:]:
        if packet.tag == packets.SIGNATURE and len(packet.body) > 1 and packet.body[0] == 4:
            sig_type = packet.body[1]
            if component == packets.SECRET_KEY and sig_type == SIG_DIRECT_KEY:
                hashed = _self_signature_subpackets(
                    fields.created, fingerprint, primary_user_id=False
                )
                body = _sign_self(public_body, seed, SIG_DIRECT_KEY, hashed, None)
                out.append(packets.write_packet(packets.SIGNATURE, body))
                continue
            if component == packets.USER_ID and sig_type in _CERTIFICATIONS and user_id:
                hashed = _self_signature_subpackets(
                    fields.created, fingerprint, primary_user_id=first_user_id
                )
                first_user_id = False
                body = _sign_self(public_body, seed, SIG_POSITIVE_CERTIFICATION, hashed, user_id)
                out.append(packets.write_packet(packets.SIGNATURE, body))
                continue
        elif packet.tag != packets.SIGNATURE:
            component = packet.tag
            user_id = packet.body if packet.tag == packets.USER_ID else None
        out.append(packets.write_packet(packet.tag, packet.body))
    return b"".join(out)


# -- generation ------------------------------------------------------------------------------


def new_passphrase() -> str:
    """A random passphrase for a key whose passphrase lives in the OS keyring (256 bits)."""
    return secrets.token_urlsafe(32)


def generate_secret_key(user_id: str, passphrase: str) -> bytes:
    """A new v4 Ed25519/Cv25519 key for ``user_id``, protected by ``passphrase`` (binary TSK).

    It does not expire: a practice key that silently expires would stop colleagues' replies.
    """
    generated = pysequoia.Tsk.generate(
        user_id,
        profile=pysequoia.Profile.RFC4880,
        cipher_suite=pysequoia.CipherSuite.Cv25519,
        validity_seconds=None,
    )
    preferences_set = with_dentsend_preferences(bytes(generated))
    protected = protect(preferences_set, passphrase)
    _check_generated(protected, passphrase, user_id)
    return protected


def throwaway_cert() -> pysequoia.Cert:
    """A certificate whose secret key is never kept, announcing SEIPDv1 as all its software reads.

    Sequoia writes SEIPDv2 unless some recipient's certificate *says* it reads only SEIPDv1;
    certificates made by RNP (Thunderbird) say nothing at all, and Sequoia 2.4 takes that as
    "SEIPDv2 is fine". When no recipient says otherwise and the practice has no key of its own
    to add, this certificate is added as one more recipient, so the message is SEIPDv1, which
    every OpenPGP program reads. Its secret key goes out of scope here: nobody can use that
    recipient slot; it costs one ~100-byte packet.
    """
    generated = pysequoia.Tsk.generate(
        profile=pysequoia.Profile.RFC4880,
        cipher_suite=pysequoia.CipherSuite.Cv25519,
        validity_seconds=None,
    )
    resigned = with_dentsend_preferences(bytes(generated))
    return pysequoia.Tsk.from_bytes(resigned).extract_certificate()


def _check_generated(tsk_bytes: bytes, passphrase: str, user_id: str) -> None:
    """Sequoia must accept what was written by hand: self-signatures, protection, use."""
    tsk = pysequoia.Tsk.from_bytes(tsk_bytes)
    cert = tsk.extract_certificate()
    if [str(u) for u in cert.user_ids] != [user_id]:
        raise RuntimeError("the generated key's User ID binding does not verify")
    tsk.signer(passphrase)
    tsk.decryptor(passphrase)
