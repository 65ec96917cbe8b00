"""OpenPGP packages and keys, interoperable with GnuPG, Thunderbird, Kleopatra and Mailvelope.

Sequoia-PGP (through ``pysequoia``, pinned exactly) does the cryptography; dentsend never runs
``gpg``. The parts:

* :mod:`.message` — :func:`write_package`, :func:`read_package`, :func:`is_openpgp`;
* :mod:`.store` — imported certificates and the practice's own key in the data folder, the
  key's passphrase in the OS keyring;
* :mod:`.certs` — what a certificate is and why it may not be used;
* :mod:`.keygen` — the practice's key: Ed25519 + Cv25519, v4, passphrase-protected;
* :mod:`.packets` — the little packet framing dentsend does itself.
"""

from __future__ import annotations

from pathlib import Path

from dentsend.openpgp.certs import CertInfo
from dentsend.openpgp.message import (
    BAD,
    GOOD,
    UNCHECKED,
    UNKNOWN_SIGNER,
    UNSIGNED,
    OpenedMessage,
    is_openpgp,
    read_package,
    recipient_cert,
    write_package,
)
from dentsend.openpgp.store import KeyringUnavailable, create_own_key, list_infos

__all__ = [
    "BAD",
    "GOOD",
    "SELFTEST_PASSPHRASE",
    "UNCHECKED",
    "UNKNOWN_SIGNER",
    "UNSIGNED",
    "CertInfo",
    "KeyringUnavailable",
    "OpenedMessage",
    "create_own_key",
    "is_openpgp",
    "list_infos",
    "read_package",
    "recipient_cert",
    "self_check",
    "selftest_key_paths",
    "write_package",
]

#: The bundled test key's passphrase. The key protects nothing: it exists so that the app's
#: self-test (also on frozen builds) can exercise encryption, signing, decryption and
#: verification without touching the user's keys.
SELFTEST_PASSPHRASE = "dentsend self-test (no value)"  # noqa: S105 - public on purpose
SELFTEST_USER_ID = "dentsend self-test key, NO VALUE <selftest@dentsend.invalid>"


def selftest_key_paths() -> tuple[Path, Path]:
    """``(public certificate, secret key)`` of the bundled test key."""
    from dentsend.resources import resource_path

    return (
        resource_path("openpgp", "selftest-public.asc"),
        resource_path("openpgp", "selftest-secret.asc"),
    )


def self_check() -> str:
    """Encrypt, sign, decrypt and verify with the bundled test key; raise if anything fails.

    Nothing in the user's certificate store or keyring is read or changed.
    """
    import io

    import pysequoia

    from dentsend.openpgp import message

    public, secret = selftest_key_paths()
    payload = b"dentsend OpenPGP self-test\n" * 100
    out = io.BytesIO()
    write_package(
        payload,
        out,
        recipients=[public],
        sign_with=secret,
        sign_passphrase=SELFTEST_PASSPHRASE,
        include_own_key=False,
    )
    cert = pysequoia.Cert.from_bytes(public.read_bytes())
    opened = message.open_message(
        out.getvalue(),
        key=secret,
        key_passphrase=SELFTEST_PASSPHRASE,
        passphrase=None,
        extra_certs=[cert],
    )
    if opened.data != payload or opened.signature != GOOD:
        raise RuntimeError(f"OpenPGP self-test failed (signature {opened.signature})")
    return f"OpenPGP: encrypt, sign, decrypt and verify with Sequoia ({opened.signer})"


def write_selftest_keys(folder: Path) -> tuple[Path, Path]:
    """(Re)create the bundled test key in ``folder``; how ``resources/openpgp`` was made."""
    import pysequoia

    from dentsend.atomic import atomic_write
    from dentsend.openpgp import keygen, packets

    secret = keygen.generate_secret_key(SELFTEST_USER_ID, SELFTEST_PASSPHRASE)
    cert = pysequoia.Tsk.from_bytes(secret).extract_certificate()
    warning = (
        "TEST KEY WITHOUT VALUE, for dentsend --self-test only.",
        "Its secret and passphrase are public: never encrypt to it.",
    )
    public_path = folder / "selftest-public.asc"
    secret_path = folder / "selftest-secret.asc"
    with atomic_write(public_path) as out:
        out.write(packets.armor(packets.ARMOR_PUBLIC_KEY, bytes(cert), comments=warning))
    with atomic_write(secret_path) as out:
        comments = (*warning, f"Passphrase: {SELFTEST_PASSPHRASE}")
        out.write(packets.armor(packets.ARMOR_PRIVATE_KEY, secret, comments=comments))
    return public_path, secret_path
