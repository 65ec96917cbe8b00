"""Runtime hook: give a windowed build real (if silent) stdout and stderr.

A windowed Windows executable starts with ``sys.stdout`` and ``sys.stderr`` set to ``None``.
Python's ``print`` tolerates that, but libraries that call ``.write``/``.flush``/``.fileno`` on them
(logging handlers, faulthandler, C-level stderr redirection around GDCM) would raise inside the
app. Pointing them at the null device keeps the GUI build and the console build on the same paths.
"""

import os
import sys
from pathlib import Path

for _name in ("stdout", "stderr"):
    if getattr(sys, _name) is None:
        # stays open for the life of the process, like the real streams
        setattr(sys, _name, Path(os.devnull).open("w", encoding="utf-8"))  # noqa: SIM115
