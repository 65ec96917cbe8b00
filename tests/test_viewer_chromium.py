"""The bundle page in a real Chromium: what the recipient sees, clicks and saves.

Every test opens a real bundle written by the Python writer and unlocked by the real bundle.js
(``viewer_bundles``). Pixels are read back from the viewer's canvas, so "windowing changes the
image" means the recipient would see it change.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicom_factory
from browsers import RecordedPage, chromium, chromium_page  # noqa: F401  (pytest fixtures)
from conftest import run_cli
from viewer_bundles import (
    HOSTILE_NAME,
    HOSTILE_NOTE,
    IO_SPACING,
    PASSPHRASE,
    PS_SPACING,
    SENDER,
    Input,
    damaged_copy,
    viewer_inputs,
    write_viewer_bundle,
)

pytestmark = pytest.mark.browser

#: Characters Chromium replaces by "_" in the names it saves under.
_UNSAFE_ON_DISK = re.compile(r'[<>:"/\\|?*]')


@pytest.fixture(scope="module")
def inputs() -> list[Input]:
    return viewer_inputs()


@pytest.fixture(scope="module")
def bundle(inputs: list[Input], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_viewer_bundle(tmp_path_factory.mktemp("viewer") / "radiographs.html", inputs)


@pytest.fixture(scope="module")
def damaged_bundle(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return damaged_copy(bundle, tmp_path_factory.mktemp("viewer-damaged") / "radiographs.html")


@pytest.fixture
def page(chromium_page: RecordedPage) -> Iterator[Any]:  # noqa: F811
    """The page, checked after each test: no request left the browser, no script error."""
    yield chromium_page.page
    assert chromium_page.network_requests == []
    assert chromium_page.console_errors == []


# ---------------------------------------------------------------------------------------------
# helpers


def unlock(page: Any, bundle: Path, passphrase: str = PASSPHRASE) -> None:
    page.goto(bundle.as_uri())
    page.get_by_label("Passphrase").fill(passphrase)
    page.get_by_role("button", name="Unlock").click()
    page.get_by_role("link", name="Download all").wait_for()
    # Downloads are listed only once every file's SHA-256 is confirmed, after the first paint.
    page.locator("#files li.checking").wait_for(state="detached")


def show(page: Any, name: str) -> None:
    """Select an image by its thumbnail and wait until the canvas shows it."""
    page.get_by_role("button", name=f"Show {name}", exact=True).click()
    wait_until(lambda: page.locator("#ov-name").text_content() == name, f"{name} selected")
    wait_until(lambda: page.locator("#ov-window").text_content() != "", f"{name} drawn")


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> Any:
    """Poll from Python: the page's CSP blocks Playwright's string-evaluating wait_for_function."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def grey_at(page: Any, fx: float, fy: float) -> int:
    """The displayed grey (red channel) at a fraction of the canvas width and height."""
    value: int = page.locator("#view").evaluate(
        """(c, [fx, fy]) => c.getContext("2d")
              .getImageData(Math.floor(c.width * fx), Math.floor(c.height * fy), 1, 1).data[0]""",
        [fx, fy],
    )
    return value


def canvas_samples(page: Any) -> list[int]:
    """A 24×24 grid of displayed grey values across the canvas."""
    values: list[int] = page.locator("#view").evaluate(
        """c => {
            const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            const out = [];
            for (let j = 0; j < 24; j++) for (let i = 0; i < 24; i++) {
                const x = Math.floor((i + 0.5) * c.width / 24);
                const y = Math.floor((j + 0.5) * c.height / 24);
                out.push(data[(y * c.width + x) * 4]);
            }
            return out;
        }"""
    )
    return values


def canvas_centre(page: Any) -> tuple[float, float]:
    box = page.locator("#view").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def save_download(page: Any, control: Any, folder: Path) -> tuple[str, bytes]:
    with page.expect_download() as info:
        control.click()
    download = info.value
    target = folder / "download.bin"
    download.save_as(target)
    data = target.read_bytes()
    target.unlink()
    return download.suggested_filename, data


def length_shown(page: Any) -> tuple[float, str]:
    text = page.locator("#measure-readout").text_content()
    match = re.fullmatch(r"Length: ([0-9.]+) (.+)", text)
    assert match, text
    return float(match.group(1)), match.group(2)


# ---------------------------------------------------------------------------------------------
# tests


def test_locked_page_says_who_what_and_how_without_patient_data(
    page: Any, bundle: Path, inputs: list[Input]
) -> None:
    page.goto(bundle.as_uri())
    card = page.locator("#locked").inner_text()
    assert SENDER in card
    assert "29" in card and "2026" in card  # the date it was sent, in the reader's locale
    assert "6 files" in card
    assert "separately" in card and "phone" in card
    passphrase = page.get_by_label("Passphrase")
    assert passphrase.get_attribute("type") == "password"
    page.get_by_role("button", name="Show").click()
    assert passphrase.get_attribute("type") == "text"
    page.get_by_role("button", name="Hide").click()
    assert passphrase.get_attribute("type") == "password"
    visible = page.locator("body").inner_text() + page.title()
    for item in inputs:
        assert item.name not in visible
    assert "Please check" not in visible  # the note is inside the ciphertext


def test_unlock_then_every_file_and_the_zip_are_byte_exact(
    page: Any, bundle: Path, inputs: list[Input], tmp_path: Path
) -> None:
    unlock(page, bundle)
    for item in inputs:
        link = page.get_by_role("link", name=f"Download {item.name}", exact=True)
        name, data = save_download(page, link, tmp_path)
        assert name in (item.name, _UNSAFE_ON_DISK.sub("_", item.name))
        assert data == item.data, item.name

    name, data = save_download(page, page.get_by_role("link", name="Download all"), tmp_path)
    assert name == "dentsend-2026-11-29.zip"
    archive_path = tmp_path / name
    archive_path.write_bytes(data)
    with zipfile.ZipFile(archive_path) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [*(item.name for item in inputs), "manifest.json"]
        for item in inputs:
            assert archive.read(item.name) == item.data
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["note"] == HOSTILE_NOTE
    assert [(f["name"], f["sha256"]) for f in manifest["files"]] == [
        (item.name, hashlib.sha256(item.data).hexdigest()) for item in inputs
    ]
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tq", str(archive_path)], check=True, capture_output=True)


def test_default_package_gives_what_dentsend_open_gives(
    page: Any, inputs: list[Input], tmp_path: Path
) -> None:
    """`dentsend pack --html` (de-identified by default) and the browser agree with `open`."""
    for item in inputs[:3]:
        (tmp_path / item.name).write_bytes(item.data)
    secret = tmp_path / "passphrase.txt"
    secret.write_text("glacier thimble orbit lantern cobalt meadow\n")
    package = tmp_path / "out" / "package.html"
    package.parent.mkdir()
    names = [str(tmp_path / item.name) for item in inputs[:3]]
    run_cli("pack", *names, "-o", package, "--html", "--passphrase-file", secret, check=True)
    opened = tmp_path / "opened"
    run_cli("open", package, "-o", opened, "--passphrase-file", secret, check=True)
    cleaned = {p.name: p.read_bytes() for p in opened.iterdir() if p.name != "manifest.json"}
    assert len(cleaned) == 3

    unlock(page, package, "glacier thimble orbit lantern cobalt meadow")
    links = page.locator("#files a")
    assert links.count() == 3
    for index in range(3):
        name, data = save_download(page, links.nth(index), tmp_path)
        assert data == cleaned[name], name
    _, data = save_download(page, page.get_by_role("link", name="Download all"), tmp_path)
    (tmp_path / "all.zip").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert {n: archive.read(n) for n in archive.namelist() if n != "manifest.json"} == cleaned
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest == json.loads((opened / "manifest.json").read_bytes())
    assert manifest["deidentification"] == "deidentified"


def test_each_part_of_a_split_package_says_which_part_it_is(page: Any, tmp_path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 4096, (2, 400, 400), dtype=np.uint16)
    names = []
    for index, pixels in enumerate(noise):
        path = tmp_path / f"noise-{index}.dcm"
        dicom_factory.write(dicom_factory.make_dataset(pixels, patient={}), path)
        names.append(str(path))
    secret = tmp_path / "passphrase.txt"
    secret.write_text("glacier thimble orbit lantern cobalt meadow\n")
    package = tmp_path / "out" / "package.html"
    package.parent.mkdir()
    run_cli(
        "pack", *names, "-o", package, "--html", "--passphrase-file", secret,
        "--max-size", "0.8", check=True,
    )  # fmt: skip
    second = sorted(package.parent.glob("*.html"))[-1]

    page.goto(second.as_uri())
    card = page.locator("#locked").inner_text()
    assert "2 of 2" in card and "same passphrase" in card
    unlock(page, second, "glacier thimble orbit lantern cobalt meadow")
    assert "part 2 of 2" in page.locator("#origin").inner_text()
    assert page.locator("#files a").count() == 1
    name, _ = save_download(page, page.get_by_role("link", name="Download all"), tmp_path)
    assert re.fullmatch(r"dentsend-\d{4}-\d{2}-\d{2}-part-2-of-2\.zip", name)


def test_wrong_passphrase_can_be_retried(page: Any, bundle: Path) -> None:
    page.goto(bundle.as_uri())
    field = page.get_by_label("Passphrase")
    field.fill("glacier thimble orbit lantern")  # capital letters matter
    page.get_by_role("button", name="Unlock").click()
    alert = page.get_by_role("alert")
    wait_until(lambda: "passphrase" in alert.inner_text().lower(), "the wrong-passphrase alert")
    assert page.get_by_role("link", name=re.compile("Download")).count() == 0
    assert field.is_editable()
    field.fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    page.get_by_role("link", name="Download all").wait_for()
    assert page.locator("#alert").text_content() == ""


def test_damaged_bundle_says_so_and_shows_nothing(page: Any, damaged_bundle: Path) -> None:
    page.goto(damaged_bundle.as_uri())
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    alert = page.get_by_role("alert")
    wait_until(lambda: "ask the sender for a new one" in alert.inner_text(), "the damaged alert")
    assert page.locator("#app").is_hidden()
    assert page.get_by_role("link", name=re.compile("Download")).count() == 0
    assert page.locator("#files li, #thumbs li").count() == 0
    assert page.get_by_role("button", name="Unlock").is_disabled()


def test_browser_lacking_a_feature_names_browsers_that_work(page: Any, bundle: Path) -> None:
    # An older browser: no DecompressionStream (Chrome < 80, Firefox < 113, Safari < 16.4).
    page.add_init_script("delete window.DecompressionStream")
    page.goto(bundle.as_uri())
    alert = page.get_by_role("alert")
    wait_until(lambda: "DecompressionStream" in alert.inner_text(), "the browser alert")
    for browser in ("Chrome", "Edge", "Firefox", "Safari"):
        assert browser in alert.inner_text()
    assert page.get_by_label("Passphrase").is_disabled()
    assert page.get_by_role("button", name="Unlock").is_disabled()


def test_hostile_file_name_and_note_stay_text(page: Any, bundle: Path) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(bundle.as_uri())
    scripts_before = page.locator("script").count()
    unlock(page, bundle)
    show(page, HOSTILE_NAME)
    assert page.locator("#note-text").text_content() == HOSTILE_NOTE
    names = page.locator(".file-name, .thumb-name, #ov-name").all_text_contents()
    assert names.count(HOSTILE_NAME) == 3
    # Stored 64 × 48 on its side: shown upright, as its EXIF orientation says.
    thumb = page.get_by_role("button", name=f"Show {HOSTILE_NAME}", exact=True)
    assert thumb.locator(".thumb-info").text_content() == "48 × 64"
    assert page.locator("img, iframe, object, embed, [onerror]").count() == 0
    assert page.locator("script").count() == scripts_before
    link = page.get_by_role("link", name=f"Download {HOSTILE_NAME}", exact=True)
    assert link.get_attribute("download") == HOSTILE_NAME
    assert dialogs == []


def test_windowing_uses_the_full_bit_depth_and_follows_the_mouse(page: Any, bundle: Path) -> None:
    unlock(page, bundle)
    # 2000 | 2004 under the file's 4-wide window: black | white only at full bit depth.
    show(page, "DEPTH-01.dcm")
    assert grey_at(page, 0.3, 0.5) == 0
    assert grey_at(page, 0.7, 0.5) == 255

    # MONOCHROME1: low values light; Invert turns that round.
    show(page, "M1-01.dcm")
    assert grey_at(page, 0.3, 0.5) > 200 > 50 > grey_at(page, 0.7, 0.5)
    page.keyboard.press("i")
    wait_until(lambda: grey_at(page, 0.3, 0.5) < 50, "inverted display")
    assert grey_at(page, 0.7, 0.5) > 200

    show(page, "IO-01.dcm")
    before = canvas_samples(page)
    window_text = page.locator("#ov-window").text_content()
    x, y = canvas_centre(page)
    drag(page, (x, y), (x + 120, y + 80))
    wait_until(lambda: canvas_samples(page) != before, "a re-windowed canvas")
    assert page.locator("#ov-window").text_content() != window_text
    assert page.get_by_label("Window preset").input_value() == "custom"

    page.get_by_label("Window preset").select_option("full")
    full = wait_until(lambda: (s := canvas_samples(page)) != before and s, "full range")
    page.get_by_label("Window preset").select_option("bone")
    wait_until(lambda: canvas_samples(page) != full, "the bone preset")


def test_measurement_in_mm_at_detector_and_pixels(page: Any, bundle: Path) -> None:
    unlock(page, bundle)
    for name, expected, unit in (
        ("PS-01.dcm", 200 * PS_SPACING, "mm"),
        ("IO-01.dcm", 200 * IO_SPACING, "mm at detector"),
        ("MF-01.dcm", 200.0, "px"),
    ):
        show(page, name)
        page.keyboard.press("1")  # one image pixel per screen pixel (device pixel ratio 1)
        page.keyboard.press("m")
        x, y = canvas_centre(page)
        drag(page, (x - 100, y), (x + 100, y))
        length, shown_unit = length_shown(page)
        assert shown_unit == unit, name
        assert length == pytest.approx(expected, rel=0.01), name

    # Escape abandons a line being drawn.
    page.mouse.move(x - 50, y + 20)
    page.mouse.down()
    page.mouse.move(x + 60, y + 20, steps=4)
    page.keyboard.press("Escape")
    page.mouse.up()
    assert page.locator("#measure-readout").text_content() == "Measurement cancelled"


def test_frame_slider_and_page_keys_change_the_frame(page: Any, bundle: Path) -> None:
    unlock(page, bundle)
    show(page, "MF-01.dcm")
    slider = page.get_by_role("slider", name="Frame")
    label = page.locator("#frame-label")
    assert label.text_content() == "Frame 1 of 3"
    first = canvas_samples(page)
    slider.focus()
    page.keyboard.press("ArrowRight")
    wait_until(lambda: label.text_content() == "Frame 2 of 3", "frame 2")
    second = wait_until(lambda: (s := canvas_samples(page)) != first and s, "frame 2 drawn")
    page.locator("#view").focus()
    page.keyboard.press("PageDown")
    wait_until(lambda: label.text_content() == "Frame 3 of 3", "frame 3")
    wait_until(lambda: canvas_samples(page) not in (first, second), "frame 3 drawn")
    assert slider.input_value() == "3"
    page.keyboard.press("PageUp")
    wait_until(lambda: label.text_content() == "Frame 2 of 3", "back to frame 2")


def test_keyboard_alone_unlocks_and_drives_the_viewer(page: Any, bundle: Path) -> None:
    page.goto(bundle.as_uri())
    page.get_by_role("heading", name="Encrypted radiographs").click()  # focus leaves the field
    assert page.evaluate("() => document.activeElement.id") != "passphrase"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "passphrase"
    page.keyboard.type(PASSPHRASE)
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Download all").wait_for()
    zoom = page.locator("#ov-zoom")
    wait_until(lambda: zoom.text_content(), "the first image")
    before = zoom.text_content()
    page.keyboard.press("+")
    wait_until(lambda: zoom.text_content() != before, "zoomed in")
    page.keyboard.press("r")
    wait_until(lambda: "90°" in zoom.text_content(), "rotated")
    page.keyboard.press("h")
    wait_until(lambda: "flipped" in zoom.text_content(), "flipped")
    page.keyboard.press("f")
    fitted = wait_until(lambda: (text := zoom.text_content()) != before and text, "fitted")
    page.mouse.move(*canvas_centre(page))
    page.mouse.wheel(0, -400)
    wait_until(lambda: zoom.text_content() != fitted, "zoomed by the wheel")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert page.locator("#help").is_hidden()


def test_zip_writer_zip64_and_many_entries(page: Any, bundle: Path, tmp_path: Path) -> None:
    """zip.js's ZIP64 records (forced; 4 GiB files are out of reach here) and >65,535 entries."""
    page.goto(bundle.as_uri())
    cases = {
        "forced": "[[{name: 'a ü.txt', data: new Blob(['hello'])}, {name: 'b', data: new Blob([])},"
        " {name: 'big', data: new Blob([new Uint8Array(200000).fill(7)])}], true]",
        "many": "[Array.from({length: 65600}, (_, i) => "
        "({name: 'f' + i, data: new TextEncoder().encode(String(i))})), false]",
    }
    for case, entries in cases.items():
        encoded: str = page.evaluate(
            f"""async () => {{
                const [entries, forceZip64] = {entries};
                const date = new Date(Date.UTC(2026, 10, 29));
                const zip = await DentsendZip.build(entries, {{date, forceZip64}});
                const bytes = new Uint8Array(await zip.arrayBuffer());
                let text = "";
                for (let i = 0; i < bytes.length; i += 32768) {{
                    text += String.fromCharCode(...bytes.subarray(i, i + 32768));
                }}
                return btoa(text);
            }}"""
        )
        path = tmp_path / f"{case}.zip"
        path.write_bytes(base64.b64decode(encoded))
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None
            if case == "forced":
                assert archive.read("a ü.txt") == b"hello"
                assert archive.read("big") == b"\x07" * 200000
                assert archive.getinfo("a ü.txt").date_time == (2026, 11, 29, 0, 0, 0)
            else:
                assert len(archive.infolist()) == 65600
                assert archive.read("f65599") == b"65599"
        if shutil.which("unzip"):
            subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


def test_a_file_that_fails_its_final_check_is_withdrawn(page: Any, tmp_path: Path) -> None:
    """AES-GCM authenticates what the sender wrote; the SHA-256 of each decoded file checks the
    page's own inflating. A mismatch (here written on purpose) must take everything back."""
    from dentsend.bundle.records import encode_record
    from dentsend.bundle.writer import BundleWriter

    data = bytes(range(256)) * 64  # compresses, so the page inflates it
    wrong = hashlib.sha256(b"something else").hexdigest()
    manifest = {
        "format": "dentsend-manifest", "version": 1, "created": "2026-11-29T10:00:00Z",
        "sender": "", "note": "", "part": 1, "parts": 1, "deidentification": "deidentified",
        "files": [{"name": "notes.bin", "size": len(data), "sha256": wrong, "kind": "other"}],
    }  # fmt: skip
    path = tmp_path / "mismatch.html"
    with path.open("wb") as out:
        writer = BundleWriter(out, PASSPHRASE, files=1, input_bytes=len(data))
        writer.add(encode_record("notes.bin", "file", data, compress=True, sha256=wrong))
        manifest_bytes = json.dumps(manifest).encode()
        writer.add(encode_record("manifest.json", "manifest", manifest_bytes, compress=False))
        writer.close()
    page.goto(path.as_uri())
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    alert = page.get_by_role("alert")
    wait_until(lambda: "damaged" in (alert.text_content() or ""), "the damaged message")
    assert page.locator("#app").is_hidden()
    assert page.get_by_role("link", name=re.compile("Download")).count() == 0


def test_a_decompression_bomb_is_refused_before_it_is_inflated(page: Any, tmp_path: Path) -> None:
    """64 MiB of zeros in a page of well under 1 MB: the page refuses it from the declared size,
    as `dentsend open` does, instead of filling the browser's memory."""
    from dentsend.bundle.records import encode_record
    from dentsend.bundle.writer import BundleWriter

    data = bytes(64 << 20)
    manifest = {
        "format": "dentsend-manifest", "version": 1, "created": "2026-11-29T10:00:00Z",
        "sender": "", "note": "", "part": 1, "parts": 1, "deidentification": "deidentified",
        "files": [{"name": "bomb.dcm", "size": len(data),
                   "sha256": hashlib.sha256(data).hexdigest(), "kind": "other"}],
    }  # fmt: skip
    path = tmp_path / "bomb.html"
    with path.open("wb") as out:
        writer = BundleWriter(out, PASSPHRASE, files=1, input_bytes=len(data))
        writer.add(encode_record("bomb.dcm", "file", data, compress=True))
        manifest_bytes = json.dumps(manifest).encode()
        writer.add(encode_record("manifest.json", "manifest", manifest_bytes, compress=False))
        writer.close()
    assert path.stat().st_size < 1 << 20
    page.goto(path.as_uri())
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    alert = page.get_by_role("alert")
    refused = "far more than its own size"
    wait_until(lambda: refused in (alert.text_content() or ""), "the bomb alert")
    assert page.locator("#app").is_hidden()
    assert page.get_by_role("link", name=re.compile("Download")).count() == 0
