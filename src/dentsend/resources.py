"""Find the files shipped in the top-level ``resources/`` folder.

They live in one of three places: beside the package in a wheel (``dentsend/resources``, mapped
there at build time), in the source checkout (``<repo>/resources``, for editable installs), or in
the PyInstaller bundle (``sys._MEIPASS/resources``).
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path


@cache
def resources_dir() -> Path:
    here = Path(__file__).resolve().parent
    candidates = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "resources")
    candidates += [here / "resources", here.parent.parent / "resources"]
    for candidate in candidates:
        if (candidate / "annex-e").is_dir():
            return candidate
    raise RuntimeError(f"dentsend's resources folder is missing (looked in {candidates})")


def resource_path(*parts: str) -> Path:
    """The path of a shipped resource, e.g. ``resource_path("viewer", "viewer.js")``."""
    return resources_dir().joinpath(*parts)
