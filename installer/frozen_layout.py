"""What goes into the frozen dentsend folder, as plain data shared by the spec and the tests.

``installer/dentsend.spec`` is executed by PyInstaller with its own globals, so it cannot be
imported by a test. Everything that decides *what* is frozen (resources, hidden imports, excludes,
dropped Qt plugins, version resources, the macOS Info.plist) lives here instead, where
``tests/test_installer.py`` checks it in milliseconds; the spec only wires it into PyInstaller's
``Analysis``/``EXE``/``COLLECT``/``BUNDLE``.

This module must import nothing from PyInstaller at module level (the tests run without it being
imported) and nothing from dentsend (the spec must freeze the checkout, not whatever is installed).
"""

from __future__ import annotations

import ast
import plistlib
from pathlib import Path, PurePosixPath
from typing import Any

INSTALLER = Path(__file__).resolve().parent
REPO = INSTALLER.parent
SOURCE = REPO / "src"
RESOURCES = REPO / "resources"
ICONS = RESOURCES / "icons"


def _package_constant(name: str) -> str:
    """A string constant of ``dentsend/__init__.py``, read from the checkout's source without
    importing anything."""
    init = SOURCE / "dentsend" / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise RuntimeError(f"no {name} = '...' line in {init}")


APP_NAME = _package_constant("APP_NAME")
APP_ID = _package_constant("APP_ID")
PUBLISHER = "dentsend contributors"
DESCRIPTION = "Send dental radiographs to another doctor, de-identified and encrypted"

#: The console executable. On Linux it is the only one (a console flag means nothing there); on
#: Windows a windowed program cannot print, so ``dentsend.exe`` stays the command-line entry point
#: and :data:`GUI_EXE` is what the Start menu and Explorer launch.
CLI_EXE = "dentsend"
#: The windowed executable on Windows: no console window flashes up when the app is started.
GUI_EXE = "dentsend-gui"

#: The file types the app opens: extension -> MIME type (Linux) and UTI (macOS).
DOCUMENT_TYPES: dict[str, tuple[str, str]] = {
    ".dcm": ("application/dicom", "org.nema.dicom"),
    ".jpg": ("image/jpeg", "public.jpeg"),
    ".jpeg": ("image/jpeg", "public.jpeg"),
    ".png": ("image/png", "public.png"),
    ".tif": ("image/tiff", "public.tiff"),
    ".tiff": ("image/tiff", "public.tiff"),
    ".bmp": ("image/bmp", "com.microsoft.bmp"),
}


def app_version() -> str:
    """``dentsend.__version__``."""
    return _package_constant("__version__")


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """The four numbers Windows version resources want: ``0.1.0`` -> ``(0, 1, 0, 0)``.

    A pre-release suffix (``1.2.0rc1``) is dropped: Windows compares these numbers only.
    """
    numbers: list[int] = []
    for part in version.split(".")[:4]:
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        numbers.append(int(digits or 0))
        if len(digits) < len(part):
            break
    numbers += [0] * (4 - len(numbers))
    return (numbers[0], numbers[1], numbers[2], numbers[3])


# --------------------------------------------------------------------------------------------
# what to collect


def _is_shipped(path: Path) -> bool:
    relative = path.relative_to(RESOURCES)
    return path.is_file() and not any(
        part.startswith(".") or part == "__pycache__" for part in relative.parts
    )


def resource_files() -> list[Path]:
    """Every file under ``resources/`` that the frozen app must carry (dot files aside)."""
    return sorted(p for p in RESOURCES.rglob("*") if _is_shipped(p))


def resource_datas() -> list[tuple[str, str]]:
    """``(source, destination folder)`` pairs putting ``resources/`` at ``_MEIPASS/resources``.

    Listed file by file rather than as one folder so that files added later by other parts
    (viewer JS/CSS, demo samples, word lists) are picked up without touching the spec.
    """
    return [
        (str(path), str(PurePosixPath("resources", *path.relative_to(RESOURCES).parent.parts)))
        for path in resource_files()
    ]


#: Modules found only at run time (by name in a string, or through entry points), so
#: PyInstaller's import tracing cannot see them.
HIDDEN_IMPORTS = [
    # pylibjpeg finds its plugins through entry points and pydicom imports them by name.
    "pylibjpeg",
    "pylibjpeg.utils",
    "openjpeg",
    "openjpeg.utils",
    "jpeg_ls",
    "_CharLS",
    # python-gdcm: the top-level gdcm.py wrapper loads _gdcm.gdcmswig with RTLD_GLOBAL.
    "gdcm",
    "_gdcm",
    "_gdcm.gdcmswig",
    # dentsend's 12-bit JPEG plugin is registered with pydicom as a module name string.
    "dentsend.jpeg12",
    # keyring chooses a backend at run time: the OS ones and their transports.
    "keyring.backends.chainer",
    "keyring.backends.fail",
    "keyring.backends.null",
    "keyring.backends.SecretService",
    "keyring.backends.libsecret",
    "keyring.backends.kwallet",
    "keyring.backends.macOS",
    "keyring.backends.Windows",
    "secretstorage",
    "jeepney",
    # dependencies other parts import lazily; listed so a late import cannot go missing
    "pysequoia",
    "xkcdpass.xkcd_password",
    "zxcvbn",
    "platformdirs",
    "cryptography.hazmat.primitives.ciphers.aead",
    "cryptography.hazmat.primitives.kdf.pbkdf2",
    # the desktop app's Qt modules, so the app works even where it imports them inside functions
    "PySide6.QtCore",
    "PySide6.QtGui",
    "PySide6.QtWidgets",
    "PySide6.QtSvg",
    "PySide6.QtNetwork",
]

#: Distributions whose metadata must travel along: entry points (plugin discovery) or
#: ``importlib.metadata.version()`` calls at import time.
COPY_METADATA = ["pylibjpeg", "pylibjpeg-openjpeg", "pyjpegls", "keyring", "pydicom", "pysequoia"]

#: Package data that lives beside the code of a dependency: (package, glob patterns).
PACKAGE_DATA: list[tuple[str, list[str]]] = [
    # The EFF lists only (the design's "EFF large list"); the other languages' lists are 8.7 MB.
    # Add a list here if the passphrase generator ever offers another language.
    ("xkcdpass", ["static/eff-*"]),
    # GDCM's data dictionary; gdcm.py points GDCM_RESOURCES_PATH at <its folder>/_gdcm/XML.
    ("_gdcm", ["XML/*.xml"]),
]

#: Qt bindings nobody in dentsend uses; most of them would drag in large Qt libraries and plugins.
QT_EXCLUDED_MODULES = [
    f"PySide6.{name}"
    for name in (
        "Qt3DAnimation", "Qt3DCore", "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DRender",
        "QtAxContainer", "QtBluetooth", "QtCharts", "QtDataVisualization", "QtDesigner",
        "QtGraphs", "QtGraphsWidgets", "QtHelp", "QtHttpServer", "QtLocation", "QtMultimedia",
        "QtMultimediaWidgets", "QtNetworkAuth", "QtNfc", "QtPdf", "QtPdfWidgets", "QtPositioning",
        "QtQml", "QtQuick", "QtQuick3D", "QtQuickControls2", "QtQuickTest", "QtQuickWidgets",
        "QtRemoteObjects", "QtScxml", "QtSensors", "QtSerialBus", "QtSerialPort",
        "QtSpatialAudio", "QtSql", "QtStateMachine", "QtTextToSpeech", "QtUiTools",
        "QtWebChannel", "QtWebEngineCore", "QtWebEngineQuick", "QtWebEngineWidgets",
        "QtWebSockets", "QtWebView",
    )
]  # fmt: skip

EXCLUDES = [
    *QT_EXCLUDED_MODULES,
    # other GUI toolkits and bindings
    "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib", "PyQt5", "PyQt6", "PySide2",
    "PIL.ImageTk",
    # image formats dentsend does not accept: fewer decoders for hostile files, and libavif and
    # libwebp stay out (Pillow skips plugins that fail to import)
    "PIL.AvifImagePlugin", "PIL._avif", "PIL.WebPImagePlugin", "PIL._webp",
    # development and test tooling that may sit in the build environment
    "pytest", "_pytest", "pytestqt", "xdist", "pluggy", "mypy", "ruff", "setuptools", "pip",
    "IPython", "matplotlib", "pandas", "scipy",
    "imagecodecs", "playwright", "selenium", "marionette_driver", "greenlet", "trio",
    "psutil",  # only numpy.testing imports it
    "readline",  # interactive prompts only (pdb, code); would bring libreadline
    # test suites shipped inside dependencies
    "test", "numpy.tests", "numpy.testing.tests", "PIL.tests", "pydicom.tests",
    "pylibjpeg.tests", "openjpeg.tests", "jpeg_ls.tests", "jpeg_ls.example",
    "cryptography.hazmat.backends.openssl.tests",
]  # fmt: skip

#: Qt plugin folders kept. Everything else under ``PySide6/Qt/plugins`` is dropped: sql drivers,
#: multimedia, positioning, QML tooling, TLS/network information (dentsend never goes online),
#: EGL device integrations (only the embedded ``eglfs`` platform uses them).
QT_PLUGIN_TYPES_KEPT = {
    "accessiblebridge",
    "printsupport",
    "platforms",
    "platformthemes",
    "platforminputcontexts",
    "imageformats",
    "iconengines",
    "styles",
    "xcbglintegrations",
    "wayland-decoration-client",
    "wayland-graphics-integration-client",
    "wayland-shell-integration",
    "generic",
}

#: Single plugins dropped from kept folders: platforms for embedded boards and VNC, the PDF image
#: format (it would pull in QtPdf) and the GTK3 theme (it would bundle GTK).
QT_PLUGINS_DROPPED = {
    "libqvnc.so", "libqlinuxfb.so", "libqeglfs.so", "libqminimalegl.so", "libqvkkhrdisplay.so",
    "libqebl.so", "libqgtk3.so", "libqpdf.so", "qpdf.dll", "libqpdf.dylib",
    "libqtuiotouchplugin.so", "libqevdevkeyboardplugin.so", "libqevdevmouseplugin.so",
    "libqevdevtabletplugin.so", "libqevdevtouchplugin.so", "libqlibinputplugin.so",
}  # fmt: skip

#: Qt's translations kept (file name prefixes). None: dentsend's own texts are English only, and
#: translating just Qt's buttons and dialogs would give a half-German, half-English window. When
#: the app is translated, add ``"qtbase_"`` here (5.8 MB) and load it with a ``QTranslator``.
QT_TRANSLATION_PREFIXES: tuple[str, ...] = ()


def keep_collected_file(destination: str) -> bool:
    """Whether a file PyInstaller collected (by its destination in the bundle) stays in.

    Qt's hooks collect plugins and translations by module; this removes the parts a desktop
    app that never uses QML, multimedia, networking or SQL does not need.
    """
    parts = PurePosixPath(destination.replace("\\", "/")).parts
    if "plugins" in parts and parts[0] == "PySide6":
        index = parts.index("plugins")
        if len(parts) > index + 2:
            plugin_type, name = parts[index + 1], parts[-1]
            return plugin_type in QT_PLUGIN_TYPES_KEPT and name not in QT_PLUGINS_DROPPED
    if parts[:3] == ("PySide6", "Qt", "translations") or parts[:2] == ("PySide6", "translations"):
        return parts[-1].startswith(QT_TRANSLATION_PREFIXES)
    return True


def has_debug_info(path: Path) -> bool:
    """Whether an ELF file carries DWARF debug sections (``.debug_info``).

    Interpreters built locally (pyenv, ``./configure`` defaults) and some wheels ship their shared
    libraries with debug information: a quarter of the folder's size, useless to a user.
    """
    with path.open("rb") as file:
        header = file.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
            return False  # only little-endian 64-bit ELF (x86-64, arm64 Linux) is examined
        shoff = int.from_bytes(header[0x28:0x30], "little")
        shentsize = int.from_bytes(header[0x3A:0x3C], "little")
        shnum = int.from_bytes(header[0x3C:0x3E], "little")
        shstrndx = int.from_bytes(header[0x3E:0x40], "little")
        if not shoff or not shnum or shstrndx >= shnum:
            return False
        file.seek(shoff)
        table = file.read(shentsize * shnum)
        names = table[shentsize * shstrndx :][:shentsize]
        names_offset = int.from_bytes(names[0x18:0x20], "little")
        names_size = int.from_bytes(names[0x20:0x28], "little")
        file.seek(names_offset)
        strings = file.read(names_size)
    for index in range(shnum):
        entry = table[index * shentsize :][:shentsize]
        start = int.from_bytes(entry[0:4], "little")
        if strings[start:].split(b"\0", 1)[0] == b".debug_info":
            return True
    return False


# --------------------------------------------------------------------------------------------
# platform identity


#: Distributions with compiled code in the bundle: the newest macOS any of their wheels was built
#: for is the oldest macOS the app runs on.
COMPILED_DISTRIBUTIONS = [
    "PySide6_Essentials", "shiboken6", "numpy", "pillow", "cryptography", "pysequoia",
    "python-gdcm", "pylibjpeg-openjpeg", "pyjpegls", "cffi",
]  # fmt: skip


def macos_version_from_tags(tags: list[str]) -> tuple[int, int] | None:
    """The newest ``macosx_X_Y`` among wheel tags such as ``cp39-abi3-macosx_13_0_universal2``."""
    found = []
    for tag in tags:
        platform = tag.rsplit("-", 1)[-1]
        for part in platform.split("."):
            pieces = part.split("_")
            if pieces[0] == "macosx" and len(pieces) >= 3 and pieces[1].isdigit():
                found.append((int(pieces[1]), int(pieces[2]) if pieces[2].isdigit() else 0))
    return max(found) if found else None


def bundled_macos_minimum() -> tuple[int, int] | None:
    """The newest macOS the installed compiled dependencies' wheels were built for."""
    from importlib import metadata

    versions = []
    for name in COMPILED_DISTRIBUTIONS:
        try:
            wheel = metadata.distribution(name).read_text("WHEEL") or ""
        except metadata.PackageNotFoundError:
            continue
        tags = [
            line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")
        ]
        found = macos_version_from_tags(tags)
        if found:
            versions.append(found)
    return max(versions) if versions else None


def macos_info_plist(version: str, minimum: tuple[int, int] | None = None) -> dict[str, Any]:
    """The app bundle's Info.plist: ``installer/macos/Info.plist`` plus the version numbers.

    ``minimum`` (from :func:`bundled_macos_minimum`) raises ``LSMinimumSystemVersion`` so that an
    older Mac refuses to start the app with a clear message instead of crashing in a library.
    """
    with (INSTALLER / "macos" / "Info.plist").open("rb") as file:
        plist: dict[str, Any] = plistlib.load(file)
    plist["CFBundleShortVersionString"] = version
    plist["CFBundleVersion"] = ".".join(str(n) for n in version_tuple(version)[:3])
    declared = tuple(int(n) for n in plist["LSMinimumSystemVersion"].split("."))
    if minimum is not None and minimum > declared:
        plist["LSMinimumSystemVersion"] = f"{minimum[0]}.{minimum[1]}"
    return plist


def windows_version_file(version: str, executable: str, description: str) -> str:
    """The Windows version resource (Explorer's Details tab, SmartScreen, Inno Setup's version).

    Written in PyInstaller's version-file format, a Python expression, rather than built with
    ``PyInstaller.utils.win32.versioninfo``: that module needs ``pefile``, which exists only on
    Windows build machines, and the tests check this text on every platform.
    """
    numbers = version_tuple(version)
    strings = {
        "CompanyName": PUBLISHER,
        "FileDescription": description,
        "FileVersion": version,
        "InternalName": executable,
        "LegalCopyright": f"© {PUBLISHER}, MIT licence",
        "OriginalFilename": f"{executable}.exe",
        "ProductName": APP_NAME,
        "ProductVersion": version,
    }
    entries = ",\n".join(
        f"          StringStruct({key!r}, {value!r})" for key, value in strings.items()
    )
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(
    filevers={numbers!r},
    prodvers={numbers!r},
    mask=0x3F, flags=0x0, OS=0x40004, fileType=0x1, subtype=0x0, date=(0, 0)
  ),
  kids=[
    StringFileInfo([
      StringTable(
        '040904B0',
        [
{entries}
        ])
    ]),
    VarFileInfo([VarStruct('Translation', [0x0409, 1200])])
  ]
)
"""
