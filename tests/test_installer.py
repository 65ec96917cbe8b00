"""The installer recipes, checked without building: the real frozen build is slow and runs as its
own CI step (``installer/ci_frozen_selftest.sh``).

What a release engineer would check by hand before trusting a build: the spec runs and freezes
every resource where the app looks for it, the icons really come from the one SVG, the Linux
desktop and AppStream files validate, the .deb has the promised layout and version, and the
Windows and macOS recipes carry the right identity and version.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import plistlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.etree import ElementTree

import pytest

from conftest import REPO, require_tool
from dentsend import __version__

INSTALLER = REPO / "installer"
APP_ID = "org.dentsend.dentsend"
#: The file types every platform's integration must offer dentsend for.
FILE_TYPES = {".dcm", ".jpg", ".jpeg", ".png", ".tif", ".bmp"}


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def layout() -> ModuleType:
    return _load("frozen_layout", INSTALLER / "frozen_layout.py")


# --- the spec -------------------------------------------------------------------------------------


class _Built:
    """Stands in for one of PyInstaller's build steps and records what the spec passed to it.

    Running the real ``Analysis`` takes a minute; the CI step does that. Here the spec's own code
    runs for real (layout, hooks' collect_* helpers, filters) and only the build is replaced.
    """

    log: list[_Built]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.log.append(self)
        # what PyInstaller's Analysis exposes to the rest of a spec
        scripts = args[0] if args and isinstance(args[0], list) else []
        self.scripts = [("pyi_rth_inspect", "/hooks/pyi_rth_inspect.py", "PYSOURCE")] + [
            (Path(s).stem, s, "PYSOURCE") for s in scripts
        ]
        self.binaries: list[tuple[str, str, str]] = []
        self.datas = list(kwargs.get("datas", []))
        self.pure: list[Any] = []


def _run_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe: bool) -> dict[str, list[Any]]:
    from PyInstaller.utils.hooks import qt as qt_hooks

    built: dict[str, list[Any]] = {}
    namespace: dict[str, Any] = {
        "SPECPATH": str(INSTALLER),
        "workpath": str(tmp_path / "build"),
        "__file__": str(INSTALLER / "dentsend.spec"),
    }
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        built[kind] = []
        namespace[kind] = type(kind, (_Built,), {"log": built[kind]})
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(
        qt_hooks.QtLibraryInfo, "collect_plugins", qt_hooks.QtLibraryInfo.collect_plugins
    )
    if probe:
        monkeypatch.setenv("DENTSEND_FREEZE_PROBE", "1")
    else:
        monkeypatch.delenv("DENTSEND_FREEZE_PROBE", raising=False)
    source = (INSTALLER / "dentsend.spec").read_text(encoding="utf-8")
    exec(compile(source, "dentsend.spec", "exec"), namespace)  # noqa: S102 - a spec is Python
    return built


@pytest.fixture(scope="module")
def spec_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Any]]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _run_spec(tmp_path_factory.mktemp("spec"), monkeypatch, probe=False)


def test_the_spec_freezes_the_app_with_its_resources_and_plugins(
    spec_run: dict[str, list[Any]], layout: ModuleType
) -> None:
    (analysis,) = spec_run["Analysis"]
    assert [Path(s).name for s in analysis.args[0]] == ["launcher.py"]
    hidden = set(analysis.kwargs["hiddenimports"])
    # decoder plugins found by name or entry point, and the app's own plugin module
    assert {"openjpeg", "jpeg_ls", "gdcm", "_gdcm.gdcmswig", "dentsend.jpeg12"} <= hidden
    assert {
        "keyring.backends.SecretService",
        "keyring.backends.Windows",
        "keyring.backends.macOS",
    } <= hidden
    # every module of the app, including the GUI and the self-test, however it is imported
    assert {"dentsend.cli.images", "dentsend.gui", "dentsend.resources"} <= hidden
    datas = set(analysis.kwargs["datas"])
    assert set(layout.resource_datas()) <= datas
    on_disk = {
        p for p in (REPO / "resources").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    assert on_disk <= {Path(source) for source, _ in datas}
    collected = {Path(source).name for source, _ in datas} | {dest for _, dest in datas}
    assert {"eff-long", "Part3.xml"} <= collected  # the passphrase word list, GDCM's dictionary
    for plugin_metadata in (
        "pylibjpeg_openjpeg-",
        "keyring-",
        "pyjpegls-",
    ):  # entry points, versions
        assert any(
            name.startswith(plugin_metadata) and name.endswith(".dist-info") for name in collected
        )
    excludes = set(analysis.kwargs["excludes"])
    assert {
        "PySide6.QtWebEngineCore",
        "PySide6.QtQml",
        "PySide6.QtQuick",
        "tkinter",
        "imagecodecs",
    } <= excludes
    assert all(Path(hook).is_file() for hook in analysis.kwargs["runtime_hooks"])

    (executable,) = spec_run["EXE"]
    assert executable.kwargs["name"] == "dentsend" and executable.kwargs["console"] is True
    assert [entry[0] for entry in executable.args[1]] == ["pyi_rth_inspect", "launcher"]
    assert Path(executable.kwargs["icon"]).is_file()
    assert executable.kwargs["argv_emulation"] is False
    (folder,) = spec_run["COLLECT"]
    assert folder.kwargs["name"] == "dentsend"
    assert spec_run["BUNDLE"] == []  # macOS only


def test_the_probe_is_built_only_on_request_and_runs_only_its_own_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _run_spec(tmp_path, monkeypatch, probe=True)
    by_name = {exe.kwargs["name"]: [entry[0] for entry in exe.args[1]] for exe in built["EXE"]}
    assert by_name == {
        "dentsend": ["pyi_rth_inspect", "launcher"],
        "dentsend-probe": ["pyi_rth_inspect", "frozen_probe"],
    }


def test_frozen_resources_are_found_where_the_app_looks(
    layout: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lay the files out as PyInstaller would and let ``dentsend.resources`` find them."""
    from dentsend import resources

    bundle = tmp_path / "_internal"
    for source, destination in layout.resource_datas():
        target = bundle / destination / Path(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    listed = sorted(
        p.relative_to(REPO / "resources")
        for p in (REPO / "resources").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    frozen = sorted(
        p.relative_to(bundle / "resources")
        for p in (bundle / "resources").rglob("*")
        if p.is_file()
    )
    assert frozen == listed

    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    resources.resources_dir.cache_clear()
    try:
        assert (
            resources.resource_path("icons", "dentsend-256.png")
            == bundle / "resources" / "icons" / "dentsend-256.png"
        )
        assert resources.resource_path("icons", "dentsend-256.png").is_file()
    finally:
        resources.resources_dir.cache_clear()


def test_unused_qt_plugins_and_translations_stay_out(layout: ModuleType) -> None:
    keep = layout.keep_collected_file
    for kept in (
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/imageformats/libqjpeg.so",
        "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
        "PySide6\\plugins\\platforms\\qwindows.dll",
        "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
        "PySide6/Qt/lib/libQt6Widgets.so.6",
        "_gdcm/XML/Part3.xml",
    ):
        assert keep(kept), kept
    for dropped in (
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",  # would bundle GTK
        "PySide6/Qt/plugins/sqldrivers/libqsqlite.so",
        "PySide6/Qt/plugins/tls/libqopensslbackend.so",
        "PySide6/Qt/plugins/qmltooling/libqmldbg_debugger.so",
        "PySide6/Qt/plugins/platforms/libqvnc.so",
        "PySide6/Qt/plugins/egldeviceintegrations/libqeglfs-kms-integration.so",
        "PySide6/Qt/translations/qtbase_de.qm",
        "PySide6\\translations\\qtwebengine_de.qm",
    ):
        assert not keep(dropped), dropped


def test_libraries_with_debug_sections_are_recognised(layout: ModuleType, tmp_path: Path) -> None:
    objcopy, strip = require_tool("objcopy"), require_tool("strip")
    library = tmp_path / "libexample.so"
    shutil.copyfile(Path(sys.executable).resolve(), library)
    subprocess.run([strip, "--strip-debug", str(library)], check=True)
    assert not layout.has_debug_info(library)
    notes = tmp_path / "notes"
    notes.write_bytes(b"\0" * 64)
    subprocess.run([objcopy, "--add-section", f".debug_info={notes}", str(library)], check=True)
    assert layout.has_debug_info(library)
    subprocess.run([strip, "--strip-debug", str(library)], check=True)
    assert not layout.has_debug_info(library)
    assert not layout.has_debug_info(INSTALLER / "frozen_layout.py")


def test_version_numbers_for_windows(layout: ModuleType) -> None:
    assert layout.version_tuple("0.1.0") == (0, 1, 0, 0)
    assert layout.version_tuple("1.2.0rc1") == (1, 2, 0, 0)
    assert layout.version_tuple("2.10") == (2, 10, 0, 0)
    assert layout.app_version() == __version__
    text = layout.windows_version_file("1.2.0rc1", "dentsend-gui", "dentsend")
    info = _evaluate_version_file(text)
    assert info["ffi"]["filevers"] == info["ffi"]["prodvers"] == (1, 2, 0, 0)
    (string_info, _) = info["kids"]
    (table,) = string_info["kids"]
    strings = {entry["name"]: entry["val"] for entry in table["kids"]}
    assert strings["ProductVersion"] == strings["FileVersion"] == "1.2.0rc1"
    assert strings["OriginalFilename"] == "dentsend-gui.exe"


def _evaluate_version_file(text: str) -> dict[str, Any]:
    """Evaluate a version file as PyInstaller does, against its classes' real signatures.

    PyInstaller's ``versioninfo`` module only imports on Windows (it needs ``pefile``), so the
    constructors' parameter lists are read from its source and each call is bound to them.
    """
    import inspect

    import PyInstaller

    source = Path(PyInstaller.__file__).parent / "utils" / "win32" / "versioninfo.py"
    namespace: dict[str, Any] = {}
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                parameters = [
                    inspect.Parameter(a.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
                    for a in item.args.args[1:]
                ]
                signature = inspect.Signature(parameters)
                namespace[node.name] = lambda *a, _s=signature, **k: dict(
                    _s.bind(*a, **k).arguments
                )
    result: dict[str, Any] = eval(text, namespace)  # noqa: S307 - our own file, as PyInstaller does
    return result


# --- icons ----------------------------------------------------------------------------------------


def test_every_icon_is_rendered_from_the_one_svg() -> None:
    result = subprocess.run(
        [sys.executable, str(INSTALLER / "make_icons.py"), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    icons = REPO / "resources" / "icons"
    svg = ElementTree.parse(icons / "dentsend.svg").getroot()  # noqa: S314 - our own file
    assert svg.get("viewBox") == "0 0 1024 1024"
    assert (icons / "dentsend-256.png").is_file()  # the GUI's window icon


# --- Linux ----------------------------------------------------------------------------------------


def test_the_desktop_file_validates_and_opens_radiographs() -> None:
    desktop = INSTALLER / "linux" / f"{APP_ID}.desktop"
    validator = require_tool("desktop-file-validate")
    result = subprocess.run([validator, str(desktop)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment]
    entry.read(desktop, encoding="utf-8")
    main = entry["Desktop Entry"]
    assert main["Exec"] == "dentsend %F" and main["Icon"] == APP_ID
    mime = set(main["MimeType"].strip(";").split(";"))
    assert mime == {"application/dicom", "image/jpeg", "image/png", "image/tiff", "image/bmp"}


def test_the_appstream_data_validates_and_names_this_version() -> None:
    metainfo = INSTALLER / "linux" / f"{APP_ID}.metainfo.xml"
    tool = require_tool("appstreamcli")
    result = subprocess.run(
        [tool, "validate", "--no-net", str(metainfo)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    root = ElementTree.parse(metainfo).getroot()  # noqa: S314 - our own file
    assert root.findtext("id") == APP_ID
    newest = root.find("releases/release")
    assert newest is not None and newest.get("version") == __version__


def test_the_deb_recipe_lays_out_the_app_for_the_system(tmp_path: Path) -> None:
    dpkg_deb = require_tool("dpkg-deb")
    require_tool("objdump")
    dist = tmp_path / "dist" / "dentsend"
    (dist / "_internal" / "resources").mkdir(parents=True)
    (dist / "_internal" / "resources" / "marker.txt").write_text("bundled\n")
    launcher = dist / "dentsend"
    launcher.write_text("#!/bin/sh\necho dentsend from the folder\n")
    launcher.chmod(0o755)
    result = subprocess.run(
        ["bash", str(INSTALLER / "linux" / "make_deb.sh"), str(dist), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "DEB_COMPRESSION": "gzip"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    deb = Path(result.stdout.strip().splitlines()[-1])
    assert deb.name == f"dentsend_{__version__}_{deb.name.rsplit('_', 1)[1]}"

    def field(name: str) -> str:
        return subprocess.run(
            [dpkg_deb, "-f", str(deb), name], capture_output=True, text=True, check=True
        ).stdout.strip()

    assert field("Package") == "dentsend" and field("Version") == __version__
    assert field("Depends").startswith("libc6 (>= ")
    listing = subprocess.run(
        [dpkg_deb, "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    entries = {line.split()[5].removeprefix("."): line for line in listing.splitlines()}
    assert entries["/opt/dentsend/dentsend"].startswith("-rwxr-xr-x root/root")
    assert "/opt/dentsend/_internal/resources/marker.txt" in entries
    assert entries["/usr/bin/dentsend"].endswith("-> /opt/dentsend/dentsend")
    assert f"/usr/share/applications/{APP_ID}.desktop" in entries
    assert f"/usr/share/metainfo/{APP_ID}.metainfo.xml" in entries
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert f"/usr/share/icons/hicolor/{size}x{size}/apps/{APP_ID}.png" in entries
    assert f"/usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg" in entries
    assert "/usr/share/doc/dentsend/copyright" in entries
    assert not any(
        "rw-rw" in line or "rwxrwx" in line for line in entries.values() if "->" not in line
    )


def test_the_shell_recipes_parse() -> None:
    bash = require_tool("bash")
    for script in (
        INSTALLER / "build_linux.sh",
        INSTALLER / "ci_frozen_selftest.sh",
        INSTALLER / "linux" / "make_deb.sh",
        INSTALLER / "macos" / "build_macos.sh",
    ):
        result = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


# --- macOS ----------------------------------------------------------------------------------------


def test_the_app_bundle_declares_dicom_and_images(layout: ModuleType) -> None:
    plist = layout.macos_info_plist(__version__)
    assert plist["CFBundleIdentifier"] == APP_ID
    assert plist["CFBundleShortVersionString"] == __version__
    assert plist["NSHighResolutionCapable"] is True
    # Without it macOS refuses the Apple Events that script Mail and Outlook (error -1743).
    assert "mail program" in plist["NSAppleEventsUsageDescription"]
    assert re.fullmatch(r"\d+\.\d+", plist["LSMinimumSystemVersion"])
    content_types = {t for doc in plist["CFBundleDocumentTypes"] for t in doc["LSItemContentTypes"]}
    assert content_types == {
        "org.nema.dicom",
        "public.jpeg",
        "public.png",
        "public.tiff",
        "com.microsoft.bmp",
    }
    (dicom,) = plist["UTImportedTypeDeclarations"]
    assert dicom["UTTypeIdentifier"] == "org.nema.dicom"
    assert "dcm" in dicom["UTTypeTagSpecification"]["public.filename-extension"]
    assert dicom["UTTypeTagSpecification"]["public.mime-type"] == ["application/dicom"]
    # an older Mac than the newest wheel needs is refused by macOS itself, not by a crash
    assert layout.macos_info_plist(__version__, (15, 2))["LSMinimumSystemVersion"] == "15.2"
    assert layout.macos_version_from_tags(
        ["cp311-cp311-macosx_14_0_arm64", "cp39-abi3-macosx_13_0_universal2"]
    ) == (14, 0)


def test_the_hardened_runtime_keeps_its_protections() -> None:
    with (INSTALLER / "macos" / "entitlements.plist").open("rb") as file:
        entitlements = plistlib.load(file)
    # The one exception libffi needs, and Apple Events for the mail hand-off; nothing else.
    assert entitlements == {
        "com.apple.security.cs.allow-unsigned-executable-memory": True,
        "com.apple.security.automation.apple-events": True,
    }
    script = (INSTALLER / "macos" / "build_macos.sh").read_text(encoding="utf-8")
    for step in (
        "codesign --force --options runtime --timestamp --entitlements",
        "xcrun notarytool submit",
        "--wait",
        "xcrun stapler staple",
        "hdiutil create",
    ):
        assert step in script, step


# --- Windows --------------------------------------------------------------------------------------


def test_the_windows_installer_is_per_user_and_offers_send_with_dentsend() -> None:
    script = (INSTALLER / "windows" / "dentsend.iss").read_text(encoding="utf-8")
    setup = dict(
        line.split("=", 1)
        for line in script.split("[Setup]", 1)[1].split("\n[", 1)[0].splitlines()
        if "=" in line and not line.startswith((";", "#"))
    )
    assert setup["PrivilegesRequired"] == "lowest"
    # the version comes from the frozen exe, whose resource the spec wrote from __version__
    assert setup["AppVersion"] == "{#AppVersion}"
    assert 'GetFileProductVersionString(DistDir + "\\dentsend.exe")' in script
    extensions = set(re.findall(r'#define Extensions\[\d\] "(\.[a-z]+)"', script))
    assert extensions >= FILE_TYPES
    assert f"#dim Extensions[{len(extensions)}]" in script
    registry = [
        line
        for line in script.split("[Registry]", 1)[1].split("\n[", 1)[0].splitlines()
        if line.startswith("Root:")
    ]
    assert registry and all(line.startswith("Root: HKCU;") for line in registry)
    assert any(
        'ValueData: "Send with dentsend"' in line and "SystemFileAssociations" in line
        for line in registry
    )
    # offered for any number of selected files; their processes meet in one window
    assert any('ValueName: "MultiSelectModel"; ValueData: "Player"' in line for line in registry)
    assert "{autoprograms}" in script and "{usersendto}" in script
    assert "SignTool=dentsend" in script.split("#ifdef SIGN", 1)[1]
    for path in ("..\\..\\LICENSE", "..\\..\\resources\\icons\\dentsend.ico"):
        assert (INSTALLER / "windows" / Path(*path.split("\\"))).resolve().is_file(), path
    sign = (INSTALLER / "windows" / "sign.ps1").read_text(encoding="utf-8")
    assert "/fd SHA256 /tr $TimestampUrl /td SHA256" in sign
