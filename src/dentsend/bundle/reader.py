"""Read a bundle in Python (``dentsend open``): verify everything, then write the files.

Opening makes two passes over the file. The first decrypts and authenticates every chunk, parses
every record and checks every size and SHA-256 against the records and the manifest, keeping
nothing but hashes. Only if all of it holds does the second pass write the files (to temporary
names, renamed into place at the end). So a wrong passphrase, a damaged file or an altered one
leaves nothing behind, and memory stays at a few chunks whatever the package's size.
"""

from __future__ import annotations

import binascii
import hmac
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dentsend.bundle.format import (
    CHUNK_SIZE,
    MAGIC,
    MAX_META_BYTES,
    TAG_SIZE,
    BundleError,
    Header,
    Keys,
    damaged,
    derive_keys,
    newer_format,
    nonce,
    too_large,
)
from dentsend.bundle.page import is_chunk, is_header, iter_scripts
from dentsend.bundle.records import RecordDecoder, RecordMeta
from dentsend.payload import OutputFolder, UnpackLimits

log = logging.getLogger(__name__)

_ASCII_SPACE = re.compile(r"[\t\n\f\r ]+")
#: The manifest is held in memory to be parsed; a hostile one may not be huge.
MAX_MANIFEST_BYTES = 64 << 20


class Sink(Protocol):
    """Where a record's decoded bytes go (a file being written, in the second pass)."""

    def write(self, data: bytes | memoryview, /) -> object: ...
    def close(self) -> None: ...


def wrong_passphrase() -> BundleError:
    return BundleError(
        "passphrase",
        "the passphrase is not the one this package was locked with; "
        "check it with the sender and try again",
    )


@dataclass
class OpenedBundle:
    """What a verified bundle holds."""

    header: Header
    manifest: dict[str, Any]
    records: list[RecordMeta] = field(default_factory=list)

    @property
    def files(self) -> list[RecordMeta]:
        return [r for r in self.records if r.role == "file"]


def read_header(source: BinaryIO) -> tuple[str, Header]:
    """The header's exact text and its parsed form; fails if the file is no bundle."""
    for element in iter_scripts(source):
        if is_header(element):
            return element.text, Header.from_text(element.text)
        if is_chunk(element):
            break
    raise BundleError("unsupported", "the file is not a dentsend package")


def is_bundle(head: bytes) -> bool:
    """Whether the first bytes of a file look like a dentsend bundle page."""
    text = head.decode("latin-1").lower()
    return "<!doctype html" in text[:64] or "<html" in text[:512]


def _chunks(source: BinaryIO) -> Iterator[tuple[str, bool]]:
    """The header, then each chunk's base64 text with whether it is the final chunk element."""
    previous: str | None = None
    header_seen = False
    for element in iter_scripts(source):
        if is_header(element):
            if header_seen or previous is not None:
                raise damaged("page: a second header, or a header after the chunks")
            header_seen = True
            continue
        if not is_chunk(element):
            continue
        if previous is not None:
            yield previous, False
        previous = element.text
    if previous is None:
        raise damaged("page: no chunks")
    yield previous, True


def _decode_base64(text: str) -> bytes:
    # Browsers ignore ASCII white space in base64 (atob, fromBase64); so does this reader, so
    # the two agree on every file.
    try:
        return binascii.a2b_base64(_ASCII_SPACE.sub("", text), strict_mode=True)
    except (binascii.Error, ValueError):
        raise damaged("chunk: not base64") from None


class _StreamParser:
    """The plaintext stream (format section 5), fed chunk by chunk."""

    def __init__(
        self, open_record: Callable[[RecordMeta], Sink | None], *, packed: int, limits: UnpackLimits
    ) -> None:
        self.open_record = open_record
        self.packed = packed
        self.limits = limits
        self._unpacked = 0
        self.records: list[RecordMeta] = []
        self.manifest_bytes: bytes | None = None
        self._state = "magic"
        self._need = 4
        self._buffer = bytearray()
        self._decoder: RecordDecoder | None = None
        self._manifest_buffer: bytearray | None = None
        self._names: set[str] = set()
        self._sink: Sink | None = None

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._state == "end":
                raise damaged("stream: data after the end mark")
            if self._state == "data":
                assert self._decoder is not None
                take = min(len(view), self._decoder.remaining)
                self._decoder.feed(view[:take])
                view = view[take:]
                if self._decoder.remaining == 0:
                    self._finish_record()
                continue
            take = min(len(view), self._need - len(self._buffer))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) == self._need:
                self._advance()

    def _advance(self) -> None:
        data = bytes(self._buffer)
        self._buffer.clear()
        if self._state == "magic":
            if data != MAGIC:
                if data[:3] == MAGIC[:3]:
                    raise newer_format()
                raise damaged("stream: bad magic")
            self._state, self._need = "length", 4
        elif self._state == "length":
            length = int.from_bytes(data, "big")
            if length == 0:
                self._state = "end"
            elif length > MAX_META_BYTES:
                raise damaged("stream: record description too long")
            else:
                self._state, self._need = "meta", length
        elif self._state == "meta":
            meta = RecordMeta.parse(data)
            if meta.name in self._names:
                raise damaged("stream: two records with one name")
            self._check_expansion(meta)
            self._names.add(meta.name)
            if meta.role == "manifest":
                if self.manifest_bytes is not None or self._manifest_buffer is not None:
                    raise damaged("stream: two manifests")
                if meta.size > MAX_MANIFEST_BYTES:
                    raise damaged("stream: manifest too large")
                self._manifest_buffer = bytearray()
            self._sink = self.open_record(meta)
            self._decoder = RecordDecoder(meta, self._deliver)
            self.records.append(meta)
            self._state = "data"
            if meta.length == 0:
                self._finish_record()

    def _check_expansion(self, meta: RecordMeta) -> None:
        """Refuse a bomb from the sizes records declare, before inflating any of it (a decoder
        never yields more than its record declares)."""
        self._unpacked += meta.size
        limits = self.limits
        if len(self.records) >= 2 * limits.max_entries + 1:
            raise too_large("stream: too many records")
        if meta.size > limits.max_entry or self._unpacked > limits.max_total:
            raise too_large(f"stream: unpacks to more than {limits.max_total} bytes")
        if limits.expands_too_much(self._unpacked, self.packed):
            raise too_large(f"stream: {self._unpacked} bytes from a {self.packed}-byte package")

    def _deliver(self, piece: bytes | memoryview) -> None:
        if self._manifest_buffer is not None:
            self._manifest_buffer += piece
        if self._sink is not None:
            self._sink.write(piece)

    def _finish_record(self) -> None:
        assert self._decoder is not None
        self._decoder.finish()
        self._decoder = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._manifest_buffer is not None:
            self.manifest_bytes = bytes(self._manifest_buffer)
            self._manifest_buffer = None
        self._state, self._need = "length", 4

    def close_sink(self) -> None:
        """Close a file left open by a failure halfway through a record."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def finish(self) -> None:
        if self._state != "end":
            raise damaged("stream: ends before its end mark")


def _keys_for(header: Header, passphrase: str) -> Keys:
    keys = derive_keys(passphrase, header.salt, header.iterations)
    if not hmac.compare_digest(keys.check, header.check):
        raise wrong_passphrase()
    return keys


def _decrypt_stream(source: BinaryIO, header_text: str, keys: Keys, parser: _StreamParser) -> None:
    aead = AESGCM(keys.key)
    aad = header_text.encode("ascii", "strict")
    for index, (text, last) in enumerate(_chunks(source)):
        sealed = _decode_base64(text)
        if len(sealed) < TAG_SIZE or len(sealed) > CHUNK_SIZE + TAG_SIZE:
            raise damaged("chunk: wrong size")
        try:
            plain = aead.decrypt(nonce(index, last), sealed, aad)
        except InvalidTag:
            raise damaged(f"chunk {index}: authentication failed") from None
        if (not last and len(plain) != CHUNK_SIZE) or (last and not plain and index):
            raise damaged("chunk: wrong plaintext size")
        parser.feed(plain)
    parser.finish()


def _check_manifest(header: Header, parser: _StreamParser) -> dict[str, Any]:
    if parser.manifest_bytes is None:
        raise damaged("stream: no manifest")
    try:
        manifest = json.loads(parser.manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise damaged("manifest: not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "dentsend-manifest":
        raise damaged("manifest: wrong format")
    version = manifest.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > 1:
        raise newer_format()
    if version != 1:
        raise damaged("manifest: bad version")
    entries = manifest.get("files")
    if not isinstance(entries, list):
        raise damaged("manifest: no file list")
    files = {r.name: r for r in parser.records if r.role == "file"}
    listed: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise damaged("manifest: bad entry")
        name = entry.get("name")
        record = files.get(name) if isinstance(name, str) else None
        if record is None or name in listed:
            raise damaged("manifest: lists a file the package does not hold")
        assert isinstance(name, str)
        listed.add(name)
        if entry.get("size") != record.size or entry.get("sha256") != record.sha256:
            raise damaged("manifest: size or SHA-256 differs from the file")
    if listed != set(files) or header.files != len(files):
        raise damaged("manifest: file count differs")
    return manifest


def verify_bundle(
    path: Path, passphrase: str, *, limits: UnpackLimits | None = None
) -> OpenedBundle:
    """Authenticate and check everything; keep nothing but the descriptions."""
    limits = limits or UnpackLimits()
    try:
        with path.open("rb") as source:
            header_text, header = read_header(source)
            keys = _keys_for(header, passphrase)
            source.seek(0)
            packed = os.fstat(source.fileno()).st_size
            parser = _StreamParser(lambda meta: None, packed=packed, limits=limits)
            _decrypt_stream(source, header_text, keys, parser)
        manifest = _check_manifest(header, parser)
    except BundleError as error:
        if error.detail:
            log.info("%s: %s", path.name, error.detail)
        raise error.for_file(path.name) from None
    return OpenedBundle(header, manifest, parser.records)


def extract_bundle(
    path: Path, passphrase: str, folder: Path, *, limits: UnpackLimits | None = None
) -> tuple[OpenedBundle, list[Path]]:
    """Verify the bundle, then write its files and manifest into ``folder`` (all or nothing)."""
    limits = limits or UnpackLimits()
    opened = verify_bundle(path, passphrase, limits=limits)
    header = opened.header

    def output_name(meta: RecordMeta) -> str:
        # The parts of a split package are opened into one folder: each keeps its manifest.
        if meta.role == "manifest" and header.parts > 1:
            return f"manifest-part-{header.part}-of-{header.parts}.json"
        return meta.name

    out = OutputFolder(folder)
    out.plan([output_name(r) for r in opened.records if r.role in ("file", "manifest")])
    with out:

        def open_record(meta: RecordMeta) -> Sink | None:
            if meta.role not in ("file", "manifest"):
                return None
            return out.open_file(output_name(meta))

        parser = _StreamParser(open_record, packed=path.stat().st_size, limits=limits)
        try:
            with path.open("rb") as source:
                header_text, header = read_header(source)
                keys = _keys_for(header, passphrase)
                source.seek(0)
                _decrypt_stream(source, header_text, keys, parser)
        except BundleError as error:
            raise error.for_file(path.name) from None
        finally:
            parser.close_sink()
        written = out.commit()
    return opened, written
