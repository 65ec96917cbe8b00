"""What a certificate is and whether dentsend may encrypt to it.

Sequoia's standard policy is the judge wherever pysequoia exposes it: revocation
(``Cert.is_revoked``), the primary key's expiry (``Cert.expiration``), valid User IDs, and
whether a usable encryption key exists (a trial encryption). Two things it does not say are read
from the packets here:

* key sizes, so an RSA/DSA/ElGamal key under 2048 bits is refused with that reason rather than
  Sequoia's generic "policy rejected";
* subkey expiry: pysequoia 0.1.35 falls back to an *expired* encryption subkey when no live one
  exists (``resolve_recipient_keys``), so dentsend checks that a live one exists itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pysequoia
from pysequoia.packet import PacketPile, SignatureType, Tag

from dentsend.openpgp import keygen
from dentsend.openpgp.packets import SEQUOIA_ERRORS, PacketError

log = logging.getLogger(__name__)

#: RSA, DSA and ElGamal keys below this size are refused (as GnuPG 2.4 and NIST SP 800-131A do).
MIN_RSA_BITS = 2048

_CURVES = {
    bytes.fromhex("2b06010401da470f01"): "Ed25519",
    bytes.fromhex("2b060104019755010501"): "Cv25519",
    bytes.fromhex("2a8648ce3d030107"): "NIST P-256",
    bytes.fromhex("2b81040022"): "NIST P-384",
    bytes.fromhex("2b81040023"): "NIST P-521",
    bytes.fromhex("2b2403030208010107"): "brainpoolP256r1",
    bytes.fromhex("2b240303020801010b"): "brainpoolP384r1",
    bytes.fromhex("2b240303020801010d"): "brainpoolP512r1",
    bytes.fromhex("2b656f"): "X448",
    bytes.fromhex("2b6571"): "Ed448",
}
_ALGORITHM_NAMES = {
    keygen.RSA_ENCRYPT_SIGN: "RSA",
    keygen.RSA_ENCRYPT_ONLY: "RSA",
    keygen.RSA_SIGN_ONLY: "RSA",
    keygen.ELGAMAL: "ElGamal",
    keygen.ELGAMAL_SIGN: "ElGamal",
    keygen.DSA: "DSA",
    keygen.ECDH: "ECDH",
    keygen.ECDSA: "ECDSA",
    keygen.EDDSA_LEGACY: "EdDSA",
    keygen.X25519: "X25519",
    keygen.X448: "X448",
    keygen.ED25519: "Ed25519",
    keygen.ED448: "Ed448",
}
_FINITE_FIELD = {
    keygen.RSA_ENCRYPT_SIGN,
    keygen.RSA_ENCRYPT_ONLY,
    keygen.RSA_SIGN_ONLY,
    keygen.ELGAMAL,
    keygen.ELGAMAL_SIGN,
    keygen.DSA,
}


@dataclass(frozen=True)
class KeyInfo:
    """The primary key or one subkey."""

    fingerprint: str
    algorithm: str
    """Human-readable: "EdDSA Ed25519", "ECDH Cv25519", "RSA 3072"."""
    bits: int | None
    created: datetime
    expires: datetime | None
    revoked: bool
    can_encrypt: bool
    can_sign: bool
    weak: bool


@dataclass(frozen=True)
class CertInfo:
    fingerprint: str
    """40 upper-case hex digits (v4)."""
    user_ids: tuple[str, ...]
    created: datetime
    expires: datetime | None
    revoked: bool
    version: int
    keys: tuple[KeyInfo, ...]
    problem: str | None
    """Why dentsend will not encrypt to it (a sentence fragment), or None if it can."""
    has_secret: bool = False
    own: bool = field(default=False, compare=False)

    @property
    def can_encrypt(self) -> bool:
        return self.problem is None

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k.algorithm for k in self.keys))

    @property
    def label(self) -> str:
        """The way dentsend names a certificate to the user: "Name <email> (FINGERPRINT)"."""
        name = self.user_ids[0] if self.user_ids else "no user ID"
        return f"{name} ({self.fingerprint})"

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "user_ids": list(self.user_ids),
            "created": _iso(self.created),
            "expires": _iso(self.expires) if self.expires else None,
            "revoked": self.revoked,
            "algorithms": list(self.algorithms),
            "can_encrypt": self.can_encrypt,
            "problem": self.problem,
            "own": self.own,
            "keys": [
                {
                    "fingerprint": k.fingerprint,
                    "algorithm": k.algorithm,
                    "created": _iso(k.created),
                    "expires": _iso(k.expires) if k.expires else None,
                    "revoked": k.revoked,
                    "encrypt": k.can_encrypt,
                    "sign": k.can_sign,
                }
                for k in self.keys
            ],
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def printable(text: str) -> str:
    """A User ID as it may be shown in a terminal or a dialog: no control characters."""
    cleaned = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in text)
    return cleaned[:200]


def inspect(cert: pysequoia.Cert, *, now: datetime | None = None) -> CertInfo:
    """Describe ``cert`` and decide whether it may be encrypted to."""
    moment = now or datetime.now(UTC)
    fingerprint = cert.fingerprint.upper()
    pile = list(PacketPile.from_bytes(bytes(cert)))
    primary_packet = pile[0]
    primary_fields = keygen.parse_key_fields(primary_packet.body)
    keys = _keys(pile, fingerprint.lower(), moment)
    revoked = cert.is_revoked
    try:
        expires = cert.expiration
        user_ids = tuple(printable(str(u)) for u in cert.user_ids)
        policy_error = None
    except SEQUOIA_ERRORS as exc:
        # Sequoia refuses the whole certificate (e.g. RSA-1024, SHA-1 self-signatures). Show
        # the User IDs unverified, only so the user can tell which certificate it is.
        policy_error = str(exc).splitlines()[0]
        expires = None
        user_ids = tuple(printable(p.user_id or "") for p in pile if p.tag == Tag.UserID)
    info = CertInfo(
        fingerprint=fingerprint,
        user_ids=user_ids,
        created=keys[0].created,
        expires=expires,
        revoked=revoked,
        version=primary_fields.version,
        keys=tuple(keys),
        problem=None,
    )
    problem = _problem(cert, info, policy_error, moment)
    return CertInfo(**{**info.__dict__, "problem": problem})


def _keys(pile: list[Any], primary_fpr: str, moment: datetime) -> list[KeyInfo]:
    """Primary key and subkeys with the flags and expiry of their newest self-signature."""
    groups: list[tuple[Any, list[Any]]] = []
    for packet in pile:
        if packet.tag in (Tag.PublicKey, Tag.SecretKey, Tag.PublicSubkey, Tag.SecretSubkey):
            groups.append((packet, []))
        elif packet.tag == Tag.Signature and groups and _issued_by(packet, primary_fpr):
            groups[-1][1].append(packet)
        # User ID packets: their binding signatures describe the primary key, so they are
        # collected under the primary key's group (the group only changes at a subkey).
    keys = []
    for index, (key_packet, signatures) in enumerate(groups):
        fields = keygen.parse_key_fields(key_packet.body)
        created = key_packet.key_created or datetime.fromtimestamp(fields.created, UTC)
        if index == 0:
            # pysequoia's enum values compare equal but are not hashable: a list, not a set
            binding_types = [
                SignatureType.DirectKey,
                SignatureType.PositiveCertification,
                SignatureType.GenericCertification,
                SignatureType.CasualCertification,
                SignatureType.PersonaCertification,
            ]
            revocation = SignatureType.KeyRevocation
        else:
            binding_types = [SignatureType.SubkeyBinding]
            revocation = SignatureType.SubkeyRevocation
        bindings = [s for s in signatures if s.signature_type in binding_types]
        newest = max(bindings, key=_sig_time, default=None)
        flags = newest.key_flags if newest is not None else None
        period = newest.key_validity_period if newest is not None else None
        expires = created + period if period else None
        algorithm = _algorithm_name(fields, key_packet.body)
        keys.append(
            KeyInfo(
                fingerprint=(key_packet.fingerprint or "").upper(),
                algorithm=algorithm,
                bits=fields.bits,
                created=created,
                expires=expires,
                revoked=any(s.signature_type == revocation for s in signatures),
                can_encrypt=bool(
                    flags and (flags.transport_encryption or flags.storage_encryption)
                ),
                can_sign=bool(flags and flags.signing),
                weak=fields.algorithm in _FINITE_FIELD and (fields.bits or 0) < MIN_RSA_BITS,
            )
        )
    return keys


def _issued_by(signature: Any, primary_fpr: str) -> bool:
    issuer = signature.issuer_fingerprint
    if issuer:
        return bool(issuer == primary_fpr)
    key_id = signature.issuer_key_id
    return key_id is None or primary_fpr.endswith(key_id)


def _sig_time(signature: Any) -> datetime:
    created = signature.signature_created
    return created if created is not None else datetime.min.replace(tzinfo=UTC)


def _algorithm_name(fields: keygen.PublicKeyFields, body: bytes) -> str:
    name = _ALGORITHM_NAMES.get(fields.algorithm, f"algorithm {fields.algorithm}")
    if fields.bits is not None:
        return f"{name} {fields.bits}"
    if fields.algorithm in (keygen.ECDH, keygen.ECDSA, keygen.EDDSA_LEGACY) and len(body) > 6:
        oid = body[7 : 7 + body[6]]
        return f"{name} {_CURVES.get(oid, 'unknown curve')}"
    return name


def _problem(
    cert: pysequoia.Cert, info: CertInfo, policy_error: str | None, moment: datetime
) -> str | None:
    if info.version != 4:
        return (
            f"is a version {info.version} certificate; dentsend writes messages for version 4 "
            "certificates, which GnuPG, Thunderbird and Kleopatra all read"
        )
    if info.revoked:
        return "was revoked by its owner"
    if info.expires is not None and info.expires <= moment:
        return f"expired on {_day(info.expires)}"
    primary = info.keys[0]
    candidates = [k for k in info.keys if k.can_encrypt]
    weak = [k for k in [primary, *candidates] if k.weak]
    if weak:
        name = weak[0].algorithm.split()[0]
        return (
            f"uses a {weak[0].bits}-bit {name} key, which is too weak "
            f"(at least {MIN_RSA_BITS} bits are needed)"
        )
    if policy_error is not None:
        log.info("certificate %s rejected by policy: %s", info.fingerprint, policy_error)
        return "uses algorithms that are no longer considered safe"
    if not candidates:
        return "has no key for encryption (it can only sign)"
    live = [k for k in candidates if not k.revoked]
    if not live:
        return "has no usable encryption key (its encryption key was revoked)"
    alive = [k for k in live if k.expires is None or k.expires > moment]
    if not alive:
        last = max(k.expires for k in live if k.expires is not None)
        return f"has no usable encryption key (its encryption key expired on {_day(last)})"
    try:
        pysequoia.encrypt(b"", recipients=[cert], armor=False)
    except SEQUOIA_ERRORS as exc:
        log.info("certificate %s cannot encrypt: %s", info.fingerprint, str(exc).splitlines()[0])
        return "has no encryption key that dentsend can use"
    return None


def load_certs(data: bytes) -> list[pysequoia.Cert]:
    """Every certificate in armored or binary ``data`` (a keyring may hold several).

    Raises :class:`PacketError` when the data is not OpenPGP certificates.
    """
    try:
        certs = pysequoia.Cert.split_bytes(data)
    except SEQUOIA_ERRORS as exc:
        raise PacketError(str(exc).splitlines()[0] if str(exc) else "not OpenPGP") from None
    if not certs:
        raise PacketError("no certificate found")
    return list(certs)
