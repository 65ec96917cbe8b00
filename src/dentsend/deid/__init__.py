"""De-identification: what leaves the practice of each radiograph.

DICOM files get the PS3.15 Annex E Basic Application Level Confidentiality Profile with the
options the user chose (:mod:`.dicom`); plain images lose their metadata without re-encoding
(:mod:`.raster`); burned-in text is redacted or confirmed absent (:mod:`.redact`); file names
become neutral (:mod:`.names`); every change is reported (:mod:`.report`). Everything happens in
memory: writing files is the caller's business.

Typical use, for one package::

    deid = Deidentifier(options)
    for radiograph in radiographs:
        deid.check(radiograph)          # all files first: no half-made package
    cleaned = [deid.clean(radiograph) for radiograph in radiographs]
"""

from dentsend.deid.deidentifier import CleanFile, Deidentifier, practice_secret
from dentsend.deid.options import CLEAN_OPTIONS, RETAIN_OPTIONS, Box, DeidOptions, Mode
from dentsend.deid.redact import (
    burned_in_check_reason,
    display_box_to_stored,
    display_size,
    needs_burned_in_check,
)
from dentsend.deid.report import Change, FileReport

__all__ = [
    "CLEAN_OPTIONS",
    "RETAIN_OPTIONS",
    "Box",
    "Change",
    "CleanFile",
    "DeidOptions",
    "Deidentifier",
    "FileReport",
    "Mode",
    "burned_in_check_reason",
    "display_box_to_stored",
    "display_size",
    "needs_burned_in_check",
    "practice_secret",
]
