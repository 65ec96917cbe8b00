"""Where certificates and the practice's own key live.

Layout, under the data folder (``settings.data_dir()``)::

    openpgp/certs/<FINGERPRINT>.pgp    imported certificates (public only, binary), one per file
    openpgp/secret/<FINGERPRINT>.pgp   keys generated here (passphrase-protected secret keys)

One file per certificate keeps an import, an update and a delete each a single atomic rename,
and lets a user see (and back up) what is there. The practice's own key is the one named by
``Settings.own_key_fingerprint``; its passphrase is a random string in the OS keyring (service
``dentsend``), never in a file. Keys replaced by a newer own key stay in ``secret/`` so that
packages sent earlier can still be reopened.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pysequoia
from pysequoia.packet import PacketPile, Tag

from dentsend.atomic import atomic_write
from dentsend.errors import DentsendError, FileProblem, read_user_file
from dentsend.openpgp import certs, keygen, packets, selfsig
from dentsend.openpgp.certs import CertInfo
from dentsend.openpgp.packets import SEQUOIA_ERRORS, PacketError
from dentsend.settings import data_dir, load_settings, save_settings

log = logging.getLogger(__name__)

KEYRING_SERVICE = "dentsend"
#: Certificate and key files larger than this are not OpenPGP keys anyone would send.
MAX_KEY_FILE_BYTES = 8 * 1024 * 1024

_HEX = re.compile(r"^(0x)?[0-9A-Fa-f]+$")


class KeyringUnavailable(DentsendError):
    """No OS keyring backend: the passphrase has to come from the user."""


@dataclass(frozen=True)
class Imported:
    info: CertInfo
    status: str
    """"new", "updated", "unchanged", or "refused": a certificate not stored before that
    cannot be encrypted to (expired, revoked, weak, no encryption key) is not stored now."""
    had_secret: bool
    """The input held secret key material, which dentsend did not keep."""


def openpgp_dir() -> Path:
    return data_dir() / "openpgp"


def certs_dir() -> Path:
    return openpgp_dir() / "certs"


def secret_dir() -> Path:
    path = openpgp_dir() / "secret"
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.chmod(0o700)
    return path


def normalise_fingerprint(text: str) -> str | None:
    """Upper-case hex without spaces or ``0x``, or None if ``text`` is not a key id/fingerprint."""
    compact = re.sub(r"\s+", "", text)
    if not _HEX.match(compact):
        return None
    compact = compact[2:] if compact.lower().startswith("0x") else compact
    return compact.upper() if len(compact) in (16, 40, 64) else None


def read_key_file(path: Path) -> bytes:
    """A certificate or key file's bytes, with size and existence checks."""
    data = read_user_file(path, limit=MAX_KEY_FILE_BYTES + 1, what="key file")
    if len(data) > MAX_KEY_FILE_BYTES:
        raise FileProblem(path, "is too large to be an OpenPGP key")
    return data


def parse_certs(data: bytes, name: str) -> list[pysequoia.Cert]:
    """Every certificate in a file's bytes; a clear error naming the file if there is none."""
    with warnings.catch_warnings():
        # pysequoia warns when the input holds secret keys; dentsend keeps only public parts.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return certs.load_certs(data)
        except PacketError:
            raise DentsendError(
                f"{name}: is not an OpenPGP certificate (expected an .asc, .gpg, .pgp or .pub "
                "key file)"
            ) from None


# -- certificates ----------------------------------------------------------------------------


def _cert_path(fingerprint: str) -> Path:
    return certs_dir() / f"{fingerprint}.pgp"


def stored_certs() -> list[pysequoia.Cert]:
    folder = certs_dir()
    if not folder.is_dir():
        return []
    result = []
    for path in sorted(folder.glob("*.pgp")):
        try:
            result.append(pysequoia.Cert.from_bytes(path.read_bytes()))
        except SEQUOIA_ERRORS as exc:  # OSError included
            log.warning("skipping unreadable certificate file %s (%s)", path.name, exc)
    return result


def get_cert(fingerprint: str) -> pysequoia.Cert | None:
    path = _cert_path(fingerprint.upper())
    try:
        return pysequoia.Cert.from_bytes(path.read_bytes())
    except FileNotFoundError:
        return None


def save_cert(cert: pysequoia.Cert) -> str:
    """Store ``cert`` (merged with what is there); returns "new", "updated" or "unchanged"."""
    fingerprint = cert.fingerprint.upper()
    public = _verified_only(pysequoia.Cert.from_bytes(bytes(cert)))  # drops secret material too
    existing = get_cert(fingerprint)
    if existing is not None:
        merged = _verified_only(existing.merge(public))
        if bytes(merged) == bytes(existing):
            return "unchanged"
        public, status = merged, "updated"
    else:
        status = "new"
    certs_dir().mkdir(parents=True, exist_ok=True)
    with atomic_write(_cert_path(fingerprint)) as out:
        out.write(bytes(public))
    return status


def _verified_only(cert: pysequoia.Cert) -> pysequoia.Cert:
    """``cert`` without self-signatures that fail to verify (:func:`.selfsig.without_forgeries`).

    Whoever hands over a certificate can append packets to it; a forged one must neither be
    stored nor turn an import into an "update".
    """
    try:
        return pysequoia.Cert.from_bytes(selfsig.without_forgeries(bytes(cert)))
    except SEQUOIA_ERRORS as exc:  # PacketError is a ValueError
        log.info("certificate %s kept as it is (%s)", cert.fingerprint.upper(), exc)
        return cert


def import_bytes(data: bytes, name: str) -> list[Imported]:
    """Import every certificate in ``data`` (armored or binary, one or a keyring)."""
    found = parse_certs(data, name)
    try:
        had_secret = keygen.secret_key_state(data)[0]
    except PacketError:
        had_secret = False
    results = []
    for cert in found:
        info = certs.inspect(pysequoia.Cert.from_bytes(bytes(cert)))
        if info.problem and get_cert(info.fingerprint) is None:
            status = "refused"
        else:
            # A known certificate is still updated: its revocation or expiry must reach the store.
            status = save_cert(cert)
            stored = get_cert(info.fingerprint) or cert
            info = certs.inspect(pysequoia.Cert.from_bytes(bytes(stored)))
        results.append(Imported(info, status, had_secret))
        log.info("certificate %s %s", info.fingerprint, status)
    return results


def import_file(path: Path) -> list[Imported]:
    return import_bytes(read_key_file(path), path.name)


def find_cert(query: str) -> pysequoia.Cert:
    """The stored certificate with this fingerprint (or a unique key-ID suffix of one)."""
    fingerprint = normalise_fingerprint(query)
    if fingerprint is None:
        raise DentsendError(
            f"{query!r} is not a fingerprint or key ID (give 16 or 40 hexadecimal digits)"
        )
    if len(fingerprint) == 40:
        cert = get_cert(fingerprint)
        if cert is not None:
            return cert
    matches = [c for c in stored_certs() if _matches(c, fingerprint)]
    if not matches:
        raise DentsendError(
            f"no imported certificate has the fingerprint {fingerprint} (see `dentsend keys list`)"
        )
    if len(matches) > 1:
        raise DentsendError(f"several certificates match {fingerprint}: give the full fingerprint")
    return matches[0]


def _matches(cert: pysequoia.Cert, fingerprint: str) -> bool:
    return any(f.endswith(fingerprint) for f in key_fingerprints(cert))


def key_fingerprints(cert: pysequoia.Cert) -> list[str]:
    """Upper-case fingerprints of the primary key and every subkey."""
    return [
        (p.fingerprint or "").upper()
        for p in PacketPile.from_bytes(bytes(cert))
        if p.tag in (Tag.PublicKey, Tag.PublicSubkey, Tag.SecretKey, Tag.SecretSubkey)
    ]


def certs_for(handles: Sequence[str], extra: Sequence[pysequoia.Cert] = ()) -> list[pysequoia.Cert]:
    """Certificates having a (sub)key with one of these key IDs or fingerprints.

    This is the lookup Sequoia calls while verifying a signature.
    """
    wanted = [h.upper() for h in handles]
    found = []
    seen = set()
    for cert in [*extra, *stored_certs()]:
        if cert.fingerprint in seen:
            continue
        fingerprints = key_fingerprints(cert)
        if any(f == w or f.endswith(w) for f in fingerprints for w in wanted):
            found.append(cert)
            seen.add(cert.fingerprint)
    return found


def list_infos() -> list[CertInfo]:
    own = own_fingerprint()
    infos = []
    for cert in stored_certs():
        info = certs.inspect(cert)
        has_secret = secret_path(info.fingerprint).exists()
        infos.append(
            CertInfo(**{**info.__dict__, "own": info.fingerprint == own, "has_secret": has_secret})
        )
    return infos


def armored_public(cert: pysequoia.Cert) -> bytes:
    info = certs.inspect(cert)
    comment = info.user_ids[0] if info.user_ids else info.fingerprint
    return packets.armor(
        packets.ARMOR_PUBLIC_KEY, bytes(cert), comments=(f"{info.fingerprint}", comment)
    )


def delete(query: str, *, secret: bool = False) -> CertInfo:
    """Remove a certificate; the practice's own key only with ``secret=True``."""
    cert = find_cert(query)
    info = certs.inspect(cert)
    fingerprint = info.fingerprint
    has_secret = secret_path(fingerprint).exists()
    if has_secret and not secret:
        raise DentsendError(
            f"{info.label} is a key generated here (with its secret key): packages encrypted to it "
            "could no longer be opened; to delete it anyway, add --secret"
        )
    _cert_path(fingerprint).unlink(missing_ok=True)
    if has_secret:
        secret_path(fingerprint).unlink(missing_ok=True)
        forget_passphrase(fingerprint)
        settings = load_settings()
        if settings.own_key_fingerprint == fingerprint:
            settings.own_key_fingerprint = ""
            save_settings(settings)
    return info


# -- the practice's own key ------------------------------------------------------------------


def secret_path(fingerprint: str) -> Path:
    return openpgp_dir() / "secret" / f"{fingerprint.upper()}.pgp"


def own_fingerprint() -> str | None:
    fingerprint = load_settings().own_key_fingerprint.strip().upper()
    return fingerprint or None


def own_cert() -> pysequoia.Cert | None:
    fingerprint = own_fingerprint()
    return get_cert(fingerprint) if fingerprint else None


def secret_keys() -> list[tuple[str, bytes]]:
    """``(fingerprint, secret key bytes)`` of every key generated here, the own key first."""
    folder = openpgp_dir() / "secret"
    if not folder.is_dir():
        return []
    own = own_fingerprint()
    found = []
    for path in sorted(folder.glob("*.pgp")):
        try:
            found.append((path.stem.upper(), path.read_bytes()))
        except OSError as exc:
            log.warning("skipping unreadable secret key file %s (%s)", path.name, exc)
    found.sort(key=lambda item: item[0] != own)
    return found


def save_secret_key(tsk_bytes: bytes) -> str:
    """Store a generated (protected) secret key and its public part; returns the fingerprint."""
    tsk = pysequoia.Tsk.from_bytes(tsk_bytes)
    cert = tsk.extract_certificate()
    fingerprint = cert.fingerprint.upper()
    secret_dir()
    with atomic_write(secret_path(fingerprint)) as out:
        out.write(tsk_bytes)
    save_cert(cert)
    return fingerprint


def make_own(fingerprint: str) -> None:
    settings = load_settings()
    settings.own_key_fingerprint = fingerprint.upper()
    save_settings(settings)


def _keyring_user(fingerprint: str) -> str:
    return f"openpgp-key:{fingerprint.upper()}"


def remember_passphrase(fingerprint: str, passphrase: str) -> None:
    """Keep a key's passphrase in the OS keyring; :class:`KeyringUnavailable` if there is none."""
    import keyring
    from keyring.errors import KeyringError

    if _no_keyring_backend():
        raise KeyringUnavailable("no OS keyring is available to keep the key's passphrase")
    try:
        keyring.set_password(KEYRING_SERVICE, _keyring_user(fingerprint), passphrase)
    except (KeyringError, RuntimeError) as exc:
        log.info("keyring refused the passphrase: %s", type(exc).__name__)
        raise KeyringUnavailable("the OS keyring could not store the key's passphrase") from None


def recall_passphrase(fingerprint: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError

    if _no_keyring_backend():
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, _keyring_user(fingerprint))
    except (KeyringError, RuntimeError):
        return None
    return value if isinstance(value, str) else None


def forget_passphrase(fingerprint: str) -> None:
    import keyring
    from keyring.errors import KeyringError

    if _no_keyring_backend():
        return
    with contextlib.suppress(KeyringError, RuntimeError):
        keyring.delete_password(KEYRING_SERVICE, _keyring_user(fingerprint))


def _no_keyring_backend() -> bool:
    """No OS keychain: a plaintext or unknown backend counts as none (see :mod:`.keychain`)."""
    from dentsend import keychain

    if keychain.keyring_is_trustworthy():
        return False
    log.info("keyring backend %s is not an OS keychain", keychain.backend_name())
    return True


def protected(tsk_bytes: bytes) -> bool:
    try:
        return keygen.secret_key_state(tsk_bytes)[1]
    except PacketError:
        return False


# -- making keys -------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s<>()\[\]]+@[^@\s<>()\[\]]+\.[^@\s<>()\[\]]+$")


def user_id_for(name: str, email: str) -> str:
    """The User ID "Name <email>", after checking both parts so that it parses everywhere."""
    name = " ".join(name.split())
    email = email.strip()
    if not name or any(ch in name for ch in "<>") or not name.isprintable():
        raise DentsendError("the key's name must be plain text without < or >")
    if not _EMAIL.match(email):
        raise DentsendError(f"{email!r} is not an e-mail address")
    return f"{name} <{email}>"


def create_own_key(
    name: str, email: str, *, passphrase: str | None = None, replace: bool = False
) -> CertInfo:
    """Generate the practice's own key, keep it in the data folder and record it in settings.

    Without ``passphrase`` a random one is kept in the OS keyring (:class:`KeyringUnavailable`
    if there is none: the caller then asks the user for one and calls again).
    """
    user_id = user_id_for(name, email)
    existing = own_fingerprint()
    if existing and secret_path(existing).exists() and not replace:
        cert = get_cert(existing)
        label = certs.inspect(cert).label if cert is not None else existing
        raise DentsendError(
            f"the practice already has a key, {label}; add --replace to make a new one "
            "(the old one is kept, so packages sent earlier still open)"
        )
    in_keyring = passphrase is None
    if in_keyring and _no_keyring_backend():
        raise KeyringUnavailable("no OS keyring is available to keep the key's passphrase")
    secret = passphrase if passphrase is not None else keygen.new_passphrase()
    tsk_bytes = keygen.generate_secret_key(user_id, secret)
    fingerprint = pysequoia.Tsk.from_bytes(tsk_bytes).extract_certificate().fingerprint.upper()
    if in_keyring:
        remember_passphrase(fingerprint, secret)
    save_secret_key(tsk_bytes)
    make_own(fingerprint)
    log.info("generated the practice's key %s", fingerprint)
    cert = get_cert(fingerprint)
    assert cert is not None
    info = certs.inspect(cert)
    return CertInfo(**{**info.__dict__, "own": True, "has_secret": True})
