"""``dentsend inspect`` and ``dentsend preview``: look at radiographs without changing them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dentsend.cli import EXIT_FAILURE, EXIT_OK, UsageError
from dentsend.errors import FileProblem


def register(subparsers: Any) -> None:
    inspect = subparsers.add_parser(
        "inspect",
        help="describe radiographs as JSON, one line per file",
        description=(
            "Print one JSON object per readable file: kind, modality, size, frames, bit depth, "
            "photometric interpretation, transfer syntax and the identifying fields found."
        ),
    )
    inspect.add_argument("files", nargs="+", type=Path, metavar="FILE")
    inspect.set_defaults(handler=run_inspect)

    preview = subparsers.add_parser(
        "preview",
        help="write the display image of a radiograph as PNG",
        description="Write the display image (8-bit grey or RGB) at the image's own size.",
    )
    preview.add_argument("file", type=Path, metavar="FILE")
    preview.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png")
    preview.add_argument("--frame", type=int, default=1, metavar="N", help="frame number, from 1")
    preview.add_argument(
        "--window", metavar="CENTER,WIDTH", help="window in modality units, e.g. 2048,4096"
    )
    preview.set_defaults(handler=run_preview)


def run_inspect(args: argparse.Namespace) -> int:
    from dentsend.intake import expand_paths, load_many

    status = EXIT_OK
    for result in load_many(expand_paths(args.files)):
        if isinstance(result, FileProblem):
            print(f"dentsend: {result}", file=sys.stderr)
            status = EXIT_FAILURE
            continue
        print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
    return status


def parse_window(text: str | None) -> Any:
    if text is None:
        return None
    from dentsend.intake import Window

    try:
        center_text, width_text = text.split(",")
        center, width = float(center_text), float(width_text)
    except ValueError:
        raise UsageError(f"--window takes CENTER,WIDTH (two numbers), not {text!r}") from None
    if not width >= 1:
        raise UsageError("--window WIDTH must be at least 1")
    return Window(center, width, "chosen")


def run_preview(args: argparse.Namespace) -> int:
    window = parse_window(args.window)
    if args.frame < 1:
        raise UsageError("--frame counts from 1")
    if args.output.suffix.lower() != ".png":
        raise UsageError("the preview is written as PNG: give -o a name ending in .png")
    from dentsend.intake import load
    from dentsend.render import display_image, save_png

    radiograph = load(args.file)
    image = display_image(radiograph, args.frame - 1, window)
    try:
        save_png(image, args.output)
    except OSError as exc:
        raise FileProblem(args.output, f"cannot be written ({exc.strerror or exc})") from None
    return EXIT_OK
