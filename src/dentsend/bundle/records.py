"""Records: how each file travels inside the encrypted stream (format section 5).

A record is a small JSON description (name, role, size, SHA-256, encodings) followed by the
file's bytes in encoded form. Encoding is "predict" (pixel data only) then "deflate-raw"; the
deflate stream is built from independently compressed segments (sync-flushed and concatenated,
as pigz does), so several cores can compress one file and each segment can use the zlib strategy
that suits it: run-length for the predictor's planes, ordinary deflate for the rest.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dentsend.bundle.format import MAX_META_BYTES, damaged, newer_format
from dentsend.bundle.predictor import (
    VARINT,
    Predict,
    Unpredictor,
    forward_strip,
    plan_encoding,
    strip_starts,
)

if TYPE_CHECKING:
    from dentsend.payload import PayloadRecord

Role = Literal["manifest", "file", "view"]
ROLES: tuple[str, ...] = ("manifest", "file", "view")
DEFLATE = "deflate-raw"
PREDICT = "predict"
#: Deflate is kept only when it saves at least this share (format section 5).
MIN_SAVING = 0.02
#: Bytes compressed per segment when a record is not predicted.
SEGMENT = 1 << 20
#: A record larger than this is refused by readers (a hostile sender could claim terabytes).
MAX_RECORD_SIZE = 1 << 40
#: One empty final block: ends a raw deflate stream made of sync-flushed segments.
FINAL_BLOCK = b"\x03\x00"

_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def valid_name(name: object) -> bool:
    """A plain file name: no folders, controls or leading dot, at most 200 UTF-8 bytes."""
    return (
        isinstance(name, str)
        and 0 < len(name.encode("utf-8", "surrogatepass")) <= 200
        and not name.startswith(".")
        and not _BAD_NAME.search(name)
        and name == name.strip()
        and not any(0xD800 <= ord(c) <= 0xDFFF for c in name)
    )


@dataclass(frozen=True)
class RecordMeta:
    name: str
    role: str
    size: int
    sha256: str
    length: int
    encodings: tuple[str, ...] = ()
    predict: Predict | None = None

    def to_bytes(self) -> bytes:
        value: dict[str, Any] = {
            "name": self.name,
            "role": self.role,
            "size": self.size,
            "sha256": self.sha256,
            "encodings": list(self.encodings),
            "length": self.length,
        }
        if self.predict is not None:
            value["predict"] = self.predict.to_json()
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_META_BYTES:
            raise ValueError("record description too long")
        return data

    @classmethod
    def parse(cls, data: bytes) -> RecordMeta:
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise damaged("record: description is not JSON") from None
        if not isinstance(value, dict):
            raise damaged("record: description is not an object")
        name = value.get("name")
        role = value.get("role")
        size = value.get("size")
        length = value.get("length")
        sha = value.get("sha256")
        encodings = value.get("encodings", [])
        if not valid_name(name):
            raise damaged("record: unsafe or invalid name")
        assert isinstance(name, str)
        if not isinstance(role, str):
            raise damaged("record: no role")
        for number in (size, length):
            if isinstance(number, bool) or not isinstance(number, int):
                raise damaged("record: size is not an integer")
            if not 0 <= number <= MAX_RECORD_SIZE:
                raise damaged("record: size out of range")
        assert isinstance(size, int) and isinstance(length, int)
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise damaged("record: bad SHA-256")
        if not isinstance(encodings, list) or not all(isinstance(e, str) for e in encodings):
            raise damaged("record: bad encodings")
        if any(e not in (DEFLATE, PREDICT) for e in encodings):
            raise newer_format()
        if len(set(encodings)) != len(encodings):
            raise damaged("record: repeated encoding")
        predict = None
        if PREDICT in encodings:
            predict = Predict.from_json(value.get("predict"), size)
        varint = predict is not None and predict.layout == VARINT
        if DEFLATE not in encodings and length != size and not varint:
            raise damaged("record: stored length differs from size")
        if (
            predict is not None
            and DEFLATE not in encodings
            and length > (size - predict.length + predict.most_transformed)
        ):
            raise damaged("record: varints longer than their region can be")
        return cls(name, role, size, sha, length, tuple(encodings), predict)


@dataclass
class EncodedRecord:
    """A record ready for the stream: its description and its data as a list of pieces."""

    meta: RecordMeta
    pieces: list[bytes | memoryview] = field(repr=False)

    @property
    def stream_length(self) -> int:
        """Bytes this record occupies in the plaintext stream."""
        return 4 + len(self.meta.to_bytes()) + self.meta.length

    def stream_pieces(self) -> Iterator[bytes | memoryview]:
        meta = self.meta.to_bytes()
        yield len(meta).to_bytes(4, "big") + meta
        yield from self.pieces


_isal: Any
try:  # ISA-L's deflate: 4-7× faster than zlib on the predictor's planes, same format
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - isal has wheels for every platform dentsend ships on
    _isal = None

#: What a segment holds decides how it is compressed.
PLANE = "plane"
GENERAL = "general"


def _compress(data: bytes | memoryview, kind: str) -> bytes:
    """One segment as raw deflate, ended by a sync flush (byte-aligned, not final).

    Predictor planes are differences: few repeated strings for LZ77 to find, many runs and a
    skewed histogram. ISA-L's level 1 codes them within 1–4 % of zlib's best at 4–7× the speed;
    without ISA-L, zlib's run-length strategy is as good as level 6 and 3–10× faster.
    """
    if _isal is not None:
        compressor = _isal.compressobj(1 if kind == PLANE else 2, _isal.DEFLATED, -15)
        return bytes(compressor.compress(data) + compressor.flush(_isal.Z_SYNC_FLUSH))
    strategy = zlib.Z_RLE if kind == PLANE else zlib.Z_DEFAULT_STRATEGY
    plain = zlib.compressobj(6, zlib.DEFLATED, -15, 9, strategy)
    return plain.compress(data) + plain.flush(zlib.Z_SYNC_FLUSH)


def _compress_strip(data: bytes | memoryview, predict: Predict, first_row: int) -> bytes:
    """Transform one strip and compress its planes: one job for the thread pool."""
    return b"".join(_compress(plane, PLANE) for plane in forward_strip(data, predict, first_row))


def _transform_strip(
    data: bytes | memoryview, predict: Predict, first_row: int
) -> bytes | memoryview:
    """Transform one strip without compressing it (varints not worth deflating)."""
    pieces = forward_strip(data, predict, first_row)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _as_is(data: bytes | memoryview) -> bytes | memoryview:
    return data


def _jobs(
    data: bytes | memoryview, predict: Predict | None, deflate: bool = True
) -> Iterator[tuple[Callable[..., bytes | memoryview], tuple[Any, ...]]]:
    """The independently encoded segments of a record, in order, as (function, arguments)."""
    view = memoryview(data)
    if predict is None:
        for start in range(0, len(view), SEGMENT):
            yield _compress, (view[start : start + SEGMENT], GENERAL)
        return
    edge = _compress if deflate else _as_is
    if predict.offset:
        yield edge, ((view[: predict.offset], GENERAL) if deflate else (view[: predict.offset],))
    strip = _compress_strip if deflate else _transform_strip
    for first_row in strip_starts(predict):
        yield strip, (view, predict, first_row)
    tail = predict.offset + predict.length
    if tail < len(view):
        yield edge, ((view[tail:], GENERAL) if deflate else (view[tail:],))


def _now(value: Any) -> Future[Any]:
    done: Future[Any] = Future()
    done.set_result(value)
    return done


@dataclass
class PendingRecord:
    """A record being encoded on the thread pool; :meth:`result` waits for it.

    The writer seals record *k* while the pool still encodes record *k + 1*, so the cores
    compress while the main thread encrypts.
    """

    name: str
    role: str
    data: bytes = field(repr=False)
    predict: Predict | None
    digest: Future[str] = field(repr=False)
    segments: list[Future[Any]] | None = field(repr=False)
    deflate: bool = True

    def result(self) -> EncodedRecord:
        digest = self.digest.result()
        size = len(self.data)
        if self.segments is not None and not self.deflate:
            # Varints, not deflated (see predictor.plan_encoding).
            plain: list[bytes | memoryview] = [f.result() for f in self.segments]
            length = sum(len(p) for p in plain)
            meta = RecordMeta(self.name, self.role, size, digest, length, (PREDICT,), self.predict)
            return EncodedRecord(meta, plain)
        if self.segments is not None:
            pieces: list[bytes | memoryview] = [f.result() for f in self.segments]
            pieces.append(FINAL_BLOCK)
            length = sum(len(p) for p in pieces)
            if length <= size * (1 - MIN_SAVING):
                encodings = (PREDICT, DEFLATE) if self.predict is not None else (DEFLATE,)
                meta = RecordMeta(
                    self.name, self.role, size, digest, length, encodings, self.predict
                )
                return EncodedRecord(meta, pieces)
        return EncodedRecord(RecordMeta(self.name, self.role, size, digest, size), [self.data])


def start_encoding(
    name: str,
    role: str,
    data: bytes,
    *,
    compress: bool,
    predict: Predict | None = None,
    executor: Executor | None = None,
    sha256: str | None = None,
) -> PendingRecord:
    """Start encoding one file (hash, predictor, deflate) on ``executor``.

    See :func:`encode_record`; :meth:`PendingRecord.result` waits for the outcome.
    """
    if executor is None:
        return _run_now(name, role, data, compress=compress, predict=predict, sha256=sha256)
    digest = _now(sha256) if sha256 else executor.submit(_sha256, data)
    segments = None
    deflate = True
    if compress and data:
        predict, deflate = _planned(data, predict)
        segments = [
            executor.submit(function, *arguments)
            for function, arguments in _jobs(data, predict, deflate)
        ]
    return PendingRecord(name, role, data, predict, digest, segments, deflate)


def _planned(data: bytes, predict: Predict | None) -> tuple[Predict | None, bool]:
    """The region with the writer's strips and layout decided, and whether to deflate."""
    if predict is None:
        return None, True
    layout, deflate = plan_encoding(data, predict)
    return predict.with_strips(layout), deflate


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _run_now(
    name: str,
    role: str,
    data: bytes,
    *,
    compress: bool,
    predict: Predict | None,
    sha256: str | None,
) -> PendingRecord:
    digest = _now(sha256 or _sha256(data))
    segments = None
    deflate = True
    if compress and data:
        predict, deflate = _planned(data, predict)
        segments = [
            _now(function(*arguments)) for function, arguments in _jobs(data, predict, deflate)
        ]
    return PendingRecord(name, role, data, predict, digest, segments, deflate)


def start_payload_record(record: PayloadRecord, executor: Executor | None) -> PendingRecord:
    """:func:`start_encoding` of one record of the payload, as the payload step prepared it."""
    return start_encoding(
        record.name,
        record.role,
        record.data,
        compress=record.compress,
        predict=record.predict,
        executor=executor,
        sha256=record.sha256,
    )


def encode_record(
    name: str,
    role: str,
    data: bytes,
    *,
    compress: bool,
    predict: Predict | None = None,
    executor: Executor | None = None,
    sha256: str | None = None,
) -> EncodedRecord:
    """Encode one file: predictor (if ``predict``), deflate (if it saves ≥ 2 %), else stored.

    ``executor`` spreads the work over threads; ``sha256`` saves hashing the file again when
    the caller already did.
    """
    return start_encoding(
        name, role, data, compress=compress, predict=predict, executor=executor, sha256=sha256
    ).result()


class RecordDecoder:
    """Undo a record's encodings as its data streams in; check size and SHA-256 at the end.

    The output never grows beyond the declared size (a deflate bomb stops there), and nothing
    is trusted until :meth:`finish` returned.
    """

    def __init__(self, meta: RecordMeta, sink: Callable[[bytes | memoryview], None] | None) -> None:
        self.meta = meta
        self.sink = sink
        self._hash = hashlib.sha256()
        self._produced = 0
        self._consumed = 0
        self._inflater = zlib.decompressobj(-15) if DEFLATE in meta.encodings else None
        self._unpredictor = Unpredictor(meta.predict) if meta.predict is not None else None
        self._inflated = 0
        predict = meta.predict
        # Varints may take up to 3 bytes per 2-byte sample: the transformed data can be larger.
        extra = predict.most_transformed - predict.length if predict is not None else 0
        self._inflate_limit = meta.size + extra

    @property
    def remaining(self) -> int:
        """Encoded bytes still expected."""
        return self.meta.length - self._consumed

    def feed(self, data: bytes | memoryview) -> None:
        self._consumed += len(data)
        if self._consumed > self.meta.length:
            raise damaged("record: longer than its declared length")
        if self._inflater is None:
            self._after_inflate(data)
            return
        inflater = self._inflater
        pending: bytes | memoryview = data
        while pending:
            if inflater.eof:
                raise damaged("record: data after the end of the deflate stream")
            # At most 4 MiB out per step: a deflate bomb is caught after 4 MiB, not 1 GB.
            out = inflater.decompress(pending, 4 << 20)
            pending = inflater.unconsumed_tail
            self._inflated += len(out)
            if self._inflated > self._inflate_limit:
                raise damaged("record: inflates beyond its declared size")
            if out:
                self._after_inflate(out)

    def _after_inflate(self, data: bytes | memoryview) -> None:
        if self._unpredictor is None:
            self._emit(data)
        else:
            for piece in self._unpredictor.feed(data):
                self._emit(piece)

    def _emit(self, data: bytes | memoryview) -> None:
        self._produced += len(data)
        if self._produced > self.meta.size:
            raise damaged("record: larger than its declared size")
        self._hash.update(data)
        if self.sink is not None:
            self.sink(data)

    def finish(self) -> None:
        inflater = self._inflater
        if inflater is not None and (not inflater.eof or inflater.unused_data):
            raise damaged("record: deflate stream incomplete or followed by data")
        if self._unpredictor is not None:
            self._unpredictor.finish()
        if self._produced != self.meta.size:
            raise damaged("record: size differs from the declared size")
        if self._hash.hexdigest() != self.meta.sha256:
            raise damaged("record: SHA-256 differs")


def decode_all(meta: RecordMeta, pieces: Iterable[bytes | memoryview]) -> bytes:
    """Decode a whole record held in memory (tests and small records)."""
    out = bytearray()
    decoder = RecordDecoder(meta, out.extend)
    for piece in pieces:
        decoder.feed(piece)
    decoder.finish()
    return bytes(out)
