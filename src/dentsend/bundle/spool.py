"""Park a part's plaintext stream on disk, encrypted, until the number of parts is known.

A split package shows "part 2 of 3" before unlock, and that text is in the header, which every
chunk authenticates: no chunk can be sealed before the part count is final. Cleaning and
compressing everything twice (once to plan, once to write) would double the work; holding it
all in memory would break the memory bound. So each part's stream goes to a hidden temporary
file, sealed with a throw-away AES-GCM key that exists only in this process's memory, and is
replayed into the real writer once the plan is complete. No plaintext ever touches the disk.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_BLOCK = 1 << 20
_TAG = 16


class Spool:
    """An append-only, encrypted scratch file; :meth:`replay` gives the bytes back in order."""

    def __init__(self, folder: Path) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f".dentsend-{secrets.token_hex(8)}.spool"
        fd = os.open(
            self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
        )
        self._file = os.fdopen(fd, "w+b")
        self._pending = bytearray()
        self._blocks = 0
        self.length = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._pending += data
        self.length += len(data)
        while len(self._pending) >= _BLOCK:
            self._seal(bytes(self._pending[:_BLOCK]))
            del self._pending[:_BLOCK]

    def _seal(self, block: bytes) -> None:
        nonce = self._blocks.to_bytes(12, "big")
        self._file.write(self._aead.encrypt(nonce, block, None))
        self._blocks += 1

    def replay(self) -> Iterator[bytes]:
        if self._pending:
            self._seal(bytes(self._pending))
            self._pending.clear()
        self._file.flush()
        self._file.seek(0)
        for index in range(self._blocks):
            remaining = self.length - index * _BLOCK
            sealed = self._file.read(min(_BLOCK, remaining) + _TAG)
            yield self._aead.decrypt(index.to_bytes(12, "big"), sealed, None)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
