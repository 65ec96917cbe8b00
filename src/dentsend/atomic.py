"""Write output files so that they either appear whole or not at all.

A package, a cleaned copy or a preview is written under a hidden temporary name in the target
folder (same file system, so the final rename is atomic) and renamed into place only after it was
completely written and flushed. On any failure, or cancel, the temporary file is removed: no
partial package, and no plaintext left behind. Files are created readable by the user only,
since cleaned copies still show the radiographs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: Path | str, *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success it becomes ``path``.

    With ``overwrite=False`` an existing ``path`` is never replaced, not even by a file that
    appears while this one is being written (``FileExistsError``).
    """
    target = Path(path)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    if not overwrite and target.exists():
        raise FileExistsError(target)
    temp = folder / f".{target.name}.{secrets.token_hex(4)}.part"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            temp.replace(target)
        else:
            move_without_replacing(temp, target)
        _sync_folder(folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def move_without_replacing(temp: Path, target: Path) -> None:
    """Rename ``temp`` to ``target`` only if ``target`` does not exist, atomically where the
    file system has hard links (a link fails if the name is taken)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError:  # FAT, exFAT and some network shares have no hard links
        if target.exists():
            raise FileExistsError(target) from None
        temp.replace(target)
        return
    temp.unlink()


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows has no folder handles to sync."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse to sync a folder; the data is synced already
        pass
    finally:
        os.close(fd)
