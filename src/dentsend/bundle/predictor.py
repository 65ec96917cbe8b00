"""The reversible pixel predictor that makes radiographs compress (format section 6).

Detector images are smooth at the scale of a pixel, but their noise makes the raw 16-bit words
look random to deflate (a 12-bit CR barely shrinks to 0.9×). Replacing each sample by its
difference from the sample above, folding the sign into the lowest bit ("zigzag") and writing
the low and high bytes of a strip of rows as two separate planes leaves deflate a high-byte plane
that is nearly all zeros and a low-byte plane with a narrow, skewed histogram: typical
radiographs shrink to 0.15–0.6× of their pixel bytes.

"Up" was chosen over left, gradient, MED (JPEG-LS) and average predictors after measuring them
on pydicom-data's CR and MR images: within 1–2 % of the best, and its inverse is two cumulative
sums, so both readers undo it quickly — numpy here, a tight loop in the browser.

Two layouts of the 16-bit values: byte "planes" (above), or "varint" (LEB128, one byte for
values below 128). For 12-bit sensors whose differences are small, varint halves what the
browser's inflater has to produce (its cost is per output byte, even for runs of zeros) at a
size within 1 % of planes; for noisy deep images (15-bit CR) planes compress better. The writer
looks at a sample of the rows and picks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dentsend.bundle.format import damaged, newer_format

#: Samples per strip the writer aims for: big enough that deflate sees long planes, small
#: enough that the browser buffers only one strip while it undoes the transform.
STRIP_SAMPLES = 1 << 19
#: A reader refuses strips bigger than this (a hostile file could otherwise ask for gigabytes).
MAX_STRIP_BYTES = 16 << 20
PLANES = "planes"
VARINT = "varint"
#: The writer uses varint when fewer than this share of the differences need a second byte.
VARINT_WHEN_BELOW = 0.08
#: Varints are deflated only when that promises to save at least this share.
DEFLATE_WORTH = 0.25


@dataclass(frozen=True)
class Predict:
    """Where the predictor applies in a file and how its samples are laid out."""

    offset: int
    length: int
    sample_bytes: int
    row_samples: int
    pixel_samples: int = 1
    strip_rows: int = 0
    """Rows per strip; 0 means "let the writer choose" and is never written."""
    layout: str = PLANES
    """``planes`` or ``varint`` (16-bit samples only)."""

    @property
    def samples(self) -> int:
        return self.length // self.sample_bytes

    @property
    def rows(self) -> int:
        return self.samples // self.row_samples

    @property
    def strip_bytes(self) -> int:
        return self.strip_rows * self.row_samples * self.sample_bytes

    @property
    def most_transformed(self) -> int:
        """The largest the transformed region can be (varint: 3 bytes per 2-byte sample)."""
        return self.length + self.length // 2 if self.layout == VARINT else self.length

    def with_strips(self, layout: str | None = None) -> Predict:
        """The same region with the writer's strip height (and a layout) filled in."""
        rows = max(1, min(self.rows, STRIP_SAMPLES // self.row_samples))
        return replace(self, strip_rows=rows, layout=layout or self.layout)

    def to_json(self) -> dict[str, int | str]:
        return {
            "offset": self.offset,
            "length": self.length,
            "sample_bytes": self.sample_bytes,
            "row_samples": self.row_samples,
            "pixel_samples": self.pixel_samples,
            "strip_rows": self.strip_rows,
            "layout": self.layout,
        }

    @classmethod
    def from_json(cls, value: object, size: int) -> Predict:
        """Parse and check the parameters against the decoded file's ``size``."""
        if not isinstance(value, dict):
            raise damaged("predict: not an object")
        fields = ("offset", "length", "sample_bytes", "row_samples", "pixel_samples", "strip_rows")
        numbers = [value.get(name) for name in fields]
        if any(isinstance(n, bool) or not isinstance(n, int) for n in numbers):
            raise damaged("predict: parameters are not integers")
        layout = value.get("layout", PLANES)
        if layout not in (PLANES, VARINT):
            raise newer_format()
        predict = cls(*numbers, layout=layout)  # type: ignore[arg-type, misc]
        if not (
            predict.sample_bytes in (1, 2)
            and predict.offset >= 0
            and predict.length > 0
            and predict.offset + predict.length <= size
            and 0 < predict.pixel_samples <= predict.row_samples
            and predict.row_samples % predict.pixel_samples == 0
            and predict.length % (predict.row_samples * predict.sample_bytes) == 0
            and predict.strip_rows > 0
            and predict.strip_bytes <= MAX_STRIP_BYTES
            and (predict.layout == PLANES or predict.sample_bytes == 2)
        ):
            raise damaged("predict: inconsistent parameters")
        return predict


def _dtype(sample_bytes: int) -> np.dtype[Any]:
    return np.dtype("<u2") if sample_bytes == 2 else np.dtype("u1")


def _zigzag(d: np.ndarray) -> np.ndarray:
    """Fold the sign of the M-bit differences into the lowest bit: 0, -1, 1, -2 → 0, 1, 2, 3.

    In place (``d`` is a scratch array), three passes, no temporaries.
    """
    signed = d.view(np.int16 if d.dtype.itemsize == 2 else np.int8)
    bits = 8 * d.dtype.itemsize - 1
    sign = np.right_shift(signed, bits)
    np.left_shift(signed, 1, out=signed)
    np.bitwise_xor(signed, sign, out=signed)
    return d


def _unzigzag(z: np.ndarray) -> np.ndarray:
    one = z.dtype.type(1)
    result: np.ndarray = (z >> one) ^ (np.zeros_like(z) - (z & one))
    return result


def strip_starts(predict: Predict) -> range:
    """The first row of each strip."""
    return range(0, predict.rows, predict.strip_rows)


def forward_strip(data: bytes | memoryview, predict: Predict, first_row: int) -> list[memoryview]:
    """One strip of the transformed region, as its planes (low bytes, then high bytes).

    A strip reads the row above it from ``data`` but none of the other strips' output, so
    strips can be transformed and compressed on several threads at once (numpy and the
    compressors release the GIL).
    """
    dtype = _dtype(predict.sample_bytes)
    a = np.frombuffer(data, dtype=dtype, count=predict.samples, offset=predict.offset)
    a = a.reshape(predict.rows, predict.row_samples)
    p = predict.pixel_samples
    r0 = first_row
    r1 = min(r0 + predict.strip_rows, predict.rows)
    d = np.empty((r1 - r0, predict.row_samples), dtype=dtype)
    if r0 == 0:
        d[0, :p] = a[0, :p]
        np.subtract(a[0, p:], a[0, :-p], out=d[0, p:])
        np.subtract(a[1:r1], a[0 : r1 - 1], out=d[1:])
    else:
        np.subtract(a[r0:r1], a[r0 - 1 : r1 - 1], out=d)
    z = _zigzag(d).reshape(-1)
    if predict.layout == VARINT:
        return [varint_encode(z).data.cast("B")]
    if predict.sample_bytes == 2:
        planes = z.view(np.uint8).reshape(-1, 2)
        return [
            np.ascontiguousarray(planes[:, 0]).data.cast("B"),
            np.ascontiguousarray(planes[:, 1]).data.cast("B"),
        ]
    return [z.data.cast("B")]


def choose_layout(data: bytes | memoryview, predict: Predict) -> str:
    """``varint`` when nearly all vertical differences fit in 7 bits (judged on every 64th row)."""
    return plan_encoding(data, predict)[0]


def plan_encoding(data: bytes | memoryview, predict: Predict) -> tuple[str, bool]:
    """The layout, and whether deflate is worth its cost in the browser, judged on every 64th row.

    Varints of small differences are already near one byte a sample; deflate then saves little
    (its entropy coding, some 10–20 %), while the browser's inflater costs about as much time
    per byte as everything else in unlocking together. Deflate is kept when the byte entropy
    promises at least :data:`DEFLATE_WORTH` of saving; planes always deflate (their high-byte
    plane is nearly all zeros).
    """
    if predict.sample_bytes != 2 or predict.rows < 2:
        return PLANES, True
    a = np.frombuffer(data, np.dtype("<u2"), predict.samples, predict.offset)
    a = a.reshape(predict.rows, predict.row_samples)
    d = (a[1::64] - a[0:-1:64]).astype("<u2")
    z = _zigzag(d).reshape(-1)
    if np.count_nonzero(z >= 128) >= VARINT_WHEN_BELOW * z.size:
        return PLANES, True
    counts = np.bincount(np.minimum(z, 255).astype(np.uint8), minlength=256)
    share = counts[counts > 0] / z.size
    bits = float(-(share * np.log2(share)).sum())
    return VARINT, bits / 8 < 1 - DEFLATE_WORTH


def varint_encode(z: np.ndarray) -> np.ndarray:
    """LEB128 of each 16-bit value: 7 bits a byte, low group first, top bit = more follows.

    The writer uses varints when nearly every value fits in one byte, so the first bytes are
    made for all values at once and the few second and third bytes inserted after them.
    """
    values = z.reshape(-1)
    first = values.astype(np.uint8)  # already right for every value below 128
    big = np.flatnonzero(values >= 1 << 7)
    if not big.size:
        return first
    rest = values[big]
    first[big] = (rest & 0x7F) | 0x80
    three = rest >= 1 << 14
    second = ((rest >> 7) & 0x7F).astype(np.uint8)
    np.bitwise_or(second, three.view(np.uint8) << 7, out=second)
    out: np.ndarray = np.insert(first, big + 1, second)
    if three.any():
        # Where the second bytes landed: after value big[i], shifted by the i inserted before.
        landed = big[three] + 1 + np.flatnonzero(three)
        out = np.insert(out, landed + 1, (rest[three] >> 14).astype(np.uint8))
    return out


def varint_decode(data: np.ndarray) -> tuple[np.ndarray, int]:
    """The complete values in ``data`` (uint8) and how many bytes they took."""
    if data.size and int(data.max()) < 128:
        return data.astype("<u2"), int(data.size)
    ends = np.flatnonzero(data < 128)
    if not len(ends):
        return np.empty(0, np.uint16), 0
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if lengths.max() > 3:
        raise damaged("predict: a varint longer than 3 bytes")
    values = (data[starts] & 0x7F).astype(np.uint32)
    two = lengths >= 2
    values[two] |= (data[starts[two] + 1] & 0x7F).astype(np.uint32) << 7
    three = lengths == 3
    third = data[starts[three] + 2].astype(np.uint32)
    if third.size and third.max() > 3:
        raise damaged("predict: a varint above 16 bits")
    values[three] |= third << 14
    return values.astype("<u2"), int(ends[-1]) + 1


def forward_strips(data: bytes | memoryview, predict: Predict) -> Iterator[list[memoryview]]:
    """The transformed region, strip by strip (see :func:`forward_strip`)."""
    for first_row in strip_starts(predict):
        yield forward_strip(data, predict, first_row)


class Unpredictor:
    """Undo the predictor on a stream of bytes, keeping one strip and one row in memory.

    Bytes outside the region pass through unchanged. Positions count *transformed* bytes, which
    for the varint layout differ from the file's.
    """

    def __init__(self, predict: Predict) -> None:
        self.predict = predict
        self._dtype = _dtype(predict.sample_bytes)
        self._position = 0  # transformed bytes consumed so far
        self._pending = bytearray()
        self._row = 0
        self._previous: np.ndarray | None = None
        self._region_done = False

    def _strip_length(self) -> int:
        rows = min(self.predict.strip_rows, self.predict.rows - self._row)
        return rows * self.predict.row_samples * self.predict.sample_bytes

    def feed(self, data: bytes | memoryview) -> Iterator[bytes | memoryview]:
        """Consume transformed bytes; yield decoded bytes as soon as they are known."""
        view = memoryview(data)
        start = self.predict.offset
        while view:
            if self._position < start or self._region_done:
                limit = start - self._position if self._position < start else len(view)
                piece, view = view[:limit], view[limit:]
                self._position += len(piece)
                yield piece
                continue
            if self.predict.layout == VARINT:
                yield from self._feed_varint(view)
                view = memoryview(b"")
                continue
            need = self._strip_length() - len(self._pending)
            piece, view = view[:need], view[need:]
            self._pending += piece
            self._position += len(piece)
            if len(self._pending) == self._strip_length():
                raw = np.frombuffer(self._pending, dtype=np.uint8)
                n = len(raw) // self.predict.sample_bytes
                if self.predict.sample_bytes == 2:
                    z = raw[:n].astype(np.uint16) | (raw[n:].astype(np.uint16) << np.uint16(8))
                else:
                    z = raw.copy()
                self._pending = bytearray()
                yield self._undo(z)
                self._region_done = self._row == self.predict.rows

    def _feed_varint(self, view: memoryview) -> Iterator[bytes | memoryview]:
        """Decode whole strips of varints; the bytes after the region go back to ``feed``."""
        self._pending += view
        while not self._region_done:
            rows = min(self.predict.strip_rows, self.predict.rows - self._row)
            wanted = rows * self.predict.row_samples
            buffer = np.frombuffer(self._pending, dtype=np.uint8)
            ends = np.flatnonzero(buffer < 128)
            if len(ends) < wanted:
                if len(self._pending) > 3 * wanted:
                    raise damaged("predict: varints that never end")
                return
            used = int(ends[wanted - 1]) + 1
            values, consumed = varint_decode(buffer[:used])
            assert consumed == used and len(values) == wanted
            rest = bytes(self._pending[used:])
            self._pending = bytearray()
            self._position += used
            yield self._undo(values)
            self._region_done = self._row == self.predict.rows
            if self._region_done and rest:
                yield from self.feed(rest)
                return
            self._pending = bytearray(rest)

    def _undo(self, z: np.ndarray) -> bytes:
        predict = self.predict
        d = _unzigzag(z.astype(self._dtype, copy=False)).reshape(-1, predict.row_samples)
        if self._row == 0:
            p = predict.pixel_samples
            first = d[0].reshape(-1, p)
            d[0] = np.cumsum(first, axis=0, dtype=self._dtype).reshape(-1)
            values = np.cumsum(d, axis=0, dtype=self._dtype)
        else:
            assert self._previous is not None
            values = np.cumsum(d, axis=0, dtype=self._dtype)
            values += self._previous
        self._previous = values[-1].copy()
        self._row += values.shape[0]
        return values.astype(self._dtype, copy=False).tobytes()

    def finish(self) -> None:
        if self._pending or not self._region_done:
            raise damaged("predict: region ends early")
