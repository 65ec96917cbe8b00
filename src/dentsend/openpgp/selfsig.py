"""A certificate's self-signatures, each verified here before anything in it is believed.

pysequoia 0.1.35 says whether a certificate as a whole is revoked or expired, but nothing about
its subkeys, so :mod:`.certs` reads subkey flags, expiry and revocation from the packets. Anyone
can append packets to a certificate (a keyserver, a mail relay, whoever hands it over), so a
"binding signature" is only a claim until it verifies against the primary key: an unverified
newer binding without an expiry date must not revive an expired encryption subkey. This module
walks the packets of a certificate, groups signatures under the component they belong to (the
primary key, a User ID or User Attribute, a subkey) and checks each v4 self-signature with
``cryptography``: RSA, DSA, ECDSA (NIST and Brainpool curves), EdDSA (legacy Ed25519) and
the RFC 9580 Ed25519/Ed448 algorithms.

Only signatures issued by the primary key matter here; certifications by other people fail
verification and are simply not counted. SHA-1 self-signatures are accepted (a binding needs
only second-preimage resistance, which SHA-1 still has); MD5 and RIPEMD-160 are not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from dentsend.openpgp import keygen, packets
from dentsend.openpgp.packets import PacketError

USER_ATTRIBUTE = 17

# Signature types (RFC 9580 §5.2.1).
CERTIFICATIONS = frozenset({0x10, 0x11, 0x12, 0x13})
SUBKEY_BINDING = 0x18
DIRECT_KEY = 0x1F
KEY_REVOCATION = 0x20
SUBKEY_REVOCATION = 0x28
CERTIFICATION_REVOCATION = 0x30

# Hashed subpackets read here.
_SUB_CREATION = 2
_SUB_SIGNATURE_EXPIRY = 3
_SUB_KEY_EXPIRY = 9
_SUB_KEY_FLAGS = 27
_SUB_ISSUER_KEY_ID = 16
_SUB_ISSUER_FINGERPRINT = 33
#: Subpacket types whose meaning is known; an unknown one marked critical voids the signature
#: (RFC 9580 §5.2.3.7), as Sequoia also decides.
_KNOWN_SUBPACKETS = frozenset({2, 3, 4, 5, 6, 7, 9, 11, 12, 16, 20, 21, 22, 23, 24, 25, 26, 27,
                               28, 29, 30, 31, 32, 33, 34, 35, 37, 39})  # fmt: skip

KEY_FLAG_SIGN = 0x02
KEY_FLAG_ENCRYPT = 0x04 | 0x08  # communications | storage

#: A signature dated up to this far in the future still counts (clocks differ; Sequoia agrees).
CLOCK_SKEW = timedelta(minutes=30)

#: OpenPGP hash algorithm id → (hashlib name, cryptography class).
_HASHES: dict[int, tuple[str, type[hashes.HashAlgorithm]]] = {
    2: ("sha1", hashes.SHA1),
    8: ("sha256", hashes.SHA256),
    9: ("sha384", hashes.SHA384),
    10: ("sha512", hashes.SHA512),
    11: ("sha224", hashes.SHA224),
    12: ("sha3_256", hashes.SHA3_256),
    14: ("sha3_512", hashes.SHA3_512),
}
_EC_CURVES: dict[bytes, type[ec.EllipticCurve]] = {
    bytes.fromhex("2a8648ce3d030107"): ec.SECP256R1,
    bytes.fromhex("2b81040022"): ec.SECP384R1,
    bytes.fromhex("2b81040023"): ec.SECP521R1,
    bytes.fromhex("2b2403030208010107"): ec.BrainpoolP256R1,
    bytes.fromhex("2b240303020801010b"): ec.BrainpoolP384R1,
    bytes.fromhex("2b240303020801010d"): ec.BrainpoolP512R1,
}
_ED25519_LEGACY_OID = bytes.fromhex("2b06010401da470f01")


class Verdict(Enum):
    GOOD = "good"
    BAD = "bad"
    """Made with an algorithm checked here, and the mathematics says no: a forgery or damage."""
    UNSUPPORTED = "unsupported"
    """A signature version or algorithm this module does not check (never believed either)."""


@dataclass(frozen=True)
class Signature:
    """A version 4 signature packet, split into what is hashed and what is checked."""

    body: bytes
    sig_type: int
    key_algorithm: int
    hash_algorithm: int
    hashed_end: int
    """The hashed part of the packet is ``body[:hashed_end]``."""
    hashed_subpackets: tuple[tuple[int, bool, bytes], ...]
    """``(type, critical, data)`` of each hashed subpacket."""
    left16: bytes
    values: tuple[bytes, ...]
    """The signature's MPIs (or, for Ed25519/Ed448, its one native value)."""
    issuers: tuple[bytes, ...] = ()
    """Issuer key IDs (8 bytes) and fingerprints (20/32 bytes), hashed or not."""

    def subpacket(self, kind: int) -> bytes | None:
        """The last hashed subpacket of this kind (a later one overrides, as in Sequoia)."""
        found = None
        for sub_type, _critical, data in self.hashed_subpackets:
            if sub_type == kind:
                found = data
        return found

    def _seconds(self, kind: int) -> int | None:
        data = self.subpacket(kind)
        return int.from_bytes(data, "big") if data is not None and len(data) == 4 else None

    @property
    def created(self) -> datetime | None:
        seconds = self._seconds(_SUB_CREATION)
        return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None

    @property
    def expires(self) -> datetime | None:
        """When the signature itself stops counting."""
        period = self._seconds(_SUB_SIGNATURE_EXPIRY)
        created = self.created
        return created + timedelta(seconds=period) if period and created else None

    @property
    def key_validity_seconds(self) -> int | None:
        """Key expiry as seconds after the key's creation (None or 0: it does not expire)."""
        return self._seconds(_SUB_KEY_EXPIRY) or None

    @property
    def key_flags(self) -> int | None:
        data = self.subpacket(_SUB_KEY_FLAGS)
        return data[0] if data else None

    def alive(self, moment: datetime) -> bool:
        """Made before ``moment`` (give or take clock skew) and not yet expired then."""
        created = self.created
        if created is None or created > moment + CLOCK_SKEW:
            return False
        expires = self.expires
        return expires is None or expires > moment


def parse_signature(body: bytes) -> Signature | None:
    """A v4 signature, or None for other versions (v3 on keys is obsolete; v6 is not checked)."""
    if len(body) < 6 or body[0] != 4:
        return None
    hashed_length = int.from_bytes(body[4:6], "big")
    hashed_end = 6 + hashed_length
    if hashed_end + 2 > len(body):
        raise PacketError("the signature packet is truncated")
    subpackets = tuple(_subpackets(body[6:hashed_end]))
    unhashed_length = int.from_bytes(body[hashed_end : hashed_end + 2], "big")
    offset = hashed_end + 2 + unhashed_length
    if offset + 2 > len(body):
        raise PacketError("the signature packet is truncated")
    unhashed = tuple(_subpackets(body[hashed_end + 2 : offset]))
    issuers = tuple(
        data[1:] if kind == _SUB_ISSUER_FINGERPRINT else data
        for kind, _critical, data in (*subpackets, *unhashed)
        if kind in (_SUB_ISSUER_KEY_ID, _SUB_ISSUER_FINGERPRINT) and data
    )
    left16 = body[offset : offset + 2]
    offset += 2
    algorithm = body[2]
    values: list[bytes] = []
    if algorithm in (keygen.ED25519, keygen.ED448):
        size = 64 if algorithm == keygen.ED25519 else 114
        values.append(body[offset : offset + size])
    else:
        while offset < len(body):
            value, offset = packets.read_mpi(body, offset)
            values.append(value)
    return Signature(
        body, body[1], algorithm, body[3], hashed_end, subpackets, left16, tuple(values), issuers
    )


def _subpackets(area: bytes) -> Iterator[tuple[int, bool, bytes]]:
    offset = 0
    while offset < len(area):
        first = area[offset]
        if first < 192:
            length, offset = first, offset + 1
        elif first < 255:
            if offset + 1 >= len(area):
                raise PacketError("a signature subpacket is truncated")
            length, offset = ((first - 192) << 8) + area[offset + 1] + 192, offset + 2
        else:
            length, offset = int.from_bytes(area[offset + 1 : offset + 5], "big"), offset + 5
        if length < 1 or offset + length > len(area):
            raise PacketError("a signature subpacket is truncated")
        kind = area[offset]
        yield kind & 0x7F, bool(kind & 0x80), area[offset + 1 : offset + length]
        offset += length


# -- verification --------------------------------------------------------------------------


def _key_prefix(public_body: bytes) -> bytes:
    return b"\x99" + len(public_body).to_bytes(2, "big") + public_body


def signed_material(
    signature: Signature,
    primary: bytes,
    *,
    subkey: bytes | None = None,
    user_id: bytes | None = None,
    user_attribute: bytes | None = None,
) -> bytes | None:
    """What a self-signature of this type covers (RFC 9580 §5.2.4), or None if not a self-sig."""
    kind = signature.sig_type
    if kind in (DIRECT_KEY, KEY_REVOCATION):
        return _key_prefix(primary)
    if kind in (SUBKEY_BINDING, SUBKEY_REVOCATION) and subkey is not None:
        return _key_prefix(primary) + _key_prefix(subkey)
    if kind in CERTIFICATIONS | {CERTIFICATION_REVOCATION}:
        if user_id is not None:
            return _key_prefix(primary) + b"\xb4" + len(user_id).to_bytes(4, "big") + user_id
        if user_attribute is not None:
            size = len(user_attribute).to_bytes(4, "big")
            return _key_prefix(primary) + b"\xd1" + size + user_attribute
    return None


def verify(signature: Signature, primary: bytes, material: bytes) -> Verdict:
    """Check ``signature`` over ``material`` (see :func:`signed_material`) by ``primary``."""
    known = _HASHES.get(signature.hash_algorithm)
    if known is None:
        return Verdict.UNSUPPORTED
    hash_name, hash_class = known
    if any(critical and kind not in _KNOWN_SUBPACKETS for kind, critical, _ in
           signature.hashed_subpackets):  # fmt: skip
        return Verdict.BAD
    digest_input = hashlib.new(hash_name)
    digest_input.update(material)
    digest_input.update(signature.body[: signature.hashed_end])
    digest_input.update(b"\x04\xff" + signature.hashed_end.to_bytes(4, "big"))
    digest = digest_input.digest()
    if digest[:2] != signature.left16:
        return Verdict.BAD
    try:
        fields = keygen.parse_key_fields(primary)
    except PacketError:
        return Verdict.UNSUPPORTED
    if fields.version != 4 or fields.algorithm != signature.key_algorithm:
        return Verdict.UNSUPPORTED if fields.version != 4 else Verdict.BAD
    try:
        checker = _CHECKERS.get(fields.algorithm)
        if checker is None:
            return Verdict.UNSUPPORTED
        return checker(primary[6 : fields.public_length], signature.values, digest, hash_class())
    except InvalidSignature:
        return Verdict.BAD
    except UnsupportedAlgorithm:
        return Verdict.UNSUPPORTED
    except (ValueError, PacketError, IndexError):  # malformed key or signature values
        return Verdict.BAD


def _mpis(data: bytes, count: int) -> list[int]:
    values, offset = [], 0
    for _ in range(count):
        value, offset = packets.read_mpi(data, offset)
        values.append(int.from_bytes(value, "big"))
    return values


def _check_rsa(key: bytes, values: tuple[bytes, ...], digest: bytes, algo: Any) -> Verdict:
    n, e = _mpis(key, 2)
    size = (n.bit_length() + 7) // 8
    if len(values) != 1 or len(values[0]) > size:
        return Verdict.BAD
    public = rsa.RSAPublicNumbers(e, n).public_key()
    public.verify(values[0].rjust(size, b"\x00"), digest, padding.PKCS1v15(), Prehashed(algo))
    return Verdict.GOOD


def _check_dsa(key: bytes, values: tuple[bytes, ...], digest: bytes, algo: Any) -> Verdict:
    p, q, g, y = _mpis(key, 4)
    if len(values) != 2:
        return Verdict.BAD
    public = dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()
    r, s = (int.from_bytes(v, "big") for v in values)
    public.verify(encode_dss_signature(r, s), digest, Prehashed(algo))
    return Verdict.GOOD


def _curve_point(key: bytes) -> tuple[bytes, bytes]:
    oid_length = key[0]
    oid = key[1 : 1 + oid_length]
    point, _ = packets.read_mpi(key, 1 + oid_length)
    return oid, point


def _check_ecdsa(key: bytes, values: tuple[bytes, ...], digest: bytes, algo: Any) -> Verdict:
    oid, point = _curve_point(key)
    curve = _EC_CURVES.get(oid)
    if curve is None:
        return Verdict.UNSUPPORTED
    if len(values) != 2:
        return Verdict.BAD
    public = ec.EllipticCurvePublicKey.from_encoded_point(curve(), point)
    r, s = (int.from_bytes(v, "big") for v in values)
    public.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(algo)))
    return Verdict.GOOD


def _check_eddsa_legacy(key: bytes, values: tuple[bytes, ...], digest: bytes, _: Any) -> Verdict:
    oid, point = _curve_point(key)
    if oid != _ED25519_LEGACY_OID:
        return Verdict.UNSUPPORTED
    if len(point) != 33 or point[0] != 0x40 or len(values) != 2:
        return Verdict.BAD
    if any(len(v) > 32 for v in values):
        return Verdict.BAD
    # Legacy EdDSA signs the digest itself; R and S are MPIs with leading zeros stripped.
    signature = values[0].rjust(32, b"\x00") + values[1].rjust(32, b"\x00")
    Ed25519PublicKey.from_public_bytes(point[1:]).verify(signature, digest)
    return Verdict.GOOD


def _check_ed25519(key: bytes, values: tuple[bytes, ...], digest: bytes, _: Any) -> Verdict:
    if len(values) != 1 or len(values[0]) != 64:
        return Verdict.BAD
    Ed25519PublicKey.from_public_bytes(key[:32]).verify(values[0], digest)
    return Verdict.GOOD


def _check_ed448(key: bytes, values: tuple[bytes, ...], digest: bytes, _: Any) -> Verdict:
    if len(values) != 1 or len(values[0]) != 114:
        return Verdict.BAD
    Ed448PublicKey.from_public_bytes(key[:57]).verify(values[0], digest)
    return Verdict.GOOD


_CHECKERS = {
    keygen.RSA_ENCRYPT_SIGN: _check_rsa,
    keygen.RSA_SIGN_ONLY: _check_rsa,
    keygen.DSA: _check_dsa,
    keygen.ECDSA: _check_ecdsa,
    keygen.EDDSA_LEGACY: _check_eddsa_legacy,
    keygen.ED25519: _check_ed25519,
    keygen.ED448: _check_ed448,
}


# -- a certificate's components --------------------------------------------------------------


@dataclass
class Component:
    """The primary key, a User ID, a User Attribute or a subkey, with its signatures."""

    tag: int
    body: bytes
    """The packet body; for keys only the public part (secret material is cut off)."""
    signatures: list[tuple[Signature, Verdict]] = field(default_factory=list)
    unreadable: list[bytes] = field(default_factory=list)
    """Signature packets that could not even be parsed (kept only to be counted as bad)."""

    def good(self, *types: int) -> list[Signature]:
        """The verified self-signatures of these types."""
        return [s for s, v in self.signatures if v is Verdict.GOOD and s.sig_type in types]


KEY_TAGS = frozenset(
    {packets.PUBLIC_KEY, packets.SECRET_KEY, packets.PUBLIC_SUBKEY, packets.SECRET_SUBKEY}
)


def components(data: bytes) -> list[Component]:
    """The components of one binary certificate, every self-signature checked.

    The first component is the primary key. Raises :class:`PacketError` when the data does not
    start with a key packet.
    """
    result: list[Component] = []
    for item, component, checked in _walk(data):
        if not result or result[-1] is not component:
            result.append(component)
        if item.tag != packets.SIGNATURE:
            continue
        if checked is None:
            component.unreadable.append(item.body)
        elif checked[0] is not None:
            component.signatures.append((checked[0], checked[1]))
    return result


def without_forgeries(data: bytes) -> bytes:
    """One binary certificate without the self-signatures that fail to verify.

    A signature that names the primary key as its issuer (or names no issuer) and verifies
    for no component of the certificate is a forgery or damage: it is dropped before a
    certificate is stored or merged. "For no component": Sequoia writes the signatures it could
    not check itself (an algorithm its policy rejects) at the end of the certificate, away from
    their component, and those are kept. So are certifications by other keys and signatures of
    kinds not checked here (they never count in :mod:`.certs` anyway).
    """
    items = list(_walk(data))
    primary = items[0][1]
    primary_id = fingerprint(primary.body)
    parts = list({id(component): component for _, component, _ in items}.values())
    kept = []
    for item, _component, checked in items:
        if item.tag == packets.SIGNATURE and checked is not None:
            signature, verdict = checked
            claims_primary = signature is not None and (
                not signature.issuers
                or any(primary_id.endswith(i.hex().upper()) for i in signature.issuers)
            )
            if (
                verdict is Verdict.BAD
                and claims_primary
                and signature is not None
                and not any(_good_for(signature, primary.body, part) for part in parts)
            ):
                continue
        kept.append(packets.write_packet(item.tag, item.body))
    return b"".join(kept)


def _good_for(signature: Signature, primary: bytes, component: Component) -> bool:
    material = _material_for(signature, primary, component)
    return material is not None and verify(signature, primary, material) is Verdict.GOOD


def _material_for(signature: Signature, primary: bytes, component: Component) -> bytes | None:
    is_subkey = component.tag in (packets.PUBLIC_SUBKEY, packets.SECRET_SUBKEY)
    return signed_material(
        signature,
        primary,
        subkey=component.body if is_subkey else None,
        user_id=component.body if component.tag == packets.USER_ID else None,
        user_attribute=component.body if component.tag == USER_ATTRIBUTE else None,
    )


def _walk(
    data: bytes,
) -> Iterator[tuple[packets.Packet, Component, tuple[Signature | None, Verdict] | None]]:
    """Each packet with the component it belongs to and, for a signature, its check.

    The check is None for a signature packet that cannot be parsed, ``(None, UNSUPPORTED)``
    for a version not checked here.
    """
    items = list(packets.read_packets(data))
    if not items or items[0].tag not in (packets.PUBLIC_KEY, packets.SECRET_KEY):
        raise PacketError("a certificate starts with a primary key packet")
    primary = _public_part(items[0].body)
    component = Component(items[0].tag, primary)
    for item in items:
        checked = None
        if item is items[0]:
            pass
        elif item.tag in KEY_TAGS:
            component = Component(item.tag, _public_part(item.body))
        elif item.tag in (packets.USER_ID, USER_ATTRIBUTE):
            component = Component(item.tag, item.body)
        elif item.tag == packets.SIGNATURE:
            checked = _check(component, primary, item.body)
        yield item, component, checked


def _public_part(body: bytes) -> bytes:
    try:
        return body[: keygen.parse_key_fields(body).public_length]
    except PacketError:
        return body  # an algorithm or version not parsed here: its signatures stay unchecked


def _check(
    component: Component, primary: bytes, body: bytes
) -> tuple[Signature | None, Verdict] | None:
    try:
        signature = parse_signature(body)
    except PacketError:
        return None
    if signature is None:
        return None, Verdict.UNSUPPORTED
    material = _material_for(signature, primary, component)
    verdict = Verdict.UNSUPPORTED if material is None else verify(signature, primary, material)
    return signature, verdict


def fingerprint(public_body: bytes) -> str:
    """The upper-case hex fingerprint of a v4 (SHA-1) or v6 (SHA-256) key."""
    if public_body[:1] == b"\x06":
        prefix = b"\x9b" + len(public_body).to_bytes(4, "big")
        return hashlib.sha256(prefix + public_body).hexdigest().upper()
    return hashlib.sha1(_key_prefix(public_body)).hexdigest().upper()  # noqa: S324 - v4 is SHA-1


def newest(signatures: list[Signature], moment: datetime) -> Signature | None:
    """The newest signature alive at ``moment``: the one that speaks for the component."""
    alive = [s for s in signatures if s.alive(moment)]
    return max(alive, key=lambda s: s.created or datetime.min.replace(tzinfo=UTC), default=None)
