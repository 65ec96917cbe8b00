"""Render every app icon from the one source, ``resources/icons/dentsend.svg``.

    python installer/make_icons.py           # (re)write the PNG sizes, dentsend.ico, dentsend.icns
    python installer/make_icons.py --check   # exit 1 if the committed icons do not match the source

The SVG is rasterised with Qt's own SVG renderer (``PySide6.QtSvg``, a dependency already) rather
than ``rsvg-convert`` or ImageMagick: it is on every build machine without a system package, and
ImageMagick's built-in SVG reader draws gradients and arcs poorly. Every size is rendered from the
vector source (not scaled down from 1024 px) so the small sizes stay crisp. Pillow writes the files:
PNG, a Windows ``.ico`` (16-256 px) and a macOS ``.icns`` (32-1024 px; macOS draws 16 px from 32).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SOURCE = ICONS / "dentsend.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)
#: Sizes that get a ``hicolor`` folder on Linux (``scalable`` gets the SVG itself).
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

#: How far a committed PNG may stray from a fresh rendering and still count as "from the source":
#: Qt versions differ by a level or two in anti-aliased edges; an edited source changes far more.
MAX_MEAN_DIFFERENCE = 0.5


def png_name(size: int) -> str:
    return f"dentsend-{size}.png"


def output_names() -> list[str]:
    """Every file this script writes into the icon folder."""
    return [*(png_name(size) for size in PNG_SIZES), "dentsend.ico", "dentsend.icns"]


def render(source: Path, size: int) -> Image.Image:
    """The SVG drawn at ``size`` x ``size`` pixels, as an RGBA image."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(source))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {source.name} is not an SVG Qt can draw")
    canvas = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    rgba = canvas.convertToFormat(QImage.Format.Format_RGBA8888)
    return Image.frombuffer(
        "RGBA", (size, size), bytes(rgba.constBits()), "raw", "RGBA", rgba.bytesPerLine(), 1
    ).copy()


def build(source: Path, folder: Path) -> list[Path]:
    """Write all icon files for ``source`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    images = {size: render(source, size) for size in PNG_SIZES}
    written = []
    for size, image in images.items():
        path = folder / png_name(size)
        image.save(path, "PNG")
        written.append(path)
    ico = folder / "dentsend.ico"
    images[256].save(
        ico,
        "ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES if s != 256],
    )
    icns = folder / "dentsend.icns"
    images[1024].save(icns, "ICNS", append_images=[images[s] for s in ICNS_SIZES])
    return [*written, ico, icns]


def _difference(a: Image.Image, b: Image.Image) -> float:
    if a.size != b.size:
        return float("inf")
    diff = ImageChops.difference(a.convert("RGBA"), b.convert("RGBA"))
    return max(ImageStat.Stat(diff).mean)


def check(source: Path, folder: Path) -> list[str]:
    """Problems with the committed icons: missing files, wrong sizes, pixels not from ``source``."""
    problems = [f"{name} is missing" for name in output_names() if not (folder / name).is_file()]
    if problems:
        return problems
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        build(source, fresh)
        for size in PNG_SIZES:
            with (
                Image.open(folder / png_name(size)) as committed,
                Image.open(fresh / png_name(size)) as rendered,
            ):
                if committed.size != (size, size):
                    problems.append(f"{png_name(size)} is {committed.size}, not {size}x{size}")
                elif _difference(committed, rendered) > MAX_MEAN_DIFFERENCE:
                    problems.append(f"{png_name(size)} differs from a fresh rendering of the SVG")
    with Image.open(folder / "dentsend.ico") as ico:
        have = set(ico.info.get("sizes", set()))
        if have != {(s, s) for s in ICO_SIZES}:
            problems.append(f"dentsend.ico holds {sorted(have)}, not {list(ICO_SIZES)}")
    with Image.open(folder / "dentsend.icns") as icns:
        # entries are (points, points, scale): a 64 px image is the 32 pt retina one
        have_icns = {s[0] * s[2] for s in icns.info.get("sizes", set())}
        if not set(ICNS_SIZES) <= have_icns:
            problems.append(f"dentsend.icns holds {sorted(have_icns)}, not {list(ICNS_SIZES)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    parser.add_argument(
        "--source", type=Path, default=SOURCE, help="the SVG (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=ICONS, help="folder (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.source, args.out)
        for problem in problems:
            print(f"make_icons: {problem}", file=sys.stderr)
        return 1 if problems else 0
    for path in build(args.source, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
