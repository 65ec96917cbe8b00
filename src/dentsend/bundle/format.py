"""The fixed parts of the bundle format, version 1 (``docs/bundle-format.md``).

Everything both sides of the format must agree on lives here: constants, passphrase
normalisation, key derivation, nonces and the header. The writer and the reader import it, and
``resources/viewer/bundle.js`` implements the same rules in the browser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from dentsend.errors import DentsendError

FORMAT = "dentsend-bundle"
VERSION = 1
CIPHER = "AES-256-GCM"
KDF_NAME = "PBKDF2-HMAC-SHA256"
CHUNK_SIZE = 1 << 20
TAG_SIZE = 16
SALT_SIZE = 16
MAX_SALT_SIZE = 64
CHECK_SIZE = 16
#: OWASP's 2023 floor for PBKDF2-HMAC-SHA256; fewer is a downgrade and is refused.
MIN_ITERATIONS = 600_000
#: More would let a hostile file hang the recipient's browser for minutes.
MAX_ITERATIONS = 10_000_000
#: Calibrated on the three engines here (see docs/bundle-format.md, section 3): Chromium derives
#: the key in about 0.2 s, WebKitGTK, the slowest, in about 0.45 s — well under a second.
DEFAULT_ITERATIONS = 1_000_000
MAGIC = b"DSB1"
MAX_META_BYTES = 65_536
KEY_LABEL = b"dentsend-bundle-v1 key"
CHECK_LABEL = b"dentsend-bundle-v1 check"

#: White space as the format defines it (the same class is spelled out in bundle.js, because
#: Python's ``str.isspace`` and JavaScript's ``\s`` disagree on a few characters).
_SPACE = "[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_SPACE_RUN = re.compile(f"{_SPACE}+")
_SPACE_EDGES = re.compile(f"^{_SPACE}+|{_SPACE}+$")

Kind = Literal["passphrase", "damaged", "unsupported"]


class BundleError(DentsendError):
    """A bundle cannot be opened; ``kind`` tells a wrong passphrase from damage or a newer format.

    ``reason`` is the sentence for the user (without the file name); ``detail`` says, for a
    developer's log, which check failed (the user needs no more than "damaged").
    """

    def __init__(self, kind: Kind, reason: str, detail: str = "") -> None:
        self.kind = kind
        self.reason = reason
        self.detail = detail
        super().__init__(reason)

    def for_file(self, name: str) -> BundleError:
        """The same error, its message naming the package file."""
        error = BundleError(self.kind, self.reason, self.detail)
        error.args = (f"{name}: {self.reason}",)
        return error


def damaged(detail: str = "") -> BundleError:
    """The one sentence for any authentication or structure failure (``detail`` is for logs)."""
    return BundleError(
        "damaged",
        "the package is damaged or was changed after it was made; ask the sender for a new one",
        detail,
    )


def too_large(detail: str = "") -> BundleError:
    """A package that would unpack to far more than a genuine one (a decompression bomb)."""
    return BundleError(
        "damaged",
        "the package would unpack to far more than its own size, so it was not opened; "
        "ask the sender for a new one",
        detail,
    )


def newer_format() -> BundleError:
    return BundleError(
        "unsupported",
        "the package was made by a newer version of dentsend; update dentsend to open it",
    )


def normalise_passphrase(passphrase: str) -> str:
    """NFC, outer white space removed, inner runs of white space as one space (section 3)."""
    text = unicodedata.normalize("NFC", passphrase)
    return _SPACE_RUN.sub(" ", _SPACE_EDGES.sub("", text))


@dataclass(frozen=True)
class Keys:
    key: bytes
    """The AES-256-GCM key."""
    check: bytes
    """16 bytes that tell a wrong passphrase from a damaged file."""


def derive_keys(passphrase: str, salt: bytes, iterations: int) -> Keys:
    normalised = normalise_passphrase(passphrase)
    if not normalised:
        raise BundleError("passphrase", "the passphrase is empty")
    master = hashlib.pbkdf2_hmac("sha256", normalised.encode("utf-8"), salt, iterations, 32)
    return Keys(
        key=hmac.new(master, KEY_LABEL, hashlib.sha256).digest(),
        check=hmac.new(master, CHECK_LABEL, hashlib.sha256).digest()[:CHECK_SIZE],
    )


def nonce(index: int, last: bool) -> bytes:
    """Chunk ``index`` (88 bits, big-endian) and the last-chunk flag: reordering, truncating and
    extending the chunk sequence all change some chunk's nonce, so authentication fails."""
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, low: int, high: int) -> bytes:
    if not isinstance(text, str):
        raise damaged("header: base64 field is not a string")
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise damaged("header: bad base64") from None
    if not low <= len(value) <= high:
        raise damaged("header: base64 field has the wrong length")
    return value


def _int(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise damaged(f"header: {what} out of range")
    return value


def _str(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise damaged(f"header: {what} is not a short string")
    return value


def canonical_json(value: Any) -> str:
    """Compact JSON, ASCII only, with ``<``, ``>`` and ``&`` escaped, safe inside ``<script>``."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass(frozen=True)
class Header:
    """What a recipient sees before unlocking, plus the key-derivation parameters.

    Its exact text is the associated data of every chunk, so none of it can be edited.
    """

    salt: bytes
    check: bytes
    iterations: int = DEFAULT_ITERATIONS
    sender: str = ""
    created: str = ""
    files: int = 0
    input_bytes: int = 0
    part: int = 1
    parts: int = 1

    def to_text(self) -> str:
        return canonical_json(
            {
                "format": FORMAT,
                "version": VERSION,
                "kdf": {
                    "name": KDF_NAME,
                    "iterations": self.iterations,
                    "salt": _b64(self.salt),
                    "check": _b64(self.check),
                },
                "cipher": CIPHER,
                "chunk_size": CHUNK_SIZE,
                "sender": self.sender,
                "created": self.created,
                "files": self.files,
                "input_bytes": self.input_bytes,
                "part": self.part,
                "parts": self.parts,
            }
        )

    @classmethod
    def from_text(cls, text: str) -> Header:
        """Parse and check a header; anything unexpected is damage, a newer format says so."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise damaged("header: not JSON") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BundleError("unsupported", "the file is not a dentsend package")
        version = data.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise newer_format()
        if version != VERSION:
            raise damaged("header: bad version")
        kdf = data.get("kdf")
        if not isinstance(kdf, dict):
            raise damaged("header: no kdf")
        if kdf.get("name") != KDF_NAME or data.get("cipher") != CIPHER:
            raise newer_format()
        if data.get("chunk_size") != CHUNK_SIZE:
            raise damaged("header: chunk size")
        iterations = _int(kdf.get("iterations"), MIN_ITERATIONS, MAX_ITERATIONS, "iterations")
        parts = _int(data.get("parts", 1), 1, 10_000, "parts")
        return cls(
            salt=_unb64(kdf.get("salt"), SALT_SIZE, MAX_SALT_SIZE),
            check=_unb64(kdf.get("check"), CHECK_SIZE, CHECK_SIZE),
            iterations=iterations,
            sender=_str(data.get("sender", ""), 500, "sender"),
            created=_str(data.get("created", ""), 64, "created"),
            files=_int(data.get("files", 0), 0, 1_000_000, "files"),
            input_bytes=_int(data.get("input_bytes", 0), 0, 2**53, "input_bytes"),
            part=_int(data.get("part", 1), 1, parts, "part"),
            parts=parts,
        )
