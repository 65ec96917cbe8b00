"""Turn stored pixel values into display values.

The DICOM grayscale pipeline (PS3.3 C.11, PS3.4 N.2): stored values → modality LUT or
rescale slope/intercept → VOI LUT or window → MONOCHROME1 inversion → 8-bit display. Colour
images are shown as they are (palette looked up, YBR already converted to RGB by pydicom).

Detector values are integers with at most 16 bits, so instead of pushing millions of pixels
through floating-point arithmetic the pipeline is evaluated once per possible stored value and
the pixels are looked up in that table. A re-window (dragging in a viewer) re-evaluates only the
table, which is why :class:`FrameRenderer` keeps the decoded frame.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dentsend.errors import FileProblem
from dentsend.intake import Kind, Radiograph, Window

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Share of pixels ignored at each end when a window is derived from the histogram, so a few hot
#: or dead pixels, a lead marker or a black border do not flatten the contrast.
DEFAULT_WINDOW_PERCENTILES = (0.5, 99.5)
#: Widest range of stored values evaluated as a lookup table.
_MAX_TABLE = 1 << 20


@dataclass(frozen=True)
class ValueRange:
    """The smallest and largest modality value in a frame, for window presets and dragging."""

    low: float
    high: float


class FrameRenderer:
    """One decoded frame, ready to be displayed under any window.

    Grayscale frames hold a lookup table from stored value to modality value; :meth:`image`
    windows that table and looks the pixels up in it.
    """

    def __init__(self, radiograph: Radiograph, frame: int = 0) -> None:
        self.radiograph = radiograph
        self.frame_index = frame
        self.values = radiograph.frame(frame)
        self.is_color = self.values.ndim == 3 or radiograph.photometric == "PALETTE COLOR"
        self._table_offset = 0
        self._modality_table: NDArray[Any] | None = None
        self._counts: NDArray[np.int64] | None = None
        if not self.is_color:
            with _bad_attributes_reported(radiograph):
                self._prepare_grey()

    # -- grayscale ----------------------------------------------------------------------------

    def _prepare_grey(self) -> None:
        values = self.values
        if values.dtype.kind in "iu" and values.size:
            low, high = int(values.min()), int(values.max())
            if high - low < _MAX_TABLE:
                self._table_offset = low
                stored = np.arange(low, high + 1, dtype=np.int64)
                self._modality_table = self._modality(stored)
                self._counts = np.bincount(
                    (values.astype(np.int64, copy=False) - low).ravel(), minlength=high - low + 1
                )

    def _modality(self, stored: NDArray[Any]) -> NDArray[Any]:
        ds = self.radiograph.dataset
        if ds is None:
            return stored.astype(np.float64)
        from pydicom.pixels import apply_modality_lut

        if "ModalityLUTSequence" in ds or "RescaleSlope" in ds or "RescaleIntercept" in ds:
            return np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
        return stored.astype(np.float64)

    @property
    def value_range(self) -> ValueRange:
        """Modality values present in the frame (for colour: the 8-bit display range)."""
        if self.is_color:
            return ValueRange(0.0, 255.0)
        if self._modality_table is not None:
            return ValueRange(float(self._modality_table.min()), float(self._modality_table.max()))
        modality = self._modality(self.values)
        return ValueRange(float(np.nanmin(modality)), float(np.nanmax(modality)))

    @property
    def file_window(self) -> Window | None:
        """The first window the file suggests, if any (a VOI LUT is not a window)."""
        windows = self.radiograph.windows
        return windows[0] if windows else None

    @property
    def uses_voi_lut(self) -> bool:
        return self.radiograph.has_voi_lut and not self.radiograph.windows

    def default_window(self) -> Window:
        """The window shown first: the file's, else one derived from the histogram."""
        if self.file_window is not None:
            return self.file_window
        return self.histogram_window()

    def histogram_window(self) -> Window:
        """A window spanning the 0.5th–99.5th percentile of modality values."""
        if self.is_color:
            return Window(127.5, 256.0, "full range")
        if self._modality_table is not None and self._counts is not None:
            low, high = _weighted_percentiles(
                self._modality_table, self._counts, DEFAULT_WINDOW_PERCENTILES
            )
        else:
            modality = self._modality(self.values)
            low, high = (float(v) for v in np.nanpercentile(modality, DEFAULT_WINDOW_PERCENTILES))
        if not math.isfinite(low) or not math.isfinite(high):
            low, high = 0.0, 1.0
        width = max(high - low, 1.0)
        return Window((low + high) / 2, width, "from histogram")

    def _window_unit(self, modality: NDArray[Any], window: Window | None) -> NDArray[np.float64]:
        """Modality values → 0…1 display values under the window (or the file's VOI)."""
        rg = self.radiograph
        ds = rg.dataset
        if window is None and self.uses_voi_lut and ds is not None:
            from pydicom.pixels import apply_voi

            lut_item = ds.VOILUTSequence[0]
            output_bits = int(lut_item.LUTDescriptor[2])
            shown = np.asarray(apply_voi(modality, ds, index=0), dtype=np.float64)
            top = max(float(2**output_bits - 1), float(shown.max(initial=1.0)), 1.0)
            return np.clip(shown / top, 0.0, 1.0)
        chosen = window or self.default_window()
        function = str(ds.get("VOILUTFunction", "LINEAR")).upper() if ds is not None else "LINEAR"
        if window is not None and window not in rg.windows:
            function = "LINEAR"  # a window chosen by the user is always linear
        return apply_window(modality, chosen, function)

    # -- output -------------------------------------------------------------------------------

    def image(self, window: Window | None = None, *, invert: bool = False) -> NDArray[np.uint8]:
        """The frame as 8-bit display values, ``(rows, columns)`` or ``(rows, columns, 3)``.

        ``window`` overrides the file's window (in modality units). MONOCHROME1 is shown inverted,
        so bone is always light; ``invert`` flips that again on request. Raster orientation
        (EXIF) is applied.
        """
        with _bad_attributes_reported(self.radiograph):
            shown = self._color(window) if self.is_color else self._grey(window)
        monochrome1 = self.radiograph.photometric == "MONOCHROME1"
        if (invert != monochrome1 and not self.is_color) or (invert and self.is_color):
            shown = 255 - shown
        if self.radiograph.kind is Kind.RASTER:
            shown = apply_orientation(shown, self.radiograph.orientation)
        return np.ascontiguousarray(shown)

    def _grey(self, window: Window | None) -> NDArray[np.uint8]:
        rg = self.radiograph
        native_8bit = rg.kind is Kind.RASTER and self.values.dtype == np.uint8
        if native_8bit and window is None:
            return self.values.astype(np.uint8, copy=False)
        if self._modality_table is not None:
            table = _to_uint8(self._window_unit(self._modality_table, window))
            if self._table_offset == 0 and self.values.dtype in (np.uint8, np.uint16):
                looked_up: NDArray[np.uint8] = table[self.values]
            else:
                looked_up = table[self.values.astype(np.int64, copy=False) - self._table_offset]
            return looked_up
        return _to_uint8(self._window_unit(self._modality(self.values), window))

    def _color(self, window: Window | None) -> NDArray[np.uint8]:
        rg = self.radiograph
        values = self.values
        if rg.photometric == "PALETTE COLOR" and rg.dataset is not None:
            from pydicom.pixels import apply_color_lut

            values = apply_color_lut(values, rg.dataset)
            top = float(2 ** int(rg.dataset.RedPaletteColorLookupTableDescriptor[2]) - 1)
            top = max(top, float(values.max(initial=1)), 1.0)
        else:
            top = float(2 ** min(rg.bits_stored, 16) - 1) if values.dtype != np.uint8 else 255.0
        if window is not None:
            unit = apply_window(values.astype(np.float64) * (255.0 / top), window, "LINEAR")
            return _to_uint8(unit)
        if values.dtype == np.uint8 and top == 255.0:
            return values
        return _to_uint8(values.astype(np.float64) / top)


@contextmanager
def _bad_attributes_reported(radiograph: Radiograph) -> Iterator[None]:
    """A malformed rescale, LUT or window attribute is the file's problem, said in one line."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise FileProblem(
            radiograph.path, f"has display attributes dentsend cannot use ({exc})"
        ) from exc


def apply_window(
    values: NDArray[Any], window: Window, function: str = "LINEAR"
) -> NDArray[np.float64]:
    """PS3.3 C.11.2.1.2 windowing, scaled to 0…1 instead of the output bit range."""
    x = np.asarray(values, dtype=np.float64)
    center, width = window.center, window.width
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / width + 0.5, 0.0, 1.0)
    if width <= 1:  # a one-value window is a threshold
        return (x > center - 0.5).astype(np.float64)
    return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def apply_orientation(image: NDArray[Any], orientation: int) -> NDArray[Any]:
    """Apply an EXIF orientation (1–8), matching Pillow's ``ImageOps.exif_transpose``."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1, :]
    if orientation == 5:
        return image.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(image, -1)
    if orientation == 7:
        return image[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(image, 1)
    return image


# --------------------------------------------------------------------------------------------
# geometry between stored and displayed pixels (EXIF orientation)

#: ``(x, y, width, height)`` in whole pixels.
Rect = tuple[int, int, int, int]


@cache
def _orientation_axes(orientation: int) -> tuple[bool, bool, tuple[int, int], tuple[int, int]]:
    """How displayed pixels map to stored ones under an EXIF orientation.

    Found by pushing a small numbered array through :func:`apply_orientation` itself, so the
    geometry and the pixels can never disagree. Returns whether the displayed origin is the
    stored image's last column / last row, and the stored step for one displayed pixel to the
    right and one down.
    """
    rows, columns = 2, 3
    shown = apply_orientation(np.arange(rows * columns).reshape(rows, columns), orientation)

    def stored(value: int) -> tuple[int, int]:
        y, x = divmod(int(value), columns)
        return x, y

    origin, right, down = stored(shown[0, 0]), stored(shown[0, 1]), stored(shown[1, 0])
    step_x = (right[0] - origin[0], right[1] - origin[1])
    step_y = (down[0] - origin[0], down[1] - origin[1])
    return origin[0] == columns - 1, origin[1] == rows - 1, step_x, step_y


def display_size(orientation: int, rows: int, columns: int) -> tuple[int, int]:
    """``(width, height)`` of an image as displayed."""
    _, _, step_x, _ = _orientation_axes(orientation)
    return (columns, rows) if step_x[0] != 0 else (rows, columns)


def _display_point_to_stored(
    x: int, y: int, orientation: int, rows: int, columns: int
) -> tuple[int, int]:
    at_last_x, at_last_y, step_x, step_y = _orientation_axes(orientation)
    origin_x = columns - 1 if at_last_x else 0
    origin_y = rows - 1 if at_last_y else 0
    return origin_x + x * step_x[0] + y * step_y[0], origin_y + x * step_x[1] + y * step_y[1]


def _stored_point_to_display(
    x: int, y: int, orientation: int, rows: int, columns: int
) -> tuple[int, int]:
    at_last_x, at_last_y, step_x, step_y = _orientation_axes(orientation)
    dx = x - (columns - 1 if at_last_x else 0)
    dy = y - (rows - 1 if at_last_y else 0)
    # The steps are orthonormal, so the inverse is the transpose.
    return dx * step_x[0] + dy * step_x[1], dx * step_y[0] + dy * step_y[1]


def _map_rect(rect: Rect, point_map: Callable[[int, int], tuple[int, int]]) -> Rect:
    x, y, width, height = rect
    x1, y1 = point_map(x, y)
    x2, y2 = point_map(x + width - 1, y + height - 1)
    return min(x1, x2), min(y1, y2), abs(x2 - x1) + 1, abs(y2 - y1) + 1


def display_to_stored(rect: Rect, orientation: int, rows: int, columns: int) -> Rect:
    """A box drawn on the displayed image, in the stored pixels' coordinates."""
    return _map_rect(rect, lambda x, y: _display_point_to_stored(x, y, orientation, rows, columns))


def stored_to_display(rect: Rect, orientation: int, rows: int, columns: int) -> Rect:
    """A box in stored coordinates, where it appears on the displayed image."""
    return _map_rect(rect, lambda x, y: _stored_point_to_display(x, y, orientation, rows, columns))


def _to_uint8(unit: NDArray[np.float64]) -> NDArray[np.uint8]:
    return np.rint(unit * 255.0).astype(np.uint8)


def _weighted_percentiles(
    values: NDArray[Any], counts: NDArray[np.int64], percents: tuple[float, float]
) -> tuple[float, float]:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(counts[order])
    total = cumulative[-1]
    picks = []
    for percent in percents:
        rank = min(math.ceil(total * percent / 100.0), int(total))
        index = int(np.searchsorted(cumulative, max(rank, 1)))
        picks.append(float(values[order][min(index, len(order) - 1)]))
    return picks[0], picks[1]


def display_image(
    radiograph: Radiograph, frame: int = 0, window: Window | None = None
) -> NDArray[np.uint8]:
    """Shortcut: the display image of one frame under the file's (or the given) window."""
    return FrameRenderer(radiograph, frame).image(window)


def encode_png(image: NDArray[np.uint8]) -> bytes:
    """An 8-bit grey or RGB image as PNG bytes.

    Written directly rather than through Pillow: one vectorised "Up" filter and zlib level 1
    give the same size as Pillow's adaptive filtering in well under half the time, and previews
    are written often (``dentsend preview`` of a 1955×1841 CR: 35 ms instead of 80 ms).
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError("encode_png takes an 8-bit (rows, columns[, 3]) image")
    rows, columns = image.shape[:2]
    color_type = 0 if image.ndim == 2 else 2
    row_bytes = np.ascontiguousarray(image).reshape(rows, -1)
    filtered = np.empty((rows, row_bytes.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type Up: each byte minus the byte above
    filtered[0, 1:] = row_bytes[0]
    np.subtract(row_bytes[1:], row_bytes[:-1], out=filtered[1:, 1:])

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", columns, rows, 8, color_type, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(filtered.tobytes(), 1)),
            chunk(b"IEND", b""),
        )
    )


def save_png(image: NDArray[np.uint8], path: Path) -> None:
    """Write an 8-bit grey or RGB image as PNG, atomically."""
    from dentsend.atomic import atomic_write

    data = encode_png(image)
    with atomic_write(path) as out:
        out.write(data)
