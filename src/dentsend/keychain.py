"""Whether the configured keyring is an OS keychain that dentsend may trust with secrets.

dentsend keeps two kinds of secret in the keyring: the random passphrase of the practice's
OpenPGP key (:mod:`dentsend.openpgp.store`) and, for a while, package passphrases
(:mod:`dentsend.audit`). The ``keyring`` library chooses its backend from
``PYTHON_KEYRING_BACKEND``, a ``keyringrc.cfg`` file or any installed plugin, and some of those
(``keyrings.alt``'s ``PlaintextKeyring``, for one) write secrets into ordinary files. So the
test is an allow-list of the operating systems' own keychains, not a deny-list of the known
stand-ins: anything else counts as "no keyring", and dentsend then asks for a passphrase
instead of storing one.

Tests run with an in-memory backend (``tests/support/memory_keyring.py``). They opt in
explicitly: ``DENTSEND_TRUSTED_KEYRING`` names one more trusted class (dotted name). Setting it
takes the same power over the environment as setting ``PYTHON_KEYRING_BACKEND`` itself, so it
opens nothing a configuration file alone could.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

#: The OS keychains, by dotted class name: Windows Credential Locker, macOS Keychain, the
#: freedesktop Secret Service (GNOME Keyring, KeePassXC …) through D-Bus or libsecret, KWallet.
OS_BACKENDS = frozenset(
    {
        "keyring.backends.Windows.WinVaultKeyring",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.libsecret.Keyring",
        "keyring.backends.kwallet.DBusKeyring",
    }
)
#: Environment variable naming one more trusted backend class (for tests).
TRUSTED_BACKEND_VARIABLE = "DENTSEND_TRUSTED_KEYRING"


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _trusted_names() -> frozenset[str]:
    extra = os.environ.get(TRUSTED_BACKEND_VARIABLE, "").strip()
    return OS_BACKENDS | {extra} if extra else OS_BACKENDS


def _is_trusted(backend: Any, names: frozenset[str]) -> bool:
    """The backend is, or derives from, a trusted class (KWallet 4 derives from KWallet 5)."""
    return any(_class_name(cls) in names for cls in type(backend).__mro__)


def _current_backend() -> Any | None:
    try:
        import keyring

        return keyring.get_keyring()
    except Exception as exc:  # any backend may fail to initialise in its own way
        log.info("no keyring: %s", type(exc).__name__)
        return None


def _chained(backend: Any) -> list[Any] | None:
    """The backends a chainer delegates to, or None if ``backend`` is not a chainer."""
    from keyring.backends import chainer

    if isinstance(backend, chainer.ChainerBackend):
        return list(backend.backends)
    return None


def keyring_is_trustworthy() -> bool:
    """True if secrets given to ``keyring`` end up in an OS keychain (see the module notes).

    A chainer (several viable backends) is trusted only if every backend it may write to or
    read from is: it stores into the first that accepts.
    """
    backend = _current_backend()
    if backend is None:
        return False
    names = _trusted_names()
    chained = _chained(backend)
    if chained is not None:
        return bool(chained) and all(_is_trusted(b, names) for b in chained)
    return _is_trusted(backend, names)


def backend_name() -> str:
    """The configured backend's dotted class name (a chainer lists what it chains)."""
    backend = _current_backend()
    if backend is None:
        return "none"
    chained = _chained(backend)
    if chained is not None:
        inner = ", ".join(_class_name(type(b)) for b in chained)
        return f"{_class_name(type(backend))}({inner})"
    return _class_name(type(backend))
