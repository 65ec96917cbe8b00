"""The frozen executables' entry point: the same ``main`` as ``python -m dentsend``.

A separate script rather than ``dentsend/__main__.py`` because a frozen program must call
``multiprocessing.freeze_support()`` before anything else: on Windows and macOS a worker process
started by ``multiprocessing`` re-runs this executable, and without it the worker would start a
second copy of the app instead of running its task.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()

    from dentsend.cli import main

    sys.exit(main())
