"""``dentsend-probe``: check that the frozen folder carries what PyInstaller cannot see.

Built beside ``dentsend`` (same collected files) only when ``DENTSEND_FREEZE_PROBE=1``; CI runs it
after every frozen build. It checks the packaging, not the app: plugins found through entry points
(pylibjpeg decoders, keyring backends), extension modules that load their own shared libraries
(GDCM, CharLS, OpenJPEG, Sequoia), package data (word lists), Qt's platform and image plugins, and
dentsend's resources. The app's own behaviour is ``dentsend --self-test``'s job.

Everything is imported by name inside the checks, on purpose: PyInstaller must not collect anything
because of this probe, or the probe would prove its own imports instead of the app's.

    dentsend-probe              run every check, one JSON line each, exit 1 if any failed
    dentsend-probe --window     only open a Qt window, wait until it is on screen, exit 0
                                (start-to-window timing of the frozen Qt stack)
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()


def _module(name: str) -> Any:
    return importlib.import_module(name)


def check_frozen() -> str:
    meipass = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or meipass is None:
        raise RuntimeError("not running from a PyInstaller build")
    return str(meipass)


def check_resources() -> str:
    resources = _module("dentsend.resources")
    folder = Path(resources.resources_dir())
    if Path(sys._MEIPASS) not in folder.parents:  # type: ignore[attr-defined]
        raise RuntimeError(f"resources found outside the bundle: {folder}")
    files = [p for p in folder.rglob("*") if p.is_file()]
    icon = resources.resource_path("icons", "dentsend-256.png")
    if not icon.is_file():
        raise RuntimeError("icons/dentsend-256.png missing")
    return f"{len(files)} files"


def check_decoders() -> str:
    pixels = _module("pydicom.pixels")
    uid = _module("pydicom.uid")
    wanted = {
        "JPEG 2000": (uid.JPEG2000, {"pylibjpeg", "gdcm"}),
        "JPEG 2000 lossless": (uid.JPEG2000Lossless, {"pylibjpeg", "gdcm"}),
        "JPEG-LS": (uid.JPEGLSLossless, {"pyjpegls", "gdcm"}),
        "JPEG-LS near-lossless": (uid.JPEGLSNearLossless, {"pyjpegls", "gdcm"}),
        "JPEG lossless": (uid.JPEGLosslessSV1, {"gdcm"}),
        "JPEG baseline": (uid.JPEGBaseline8Bit, {"pillow", "gdcm"}),
        "RLE": (uid.RLELossless, {"pydicom"}),
    }
    found = []
    for label, (syntax, plugins) in wanted.items():
        available = set(pixels.get_decoder(syntax).available_plugins)
        if not plugins <= available:
            raise RuntimeError(f"{label}: plugins {sorted(plugins - available)} missing")
        found.append(f"{label}: {','.join(sorted(available))}")
    entry_points = _module("importlib.metadata").entry_points(group="pylibjpeg.pixel_data_decoders")
    if not any(ep.value.startswith("openjpeg:") for ep in entry_points):
        raise RuntimeError("pylibjpeg-openjpeg's entry points are missing (metadata not collected)")
    gdcm = _module("gdcm")
    found.append(f"gdcm {gdcm.Version.GetVersion()}")
    return "; ".join(found)


def check_keyring() -> str:
    metadata = _module("importlib.metadata")
    declared = {ep.name for ep in metadata.entry_points(group="keyring.backends")}
    if not declared:
        raise RuntimeError("keyring's entry points are missing (metadata not collected)")
    backend = _module("keyring.backend")
    viable = sorted(type(k).__module__ + "." + type(k).__name__ for k in backend.get_all_keyring())
    platform_backend = {
        "win32": "keyring.backends.Windows.WinVaultKeyring",
        "darwin": "keyring.backends.macOS.Keyring",
    }.get(sys.platform, "keyring.backends.SecretService.Keyring")
    classes = {f"{c.__module__}.{c.__name__}" for c in backend.KeyringBackend._classes}
    if platform_backend not in classes:
        raise RuntimeError(f"{platform_backend} not loadable; have {sorted(classes)}")
    return f"entry points {sorted(declared)}; viable here {viable}"


def check_crypto() -> str:
    aead = _module("cryptography.hazmat.primitives.ciphers.aead")
    key = aead.AESGCM.generate_key(bit_length=256)
    sealed = aead.AESGCM(key).encrypt(b"\0" * 12, b"probe", b"")
    if aead.AESGCM(key).decrypt(b"\0" * 12, sealed, b"") != b"probe":
        raise RuntimeError("AES-GCM round trip failed")
    sequoia = _module("pysequoia")
    cert = sequoia.Tsk.generate("probe <probe@example.invalid>").extract_certificate()
    return f"AES-GCM ok; pysequoia key {cert.fingerprint[:16]}…"


def check_passphrase_parts() -> str:
    xkcd = _module("xkcdpass.xkcd_password")
    words = xkcd.generate_wordlist(wordfile=xkcd.locate_wordfile("eff-long"), min_length=3)
    if len(words) < 7000:
        raise RuntimeError(f"EFF long word list has only {len(words)} words")
    score = _module("zxcvbn").zxcvbn("correct horse battery staple")["score"]
    data_dir = _module("platformdirs").user_data_dir("dentsend")
    return f"{len(words)} words; zxcvbn score {score}; data dir {data_dir}"


def check_qt() -> str:
    widgets = _module("PySide6.QtWidgets")
    gui = _module("PySide6.QtGui")
    app = widgets.QApplication.instance() or widgets.QApplication(["dentsend-probe"])
    formats = {bytes(f).decode() for f in gui.QImageReader.supportedImageFormats()}
    missing = {"png", "jpg", "svg", "ico"} - formats
    if missing:
        raise RuntimeError(f"Qt image formats missing: {sorted(missing)}")
    plugins = Path(
        _module("PySide6.QtCore").QLibraryInfo.path(
            _module("PySide6.QtCore").QLibraryInfo.LibraryPath.PluginsPath
        )
    )
    names = {p.name for p in (plugins / "platforms").iterdir()}
    return (
        f"platform {app.platformName()}; platform plugins {sorted(names)}; formats {len(formats)}"
    )


def show_window() -> float:
    """Open a window with the app icon and return the seconds from start until it was exposed."""
    core = _module("PySide6.QtCore")
    gui = _module("PySide6.QtGui")
    widgets = _module("PySide6.QtWidgets")
    resources = _module("dentsend.resources")
    app = widgets.QApplication.instance() or widgets.QApplication(["dentsend-probe"])
    window = widgets.QMainWindow()
    window.setWindowTitle("dentsend")
    window.setWindowIcon(gui.QIcon(str(resources.resource_path("icons", "dentsend-256.png"))))
    window.resize(900, 600)
    window.show()
    deadline = time.monotonic() + 10
    while not window.isVisible() or not window.windowHandle().isExposed():
        app.processEvents(core.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if time.monotonic() > deadline:
            raise RuntimeError("the window was never exposed")
    return time.perf_counter() - STARTED


CHECKS: dict[str, Callable[[], str]] = {
    "frozen": check_frozen,
    "resources": check_resources,
    "decoders": check_decoders,
    "keyring": check_keyring,
    "crypto": check_crypto,
    "passphrase": check_passphrase_parts,
    "qt": check_qt,
}


def main(argv: list[str]) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if argv == ["--window"]:
        seconds = show_window()
        print(json.dumps({"check": "window", "ok": True, "seconds_in_process": round(seconds, 3)}))
        return 0
    failed = 0
    for name, check in CHECKS.items():
        try:
            detail, ok = check(), True
        except Exception as exc:  # a probe reports every failure and carries on
            detail, ok = f"{type(exc).__name__}: {exc}", False
            failed += 1
        print(json.dumps({"check": name, "ok": ok, "detail": detail}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
