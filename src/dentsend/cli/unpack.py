"""``dentsend open``: a received package → its files, verified before anything is written.

The package's kind is decided by its content, not its name: a dentsend HTML bundle, or an
OpenPGP message (whose content, when it is a dentsend ZIP, is unpacked).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dentsend.cli import EXIT_FAILURE, EXIT_OK, UsageError
from dentsend.errors import DentsendError, FileProblem, printable, read_user_file


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "open",
        help="open a received package and save its files",
        description=(
            "Decrypt and check a dentsend package (HTML or OpenPGP) and write its files into DIR. "
            "Nothing is written unless the whole package is intact; existing files are never "
            "overwritten."
        ),
    )
    parser.add_argument("package", type=Path, metavar="PACKAGE")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the files (created if missing)",
    )
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--passphrase-file", type=Path, metavar="F", help="the passphrase, on the first line of F"
    )
    secret.add_argument(
        "--key",
        type=Path,
        metavar="SECRET_KEY",
        help="an OpenPGP secret key file (default: the practice's key)",
    )
    parser.add_argument(
        "--key-passphrase-file",
        type=Path,
        metavar="F",
        help="the passphrase of the --key secret key, on the first line of F",
    )
    parser.set_defaults(handler=run_open)


def _passphrase(args: argparse.Namespace, required: bool) -> str | None:
    from dentsend.passphrase import read_passphrase_file

    if args.passphrase_file is not None:
        return read_passphrase_file(args.passphrase_file)
    if not required:
        return None
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Passphrase: ")
    raise UsageError("this package opens with a passphrase: give --passphrase-file F")


def run_open(args: argparse.Namespace) -> int:
    package: Path = args.package
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output} is a file; give a folder")
    head = read_user_file(package, limit=4096, what="package")

    from dentsend.bundle import is_bundle
    from dentsend.openpgp import is_openpgp

    if is_openpgp(head):
        return _open_openpgp(args, package)
    if is_bundle(head):
        if args.key is not None or args.key_passphrase_file is not None:
            raise UsageError("an HTML package opens with a passphrase, not --key")
        return _open_bundle(args, package)
    raise FileProblem(package, "is not a dentsend package or an OpenPGP message")


def _open_bundle(args: argparse.Namespace, package: Path) -> int:
    from dentsend.bundle import extract_bundle

    passphrase = _passphrase(args, required=True)
    assert passphrase is not None
    opened, written = extract_bundle(package, passphrase, args.output)
    header = opened.header
    if header.parts > 1:
        print(f"dentsend: this is part {header.part} of {header.parts}", file=sys.stderr)
    note = opened.manifest.get("note")
    if isinstance(note, str) and note.strip():
        # printable(): a hostile note must not drive the terminal
        first, *more = [printable(line) for line in note[:2000].splitlines()] or [""]
        print(f"dentsend: note from the sender: {first}", file=sys.stderr)
        for line in more:
            print(f"  {line}", file=sys.stderr)
    for path in written:
        print(printable(str(path)))
    return EXIT_OK


def _open_openpgp(args: argparse.Namespace, package: Path) -> int:
    from dentsend.openpgp import BAD, GOOD, UNCHECKED, UNKNOWN_SIGNER, read_package
    from dentsend.openpgp.message import KeyProblem
    from dentsend.passphrase import read_passphrase_file
    from dentsend.payload import OutputFolder, ReceivedZip, UnsafeArchive, is_zip

    key_passphrase = (
        read_passphrase_file(args.key_passphrase_file) if args.key_passphrase_file else None
    )
    try:
        data = package.read_bytes()
    except OSError as exc:
        raise FileProblem(package, f"cannot be read ({exc.strerror or exc})") from None
    try:
        opened = read_package(
            data,
            key=args.key,
            key_passphrase=key_passphrase,
            passphrase=_passphrase(args, required=False),
        )
    except (FileProblem, KeyProblem):
        raise  # about the key, which the message names
    except DentsendError as exc:
        raise DentsendError(f"{printable(package.name)}: {exc}") from None
    del data
    signer = printable(opened.signer or opened.signer_key or "an unknown key")[:300]
    if opened.signature == BAD:
        raise DentsendError(
            f"{package.name}: the signature does not match (by {signer}); the package may have "
            "been altered, so nothing was written"
        )
    out = OutputFolder(args.output)
    with out:
        archive = None
        if is_zip(opened.data[:4]):
            try:
                candidate = ReceivedZip(opened.data)
                candidate.check()
            except UnsafeArchive as problem:
                raise DentsendError(f"{package.name}: {problem}") from None
            if candidate.manifest is not None:
                archive = candidate
        if archive is not None:
            out.plan(archive.output_name(entry) for entry in archive.entries)
            try:
                archive.extract(out)
            except UnsafeArchive as problem:
                raise DentsendError(f"{package.name}: {problem}") from None
        else:
            name = opened.filename or _content_name(package)
            out.plan([name])
            with out.create(name) as handle:
                handle.write(opened.data)
        written = out.commit()
    messages = {
        GOOD: f"good signature from {signer}",
        UNKNOWN_SIGNER: f"signed by {signer}, whose certificate is not imported (not checked)",
        UNCHECKED: "signed, but the signature (inside compressed data) could not be checked: "
        "the sender is NOT verified",
    }
    print(f"dentsend: {messages.get(opened.signature, 'not signed')}", file=sys.stderr)
    for path in written:
        print(printable(str(path)))
    return EXIT_OK if written else EXIT_FAILURE


def _content_name(package: Path) -> str:
    """The file name for a message's content: the package's name without .pgp/.gpg/.asc."""
    if package.suffix.lower() in (".pgp", ".gpg", ".asc"):
        return package.stem or "message"
    return f"{package.name}.out"
