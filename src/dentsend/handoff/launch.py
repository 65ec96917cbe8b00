"""Starting the user's programs (mail client, file manager) from dentsend.

Two things matter here. A mail program must outlive dentsend, so it runs in its own session with
no pipes to us. And a frozen dentsend (PyInstaller) points ``LD_LIBRARY_PATH`` at its bundled
libraries, which breaks system programs started from it, so their environment gets the original
value back.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

SETTLE_SECONDS = 2.0
"""How long a started program may take to fail before we call the hand-off a success.

A mail client that is already running hands the request to its running instance and exits 0
within this time; one that starts fresh keeps running, which also means it worked."""


def child_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a program of the user's, undoing PyInstaller's library path."""
    result = dict(os.environ if env is None else env)
    if getattr(sys, "frozen", False):
        for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
            original = result.pop(f"{var}_ORIG", None)
            if original is not None:
                result[var] = original
            else:
                result.pop(var, None)
    return result


def launch(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    settle: float = SETTLE_SECONDS,
) -> int | None:
    """Start ``argv`` detached; its exit status if it ended within ``settle`` seconds, else None.

    Raises OSError if the program cannot be started at all.
    """
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_environment(env),
        start_new_session=True,
        close_fds=True,
    )
    try:
        return process.wait(timeout=settle)
    except subprocess.TimeoutExpired:
        log.info("%s is still running after %.1f s: taken as started", argv[0], settle)
        return None


def run_quietly(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    input: str | None = None,
) -> subprocess.CompletedProcess[str] | None:
    """Run a short helper (xdg-mime, gdbus, osascript) to completion; None if it is missing,
    cannot start or hangs. Output is captured, never logged (it may echo file paths)."""
    try:
        return subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            env=child_environment(env),
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("%s did not run: %s", argv[0], type(exc).__name__)
        return None
