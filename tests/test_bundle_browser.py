"""The browser reader (bundle.js) in a real Chromium: agreement with the Python reader on the
test vectors, tampering, the strict page (no network, no eval), and a 200 MB package.

The vectors are bare pages; each is wrapped here in the *current* viewer page (template,
bundle.js, viewer.js), so the test checks today's JavaScript against the fixed vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browsers import chromium, firefox, webkit, xvfb_display  # noqa: F401  (pytest fixtures)
from dentsend.bundle import write_bundle
from dentsend.bundle.format import MIN_ITERATIONS
from dentsend.bundle.page import is_chunk, is_header, iter_scripts, render_page

pytestmark = pytest.mark.browser

VECTORS = Path(__file__).resolve().parent / "vectors"
SPEC: dict[str, Any] = json.loads((VECTORS / "bundle-v1.json").read_text(encoding="utf-8"))

#: Opens the bundle through the JS interface and reports what a viewer would get; run in the
#: page by Playwright (through DevTools, which the page's CSP does not govern).
OPEN = """async ([passphrase]) => {
  const hex = (buffer) => Array.from(new Uint8Array(buffer),
      (b) => b.toString(16).padStart(2, "0")).join("");
  const progress = [];
  try {
    const result = await DentsendBundle.open(passphrase, (f, label) => progress.push([f, label]));
    const files = [];
    for (const file of result.files) {
      const digest = await crypto.subtle.digest("SHA-256", await file.blob.arrayBuffer());
      files.push({name: file.name, size: file.blob.size, sha256: hex(digest),
                  claimed: file.sha256, meta: file.meta.name});
    }
    const views = [];
    for (const [name, blob] of result.views) {
      views.push({name, size: blob.size,
                  sha256: hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()))});
    }
    return {ok: true, files, views, note: result.manifest.note, progress,
            frozen: Object.isFrozen(DentsendBundle)};
  } catch (error) {
    return {ok: false, kind: error.kind, name: error.name, message: error.message, progress};
  }
}"""


def wrap(vector: Path, target: Path) -> Path:
    """The vector's header and chunks inside the current viewer page."""
    header_text = None
    chunks = []
    with vector.open("rb") as source:
        for element in iter_scripts(source):
            if is_header(element):
                header_text = element.text
            elif is_chunk(element):
                chunks.append(element.text)
    assert header_text is not None
    before, after = render_page(header_text, "test vector")
    body = "".join(
        f'<script type="application/octet-stream" class="dentsend-chunk">{c}</script>\n'
        for c in chunks
    )
    target.write_text(before + body + after, encoding="utf-8")
    return target


class Session:
    """One page at a time in one browser context, every request recorded."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(accept_downloads=True)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))

    def open(self, path: Path) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(path.as_uri())
        return page

    @property
    def network(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file:", "blob:", "data:", "about:"))]


@pytest.fixture(scope="module")
def session(chromium: Any) -> Iterator[Session]:  # noqa: F811
    recorded = Session(chromium)
    yield recorded
    assert recorded.network == [], "a bundle page made a network request"
    recorded.context.close()


@pytest.fixture(scope="module")
def wrapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vectors")
    return {v["file"]: wrap(VECTORS / v["file"], folder / v["file"]) for v in SPEC["vectors"]}


def test_the_good_vector_agrees_with_python(session: Session, wrapped: dict[str, Path]) -> None:
    page = session.open(wrapped["bundle-v1-good.html"])
    header = page.evaluate("() => DentsendBundle.header()")
    assert header["sender"] == SPEC["sender"] and header["kdf"]["iterations"] == SPEC["iterations"]
    result = page.evaluate(OPEN, [SPEC["passphrase"]])
    assert result["ok"], result
    assert [{k: f[k] for k in ("name", "size", "sha256")} for f in result["files"]] == SPEC["files"]
    assert all(f["sha256"] == f["claimed"] and f["meta"] == f["name"] for f in result["files"])
    assert result["views"] == SPEC["views"]
    assert result["note"] == "Test vector <b>not bold</b>"
    assert result["frozen"] is True
    fractions = [f for f, _ in result["progress"]]
    assert fractions == sorted(fractions) and fractions[-1] == 1
    assert session.errors == []
    page.close()


def test_a_wrong_passphrase_then_the_right_one(session: Session, wrapped: dict[str, Path]) -> None:
    page = session.open(wrapped["bundle-v1-good.html"])
    wrong = page.evaluate(OPEN, [SPEC["wrong_passphrase"]])
    assert (wrong["ok"], wrong["kind"], wrong["name"]) == (False, "passphrase", "BundleError")
    assert "passphrase" in wrong["message"]
    right = page.evaluate(OPEN, [SPEC["passphrase_normalised"]])
    assert right["ok"], right
    again = page.evaluate(OPEN, [SPEC["passphrase"]])
    assert not again["ok"] and "reload" in again["message"]
    page.close()


@pytest.mark.parametrize(
    "vector", [v for v in SPEC["vectors"] if v["expect"] == "damaged"], ids=lambda v: v["file"]
)
def test_tampered_vectors_fail_as_damaged_and_show_nothing(
    vector: dict[str, Any], session: Session, wrapped: dict[str, Path]
) -> None:
    page = session.open(wrapped[vector["file"]])
    result = page.evaluate(OPEN, [vector["passphrase"]])
    assert (result["ok"], result["kind"]) == (False, "damaged"), result
    assert "ask the sender for a new one" in result["message"]
    page.close()


def test_tampering_through_the_page_shows_an_alert(
    session: Session, wrapped: dict[str, Path]
) -> None:
    """The way a recipient meets it: type the passphrase, press Unlock, read the alert."""
    page = session.open(wrapped["bundle-v1-flipped.html"])
    page.get_by_label("Passphrase").fill(SPEC["passphrase"])
    page.get_by_role("button", name="Unlock").click()
    alert = page.get_by_role("alert")
    alert.filter(has_text=re.compile("sender", re.IGNORECASE)).wait_for(timeout=30_000)
    assert "new one" in alert.inner_text()
    assert page.get_by_role("link", name=re.compile("Download")).count() == 0
    page.close()


def test_the_page_cannot_connect_anywhere(chromium: Any, wrapped: dict[str, Path]) -> None:  # noqa: F811
    """Even script running in the page cannot fetch or load a remote image: the CSP says no.

    (Its own context: the attempts it makes on purpose must not count against the others.)
    """
    own = Session(chromium)
    page = own.open(wrapped["bundle-v1-good.html"])
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert csp is not None and "default-src 'none'" in csp and "unsafe" not in csp
    assert "connect-src 'none'" in csp and "img-src blob: data:" in csp
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    outcome = page.evaluate("""async () => {
        const results = {};
        try { await fetch("http://127.0.0.1:9/x"); results.fetch = "allowed"; }
        catch (e) { results.fetch = "blocked"; }
        const img = new Image();
        results.image = await new Promise((resolve) => {
          img.onload = () => resolve("loaded"); img.onerror = () => resolve("blocked");
          img.src = "http://127.0.0.1:9/pixel.png";
        });
        return results;
    }""")
    assert outcome == {"fetch": "blocked", "image": "blocked"}
    assert any("Content Security Policy" in v for v in violations)
    own.context.close()


#: The same as OPEN, for WebDriver/Marionette (the callback comes last in ``arguments``).
OPEN_WEBDRIVER = """
const passphrase = arguments[0], done = arguments[arguments.length - 1];
const hex = (buffer) => Array.from(new Uint8Array(buffer),
    (b) => b.toString(16).padStart(2, "0")).join("");
(async () => {
  try {
    const result = await window.DentsendBundle.open(passphrase, () => {});
    const files = [];
    for (const file of result.files) {
      const digest = await crypto.subtle.digest("SHA-256", await file.blob.arrayBuffer());
      files.push({name: file.name, size: file.blob.size, sha256: hex(digest)});
    }
    done({ok: true, files});
  } catch (error) {
    done({ok: false, kind: error.kind});
  }
})();
"""

#: (vector, passphrase, expected outcome) checked in Firefox and WebKitGTK too.
OTHER_ENGINES = [
    ("bundle-v1-good.html", SPEC["passphrase"], {"ok": True, "files": SPEC["files"]}),
    ("bundle-v1-good.html", SPEC["wrong_passphrase"], {"ok": False, "kind": "passphrase"}),
    ("bundle-v1-swapped.html", SPEC["passphrase"], {"ok": False, "kind": "damaged"}),
    ("bundle-v1-truncated.html", SPEC["passphrase"], {"ok": False, "kind": "damaged"}),
]


def test_firefox_agrees_on_the_vectors(firefox: Any, wrapped: dict[str, Path]) -> None:  # noqa: F811
    client = firefox.client
    for vector, passphrase, expected in OTHER_ENGINES:
        client.navigate(wrapped[vector].as_uri())
        outcome = client.execute_async_script(
            OPEN_WEBDRIVER, script_args=[passphrase], sandbox=None, script_timeout=60_000
        )
        assert outcome == expected, (vector, outcome)


def test_webkit_agrees_on_the_vectors(webkit: Any, wrapped: dict[str, Path]) -> None:  # noqa: F811
    driver = webkit.driver
    driver.set_script_timeout(60)
    for vector, passphrase, expected in OTHER_ENGINES:
        driver.get(wrapped[vector].as_uri())
        outcome = driver.execute_async_script(OPEN_WEBDRIVER, passphrase)
        assert outcome == expected, (vector, outcome)


@pytest.mark.slow
def test_a_200_mb_package_opens(session: Session, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The size where other tools give up: 150 MB of incompressible files, a 200 MB page."""
    folder = tmp_path_factory.mktemp("large")
    files = []
    for index in range(5):
        path = folder / f"scan-{index}.bin"
        path.write_bytes(os.urandom(30_000_000))
        files.append(path)
    package = folder / "large.html"
    write_bundle(package, files, "large package test passphrase", iterations=MIN_ITERATIONS)
    assert package.stat().st_size > 200_000_000
    expected = [
        {"name": p.name, "size": p.stat().st_size,
         "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in files
    ]
    for path in files:
        path.unlink()
    page = session.open(package)
    started = time.monotonic()
    result = page.evaluate(OPEN, ["large package test passphrase"])
    elapsed = time.monotonic() - started
    assert result["ok"], result
    assert [{k: f[k] for k in ("name", "size", "sha256")} for f in result["files"]] == expected
    print(f"200 MB package: unlocked and hashed in {elapsed:.1f} s")
    page.close()
