"""The reference for ``preview_vs_pydicom.py``: the same render with plain pydicom, numpy, Pillow.

Modality LUT → VOI LUT/window (pydicom's functions) → MONOCHROME1 inversion → 8 bits → PNG with
the same encoder settings dentsend uses, so the comparison is about the pipeline.
"""

import sys

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut

source, output = sys.argv[1], sys.argv[2]
ds = pydicom.dcmread(source)
values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds, prefer_lut=False)
bits = int(ds.BitsStored)
low, high = (
    (0, 2**bits - 1)
    if int(ds.PixelRepresentation) == 0
    else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
)
unit = (values.astype(np.float64) - low) / (high - low)
if ds.PhotometricInterpretation == "MONOCHROME1":
    unit = 1.0 - unit
Image.fromarray(np.rint(np.clip(unit, 0, 1) * 255).astype(np.uint8)).save(
    output, format="PNG", compress_level=1
)
