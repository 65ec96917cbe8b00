"""``dentsend clean``: write de-identified copies of radiographs, unencrypted.

The de-identification options are shared with ``dentsend pack`` through
:func:`add_deid_arguments` and :func:`deid_options_from_args`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dentsend.cli import EXIT_FAILURE, EXIT_OK, UsageError
from dentsend.errors import DentsendError, FileProblem

if TYPE_CHECKING:
    from dentsend.deid import Box, DeidOptions, Mode

# The option names, repeated here so ``--help`` needs no import of the de-identification code.
_RETAIN = (
    "patient-characteristics",
    "dates",
    "modified-dates",
    "device",
    "institution",
    "uids",
    "safe-private",
)
_CLEAN = ("descriptors", "graphics", "structured-content")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "clean",
        help="write de-identified copies of radiographs (not encrypted)",
        description=(
            "Write a de-identified copy of each file into DIR: DICOM per the PS3.15 Annex E "
            "Basic Profile (with the options chosen), plain images without their metadata, "
            "under neutral names. Files that may show burned-in text or a face (plain images, "
            "screen captures, photographs, CT/MR volumes) need --redact or "
            "--confirm-no-burned-in."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the cleaned copies (created if missing)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="REPORT.json",
        help="write what was removed, emptied, replaced or kept per file (holds the original "
        "values: keep it local, outside DIR)",
    )
    add_deid_arguments(parser)
    parser.set_defaults(handler=run_clean)


def add_deid_arguments(parser: argparse.ArgumentParser) -> None:
    """The de-identification options, for ``clean`` and ``pack``."""
    group = parser.add_argument_group("de-identification (default: DICOM PS3.15 Basic Profile)")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument(
        "--keep-metadata",
        action="store_true",
        help="send the files byte-identical, names included (a named referral)",
    )
    mode.add_argument(
        "--pseudonym",
        metavar="CODE",
        help="de-identify, then set PatientName and PatientID to CODE (e.g. REF-2026-114)",
    )
    group.add_argument(
        "--retain",
        action="append",
        default=[],
        metavar="NAME",
        help=f"keep what the profile would remove (repeatable): {', '.join(_RETAIN)}",
    )
    group.add_argument(
        "--clean",
        action="append",
        default=[],
        metavar="NAME",
        dest="clean_options",
        help=f"keep these, cleaned of identifying values (repeatable): {', '.join(_CLEAN)}",
    )
    group.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="FILE:X,Y,W,H",
        help="paint a box black on every frame of FILE (repeatable): X,Y is the top-left "
        "corner and W,H the size, in pixels of the image as displayed, i.e. as `dentsend "
        "preview` and the viewers show it (turned upright by its EXIF orientation)",
    )
    group.add_argument(
        "--confirm-no-burned-in",
        action="store_true",
        help="confirm the images show no identifying text, and that photographs and CT/MR "
        "volumes (from which a face can be rendered) may be sent as they are",
    )


def deid_options_from_args(args: argparse.Namespace) -> DeidOptions:
    """The options the arguments ask for; :class:`UsageError` for a bad combination."""
    from dentsend.deid import DeidOptions
    from dentsend.settings import load_settings

    retain = frozenset(args.retain)
    clean = frozenset(args.clean_options)
    for names, known, flag in ((retain, _RETAIN, "--retain"), (clean, _CLEAN, "--clean")):
        unknown = sorted(names - set(known))
        if unknown:
            raise UsageError(f"{flag} {unknown[0]}: choose from {', '.join(known)}")
    redactions: dict[Path, tuple[Box, ...]] = {}
    for spec in args.redact:
        path, box = parse_redaction(spec)
        redactions[path] = (*redactions.get(path, ()), box)
    redactions = {path: _stored_boxes(path, boxes) for path, boxes in redactions.items()}
    if args.keep_metadata:
        used = [
            flag
            for flag, value in (("--retain", retain), ("--clean", clean), ("--redact", redactions))
            if value
        ]
        if used:
            raise UsageError(
                f"--keep-metadata sends files unchanged; it cannot be combined with {used[0]}"
            )
    mode: Mode = "deidentify"
    if args.keep_metadata:
        mode = "keep"
    elif args.pseudonym is not None:
        mode = "pseudonym"
    options = DeidOptions(
        mode=mode,
        pseudonym=args.pseudonym,
        retain=retain,
        clean=clean,
        redactions=redactions,
        confirmed_no_burned_in=bool(args.confirm_no_burned_in),
        stable_uids=load_settings().stable_uids,
    )
    try:
        options.validate()
    except DentsendError as exc:
        raise UsageError(str(exc)) from None
    return options


def parse_redaction(spec: str) -> tuple[Path, Box]:
    """``FILE:X,Y,W,H`` → (resolved path, box). The file name may itself contain colons."""
    from dentsend.deid import Box

    path_text, colon, numbers = spec.rpartition(":")
    try:
        if not colon or not path_text:
            raise ValueError
        x, y, width, height = (int(n) for n in numbers.split(","))
    except ValueError:
        raise UsageError(
            f"--redact takes FILE:X,Y,W,H (four whole numbers in pixels), not {spec!r}"
        ) from None
    if width < 1 or height < 1 or x < 0 or y < 0:
        raise UsageError(f"--redact {numbers}: X and Y must be 0 or more, W and H at least 1")
    return Path(path_text).resolve(), Box(x, y, width, height)


def _stored_boxes(path: Path, boxes: tuple[Box, ...]) -> tuple[Box, ...]:
    """Boxes given as displayed, in the file's stored-pixel coordinates (what ``Box`` means).

    A file that cannot be opened keeps its boxes as given: it is reported when it is loaded
    for cleaning, and never cleaned.
    """
    from dentsend.deid import display_box_to_stored, display_size
    from dentsend.intake import load

    try:
        radiograph = load(path)
    except (DentsendError, OSError):
        return boxes
    width, height = display_size(radiograph)
    for box in boxes:
        if not box.inside(width, height):
            raise FileProblem(
                path, f"redaction box {box} lies outside the {width}×{height} image as displayed"
            )
    return tuple(display_box_to_stored(box, radiograph) for box in boxes)


def run_clean(args: argparse.Namespace) -> int:
    options = deid_options_from_args(args)
    from dentsend.atomic import atomic_write
    from dentsend.deid import Deidentifier
    from dentsend.intake import expand_paths, load_many

    output: Path = args.output
    if output.exists() and not output.is_dir():
        raise UsageError(f"-o {output} is a file; give a folder")
    if args.report is not None and _inside(args.report, output):
        raise UsageError(
            "--report must be written outside the output folder: it holds the original values"
        )
    paths = expand_paths(args.files)
    given = {p.resolve() for p in paths}
    for path in options.redactions:
        if path not in given:
            raise UsageError(f"--redact names {path.name}, which is not among the files to clean")

    # One file at a time (load, check, clean, write), so a thousand files need the memory of
    # one; the shared Deidentifier keeps UIDs consistent across all of them.
    status = EXIT_OK
    deid = Deidentifier(options)
    reports = []
    for result in load_many(paths):
        try:
            if isinstance(result, FileProblem):
                raise result
            cleaned = deid.clean(result)  # checks burned-in text and boxes first
            target = output / cleaned.name
            if target.exists():
                raise FileProblem(
                    result.path,
                    f"would be written as {cleaned.name}, which already exists in the output "
                    "folder (choose an empty folder)",
                )
            try:
                with atomic_write(target, overwrite=False) as out:
                    out.write(cleaned.data)
            except OSError as exc:
                raise FileProblem(target, f"cannot be written ({exc.strerror or exc})") from None
        except FileProblem as problem:
            _problem(problem)
            status = EXIT_FAILURE
            continue
        reports.append(cleaned.report)
        print(target, flush=True)
    if args.report is not None:
        document = {
            "annex_e_edition": deid.edition,
            "mode": options.mode,
            "retain": sorted(options.retain),
            "clean": sorted(options.clean),
            "files": [report.to_json() for report in reports],
        }
        try:
            with atomic_write(args.report) as out:
                out.write(json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"))
        except OSError as exc:
            raise FileProblem(args.report, f"cannot be written ({exc.strerror or exc})") from None
    return status


def _problem(problem: FileProblem) -> None:
    print(f"dentsend: {problem}", file=sys.stderr, flush=True)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
