"""Where dentsend keeps things, and the user's settings.

Folders come from platformdirs (``~/.local/share/dentsend`` on Linux, ``%APPDATA%`` on Windows,
``~/Library/Application Support`` on macOS). Settings are one small JSON file in the config
folder; they never hold patient data or secrets (passphrases and keys' passphrases live in the
OS keyring, see :mod:`dentsend.audit` and :mod:`dentsend.openpgp`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from dentsend import APP_NAME
from dentsend.atomic import atomic_write

log = logging.getLogger(__name__)


def data_dir() -> Path:
    """Certificates, the sent-log and other state (created on demand)."""
    path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    path = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_outgoing_dir() -> Path:
    """A persistent folder for packages: mail programs read attachments only on Send."""
    return Path(platformdirs.user_documents_dir()) / "dentsend" / "outgoing"


@dataclass
class Settings:
    """Every user setting, with its default. Unknown keys in the file are ignored."""

    practice_name: str = ""
    """Shown on packages before unlock ("from …") and in the mail text."""
    outgoing_dir: str = ""
    """Where packages go; empty means :func:`default_outgoing_dir`."""
    deid_mode: str = "deidentify"
    """Default choice: ``deidentify``, ``pseudonym`` or ``keep``."""
    retain: list[str] = field(default_factory=list)
    """Default Annex E options (``--retain`` names)."""
    stable_uids: bool = False
    """Replace UIDs the same way in every package (per-practice secret in the keyring)."""
    mail_size_limit_mb: float = 20.0
    """Attachments larger than this (after mail encoding) get a warning or are split."""
    passphrase_recall_days: int = 30
    """How long a package's passphrase is kept in the OS keyring; 0 keeps none."""
    mail_handler: str = "auto"
    """Force one mail hand-off (``auto`` tries each in turn)."""
    subject_template: str = ""
    body_template: str = ""
    """Mail text templates; empty means the built-in ones."""
    own_key_fingerprint: str = ""
    """The practice's own OpenPGP key: packages are also encrypted to it so they can be reopened."""

    @property
    def outgoing_path(self) -> Path:
        return Path(self.outgoing_dir).expanduser() if self.outgoing_dir else default_outgoing_dir()


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> Settings:
    path = settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("settings file unreadable (%s); using defaults", exc)
        return Settings()
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    defaults = Settings()
    for key, value in list(values.items()):
        if not isinstance(value, type(getattr(defaults, key))):
            if isinstance(getattr(defaults, key), float) and isinstance(value, int):
                values[key] = float(value)
            else:
                log.warning("setting %s has the wrong type; using the default", key)
                del values[key]
    return Settings(**values)


def save_settings(settings: Settings) -> None:
    with atomic_write(settings_path()) as out:
        out.write(json.dumps(asdict(settings), indent=2, sort_keys=True).encode("utf-8"))
