"""Real browsers for tests: Chromium (Playwright), Firefox ESR (Marionette), WebKitGTK (Selenium).

Each is Debian's own build, driven as ``/work/shared/BROWSERS.md`` describes; nothing is downloaded.
The fixtures are session-scoped (starting a browser costs seconds) and hand out fresh pages or
profiles per test. Use them by importing into a test module::

    from browsers import chromium, chromium_page, firefox, webkit  # noqa: F401  (pytest fixtures)

Every fixture calls :func:`conftest.require`, so a missing browser skips locally and fails in CI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import require

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    return (
        os.environ.get("DENTSEND_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------------------
# Chromium


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium under Playwright (a ``playwright.sync_api.Browser``)."""
    executable = chromium_executable()
    require(executable is not None, "Chromium (Debian package 'chromium')")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package")
        raise
    # Each test module that imports this fixture gets its own session-scoped copy, but Playwright's
    # sync API cannot start twice in one process: the first copy launches, later ones share it.
    if "browser" in _SHARED_CHROMIUM:
        yield _SHARED_CHROMIUM["browser"]
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        _SHARED_CHROMIUM["browser"] = browser
        try:
            yield browser
        finally:
            _SHARED_CHROMIUM.clear()
            browser.close()


_SHARED_CHROMIUM: dict[str, Any] = {}


@dataclass
class RecordedPage:
    """A Chromium page plus every network request it made (a bundle must make none)."""

    page: Any
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def network_requests(self) -> list[str]:
        """Requests other than the page itself and its own blob:/data: URLs."""
        return [
            url
            for url in self.requests
            if not url.startswith(("file://", "blob:", "data:", "about:"))
        ]


@pytest.fixture
def chromium_page(chromium: Any) -> Iterator[RecordedPage]:
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    recorded = RecordedPage(page)
    page.on("request", lambda request: recorded.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            recorded.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    yield recorded
    context.close()


# ---------------------------------------------------------------------------------------------
# Xvfb (WebKitGTK needs a display)


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """A private X display for the session (``:NN``), torn down at the end."""
    xvfb = shutil.which("Xvfb")
    require(xvfb is not None, "Xvfb (Debian package 'xvfb')")
    assert xvfb is not None
    for number in range(90, 130):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        display = f":{number}"
        process = subprocess.Popen(
            [xvfb, display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            if process.poll() is not None:
                break
            time.sleep(0.05)
        if process.poll() is None:
            try:
                yield display
            finally:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
            return
    require(False, "a free X display number for Xvfb")


# ---------------------------------------------------------------------------------------------
# Firefox ESR


@dataclass
class FirefoxSession:
    """A Marionette client with a download folder that saves without asking."""

    client: Any
    download_dir: Path


@pytest.fixture(scope="session")
def firefox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirefoxSession]:
    executable = shutil.which("firefox-esr") or shutil.which("firefox")
    require(executable is not None, "Firefox ESR (Debian package 'firefox-esr')")
    try:
        from marionette_driver.marionette import Marionette
    except ImportError:
        require(False, "the marionette-driver Python package")
        raise
    downloads = tmp_path_factory.mktemp("firefox-downloads")
    prefs = {
        "browser.download.folderList": 2,
        "browser.download.dir": str(downloads),
        "browser.download.useDownloadDir": True,
        "browser.download.always_ask_before_handling_new_types": False,
        "browser.download.manager.showWhenStarting": False,
        "browser.helperApps.neverAsk.saveToDisk": (
            "application/octet-stream,application/zip,application/dicom,image/jpeg,image/png,"
            "image/tiff,image/bmp,application/json"
        ),
        "pdfjs.disabled": True,
        "network.proxy.type": 0,
    }
    client = Marionette(
        host="127.0.0.1",
        port=free_port(),
        bin=executable,
        headless=True,
        prefs=prefs,
        gecko_log=str(downloads.parent / "gecko.log"),  # not the current folder
    )
    client.start_session()
    try:
        yield FirefoxSession(client, downloads)
    finally:
        with contextlib.suppress(Exception):
            client.delete_session()
        with contextlib.suppress(Exception):
            client.cleanup()


# ---------------------------------------------------------------------------------------------
# WebKitGTK (the Safari engine)


@dataclass
class WebKitSession:
    """A Selenium WebKitGTK driver (MiniBrowser) and the folder its downloads land in."""

    driver: Any
    download_dir: Path


@pytest.fixture(scope="session")
def webkit(xvfb_display: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebKitSession]:
    driver_path = shutil.which("WebKitWebDriver")
    minibrowsers = sorted(str(p) for p in Path("/usr/lib").glob("*/webkit2gtk-4.*/MiniBrowser"))
    require(
        driver_path is not None and bool(minibrowsers),
        "WebKitGTK's WebKitWebDriver and MiniBrowser (Debian package 'webkit2gtk-driver')",
    )
    try:
        from selenium import webdriver
    except ImportError:
        require(False, "the selenium Python package")
        raise
    # MiniBrowser saves downloads in $HOME; give it a private one. The environment is only
    # needed while the driver starts the browser, so it is restored straight away.
    home = tmp_path_factory.mktemp("webkit-home")
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "HOME")}
    os.environ["DISPLAY"] = xvfb_display
    os.environ["HOME"] = str(home)
    options = webdriver.WebKitGTKOptions()
    options.binary_location = minibrowsers[-1]
    options.add_argument("--automation")
    try:
        driver = webdriver.WebKitGTK(
            options=options, service=webdriver.WebKitGTKService(executable_path=driver_path)
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield WebKitSession(driver, home)
    finally:
        with contextlib.suppress(Exception):
            driver.quit()


def wait_for_file(folder: Path, name: str, timeout: float = 30.0) -> Path:
    """Wait until a download named ``name`` is complete in ``folder`` (no partial suffix)."""
    deadline = time.monotonic() + timeout
    target = folder / name
    while time.monotonic() < deadline:
        partials = list(folder.glob("*.part")) + list(folder.glob("*.download"))
        if target.exists() and not partials and target.stat().st_size > 0:
            return target
        time.sleep(0.1)
    present = sorted(p.name for p in folder.iterdir())
    raise AssertionError(f"{name} did not appear in {folder}: {present}")
