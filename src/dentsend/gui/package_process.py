"""Build an OpenPGP package in a worker *process*, so the window never freezes.

pysequoia 0.1.35 encrypts a whole message in one call that holds Python's GIL to the end: about
0.75 s per 100 MB here, during which a worker *thread* would stop the GUI thread too (the
window could not repaint or take a click). A separate process has its own GIL. The HTML package
streams in small steps that release the GIL, so it stays on a thread (no process start-up).

The process is started with "spawn" (the same on every OS; frozen builds support it through
``multiprocessing.freeze_support()`` in the launcher, as :mod:`dentsend.openpgp.bounded` does).
It sends progress and the result through a pipe; Cancel sets an event that the pipeline checks
between steps. The pipeline's atomic writes leave no file behind on cancel or failure; should
the process have to be killed, its temporary output is removed here.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from dentsend.errors import DentsendError

if TYPE_CHECKING:
    from dentsend.pipeline import PackRequest, PackResult

log = logging.getLogger(__name__)

#: After Cancel, how long the process may take to notice before it is stopped by force
#: (one encryption call cannot be interrupted).
CANCEL_GRACE_S = 60.0
_PROGRESS_INTERVAL_S = 0.05


def _child(request: PackRequest, connection: Connection, stop: Any) -> None:
    """The worker process: make the package, report progress, send the result or the error."""
    from dentsend.pipeline import pack

    last = 0.0

    def progress(share: float, message: str) -> None:
        nonlocal last
        now = time.monotonic()
        if share >= 1.0 or now - last >= _PROGRESS_INTERVAL_S:
            last = now
            connection.send(("progress", (share, message)))

    try:
        result = pack(request, progress=progress, cancel=stop)
    except DentsendError as exc:
        connection.send(("failed", str(exc)))
    except BaseException as exc:  # a bug: say so; the parent logs it
        connection.send(("crashed", f"{type(exc).__name__}: {exc}"))
    else:
        connection.send(("done", result))
    finally:
        connection.close()


def pack_in_process(
    request: PackRequest,
    *,
    progress: Callable[[float, str], None],
    cancel: threading.Event,
) -> PackResult:
    """:func:`dentsend.pipeline.pack` in a separate process; same result, same errors."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    stop = context.Event()
    process = context.Process(
        target=_child, args=(request, sender, stop), name="dentsend-package", daemon=True
    )
    process.start()
    sender.close()
    cancelled_at: float | None = None
    try:
        while True:
            if cancel.is_set() and cancelled_at is None:
                stop.set()
                cancelled_at = time.monotonic()
            if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE_S:
                _kill(process, request)
                raise DentsendError("cancelled; no package was written")
            if receiver.poll(0.05):
                try:
                    kind, payload = receiver.recv()
                except EOFError:
                    raise DentsendError(
                        "the package could not be made: its worker process stopped unexpectedly"
                    ) from None
                if kind == "progress":
                    progress(*payload)
                elif kind == "done":
                    result: PackResult = payload
                    return result
                elif kind == "failed":
                    raise DentsendError(payload)
                else:
                    log.error("the package process failed: %s", payload)
                    raise DentsendError(
                        "Something went wrong inside dentsend; the log (Ctrl+L) has the details."
                    )
            elif not process.is_alive() and not receiver.poll():
                raise DentsendError(
                    "the package could not be made: its worker process stopped unexpectedly"
                )
    finally:
        receiver.close()
        process.join(5)
        if process.is_alive():
            _kill(process, request)


def _kill(process: Any, request: PackRequest) -> None:
    """Stop the process by force and remove the temporary files it was writing."""
    process.terminate()
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join()
    folder = request.output.parent
    for leftover in folder.glob(f".{request.output.stem}*.part"):
        with contextlib.suppress(OSError):
            leftover.unlink()
