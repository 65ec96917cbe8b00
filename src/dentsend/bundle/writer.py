"""Write a bundle: records → plaintext stream → 1 MiB chunks → AES-256-GCM → base64 → HTML.

The writer streams: it keeps one chunk of plaintext and one of ciphertext, so memory does not
grow with the package. Compression runs on a small thread pool (zlib releases the GIL), which
on two cores brings a 16-bit radiograph through predictor and deflate at a few hundred MB/s.
"""

from __future__ import annotations

import binascii
import logging
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dentsend.atomic import atomic_write
from dentsend.bundle.format import (
    CHUNK_SIZE,
    DEFAULT_ITERATIONS,
    MAGIC,
    MIN_ITERATIONS,
    SALT_SIZE,
    TAG_SIZE,
    Header,
    Keys,
    derive_keys,
    nonce,
)
from dentsend.bundle.page import CHUNK_CLOSE, CHUNK_OPEN, render_page
from dentsend.bundle.records import (
    EncodedRecord,
    PendingRecord,
    encode_record,
    start_payload_record,
)

log = logging.getLogger(__name__)

END_MARK = b"\x00\x00\x00\x00"
_CHUNK_OPEN = CHUNK_OPEN.encode("ascii")
_CHUNK_CLOSE = CHUNK_CLOSE.encode("ascii")


def default_title(sender: str, part: int = 1, parts: int = 1) -> str:
    """The page title: says what the file is and who sent it; never anything about a patient."""
    title = f"Encrypted radiographs from {sender}" if sender else "Encrypted radiographs"
    if parts > 1:
        title += f" (part {part} of {parts})"
    return title


class BundleWriter:
    """Streams one bundle to ``out``: call :meth:`add` per record, then :meth:`close`.

    ``salt`` is random unless given (only the reproducible test vectors give one); ``page``
    gives the HTML around the chunks (default: the viewer page; the test vectors use a bare one).
    ``keys`` derived ahead by :func:`derive_ahead` (with their ``salt``) save waiting for PBKDF2.
    """

    def __init__(
        self,
        out: BinaryIO,
        passphrase: str,
        *,
        sender: str = "",
        created: str | None = None,
        files: int = 0,
        input_bytes: int = 0,
        part: int = 1,
        parts: int = 1,
        iterations: int = DEFAULT_ITERATIONS,
        salt: bytes | None = None,
        title: str | None = None,
        page: Callable[[str, str], tuple[str, str]] = render_page,
        keys: Keys | None = None,
    ) -> None:
        if iterations < MIN_ITERATIONS:
            raise ValueError(f"at least {MIN_ITERATIONS} PBKDF2 iterations are required")
        if keys is not None and salt is None:
            raise ValueError("keys derived ahead need the salt they were derived with")
        salt = salt if salt is not None else secrets.token_bytes(SALT_SIZE)
        keys = keys or derive_keys(passphrase, salt, iterations)
        self.header = Header(
            salt=salt,
            check=keys.check,
            iterations=iterations,
            sender=sender,
            created=created or datetime.now(UTC).date().isoformat(),
            files=files,
            input_bytes=input_bytes,
            part=part,
            parts=parts,
        )
        self._header_bytes = self.header.to_text().encode("ascii")
        self._aead = AESGCM(keys.key)
        self._out = out
        self._pending = bytearray(MAGIC)
        self._index = 0
        self._closed = False
        self.bytes_written = 0
        self.plaintext_bytes = 0
        before, self._after = page(
            self.header.to_text(), title or default_title(sender, part, parts)
        )
        self._write(before.encode("utf-8"))

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.bytes_written += len(data)

    def _seal(self, chunk: bytes | bytearray | memoryview, last: bool) -> None:
        sealed = self._aead.encrypt(nonce(self._index, last), chunk, self._header_bytes)
        self._write(_CHUNK_OPEN)
        self._write(binascii.b2a_base64(sealed, newline=False))
        self._write(_CHUNK_CLOSE)
        self._index += 1

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append raw bytes to the plaintext stream."""
        view = memoryview(data).cast("B")
        self.plaintext_bytes += len(view)
        while view:
            if not self._pending and len(view) > CHUNK_SIZE:
                # Whole chunks straight from the caller's buffer, no copy. More data follows,
                # so this chunk is not the last.
                self._seal(view[:CHUNK_SIZE], last=False)
                view = view[CHUNK_SIZE:]
                continue
            room = CHUNK_SIZE - len(self._pending)
            if room == 0:
                # A full chunk is sealed only once more data follows: only then is it known
                # not to be the last.
                self._seal(self._pending, last=False)
                self._pending = bytearray()
                room = CHUNK_SIZE
            self._pending += view[:room]
            view = view[room:]

    def add(self, record: EncodedRecord) -> None:
        for piece in record.stream_pieces():
            self.write(piece)

    def close(self) -> None:
        if self._closed:
            return
        self.write(END_MARK)
        self._seal(self._pending, last=True)
        self._pending = bytearray()
        self._write(self._after.encode("utf-8"))
        self._closed = True

    @property
    def chunks(self) -> int:
        return self._index


def derive_ahead(
    passphrase: str, iterations: int, executor: Executor
) -> tuple[bytes, Future[Keys]]:
    """Start PBKDF2 on ``executor`` (hashlib releases the GIL): the first files are read and
    encoded meanwhile instead of after it. Returns the fresh salt and the future keys."""
    salt = secrets.token_bytes(SALT_SIZE)
    return salt, executor.submit(derive_keys, passphrase, salt, iterations)


def sealed_size(plaintext_bytes: int) -> int:
    """Bytes of the chunk elements for a plaintext stream of this length (for size planning)."""
    chunks = max(1, -(-plaintext_bytes // CHUNK_SIZE))
    encoded = 4 * (-(-(plaintext_bytes + chunks * TAG_SIZE) // 3))
    # Base64 pads each chunk separately: at most 2 more characters per chunk than the total.
    return encoded + chunks * (len(CHUNK_OPEN) + len(CHUNK_CLOSE) + 4)


def page_overhead(header: Header, title: str) -> int:
    before, after = render_page(header.to_text(), title)
    return len(before.encode("utf-8")) + len(after.encode("utf-8"))


def compression_pool(workers: int | None = None) -> ThreadPoolExecutor:
    import os

    return ThreadPoolExecutor(
        max_workers=workers or max(1, min(4, os.cpu_count() or 1)),
        thread_name_prefix="dentsend-deflate",
    )


@dataclass
class BundleSummary:
    path: Path
    bytes_written: int
    files: int


def _loaded(item: object) -> object:
    """A path becomes a file with its bytes and, if it is an image, its radiograph."""
    if not isinstance(item, Path):
        return item
    from dentsend.errors import FileProblem
    from dentsend.intake import load_bytes

    data = item.read_bytes()
    try:
        radiograph = load_bytes(data, item.name)
    except FileProblem:
        radiograph = None
    return _PlainFile(item.name, data, radiograph)


@dataclass
class _PlainFile:
    name: str
    data: bytes
    radiograph: object


def _done(keys: Keys) -> Future[Keys]:
    future: Future[Keys] = Future()
    future.set_result(keys)
    return future


def _seal(writer: BundleWriter, pending: list[PendingRecord], entry: dict[str, object]) -> None:
    """Seal a file's records; its manifest entry gets the SHA-256 the encoder computed."""
    for index, record in enumerate(pending):
        encoded = record.result()
        if index == 0:
            entry["sha256"] = encoded.meta.sha256
        writer.add(encoded)


def write_bundle(
    output: Path,
    files: Sequence[object],
    passphrase: str,
    *,
    sender: str = "",
    note: str = "",
    deidentification: str = "identified",
    iterations: int = DEFAULT_ITERATIONS,
    salt: bytes | None = None,
    created: datetime | None = None,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
) -> BundleSummary:
    """Write the files as one bundle, as they are (no de-identification).

    ``files`` are paths (read one at a time, so memory holds one file) or ``CleanFile``-like
    objects (``name``, ``data``, ``radiograph``). For tests, the viewer's fixtures, benchmarks and
    scripts; the send pipeline (:mod:`dentsend.pipeline`) does the same with de-identification,
    progress, cancel and splitting. ``progress`` gets the input bytes done so far.
    """
    from dentsend.payload import PayloadBuilder

    created = (created or datetime.now(UTC)).astimezone(UTC)
    builder = PayloadBuilder(
        sender=sender,
        note=note,
        deidentification=deidentification,  # type: ignore[arg-type]
        created=created,
        defer_hash=True,
    )
    sizes = [
        item.stat().st_size if isinstance(item, Path) else len(item.data)  # type: ignore[attr-defined]
        for item in files
    ]
    own_pool = executor is None
    pool = executor or compression_pool()
    done = 0
    if salt is None:
        salt, ahead = derive_ahead(passphrase, iterations, pool)
    else:  # the reproducible test vectors
        ahead = _done(derive_keys(passphrase, salt, iterations))
    try:
        with atomic_write(output) as out:
            writer: BundleWriter | None = None

            def start() -> BundleWriter:
                return BundleWriter(
                    out,
                    passphrase,
                    sender=sender,
                    created=created.date().isoformat(),
                    files=len(files),
                    input_bytes=sum(sizes),
                    iterations=iterations,
                    salt=salt,
                    keys=ahead.result(),
                )

            # File k + 1 is read and its encoding started on the pool before file k is sealed,
            # so compression (pool threads) and encryption (this thread) overlap.
            previous: list[PendingRecord] = []
            previous_entry: dict[str, object] = {}
            for item, size in zip(files, sizes, strict=True):
                pending = [
                    start_payload_record(r, pool)
                    for r in builder.records_for(_loaded(item))  # type: ignore[arg-type]
                ]
                entry = builder.entries[-1]
                writer = writer or start()
                _seal(writer, previous, previous_entry)
                previous, previous_entry = pending, entry
                done += size
                if progress is not None:
                    progress(done)
            writer = writer or start()
            _seal(writer, previous, previous_entry)
            del previous
            manifest = builder.manifest()
            writer.add(encode_record(manifest.name, manifest.role, manifest.data, compress=True))
            writer.close()
    finally:
        if own_pool:
            pool.shutdown()
    return BundleSummary(output, writer.bytes_written, len(files))
