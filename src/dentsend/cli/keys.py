"""``dentsend keys``: the practice's OpenPGP key and the certificates of colleagues."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dentsend.cli import EXIT_FAILURE, EXIT_OK, UsageError
from dentsend.errors import DentsendError, printable


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser(
        "keys",
        help="manage OpenPGP keys: import, list, export, delete, generate",
        description=(
            "Certificates of colleagues (to encrypt to them and check their signatures) and the "
            "practice's own key (to open what they send, sign what you send, and reopen it)."
        ),
    )
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)

    imp = actions.add_parser(
        "import",
        help="import certificates from .asc/.gpg/.pgp/.pub files (keyrings too)",
        description="Import every certificate in the files. Secret keys are not imported.",
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.set_defaults(handler=run_import)

    lst = actions.add_parser("list", help="list the certificates and the practice's key")
    lst.add_argument("--json", action="store_true", help="a JSON array instead of text")
    lst.set_defaults(handler=run_list)

    exp = actions.add_parser(
        "export",
        help="write a public certificate as .asc (the practice's key: give it to colleagues)",
        description=(
            "Write the public certificate with this fingerprint, or the public part of a key "
            "file, ASCII-armored. Secret keys are never exported."
        ),
    )
    exp.add_argument("source", metavar="FINGERPRINT|FILE")
    exp.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.asc")
    exp.set_defaults(handler=run_export)

    delete = actions.add_parser("delete", help="remove an imported certificate")
    delete.add_argument("fingerprint", metavar="FINGERPRINT")
    delete.add_argument(
        "--secret", action="store_true",
        help="also delete a key generated here with its secret key (packages to it stop opening)",
    )  # fmt: skip
    delete.set_defaults(handler=run_delete)

    gen = actions.add_parser(
        "generate",
        help="make the practice's key (Ed25519 + Cv25519)",
        description=(
            "Make the practice's own key, kept in dentsend's data folder and protected by a "
            "random passphrase in the OS keyring. With -o, write a secret key file for scripts "
            "instead, protected by the passphrase in --passphrase-file."
        ),
    )
    gen.add_argument("--name", required=True, help="the practice's or dentist's name")
    gen.add_argument("--email", required=True, help="the address colleagues write to")
    gen.add_argument(
        "-o", "--output", type=Path, metavar="FILE",
        help="write the secret key to FILE (not the practice's key; needs --passphrase-file)",
    )  # fmt: skip
    gen.add_argument(
        "--passphrase-file", type=Path, metavar="F",
        help="protect the key with the passphrase in F's first line instead of the keyring",
    )  # fmt: skip
    gen.add_argument(
        "--replace", action="store_true",
        help="make a new practice key although one exists (the old one is kept)",
    )  # fmt: skip
    gen.set_defaults(handler=run_generate)


def run_import(args: argparse.Namespace) -> int:
    from dentsend.openpgp import store

    status = EXIT_OK
    for path in args.files:
        try:
            results = store.import_file(path)
        except DentsendError as exc:
            print(f"dentsend: {exc}", file=sys.stderr)
            status = EXIT_FAILURE
            continue
        for item in results:
            if item.status == "refused":
                print(
                    f"dentsend: {printable(path.name)}: {item.info.label} was not imported: "
                    f"it {item.info.problem}",
                    file=sys.stderr,
                )
                status = EXIT_FAILURE
                continue
            print(f"{item.status}: {item.info.label}")
            if item.had_secret:
                print("  note: the file holds a secret key; only the public certificate was kept")
            if item.info.problem:
                print(f"  note: no longer usable for encryption: it {item.info.problem}")
    return status


def run_list(args: argparse.Namespace) -> int:
    from dentsend.openpgp import store

    infos = store.list_infos()
    infos.sort(key=lambda i: (not i.own, (i.user_ids or ("",))[0].lower()))
    if args.json:
        print(json.dumps([i.to_json() for i in infos], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not infos:
        print("no certificates yet: `dentsend keys import FILE` or `dentsend keys generate`")
        return EXIT_OK
    for info in infos:
        marks = (
            " [the practice's key]"
            if info.own
            else (" [secret key here]" if info.has_secret else "")
        )
        print(f"{info.fingerprint}{marks}")
        for user_id in info.user_ids or ("(no valid user ID)",):
            print(f"  user ID:     {user_id}")
        expires = info.expires.strftime("%Y-%m-%d") if info.expires else "never"
        print(f"  created:     {info.created:%Y-%m-%d}   expires: {expires}")
        print(f"  revoked:     {'yes' if info.revoked else 'no'}")
        print(f"  algorithms:  {', '.join(info.algorithms)}")
        print(f"  can encrypt: {'yes' if info.can_encrypt else 'no, it ' + str(info.problem)}")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    import pysequoia

    from dentsend.atomic import atomic_write
    from dentsend.openpgp import packets, store

    source_path = Path(args.source)
    if source_path.is_file() or store.normalise_fingerprint(args.source) is None:
        found = store.parse_certs(store.read_key_file(source_path), source_path.name)
        publics = [pysequoia.Cert.from_bytes(bytes(c)) for c in found]
    else:
        publics = [store.find_cert(args.source)]
    if len(publics) == 1:
        armored = store.armored_public(publics[0])
    else:
        joined = b"".join(bytes(c) for c in publics)
        armored = packets.armor(packets.ARMOR_PUBLIC_KEY, joined)
    try:
        with atomic_write(args.output) as out:
            out.write(armored)
    except OSError as exc:
        raise DentsendError(
            f"{args.output.name}: cannot be written ({exc.strerror or exc})"
        ) from None
    for cert in publics:
        print(f"exported: {cert.fingerprint.upper()}")
    return EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    from dentsend.openpgp import store

    info = store.delete(args.fingerprint, secret=args.secret)
    print(f"deleted: {info.label}")
    return EXIT_OK


def run_generate(args: argparse.Namespace) -> int:
    if args.output is not None and args.passphrase_file is None:
        raise UsageError("-o writes a secret key file: give its passphrase with --passphrase-file")
    if args.output is not None and args.replace:
        raise UsageError("--replace is for the practice's key, not for a key file (-o)")
    from dentsend.passphrase import read_passphrase_file

    passphrase = read_passphrase_file(args.passphrase_file) if args.passphrase_file else None
    if args.output is not None:
        assert passphrase is not None
        return _generate_file(args.name, args.email, args.output, passphrase)
    from dentsend.openpgp import store

    try:
        info = store.create_own_key(
            args.name, args.email, passphrase=passphrase, replace=args.replace
        )
    except store.KeyringUnavailable as exc:
        print(
            f"dentsend: {exc}; choose a passphrase for the practice's key instead "
            "(you will need it to open and sign packages)",
            file=sys.stderr,
        )
        passphrase = _ask_new_passphrase()
        info = store.create_own_key(
            args.name, args.email, passphrase=passphrase, replace=args.replace
        )
        where = "protected by the passphrase you chose"
    else:
        where = (
            "protected by the passphrase you chose"
            if passphrase is not None
            else "its passphrase is kept in the OS keyring"
        )
    print(f"generated the practice's key: {info.label}")
    print(f"  {where}")
    print(f"  give colleagues its public part: dentsend keys export {info.fingerprint} -o key.asc")
    return EXIT_OK


def _ask_new_passphrase() -> str:
    import getpass

    if not sys.stdin.isatty():
        raise DentsendError("no terminal to ask for a passphrase: give one with --passphrase-file")
    first = getpass.getpass("Passphrase for the practice's key: ")
    if len(first) < 8:
        raise DentsendError("the passphrase is too short (at least 8 characters)")
    if getpass.getpass("Repeat the passphrase: ") != first:
        raise DentsendError("the two passphrases differ")
    return first


def _generate_file(name: str, email: str, output: Path, passphrase: str) -> int:
    import pysequoia

    from dentsend.atomic import atomic_write
    from dentsend.openpgp import certs, keygen, packets, store

    user_id = store.user_id_for(name, email)
    secret = keygen.generate_secret_key(user_id, passphrase)
    try:
        with atomic_write(output, overwrite=False) as out:
            out.write(packets.armor(packets.ARMOR_PRIVATE_KEY, secret))
    except FileExistsError:
        raise DentsendError(
            f"{output.name}: already exists; a key file is never overwritten"
        ) from None
    except OSError as exc:
        raise DentsendError(f"{output.name}: cannot be written ({exc.strerror or exc})") from None
    cert = pysequoia.Tsk.from_bytes(secret).extract_certificate()
    store.save_cert(cert)  # so its signatures verify here, and it can be a recipient
    info = certs.inspect(cert)
    print(f"generated: {info.label}")
    print(f"  secret key written to {output.name}, protected by the passphrase in the file given")
    return EXIT_OK
