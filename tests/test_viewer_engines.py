"""The unlock-and-download path in the two other engines: Firefox ESR (Gecko) and WebKitGTK (the
Safari engine). Each saves every file byte-exact under its own name and the "Download all" ZIP.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from browsers import firefox, wait_for_file, webkit, xvfb_display  # noqa: F401  (pytest fixtures)
from viewer_bundles import PASSPHRASE, Input, viewer_inputs, write_viewer_bundle

pytestmark = pytest.mark.browser

#: Download names unique to this module: the browser sessions are shared with other tests.
PREFIX = "engines-"


@pytest.fixture(scope="module")
def inputs() -> list[Input]:
    return viewer_inputs(PREFIX, hostile=False)


@pytest.fixture(scope="module")
def bundle(inputs: list[Input], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_viewer_bundle(tmp_path_factory.mktemp("engines") / "radiographs.html", inputs)


def poll(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # the element is not there yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def new_zip(folder: Path, before: set[str]) -> Path:
    """The ZIP that appeared in ``folder`` since ``before`` (complete: no partial file left)."""

    def complete() -> Path | None:
        fresh = [p for p in folder.rglob("*.zip") if str(p) not in before]
        partial = list(folder.rglob("*.part")) + list(folder.rglob("*.download"))
        # More than one only if a retried click (click_until) saved it twice.
        return fresh[0] if fresh and not partial and fresh[0].stat().st_size else None

    found: Path = poll(complete, f"a new ZIP in {folder}")
    return found


def check_zip(path: Path, inputs: list[Input]) -> None:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [*(item.name for item in inputs), "manifest.json"]
        for item in inputs:
            assert archive.read(item.name) == item.data, item.name
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


def test_firefox_unlocks_and_saves_every_file_and_the_zip(
    firefox: Any,  # noqa: F811
    bundle: Path,
    inputs: list[Input],
) -> None:
    from marionette_driver import By

    client = firefox.client
    client.navigate(bundle.as_uri())
    client.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
    client.find_element(By.ID, "unlock").click()
    links = poll(
        lambda: (found := client.find_elements(By.CSS_SELECTOR, "#files a")) and found,
        "the download links",
    )
    assert [link.get_attribute("download") for link in links] == [i.name for i in inputs]
    for link, item in zip(links, inputs, strict=True):
        assert link.get_attribute("aria-label") == f"Download {item.name}"
        link.click()
        assert wait_for_file(firefox.download_dir, item.name).read_bytes() == item.data
    everything = client.find_element(By.ID, "download-all")
    poll(lambda: everything.get_attribute("href").startswith("blob:"), "the ZIP")
    assert everything.text == "Download all"
    before = {str(p) for p in firefox.download_dir.rglob("*")}
    everything.click()
    check_zip(new_zip(firefox.download_dir, before), inputs)


def settle_viewport(driver: Any) -> None:
    """Wait until the viewport stops changing size.

    MiniBrowser lists downloads in a bar that grows with each one and shrinks the web view a
    moment after the download began; a click dispatched while the page reflows can miss.
    """
    previous = None
    for _ in range(40):
        height = driver.execute_script("return window.innerHeight")
        if height == previous:
            return
        previous = height
        time.sleep(0.15)


def click_until(driver: Any, element: Any, done: Callable[[], Any], what: str) -> Any:
    """Click, and as a user would, once more if nothing happened: a click dispatched while the
    MiniBrowser download bar reflows the page can miss (settle_viewport narrows that window)."""
    settle_viewport(driver)
    element.click()
    try:
        return poll(done, what, 10)
    except AssertionError:
        settle_viewport(driver)
        element.click()
        return poll(done, what, 30)


def test_webkit_unlocks_and_saves_every_file_and_the_zip(
    webkit: Any,  # noqa: F811
    bundle: Path,
    inputs: list[Input],
) -> None:
    from selenium.webdriver.common.by import By

    driver = webkit.driver
    driver.get(bundle.as_uri())
    driver.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
    driver.find_element(By.ID, "unlock").click()
    links = poll(
        lambda: (found := driver.find_elements(By.CSS_SELECTOR, "#files a")) and found,
        "the download links",
    )
    assert [link.get_attribute("download") for link in links] == [i.name for i in inputs]
    folder = webkit.download_dir
    for link, item in zip(links, inputs, strict=True):
        assert link.get_attribute("aria-label") == f"Download {item.name}"

        # MiniBrowser picks the folder under $HOME itself (Downloads, or $HOME): search both.
        def saved_file(name: str = item.name) -> Path | None:
            return next(folder.rglob(name), None)

        try:
            saved = click_until(driver, link, saved_file, item.name)
        except AssertionError:
            present = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
            raise AssertionError(f"{item.name} not saved; the folder holds {present}") from None
        assert wait_for_file(saved.parent, item.name).read_bytes() == item.data
    everything = driver.find_element(By.ID, "download-all")
    poll(lambda: everything.get_attribute("href").startswith("blob:"), "the ZIP")
    before = {str(p) for p in folder.rglob("*")}
    started = lambda: {str(p) for p in folder.rglob("*")} - before  # noqa: E731
    click_until(driver, everything, started, "the ZIP download")
    check_zip(new_zip(folder, before), inputs)
