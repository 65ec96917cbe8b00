"""File names in a package: neutral when de-identified, the original when kept.

Practices name exports after the patient ("Mueller_Anna_1961-04-23_pano.dcm"), so a de-identified
file never takes anything from its original name: it is named by modality and a counter
(``IO-01.dcm``, ``PX-01.dcm``, ``image-03.jpg``).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import PurePath

from dentsend.intake import Kind, Radiograph

_MODALITY = re.compile(r"[A-Z0-9]{1,8}")
_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "DICOM": ".dcm"}


class Namer:
    """Hands out names for one package, so no two files get the same one."""

    def __init__(self) -> None:
        self._counters: Counter[str] = Counter()
        self._used: set[str] = set()

    def neutral(self, radiograph: Radiograph, fmt: str | None = None) -> str:
        """``IO-01.dcm`` for DICOM (by modality), ``image-01.png`` for plain images."""
        fmt = fmt or radiograph.format
        if radiograph.kind is Kind.DICOM:
            modality = (radiograph.modality or "").strip().upper()
            prefix = modality if _MODALITY.fullmatch(modality) else "DICOM"
        else:
            prefix = "image"
        while True:
            self._counters[prefix] += 1
            name = f"{prefix}-{self._counters[prefix]:02d}{_EXTENSIONS[fmt]}"
            if name.lower() not in self._used:
                self._used.add(name.lower())
                return name

    def original(self, radiograph: Radiograph) -> str:
        """The original file name (keep mode), made unique within the package."""
        name = PurePath(str(radiograph.path).replace("\\", "/")).name or "file"
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            stem, suffix = name, ""
        candidate, n = name, 1
        while candidate.lower() in self._used:
            n += 1
            candidate = f"{stem}-{n}.{suffix}" if dot else f"{stem}-{n}"
        self._used.add(candidate.lower())
        return candidate
