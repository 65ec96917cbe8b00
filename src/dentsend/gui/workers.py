"""Background work: every decode, clean, estimate and encryption runs off the GUI thread.

A :class:`Task` wraps a plain function from the core and reports back through Qt signals, which
Qt delivers on the GUI thread (the signal object lives there). :class:`Workers` owns the thread
pools and keeps each task alive until its result has been delivered, so no Python wrapper is
collected while C++ still runs it.

Pools, and why there are three:

- ``load``: several threads, one fresh :class:`~dentsend.intake.Radiograph` per task, so loads and
  thumbnails of many dropped files run side by side.
- ``render``: one thread. It alone touches the radiographs the window keeps (decoding frames,
  windowing), so they are never used by two threads at once.
- ``detail``: one thread for de-identification reports and size estimates; reports load their
  own copy of each file.
- ``quick``: short jobs that must not wait behind a report (passphrase ratings, certificates).

Packages are built on their own :class:`~PySide6.QtCore.QThreadPool` thread with a cancel event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from dentsend.errors import DentsendError

log = logging.getLogger(__name__)

#: Progress reports closer together than this are merged: a flood of queued signals would
#: itself keep the event loop busy.
PROGRESS_INTERVAL_S = 0.05


class TaskSignals(QObject):
    finished = Signal(object)
    """The function's return value."""
    failed = Signal(str)
    """One sentence for the user (a :class:`DentsendError`, or "unexpected error")."""
    progress = Signal(float, str)
    """Share done (0…1) and what is happening, for long tasks."""
    partial = Signal(object)
    """A piece of the result delivered early (one file's report of many)."""
    done = Signal()
    """Emitted last, after ``finished`` or ``failed``: the task can be forgotten."""


class Task(QRunnable):
    """Run ``fn(*args, **kwargs)`` on a pool thread and signal the outcome on the GUI thread.

    With ``with_progress=True`` the function also receives ``progress=`` (a callable taking a
    share and a message, throttled here) and ``cancel=`` (a :class:`threading.Event`); with
    ``with_partial=True`` it receives ``partial=`` (a callable delivering pieces early) and
    ``cancel=``.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        with_progress: bool = False,
        with_partial: bool = False,
        name: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Workers keeps it until ``done``
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.name = name or getattr(fn, "__name__", "task")
        self.signals = TaskSignals()
        self.cancel = threading.Event()
        self.with_progress = with_progress
        self.with_partial = with_partial
        self._last_progress = 0.0

    def _progress(self, share: float, message: str = "") -> None:
        now = time.monotonic()
        if share < 1.0 and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self.signals.progress.emit(float(share), message)

    def run(self) -> None:
        try:
            self._run()
        except RuntimeError as exc:
            # The window (and with it the signal object) went away while the task ran, e.g.
            # on quit: there is nobody left to tell.
            if "deleted" not in str(exc):
                raise

    def _run(self) -> None:
        kwargs = dict(self.kwargs)
        if self.with_progress:
            kwargs["progress"] = self._progress
            kwargs["cancel"] = self.cancel
        if self.with_partial:
            kwargs["partial"] = self.signals.partial.emit
            kwargs["cancel"] = self.cancel
        try:
            result = self.fn(*self.args, **kwargs)
        except DentsendError as exc:
            self.signals.failed.emit(str(exc))
        except Exception:
            # A bug, not a user error: the details go to the log window, not a dialog.
            log.exception("%s failed", self.name)
            self.signals.failed.emit(
                "Something went wrong inside dentsend; the log (Ctrl+L) has the details."
            )
        else:
            self.signals.finished.emit(result)
        self.signals.done.emit()


class Workers(QObject):
    """The app's thread pools and the tasks in flight."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.load_pool = QThreadPool(self)
        self.load_pool.setMaxThreadCount(
            max(2, min(4, QThreadPool.globalInstance().maxThreadCount()))
        )
        self.render_pool = QThreadPool(self)
        self.render_pool.setMaxThreadCount(1)
        self.detail_pool = QThreadPool(self)
        self.detail_pool.setMaxThreadCount(1)
        self.package_pool = QThreadPool(self)
        self.package_pool.setMaxThreadCount(1)
        self.quick_pool = QThreadPool(self)
        self.quick_pool.setMaxThreadCount(2)
        self._running: set[Task] = set()

    def start(
        self,
        pool: QThreadPool,
        task: Task,
        *,
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
    ) -> Task:
        for signal, callback in (
            (task.signals.finished, on_finished),
            (task.signals.failed, on_failed),
            (task.signals.progress, on_progress),
            (task.signals.partial, on_partial),
        ):
            if callback is not None:
                signal.connect(self._while_alive(callback))
        task.signals.done.connect(lambda: self._running.discard(task))
        self._running.add(task)
        pool.start(task)
        return task

    def _while_alive(self, callback: Callable[..., None]) -> Callable[..., None]:
        """The callback, skipped once the window that owns these workers is gone.

        A result can arrive after its window was closed (a load finishing on quit); the
        callbacks are plain functions, which Qt does not disconnect by itself.
        """

        def guarded(*args: Any) -> None:
            if shiboken6.isValid(self):
                callback(*args)

        return guarded

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def cancel_all(self) -> None:
        for task in list(self._running):
            task.cancel.set()
        for pool in (self.load_pool, self.render_pool, self.detail_pool, self.quick_pool):
            pool.clear()  # queued tasks that never started are dropped

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Wait for every pool to finish (on quit, after :meth:`cancel_all`)."""
        return all(
            pool.waitForDone(timeout_ms)
            for pool in (
                self.load_pool,
                self.render_pool,
                self.detail_pool,
                self.quick_pool,
                self.package_pool,
            )
        )
