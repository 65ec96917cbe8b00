"""``dentsend history``: what the practice has sent, from the sent-log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dentsend.cli import EXIT_FAILURE, EXIT_OK, UsageError

if TYPE_CHECKING:
    from dentsend.audit import SentRecord

_FORMAT_LABELS = {"html": "HTML", "openpgp": "OpenPGP"}
_DEID_LABELS = {"deidentify": "de-identified", "pseudonym": "pseudonym", "keep": "kept"}


def register(subparsers: Any) -> None:
    history = subparsers.add_parser(
        "history",
        help="list the packages sent (the sent-log)",
        description=(
            "List what was sent, newest first: when, format, recipient, files, package and "
            "de-identification. Patient names and passphrases are never in the log."
        ),
    )
    history.add_argument(
        "--json", action="store_true", help="one JSON object per line instead of a table"
    )
    history.add_argument(
        "--search", default="", metavar="TEXT",
        help="only entries matching every word (address, reference code, package name, date)",
    )  # fmt: skip
    history.add_argument(
        "--csv", type=Path, metavar="OUT.csv", help="export the (matching) entries as CSV"
    )
    history.add_argument(
        "--passphrase", type=int, metavar="ID",
        help="print the remembered passphrase of entry ID (kept in the system keyring)",
    )  # fmt: skip
    history.set_defaults(handler=run_history)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError  # unreachable


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table_row(record: SentRecord) -> list[str]:
    to = record.recipient or ", ".join(c[-16:] for c in record.certificates) or "—"
    more = record.parts - 1
    package = record.package_name + (f" (+{more} part{'s' * (more > 1)})" if more else "")
    deid = _DEID_LABELS.get(record.deid_mode, record.deid_mode)
    if record.reference_code:
        deid += f" {record.reference_code}"
    return [
        str(record.id),
        record.sent_at.astimezone().strftime("%Y-%m-%d %H:%M"),
        _FORMAT_LABELS.get(record.format, record.format),
        _clip(to, 40),
        str(record.file_count),
        _size(record.package_bytes),
        _clip(package, 48),
        _clip(deid, 32),
    ]


def print_table(records: list[SentRecord]) -> None:
    header = ["ID", "Sent", "Format", "To", "Files", "Size", "Package", "De-identification"]
    rows = [header] + [_table_row(r) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = {0, 4, 5}
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(cells).rstrip())


def run_history(args: argparse.Namespace) -> int:
    if args.passphrase is not None and (args.json or args.csv):
        raise UsageError("--passphrase shows one entry: use it without --json and --csv")
    from dentsend.audit import NO_KEYRING_MESSAGE, SentLog, keyring_available

    log = SentLog()
    log.purge_expired()
    if args.passphrase is not None:
        if log.get(args.passphrase) is None:
            print(f"dentsend: there is no sent-log entry {args.passphrase}", file=sys.stderr)
            return EXIT_FAILURE
        passphrase = log.recall_passphrase(args.passphrase)
        if passphrase is None:
            reason = (
                NO_KEYRING_MESSAGE
                if not keyring_available()
                else f"no passphrase is remembered for entry {args.passphrase} "
                "(it was not protected by one, or its time is up)"
            )
            print(f"dentsend: {reason}", file=sys.stderr)
            return EXIT_FAILURE
        print(passphrase)
        return EXIT_OK
    if args.csv is not None:
        count = log.export_csv(args.csv, search=args.search)
        noun = "entry" if count == 1 else "entries"
        print(f"dentsend: wrote {count} {noun} to {args.csv.name}", file=sys.stderr)
        return EXIT_OK
    records = log.entries(args.search)
    if args.json:
        for record in records:
            print(json.dumps(record.to_json(), ensure_ascii=False), flush=True)
        return EXIT_OK
    if not records:
        print("No packages sent yet." if not args.search else "No entries match.")
        return EXIT_OK
    print_table(records)
    return EXIT_OK
