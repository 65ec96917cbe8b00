"""Decryption whose output is capped, so that a decompression bomb cannot exhaust memory.

An OpenPGP message may compress its content, and the compression sits inside the encryption:
nothing about the plaintext's size can be known before decrypting. A 2 MB message can inflate
to gigabytes, and pysequoia 0.1.35 collects all of it in memory (then copies it into a Python
``bytes``), with no limit and no way to stop it from Python: the call holds the GIL to the end.

So the decryption runs in a worker process (``multiprocessing``, "spawn": the same on every OS,
and frozen builds support it through ``multiprocessing.freeze_support()`` in the launcher):

* Linux and macOS: the worker has Sequoia *stream* the plaintext into a pipe
  (``decrypt_file`` to ``/dev/fd/N``); this process reads it and stops the worker as soon as the
  limit is passed. Neither process ever holds more than the limit. (A memory rlimit would not
  do: macOS does not enforce ``RLIMIT_AS``.)
* Windows, which has no path for a pipe that Sequoia could open: the worker puts itself in a
  Job object whose memory limit allows the capped plaintext and no more, decrypts in memory,
  and sends the result. A bomb makes the allocation fail and the worker die. (The tests run
  this in-memory path on Linux, with ``RLIMIT_AS`` in place of the Job object.)

The ciphertext reaches the worker as a temporary file (:func:`spooled`); it is encrypted, and
removed afterwards. The plaintext never touches the disk. A secret key and its passphrase go to
the worker through the pipe ``multiprocessing`` starts it with, never through a file.

A script that calls this from its top level needs the usual ``if __name__ == "__main__":``
guard, as for any use of ``multiprocessing``; the ``dentsend`` command, ``python -m dentsend``,
the frozen app and the tests have it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dentsend.errors import DentsendError

if TYPE_CHECKING:  # multiprocessing itself is imported when a message is opened, not before
    from multiprocessing.connection import Connection

log = logging.getLogger(__name__)

#: No plaintext larger than this is ever accepted (the signed-only path uses it too).
MAX_PLAINTEXT_BYTES = 2 * 1024**3
#: A message may expand this many times (a ZIP of radiographs hardly expands at all) …
EXPANSION_RATIO = 64
#: … and any message at least to this size, so that small, very compressible ones still open.
MIN_PLAINTEXT_ALLOWANCE = 64 * 1024**2

_CHUNK = 1024 * 1024
#: Streaming needs a path for a pipe that Sequoia can open for writing.
STREAMING = os.name == "posix"


def plaintext_limit(message_size: int) -> int:
    """The largest plaintext accepted from a message of ``message_size`` bytes."""
    allowance = max(MIN_PLAINTEXT_ALLOWANCE, EXPANSION_RATIO * message_size)
    return min(MAX_PLAINTEXT_BYTES, allowance)


class TooLarge(DentsendError):
    """The plaintext would be larger than the limit (a decompression bomb, or just too big)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the message expands to more than {_size(limit)} when decrypted and is refused "
            "(a decompression bomb, or too large to open here)"
        )


def _size(count: int) -> str:
    if count >= 1024**3:
        return f"{count / 1024**3:.0f} GiB"
    return f"{count / 1024**2:.0f} MiB"


@dataclass(frozen=True)
class Opener:
    """One way to open a message: a secret key (unlocked in the worker) or passphrases."""

    key: bytes | None
    key_label: str
    key_passphrase: str | None
    passwords: tuple[str, ...]


class DecryptionFailed(Exception):
    """Sequoia could not decrypt; ``str()`` is its first error line, for the caller to word."""


@contextlib.contextmanager
def spooled(data: bytes) -> Iterator[Path]:
    """``data`` (a ciphertext) in a private temporary file, removed afterwards."""
    try:
        handle, name = tempfile.mkstemp(prefix="dentsend-", suffix=".pgp")
    except OSError as exc:
        raise DentsendError(
            f"no temporary file could be made for decrypting ({exc.strerror or exc})"
        ) from None
    path = Path(name)
    try:
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
        except OSError as exc:
            raise DentsendError(
                f"the temporary file for decrypting could not be written ({exc.strerror or exc})"
            ) from None
        yield path
    finally:
        path.unlink(missing_ok=True)


def decrypt(ciphertext: Path, opener: Opener, limit: int, *, streaming: bool = STREAMING) -> bytes:
    """The plaintext of the message in ``ciphertext``, decrypted in a worker process.

    Raises :class:`TooLarge` beyond ``limit`` bytes, :class:`DecryptionFailed` when Sequoia
    cannot decrypt, and :class:`DentsendError` when the key cannot be unlocked.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    control, worker_control = context.Pipe()
    output, worker_output = context.Pipe(duplex=False) if streaming else (None, None)
    worker = context.Process(
        target=_worker,
        args=(worker_control, worker_output, str(ciphertext), opener, limit),
        name="dentsend-openpgp-decrypt",
        daemon=True,
    )
    worker.start()
    worker_control.close()
    if worker_output is not None:
        worker_output.close()  # the worker holds the only writing end now: EOF when it is done
    try:
        if output is not None:
            plaintext = _read_stream(output, worker, limit)
            outcome = _outcome(control, worker)
        else:
            outcome = _outcome(control, worker)
            plaintext = control.recv_bytes(limit) if outcome == ("ok", None) else b""
    except BaseException:  # too large, or interrupted: the worker must not run on
        worker.kill()
        raise
    finally:
        worker.join(timeout=30)
        if worker.is_alive():
            worker.kill()
            worker.join()
        control.close()
        if output is not None:
            output.close()
    kind, detail = outcome
    if kind == "ok":
        return plaintext
    if kind == "too-large":
        raise TooLarge(limit)
    if kind == "refused":
        raise DentsendError(str(detail))
    if kind == "failed":
        raise DecryptionFailed(str(detail))
    # The worker died without a word: with a memory limit (Windows), that is the limit at work.
    log.warning("the decryption worker stopped (exit code %s)", worker.exitcode)
    if output is None:
        raise DentsendError(
            "the message could not be decrypted within the memory allowed "
            f"(it may expand to more than {_size(limit)}: a decompression bomb)"
        )
    raise DentsendError(f"the decryption stopped unexpectedly (worker exit code {worker.exitcode})")


def _read_stream(output: Connection, worker: Any, limit: int) -> bytes:
    """Everything the worker streams, until it closes the pipe or exits; at most ``limit``."""
    from multiprocessing.connection import wait

    received = io.BytesIO()
    descriptor = output.fileno()
    while True:
        ready = wait([output, worker.sentinel])
        if output not in ready:
            break  # the worker is gone and the pipe has nothing more
        chunk = os.read(descriptor, _CHUNK)
        if not chunk:
            break
        if received.tell() + len(chunk) > limit:
            raise TooLarge(limit)
        received.write(chunk)
    return received.getvalue()


def _outcome(control: Connection, worker: Any) -> tuple[str, object]:
    from multiprocessing.connection import wait

    try:
        if not wait([control, worker.sentinel]) or not control.poll():
            return "died", None
        message = control.recv()
    except (EOFError, OSError):
        return "died", None
    if not (isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], str)):
        return "died", None
    return message[0], message[1]


# -- the worker process --------------------------------------------------------------------


def _worker(
    control: Connection, output: Connection | None, ciphertext: str, opener: Opener, limit: int
) -> None:
    """Decrypt, send ``("ok", None)`` (and, without streaming, the plaintext) or the reason."""
    import pysequoia

    from dentsend.openpgp.message import unlock_secret_key
    from dentsend.openpgp.packets import SEQUOIA_ERRORS

    try:
        decryptor = None
        if opener.key is not None:
            decryptor = unlock_secret_key(
                opener.key, opener.key_label, opener.key_passphrase, purpose="decrypt"
            )
        passwords = list(opener.passwords)
        if output is not None:
            pysequoia.decrypt_file(
                ciphertext,
                f"/dev/fd/{output.fileno()}",
                decryptor=decryptor,
                passwords=passwords,
            )
            output.close()
            control.send(("ok", None))
            return
        try:
            _cap_own_memory(limit)
        except OSError as exc:  # fail closed: no decryption without the limit in place
            raise DentsendError(f"the decryption's memory limit could not be set ({exc})") from None
        result = pysequoia.decrypt(
            Path(ciphertext).read_bytes(), decryptor=decryptor, passwords=passwords
        )
        plaintext = result.bytes or b""
        if len(plaintext) > limit:
            control.send(("too-large", None))
            return
        control.send(("ok", None))
        control.send_bytes(plaintext)
    except DentsendError as exc:
        control.send(("refused", str(exc)))
    except MemoryError:
        control.send(("too-large", None))
    except SEQUOIA_ERRORS as exc:
        text = str(exc).strip()
        control.send(("failed", text.splitlines()[0] if text else type(exc).__name__))


#: The worker's own needs (interpreter, pysequoia, the ciphertext) on top of the plaintext.
_WORKER_OVERHEAD = 512 * 1024**2


def _cap_own_memory(limit: int) -> None:
    """Limit this (worker) process's memory to what a plaintext of ``limit`` bytes needs.

    pysequoia builds the plaintext in a growing buffer and then copies it, so up to three times
    the plaintext can be allocated at once.
    """
    budget = 3 * limit + _WORKER_OVERHEAD
    if os.name == "nt":
        _windows_job_limit(budget)
        return
    import resource

    in_use = _address_space_in_use()
    resource.setrlimit(resource.RLIMIT_AS, (in_use + budget, in_use + budget))


def _address_space_in_use() -> int:
    """Linux: the process's current virtual size (``RLIMIT_AS`` counts all of it)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _windows_job_limit(budget: int) -> None:  # pragma: no cover - Windows only
    """Put this process in a new Job object with a committed-memory limit of ``budget``.

    A process may assign itself to a job (nested jobs, Windows 8 and later). When an allocation
    would pass the limit it fails, and the worker ends; the parent then refuses the message.
    """
    import ctypes
    from ctypes import wintypes

    class IoCounters(ctypes.Structure):
        _fields_ = [(name, ctypes.c_ulonglong) for name in (
            "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
            "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]  # fmt: skip

    class BasicLimits(ctypes.Structure):
        _fields_ = [
            ("PerProcessUserTimeLimit", ctypes.c_int64),
            ("PerJobUserTimeLimit", ctypes.c_int64),
            ("LimitFlags", wintypes.DWORD),
            ("MinimumWorkingSetSize", ctypes.c_size_t),
            ("MaximumWorkingSetSize", ctypes.c_size_t),
            ("ActiveProcessLimit", wintypes.DWORD),
            ("Affinity", ctypes.c_size_t),
            ("PriorityClass", wintypes.DWORD),
            ("SchedulingClass", wintypes.DWORD),
        ]

    class ExtendedLimits(ctypes.Structure):
        _fields_ = [
            ("BasicLimitInformation", BasicLimits),
            ("IoInfo", IoCounters),
            ("ProcessMemoryLimit", ctypes.c_size_t),
            ("JobMemoryLimit", ctypes.c_size_t),
            ("PeakProcessMemoryUsed", ctypes.c_size_t),
            ("PeakJobMemoryUsed", ctypes.c_size_t),
        ]

    job_object_limit_process_memory = 0x100
    job_object_extended_limit_information = 9
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        raise OSError(ctypes.get_last_error(), "CreateJobObject failed")  # type: ignore[attr-defined]
    limits = ExtendedLimits()
    limits.BasicLimitInformation.LimitFlags = job_object_limit_process_memory
    limits.ProcessMemoryLimit = budget
    if not kernel32.SetInformationJobObject(
        job, job_object_extended_limit_information, ctypes.byref(limits), ctypes.sizeof(limits)
    ):
        raise OSError(ctypes.get_last_error(), "SetInformationJobObject failed")  # type: ignore[attr-defined]
    if not kernel32.AssignProcessToJobObject(job, kernel32.GetCurrentProcess()):
        raise OSError(ctypes.get_last_error(), "AssignProcessToJobObject failed")  # type: ignore[attr-defined]
