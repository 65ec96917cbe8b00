"""Shared test set-up: every test runs with its own app folders and an in-memory keyring.

Tests that need a browser, GnuPG or a display call :func:`require`, which skips on a developer
machine without the tool but fails when ``DENTSEND_REQUIRE_ALL=1`` (CI), so nothing skips there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SUPPORT = Path(__file__).resolve().parent / "support"
sys.path.insert(0, str(SUPPORT))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def require(condition: bool, what: str) -> None:
    """Skip (developer machine) or fail (CI: ``DENTSEND_REQUIRE_ALL=1``) if ``what`` is missing."""
    if condition:
        return
    if os.environ.get("DENTSEND_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is required (DENTSEND_REQUIRE_ALL=1) but missing")
    pytest.skip(f"{what} is not available")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"the {name!r} program")
    assert path is not None
    return path


def fixture_file(name: str) -> Path:
    """A real file from ``../shared/data/fixtures`` (or the copy under ``tests/data``)."""
    for folder in (REPO / "tests" / "data" / "fixtures", SHARED_DATA / "fixtures"):
        if (folder / name).exists():
            return folder / name
    require(False, f"the fixture {name}")
    raise AssertionError  # unreachable


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point the app's data, config and documents folders and the keyring at a temp folder."""
    import keyring

    from memory_keyring import MemoryKeyring

    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DOCUMENTS_DIR", "Documents"),
    ):
        (home / sub).mkdir()
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("DENTSEND_TEST_KEYRING", str(home / "keyring.json"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "memory_keyring.TempFileKeyring")
    # dentsend trusts only OS keychains; the test backends (TempFileKeyring derives from it)
    # are trusted by this explicit opt-in (see dentsend.keychain)
    monkeypatch.setenv("DENTSEND_TRUSTED_KEYRING", "memory_keyring.MemoryKeyring")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])
    )
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield home
    keyring.set_keyring(previous)


def run_cli(
    *args: str | os.PathLike[str],
    input: str | None = None,
    check: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``dentsend`` as the user would, in a subprocess (exit code, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "dentsend", *map(str, args)],
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dentsend {args} failed ({result.returncode}):\n{result.stderr}")
    return result
