"""dentsend keeps secrets only in an OS keychain: an allow-list, not a deny-list.

``keyring`` takes its backend from ``PYTHON_KEYRING_BACKEND``, a ``keyringrc.cfg`` or a plugin,
and some backends write secrets into plain files. Tests run with an in-memory backend that
``tests/conftest.py`` trusts explicitly through ``DENTSEND_TRUSTED_KEYRING``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, Windows, chainer, fail, kwallet, libsecret, macOS, null

from conftest import run_cli
from dentsend import audit, keychain
from dentsend.openpgp import KeyringUnavailable, store
from memory_keyring import MemoryKeyring


class PlaintextFileKeyring(KeyringBackend):
    """What ``keyrings.alt.file.PlaintextKeyring`` does: secrets in a JSON file."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self.path.write_text(json.dumps({**self._load(), f"{service}/{username}": password}))

    def delete_password(self, service: str, username: str) -> None:
        self.path.write_text(json.dumps({}))


class FixedChain(chainer.ChainerBackend):
    """A chainer over given backends (keyring's own discovers the installed ones)."""

    def __init__(self, members: list[KeyringBackend]) -> None:
        super().__init__()
        self.members = members

    @property
    def backends(self) -> list[KeyringBackend]:  # type: ignore[override]
        return self.members


OS_KEYCHAINS = [
    SecretService.Keyring,
    libsecret.Keyring,
    kwallet.DBusKeyring,
    kwallet.DBusKeyringKWallet4,
    Windows.WinVaultKeyring,
    macOS.Keyring,
]


def test_the_os_keychains_are_trusted_without_any_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keychain.TRUSTED_BACKEND_VARIABLE)
    for backend_class in OS_KEYCHAINS:
        keyring.set_keyring(backend_class())  # nothing is stored: only the choice is judged
        assert keychain.keyring_is_trustworthy(), backend_class
        assert audit.keyring_available(), backend_class
    keyring.set_keyring(FixedChain([SecretService.Keyring(), kwallet.DBusKeyring()]))
    assert keychain.keyring_is_trustworthy()
    # the in-memory test backend is trusted only by the explicit opt-in
    keyring.set_keyring(MemoryKeyring())
    assert not keychain.keyring_is_trustworthy()


def test_a_plaintext_backend_is_no_keyring_and_gets_no_secret(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    keyring.set_keyring(PlaintextFileKeyring(secrets))
    assert not keychain.keyring_is_trustworthy()
    assert keychain.backend_name() == "test_keychain.PlaintextFileKeyring"
    assert not audit.keyring_available()
    with pytest.raises(KeyringUnavailable, match=r"^no OS keyring is available"):
        store.create_own_key("Praxis Zahn", "praxis@example.org")
    assert not secrets.exists()
    # a chainer that could write to it is not trusted either; nor are keyring's stand-ins
    keyring.set_keyring(FixedChain([SecretService.Keyring(), PlaintextFileKeyring(secrets)]))
    assert not keychain.keyring_is_trustworthy()
    for stand_in in (fail.Keyring(), null.Keyring(), FixedChain([])):
        keyring.set_keyring(stand_in)
        assert not keychain.keyring_is_trustworthy()


def test_a_file_backend_chosen_through_the_environment_gets_no_passphrase() -> None:
    """The review's case: PYTHON_KEYRING_BACKEND names a backend that writes a file (here the
    tests' own TempFileKeyring). Without the opt-in, `keys generate` does not hand it the key's
    passphrase: it asks for one instead (and, with no terminal, says how to give one)."""
    result = run_cli(
        "keys", "generate", "--name", "Praxis Zahn", "--email", "praxis@example.org",
        env={keychain.TRUSTED_BACKEND_VARIABLE: ""},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "no OS keyring is available to keep the key's passphrase" in result.stderr
    assert "give one with --passphrase-file" in result.stderr
    assert not Path(os.environ["DENTSEND_TEST_KEYRING"]).exists()
