"""What a certificate is and whether dentsend may encrypt to it.

Sequoia's standard policy is the judge wherever pysequoia exposes it: revocation
(``Cert.is_revoked``), the primary key's expiry (``Cert.expiration``), valid User IDs, and
whether a usable encryption key exists (a trial encryption). Two things it does not say are read
from the packets here:

* key sizes, so an RSA/DSA/ElGamal key under 2048 bits is refused with that reason rather than
  Sequoia's generic "policy rejected";
* subkey flags, expiry and revocation: pysequoia 0.1.35 falls back to an *expired* encryption
  subkey when no live one exists (``resolve_recipient_keys``), so dentsend checks that a live
  one exists itself. Only self-signatures that verify count (:mod:`.selfsig`), and every
  subkey Sequoia's trial encryption chose must be one of the live ones: a forged binding
  appended to the certificate changes neither view.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pysequoia

from dentsend.errors import printable as escaped
from dentsend.openpgp import keygen, packets, selfsig
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
    """A User ID as it may be shown in a terminal or a dialog: control characters escaped."""
    return escaped(text)[:200]


def inspect(cert: pysequoia.Cert, *, now: datetime | None = None) -> CertInfo:
    """Describe ``cert`` and decide whether it may be encrypted to."""
    moment = now or datetime.now(UTC)
    fingerprint = cert.fingerprint.upper()
    parts = selfsig.components(bytes(cert))
    primary_fields = keygen.parse_key_fields(parts[0].body)
    keys = _keys(parts, moment)
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
        user_ids = tuple(
            printable(p.body.decode("utf-8", "replace")) for p in parts if p.tag == packets.USER_ID
        )
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
    checked = any(v is selfsig.Verdict.GOOD for part in parts for _, v in part.signatures)
    problem = _problem(cert, info, policy_error, moment, checked=checked)
    return CertInfo(**{**info.__dict__, "problem": problem})


def _keys(parts: list[selfsig.Component], moment: datetime) -> list[KeyInfo]:
    """Primary key and subkeys, with the flags and expiry of their newest *verified* binding.

    Only self-signatures that verify count (:mod:`.selfsig`): an appended packet claiming a
    newer binding cannot change what a key may do or when it expires.
    """
    primary_bindings = [
        signature
        for part in parts
        if part.tag not in selfsig.KEY_TAGS or part is parts[0]
        for signature in part.good(selfsig.DIRECT_KEY, *selfsig.CERTIFICATIONS)
    ]
    keys = []
    for part in parts:
        if part.tag not in selfsig.KEY_TAGS:
            continue
        is_primary = part is parts[0]
        if is_primary:
            bindings, revocations = primary_bindings, part.good(selfsig.KEY_REVOCATION)
        else:
            bindings = part.good(selfsig.SUBKEY_BINDING)
            revocations = part.good(selfsig.SUBKEY_REVOCATION)
        fields = keygen.parse_key_fields(part.body)
        created = datetime.fromtimestamp(fields.created, UTC)
        binding = selfsig.newest(bindings, moment)
        flags = (binding.key_flags or 0) if binding is not None else 0
        period = binding.key_validity_seconds if binding is not None else None
        keys.append(
            KeyInfo(
                fingerprint=selfsig.fingerprint(part.body),
                algorithm=_algorithm_name(fields, part.body),
                bits=fields.bits,
                created=created,
                expires=created + timedelta(seconds=period) if period else None,
                revoked=bool(revocations),
                # a subkey without any verified binding is not part of the certificate at all
                can_encrypt=bool(flags & selfsig.KEY_FLAG_ENCRYPT),
                can_sign=bool(flags & selfsig.KEY_FLAG_SIGN),
                weak=fields.algorithm in _FINITE_FIELD and (fields.bits or 0) < MIN_RSA_BITS,
            )
        )
    return keys


def _algorithm_name(fields: keygen.PublicKeyFields, body: bytes) -> str:
    name = _ALGORITHM_NAMES.get(fields.algorithm, f"algorithm {fields.algorithm}")
    if fields.bits is not None:
        return f"{name} {fields.bits}"
    if fields.algorithm in (keygen.ECDH, keygen.ECDSA, keygen.EDDSA_LEGACY) and len(body) > 6:
        oid = body[7 : 7 + body[6]]
        return f"{name} {_CURVES.get(oid, 'unknown curve')}"
    return name


def _problem(
    cert: pysequoia.Cert,
    info: CertInfo,
    policy_error: str | None,
    moment: datetime,
    *,
    checked: bool,
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
    if not checked:
        return "has no self-signature that dentsend can check (an unusual signing algorithm)"
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
        probe = pysequoia.encrypt(b"", recipients=[cert], armor=False)
    except SEQUOIA_ERRORS as exc:
        log.info("certificate %s cannot encrypt: %s", info.fingerprint, str(exc).splitlines()[0])
        return "has no encryption key that dentsend can use"
    # Sequoia chooses the subkeys itself, and pysequoia falls back to expired ones when no live
    # one is left in *its* view: every key it chose must be live in the verified view above.
    chosen = _recipient_key_ids(bytes(probe))
    usable = {k.fingerprint[-16:] for k in alive}
    if not chosen or not chosen <= usable:
        log.info("certificate %s: Sequoia chose keys %s, usable are %s", info.fingerprint,
                 sorted(chosen), sorted(usable))  # fmt: skip
        expired = [k for k in live if k.fingerprint[-16:] in chosen and k.expires is not None]
        if expired:
            last = max(k.expires for k in expired if k.expires is not None)
            return f"has no usable encryption key (its encryption key expired on {_day(last)})"
        return "has no encryption key that dentsend can use"
    return None


def _recipient_key_ids(message: bytes) -> set[str]:
    """Key IDs of the public-key encrypted session key packets of a message Sequoia wrote.

    PKESK v3 names the key ID; v6 (which Sequoia writes for certificates that announce no
    features) names the key version and fingerprint, whose last 8 bytes are a v4 key ID.
    """
    found = set()
    for tag, body in packets.first_packets(message, 64):
        if tag != packets.PKESK or not body:
            continue
        if body[0] == 3:
            found.add(body[1:9].hex().upper())
        elif body[0] == 6 and len(body) > 2 and body[1] > 1:
            fingerprint = body[3 : 2 + body[1]]
            found.add(fingerprint[-8:].hex().upper())
    return found


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
