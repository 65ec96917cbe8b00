"""``dentsend pack``: radiographs → one encrypted package (HTML or OpenPGP), de-identified."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dentsend.cli import EXIT_FAILURE, EXIT_OK, UsageError
from dentsend.cli.clean import add_deid_arguments, deid_options_from_args
from dentsend.errors import DentsendError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pack",
        help="make an encrypted package of radiographs to send",
        description=(
            "De-identify the files (unless --keep-metadata) and encrypt them into one package: "
            "a self-decrypting HTML file that opens in any browser with the passphrase (--html), "
            "or an OpenPGP message for recipients with OpenPGP (--pgp, --pgp-passphrase). "
            "Give the passphrase to the recipient separately, by phone or text message."
        ),
    )
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="radiographs (DICOM, JPEG, PNG, TIFF, BMP) or folders of them",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="OUT",
        help="the package file (.html, or .pgp/.asc for OpenPGP)",
    )
    kind = parser.add_argument_group("package format (choose one)")
    formats = kind.add_mutually_exclusive_group(required=True)
    formats.add_argument(
        "--html", action="store_true", help="a self-decrypting HTML file, opened with a passphrase"
    )
    formats.add_argument(
        "--pgp",
        action="append",
        metavar="CERT",
        type=str,
        help="an OpenPGP message to this certificate (file or imported "
        "fingerprint); repeat for several recipients",
    )
    formats.add_argument(
        "--pgp-passphrase",
        action="store_true",
        help="an OpenPGP message opened with a passphrase (gpg -d)",
    )
    secret = parser.add_argument_group("passphrase (for --html and --pgp-passphrase)")
    choice = secret.add_mutually_exclusive_group()
    choice.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="F",
        help="read the passphrase from the first line of F (refused if it is easy to guess)",
    )
    choice.add_argument(
        "--new-passphrase", action="store_true", help="generate six random words and print them"
    )
    pgp = parser.add_argument_group("OpenPGP options")
    pgp.add_argument(
        "--sign",
        type=Path,
        metavar="SECRET_KEY",
        help="sign with this secret key file (default: the practice's key, if any)",
    )
    pgp.add_argument(
        "--no-sign",
        action="store_true",
        help="do not sign (by default the practice's key signs OpenPGP packages, if there is one)",
    )
    pgp.add_argument(
        "--key-passphrase-file",
        type=Path,
        metavar="F",
        help="the passphrase of the --sign key, on the first line of F",
    )
    pgp.add_argument("--armor", action="store_true", help="ASCII-armored output (.asc)")
    parser.add_argument(
        "--note", default="", metavar="TEXT", help="a note for the recipient, inside the encryption"
    )
    parser.add_argument(
        "--max-size",
        type=float,
        metavar="MB",
        help="split into several complete packages, each below MB megabytes "
        "in an email (whole files per part)",
    )
    mail = parser.add_argument_group("sending")
    mail.add_argument(
        "--to",
        default="",
        metavar="ADDRESS",
        help="the recipient's e-mail address (for the draft and the sent-log)",
    )
    mail.add_argument(
        "--eml",
        type=Path,
        metavar="DRAFT.eml",
        help="also write an e-mail draft with the package attached, which any "
        "mail program opens as a new message",
    )
    mail.add_argument(
        "--mail",
        action="store_true",
        help="open a new message in your mail program with the package attached",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="REPORT.json",
        help="write what de-identification changed per file (holds the original "
        "values: keep it local)",
    )
    add_deid_arguments(parser)
    parser.set_defaults(handler=run_pack)


def _format(args: argparse.Namespace) -> str:
    if args.html:
        return "html"
    if args.pgp:
        return "openpgp"
    return "openpgp-passphrase"


def run_pack(args: argparse.Namespace) -> int:
    fmt = _format(args)
    options = deid_options_from_args(args)
    uses_passphrase = fmt in ("html", "openpgp-passphrase")
    if uses_passphrase and not (args.passphrase_file or args.new_passphrase):
        raise UsageError("give --passphrase-file F or --new-passphrase")
    if not uses_passphrase and (args.passphrase_file or args.new_passphrase):
        raise UsageError("--pgp packages open with the recipient's key, not a passphrase")
    if fmt == "html":
        for flag, value in (
            ("--sign", args.sign),
            ("--no-sign", args.no_sign),
            ("--armor", args.armor),
            ("--key-passphrase-file", args.key_passphrase_file),
        ):
            if value:
                raise UsageError(f"{flag} is for OpenPGP packages, not --html")
        if args.output.suffix.lower() not in (".html", ".htm"):
            raise UsageError("an HTML package needs a name ending in .html (-o OUT.html)")
    if args.sign and args.no_sign:
        raise UsageError("--sign and --no-sign exclude each other")
    if args.max_size is not None and not args.max_size > 0:
        raise UsageError("--max-size takes a size in MB, more than 0")
    if args.note and len(args.note) > 10_000:
        raise UsageError("--note is limited to 10,000 characters")
    if args.eml is not None and args.eml.suffix.lower() != ".eml":
        raise UsageError("the draft is an e-mail file: give --eml a name ending in .eml")

    from dentsend.passphrase import generate, read_passphrase_file
    from dentsend.pipeline import PackProblems, PackRequest, pack
    from dentsend.settings import load_settings

    settings = load_settings()
    passphrase = None
    if args.new_passphrase:
        passphrase = generate()
    elif args.passphrase_file:
        passphrase = read_passphrase_file(args.passphrase_file)
    key_passphrase = (
        read_passphrase_file(args.key_passphrase_file) if args.key_passphrase_file else None
    )
    request = PackRequest(
        files=args.files,
        output=args.output,
        format=fmt,  # type: ignore[arg-type]
        deid=options,
        passphrase=passphrase,
        recipients=list(args.pgp or []),
        sign_with=args.sign,
        sign_passphrase=key_passphrase,
        sign_with_own_key=not args.no_sign,
        armor=args.armor,
        note=args.note,
        practice_name=settings.practice_name,
        max_part_bytes=int(args.max_size * 1_000_000) if args.max_size else None,
        check_passphrase=not args.new_passphrase,
    )
    try:
        result = pack(request)
    except PackProblems as problems:
        for problem in problems.problems:
            print(f"dentsend: {problem}", file=sys.stderr)
        print("dentsend: no package was written", file=sys.stderr)
        return EXIT_FAILURE
    if args.new_passphrase:
        print(f"passphrase: {passphrase}")
        print(
            "dentsend: give the passphrase to the recipient separately (phone or text message), "
            "never in the same email",
            file=sys.stderr,
        )
    for path in result.parts:
        print(path)
    for warning in result.warnings:
        print(f"dentsend: warning: {warning}", file=sys.stderr)
    if args.report is not None:
        _write_report(args.report, result.reports, options)
    _record(args, fmt, result, options, passphrase, settings)
    if args.eml is not None or args.mail:
        _hand_off(args, fmt, result.parts, settings)
    return EXIT_OK


def _record(
    args: argparse.Namespace, fmt: str, result: Any, options: Any, passphrase: str | None,
    settings: Any,
) -> None:  # fmt: skip
    """Note the package in the sent-log (and its passphrase in the keyring, for recall)."""
    from dentsend.audit import NO_KEYRING_MESSAGE, keyring_available, record_sent

    certificates: list[str] = []
    if fmt == "openpgp":
        from dentsend.openpgp import recipient_cert

        certificates = [str(recipient_cert(spec).fingerprint) for spec in args.pgp]
    recall_days = settings.passphrase_recall_days if passphrase else 0
    recorded = record_sent(
        result.parts,
        result.sha256,
        format=fmt,
        file_count=len(result.file_names),
        payload_bytes=result.input_bytes,
        deid_mode=options.mode,
        recipient=args.to,
        certificates=certificates,
        reference_code=options.pseudonym or "",
        passphrase=passphrase,
        recall_days=recall_days,
    )
    if recorded.record_id is None:
        print("dentsend: warning: the sent-log could not be written", file=sys.stderr)
    elif recall_days and not recorded.passphrase_days and not keyring_available():
        print(f"dentsend: note: {NO_KEYRING_MESSAGE}", file=sys.stderr)


def _hand_off(args: argparse.Namespace, fmt: str, parts: list[Path], settings: Any) -> None:
    """Write the .eml draft and/or open a new message in the mail program."""
    from dentsend.handoff import compose_draft, hand_off, write_eml

    draft = compose_draft(
        parts,
        format="html" if fmt == "html" else "openpgp",
        settings=settings,
        to=args.to,
        parts=len(parts),
        passphrase_protected=fmt != "openpgp",
    )
    if args.eml is not None:
        write_eml(draft, args.eml)
        print(args.eml)
    if args.mail:
        outcome = hand_off(draft, settings=settings)
        print(f"dentsend: {outcome.message}", file=sys.stderr)
        if not outcome.opened_mail:
            print(outcome.text_to_paste)


def _write_report(path: Path, reports: list[Any], options: Any) -> None:
    from dentsend.atomic import atomic_write
    from dentsend.confidentiality import load_table

    document = {
        "annex_e_edition": load_table().edition,
        "mode": options.mode,
        "retain": sorted(options.retain),
        "clean": sorted(options.clean),
        "files": [report.to_json() for report in reports],
    }
    try:
        with atomic_write(path) as out:
            out.write(json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"))
    except OSError as exc:
        raise DentsendError(f"{path.name}: cannot be written ({exc.strerror or exc})") from None
