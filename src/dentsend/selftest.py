"""``dentsend --self-test``: exercise every part headless, one line per check, exit 0 or 1.

Made for frozen builds (the installers' CI runs it on the PyInstaller folder), where the usual
failure is not a logic error but something missing from the bundle: a resource file, a decoder
plugin, a Qt platform plugin, a keyring backend. So each check goes through the real code path
the app uses, on the bundled synthetic samples, and never touches the user's files: packages
are written to a temporary folder, the OpenPGP check uses the bundled test key (not the user's
certificates), and the main window is shown offscreen without saving its geometry.

Checks: samples load and decode; de-identification removes the fake patient; an HTML package
is built and opened back; an OpenPGP package is built to the bundled test certificate and
opened back with a good signature; the main window opens offscreen and loads the samples; the
keyring backend answers.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from dentsend.errors import DentsendError

#: Bytes of the fake patient that must not survive de-identification.
_FAKE_MARKERS = (b"DEMO^PATIENT", b"DEMO PATIENT", b"DEMO-0001", b"19700101")


class CheckFailed(Exception):
    """A check's result is wrong; the message is the reason printed after "FAILED:"."""


def _samples() -> list[Path]:
    from dentsend.samples import sample_paths

    paths = sample_paths()
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise CheckFailed(f"sample files missing from the bundle: {', '.join(missing)}")
    return paths


def _no_fake_patient(name: str, data: bytes) -> None:
    for marker in _FAKE_MARKERS:
        if marker in data:
            raise CheckFailed(f"{name} still holds the fake patient ({marker.decode()})")


def check_samples() -> str:
    from dentsend.intake import load
    from dentsend.render import FrameRenderer

    paths = _samples()
    frames = 0
    for path in paths:
        radiograph = load(path)
        for index in range(radiograph.frames):
            image = FrameRenderer(radiograph, index).image()
            if image.size == 0 or int(image.max()) == int(image.min()):
                raise CheckFailed(f"{path.name} frame {index + 1} decodes to a blank image")
            frames += 1
    return f"{len(paths)} samples, {frames} frames decoded"


def check_deidentification() -> str:
    from dentsend.deid import Deidentifier, DeidOptions
    from dentsend.intake import load

    deidentifier = Deidentifier(DeidOptions(confirmed_no_burned_in=True))
    changes = 0
    for path in _samples():
        cleaned = deidentifier.clean(load(path))
        _no_fake_patient(cleaned.name, cleaned.data)
        _no_fake_patient("a cleaned file name", cleaned.name.encode())
        changes += len(cleaned.report.changes)
    return f"fake patient removed ({changes} changes reported)"


def _pack(folder: Path, format: str, **options: object) -> object:
    from dentsend.deid import DeidOptions
    from dentsend.pipeline import PackRequest, pack

    request = PackRequest(
        files=_samples(),
        output=folder / ("selftest.html" if format == "html" else "selftest.pgp"),
        format=format,  # type: ignore[arg-type]
        deid=DeidOptions(confirmed_no_burned_in=True),
        practice_name="dentsend self-test",
        note="self-test",
        **options,  # type: ignore[arg-type]
    )
    return pack(request)


def check_html(folder: Path) -> str:
    from dentsend.bundle.reader import extract_bundle
    from dentsend.intake import load
    from dentsend.passphrase import generate

    passphrase = generate()
    result = _pack(folder, "html", passphrase=passphrase)
    package = result.parts[0]  # type: ignore[attr-defined]
    _no_fake_patient(package.name, package.read_bytes())
    _, written = extract_bundle(package, passphrase, folder / "html-out")
    names = sorted(p.name for p in written if p.name != "manifest.json")
    expected = sorted(result.file_names)  # type: ignore[attr-defined]
    if names != expected:
        raise CheckFailed(f"the package holds {names}, expected {expected}")
    for path in written:
        _no_fake_patient(path.name, path.read_bytes())
        if path.name != "manifest.json":
            load(path)
    size = package.stat().st_size
    return f"{len(names)} files, {size / 1e6:.1f} MB, opened back"


def check_openpgp(folder: Path) -> str:
    import io
    import zipfile

    import pysequoia

    from dentsend.openpgp import GOOD, SELFTEST_PASSPHRASE, selftest_key_paths
    from dentsend.openpgp.message import open_message

    public, secret = selftest_key_paths()
    result = _pack(
        folder,
        "openpgp",
        recipients=[public],
        sign_with=secret,
        sign_passphrase=SELFTEST_PASSPHRASE,
    )
    package = result.parts[0]  # type: ignore[attr-defined]
    opened = open_message(
        package.read_bytes(),
        key=secret,
        key_passphrase=SELFTEST_PASSPHRASE,
        passphrase=None,
        extra_certs=[pysequoia.Cert.from_bytes(public.read_bytes())],
    )
    if opened.signature != GOOD:
        raise CheckFailed(f"the signature checks as {opened.signature}, not good")
    with zipfile.ZipFile(io.BytesIO(opened.data)) as archive:
        names = sorted(n for n in archive.namelist() if n != "manifest.json")
        for name in archive.namelist():
            _no_fake_patient(name, archive.read(name))
    expected = sorted(result.file_names)  # type: ignore[attr-defined]
    if names != expected:
        raise CheckFailed(f"the package holds {names}, expected {expected}")
    return f"{len(names)} files to the bundled test certificate, opened back, signature good"


def check_window() -> str:
    """The main window opens (offscreen when there is no display) and loads the samples."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QEventLoop

    from dentsend.gui.app import create_application
    from dentsend.gui.window import WINDOW_TITLE, MainWindow
    from dentsend.settings import Settings

    create_application()
    window = MainWindow(settings=Settings())
    try:
        window.show()
        window.add_paths(_samples())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            entries = window.model.entries
            if entries and not window.model.loading_count and not window._adding:
                break
            time.sleep(0.01)
        entries = window.model.entries
        problems = [f"{e.name}: {e.problem}" for e in entries if e.state == "problem"]
        if problems:
            raise CheckFailed("; ".join(problems))
        ready = len(window.model.ready_entries)
        if ready != len(_samples()):
            raise CheckFailed(f"{ready} of {len(_samples())} samples loaded in the window")
        if window.windowTitle() != WINDOW_TITLE:
            raise CheckFailed(f"unexpected window title {window.windowTitle()!r}")
        platform = QCoreApplication.instance().platformName()  # type: ignore[union-attr]
    finally:
        # Not close(): that would save the window geometry into the user's settings.
        window.workers.cancel_all()
        window.workers.wait(30_000)
        window.hide()
        window.deleteLater()
    return f"opened on {platform}, {ready} samples loaded"


def check_keyring() -> str:
    import keyring

    from dentsend.audit import keyring_available

    backend = keyring.get_keyring()
    name = type(backend).__module__ + "." + type(backend).__name__
    if not keyring_available():
        return (
            f"no usable backend here ({name}): passphrases will not be remembered "
            "and the practice key asks for its passphrase"
        )
    # A read of an entry that does not exist: touches the backend without storing anything.
    keyring.get_password("dentsend", "self-test-probe")
    return f"backend {name} answers"


def run_self_test() -> int:
    """Run every check; print ``NAME: ok (…)`` or ``NAME: FAILED: reason``; 0 if all pass."""
    import logging

    logging.getLogger("dentsend").setLevel(logging.WARNING)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="dentsend-selftest-") as temp:
        folder = Path(temp)
        checks: list[tuple[str, Callable[[], str]]] = [
            ("samples", check_samples),
            ("de-identification", check_deidentification),
            ("HTML package", lambda: check_html(folder)),
            ("OpenPGP package", lambda: check_openpgp(folder)),
            ("main window", check_window),
            ("keyring", check_keyring),
        ]
        for name, check in checks:
            started = time.monotonic()
            try:
                detail = check()
            except (CheckFailed, DentsendError) as exc:
                failures += 1
                print(f"{name}: FAILED: {exc}", flush=True)
            except Exception as exc:  # a frozen build missing a module fails anywhere
                failures += 1
                print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                if os.environ.get("DENTSEND_SELFTEST_TRACEBACK") == "1":
                    traceback.print_exc()
            else:
                elapsed = time.monotonic() - started
                print(f"{name}: ok ({detail}; {elapsed:.1f} s)", flush=True)
    print("self-test passed" if not failures else f"self-test FAILED ({failures} check(s))")
    return 0 if failures == 0 else 1
