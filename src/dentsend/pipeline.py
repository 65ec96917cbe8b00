"""The send pipeline, shared by ``dentsend pack`` and the desktop app.

files → intake → deid → payload → wrap (html | openpgp | openpgp-passphrase), as DESIGN.md draws
it. The order of work is what keeps promises to the user:

1. Every input is read and checked (unreadable files, burned-in text not dealt with) before any
   output exists; if anything is wrong, every problem is reported by file name and no package is
   written.
2. Files are then cleaned and encoded one at a time, so memory holds one file (and its cleaned
   copy) however many there are.
3. Outputs are written under temporary names and renamed into place together at the end; a
   failure or a cancel leaves no file behind, and no plaintext ever reaches the disk.

With ``max_part_bytes`` the package is split into several complete packages, whole files per
part, each below the limit once the mail program has base64-encoded it (×1.37).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from dentsend.errors import DentsendError, FileProblem

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from dentsend.bundle.records import EncodedRecord, PendingRecord
    from dentsend.deid import CleanFile, Deidentifier, DeidOptions, FileReport
    from dentsend.payload import PayloadBuilder, PayloadRecord

log = logging.getLogger(__name__)

Format = Literal["html", "openpgp", "openpgp-passphrase"]
FORMATS: tuple[str, ...] = ("html", "openpgp", "openpgp-passphrase")
#: Base64 in a mail (4/3) plus a line break every 76 characters (78/76): 1.368.
MAIL_ENCODING = 1.37
#: Many mail providers refuse larger messages (Gmail 25 MB, Outlook.com 20 MB, total).
MAIL_WARNING_BYTES = 20_000_000
Progress = Callable[[float, str], None]


class PackProblems(DentsendError):
    """Some inputs cannot be packed; ``problems`` names each file and why. Nothing was written."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        first = str(self.problems[0]) if self.problems else ""
        if count == 1:
            message = f"{first}; no package was written"
        else:
            message = f"{count} files cannot be sent ({first}; …); no package was written"
        super().__init__(message)


class Cancelled(DentsendError):
    def __init__(self) -> None:
        super().__init__("cancelled; no package was written")


@dataclass
class PackRequest:
    files: Sequence[Path]
    output: Path
    format: Format
    deid: DeidOptions
    passphrase: str | None = None
    recipients: Sequence[str | Path] = ()
    sign_with: Path | None = None
    sign_passphrase: str | None = None
    sign_with_own_key: bool = True
    """Without ``sign_with``, sign OpenPGP packages with the practice's key, if there is one."""
    armor: bool = False
    note: str = ""
    practice_name: str = ""
    max_part_bytes: int | None = None
    """Largest size of one part *after mail encoding*; ``None``: one package, however large."""
    iterations: int | None = None
    """PBKDF2 iterations of an HTML package; ``None``: the calibrated default."""
    check_passphrase: bool = True
    """Refuse a passphrase below 10^12 estimated guesses (a generated one always passes)."""


@dataclass
class PackResult:
    parts: list[Path]
    file_names: list[str]
    """The names the recipient gets, in order."""
    input_bytes: int
    """Bytes of the cleaned files packed."""
    output_bytes: int
    sha256: list[str]
    """SHA-256 of each part, in order."""
    reports: list[FileReport]
    warnings: list[str] = field(default_factory=list)

    @property
    def mail_bytes(self) -> int:
        """The largest part's size in an email."""
        return max((mail_size(p.stat().st_size) for p in self.parts), default=0)


def mail_size(file_bytes: int) -> int:
    return int(file_bytes * MAIL_ENCODING) + 1


def part_paths(output: Path, parts: int) -> list[Path]:
    """``OUT.html`` for one part; ``OUT-1-of-3.html`` … for several."""
    if parts == 1:
        return [output]
    stem, suffix = output.stem, output.suffix
    return [output.with_name(f"{stem}-{i}-of-{parts}{suffix}") for i in range(1, parts + 1)]


# ---------------------------------------------------------------------------------------------
# the pipeline


class _Reporter:
    """Progress in fractions of the whole job; cancel checked at every step."""

    def __init__(self, progress: Progress | None, cancel: threading.Event | None) -> None:
        self.progress = progress
        self.cancel = cancel

    def __call__(self, fraction: float, label: str) -> None:
        self.check()
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), label)

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()


def pack(
    request: PackRequest,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> PackResult:
    """Make the package (or packages, when split) the request describes.

    Raises :class:`PackProblems` (every bad input, by name), :class:`Cancelled`, or another
    :class:`~dentsend.errors.DentsendError` with one sentence; no output exists then.
    """
    from dentsend.deid import Deidentifier
    from dentsend.intake import expand_paths

    report = _Reporter(progress, cancel)
    _check_request(request)
    paths = expand_paths(request.files)
    if not paths:
        raise DentsendError("no files to send")
    report(0.0, f"Checking {len(paths)} file(s)…")
    deid = Deidentifier(request.deid)
    sizes = _validate(paths, request.deid, deid, report)
    job = _Job(request, deid, paths, sizes, report)
    result = job.write_html() if request.format == "html" else job.write_openpgp()
    if request.max_part_bytes is None and result.mail_bytes > MAIL_WARNING_BYTES:
        result.warnings.append(
            f"the package is {result.mail_bytes / 1e6:.0f} MB in an email, more than many mail "
            "services accept (20 MB); split it with a size limit (--max-size) or send fewer files"
        )
    report(1.0, "Done")
    return result


def _check_request(request: PackRequest) -> None:
    if request.format not in FORMATS:
        raise DentsendError(f"unknown package format {request.format!r}")
    if request.format in ("html", "openpgp-passphrase"):
        if not request.passphrase:
            raise DentsendError("a passphrase is needed for this package")
        if request.check_passphrase:
            from dentsend.passphrase import require_strong

            require_strong(request.passphrase, user_inputs=[request.practice_name])
    if request.format == "openpgp" and not request.recipients:
        raise DentsendError("an OpenPGP package needs at least one recipient certificate")
    if request.max_part_bytes is not None and request.max_part_bytes < 10_000:
        raise DentsendError("the size limit is too small (at least 0.01 MB)")
    if request.output.exists() and request.output.is_dir():
        raise DentsendError(f"{request.output.name}: is a folder; give a file name for the package")


def _validate(
    paths: Sequence[Path], options: DeidOptions, deid: Deidentifier, report: _Reporter
) -> list[int]:
    """Load and check every file; the radiographs are dropped again (memory stays at one)."""
    from dentsend.intake import load

    resolved = set()
    for path in paths:
        with contextlib.suppress(OSError):
            resolved.add(path.resolve())
    for boxed in options.redactions:
        if boxed not in resolved:
            raise DentsendError(f"a redaction names {boxed.name}, which is not among the files")
    problems: list[FileProblem] = []
    sizes = []
    for index, path in enumerate(paths):
        report(0.1 * index / len(paths), f"Checking file {index + 1} of {len(paths)}…")
        try:
            radiograph = load(path)
            deid.check(radiograph)
            sizes.append(path.stat().st_size)
        except FileProblem as problem:
            problems.append(problem)
        except OSError as exc:
            problems.append(FileProblem(path, f"cannot be read ({exc.strerror or exc})"))
    if problems:
        raise PackProblems(problems)
    return sizes


class _HashingWriter:
    """Passes writes through and hashes them (the SHA-256 of each part goes to the sent-log)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.count += len(data)
        self.out.write(data)
        return len(data)


@dataclass
class _Part:
    """One planned part: the files in it and the stream bytes they take."""

    names: list[str] = field(default_factory=list)
    entries: list[dict[str, object]] = field(default_factory=list)
    input_bytes: int = 0
    stream_bytes: int = 4  # magic
    spool: object | None = None


class _Job:
    def __init__(
        self,
        request: PackRequest,
        deid: Deidentifier,
        paths: Sequence[Path],
        sizes: Sequence[int],
        report: _Reporter,
    ) -> None:
        self.request = request
        self.deid = deid
        self.paths = paths
        self.sizes = sizes
        self.total = max(1, sum(sizes))
        self.report = report
        self.created = datetime.now(UTC).replace(microsecond=0)
        self.reports: list[FileReport] = []
        self.names: list[str] = []
        #: The user's file behind each name in the package, for messages about it.
        self.sources: dict[str, Path] = {}

    def _deidentification(self) -> str:
        mode = self.request.deid.mode
        return {"keep": "identified", "pseudonym": "pseudonymised"}.get(mode, "deidentified")

    def _builder(self, *, views: bool) -> PayloadBuilder:
        from dentsend.payload import PayloadBuilder

        return PayloadBuilder(
            sender=self.request.practice_name,
            note=self.request.note,
            deidentification=self._deidentification(),  # type: ignore[arg-type]
            created=self.created,
            views=views,
            defer_hash=views,  # the HTML path hashes on the encoder's threads
        )

    def cleaned(self) -> Iterator[CleanFile]:
        """Each file loaded and cleaned in turn (the caller drops it before the next)."""
        from dentsend.intake import load

        done = 0
        for index, (path, size) in enumerate(zip(self.paths, self.sizes, strict=True)):
            self.report(
                0.1 + 0.85 * done / self.total,
                f"Cleaning and encrypting file {index + 1} of {len(self.paths)}…",
            )
            clean = self.deid.clean(load(path))
            self.reports.append(clean.report)
            yield clean
            done += size

    # -- HTML --------------------------------------------------------------------------------

    def write_html(self) -> PackResult:
        from dentsend.bundle.writer import compression_pool

        with compression_pool() as pool:
            if self.request.max_part_bytes is None:
                return self._html_single(pool)
            return self._html_split(pool)

    def _encoded(
        self, builder: PayloadBuilder, pool: Executor
    ) -> Iterator[tuple[int, str, dict[str, Any], list[EncodedRecord]]]:
        """(cleaned size, name, manifest entry, encoded records) of each file, in order.

        File *k + 1* is cleaned and its encoding started on the pool before file *k* is
        handed out, so the pool compresses while the caller encrypts and writes; memory holds
        two files at most. The entry is taken out of ``builder``: the caller files it.
        """
        from dentsend.bundle.records import start_payload_record

        previous: tuple[int, str, dict[str, Any], list[PendingRecord]] | None = None
        for clean in self.cleaned():
            records = builder.records_for(clean)
            entry = builder.entries.pop()
            pending = [start_payload_record(r, pool) for r in records]
            self.sources[records[0].name] = clean.report.source
            current = (len(clean.data), records[0].name, entry, pending)
            del clean, records
            if previous is not None:
                yield _resolved(previous)
            previous = current
        if previous is not None:
            yield _resolved(previous)

    def _writer_options(self) -> dict[str, Any]:
        from dentsend.bundle.format import DEFAULT_ITERATIONS

        return {
            "sender": self.request.practice_name,
            "created": self.created.date().isoformat(),
            "iterations": self.request.iterations or DEFAULT_ITERATIONS,
        }

    def _html_single(self, pool: Executor) -> PackResult:
        from dentsend.atomic import atomic_write
        from dentsend.bundle.records import encode_record
        from dentsend.bundle.writer import BundleWriter, derive_ahead

        builder = self._builder(views=True)
        assert self.request.passphrase is not None
        input_bytes = 0
        options = self._writer_options()
        # PBKDF2 runs on the pool while the first file is cleaned and encoded.
        salt, keys = derive_ahead(self.request.passphrase, options["iterations"], pool)
        with atomic_write(self.request.output) as raw:
            out = _HashingWriter(raw)
            writer = None
            for size, name, entry, encoded in self._encoded(builder, pool):
                if writer is None:
                    writer = BundleWriter(
                        out,  # type: ignore[arg-type]
                        self.request.passphrase,
                        files=len(self.paths),
                        input_bytes=self.total,
                        salt=salt,
                        keys=keys.result(),
                        **options,
                    )
                builder.entries.append(entry)
                self.names.append(name)
                input_bytes += size
                for item in encoded:
                    self.report.check()
                    writer.add(item)
                del encoded
            assert writer is not None  # there is always at least one file
            manifest = builder.manifest()
            writer.add(encode_record(manifest.name, manifest.role, manifest.data, compress=True))
            writer.close()
            self.report(0.97, "Finishing…")
        return PackResult(
            parts=[self.request.output],
            file_names=self.names,
            input_bytes=input_bytes,
            output_bytes=out.count,
            sha256=[out.sha256.hexdigest()],
            reports=self.reports,
        )

    def _html_split(self, pool: Executor) -> PackResult:
        from dentsend.atomic import atomic_write
        from dentsend.bundle.format import Header
        from dentsend.bundle.records import encode_record
        from dentsend.bundle.spool import Spool
        from dentsend.bundle.writer import BundleWriter, default_title, page_overhead, sealed_size
        from dentsend.payload import MANIFEST_NAME

        limit = self.request.max_part_bytes
        assert limit is not None and self.request.passphrase is not None
        # The page around the chunks, for the longest header and title a part can have.
        worst = Header(
            salt=bytes(16),
            check=bytes(16),
            iterations=10**7,
            sender=self.request.practice_name,
            created="9999-12-31",
            files=10**6,
            input_bytes=10**15,
            part=9999,
            parts=9999,
        )
        overhead = page_overhead(worst, default_title(self.request.practice_name, 9999, 9999))
        builder = self._builder(views=True)
        folder = self.request.output.parent

        def manifest_bound(part: _Part) -> int:
            builder.entries = part.entries
            data = builder.manifest_data(part=9999, parts=9999)
            return 4 + 400 + len(data)

        def fits(part: _Part, extra: int) -> bool:
            stream = part.stream_bytes + extra + manifest_bound(part) + 4
            return mail_size(overhead + sealed_size(stream)) <= limit

        parts: list[_Part] = []
        spools: list[Spool] = []
        try:
            current = _Part()
            for size, name, entry, encoded in self._encoded(builder, pool):
                current.entries.append(entry)
                extra = sum(e.stream_length for e in encoded)
                if current.names and not fits(current, extra):
                    current.entries.pop()
                    parts.append(current)
                    current = _Part()
                    current.entries.append(entry)
                if not fits(current, extra):
                    raise FileProblem(
                        self.sources.get(name, Path(name)),
                        f"alone is larger than the size limit of {limit / 1e6:.3g} MB in an "
                        "email; raise the limit or send it on its own",
                    )
                if current.spool is None:
                    current.spool = Spool(folder)
                    spools.append(current.spool)
                spool = current.spool
                assert isinstance(spool, Spool)
                for item in encoded:
                    for piece in item.stream_pieces():
                        self.report.check()
                        spool.write(piece)
                current.names.append(name)
                self.names.append(name)
                current.input_bytes += size
                current.stream_bytes += extra
                del encoded
            parts.append(current)
            self.report(0.95, f"Writing {len(parts)} part(s)…")
            paths = part_paths(self.request.output, len(parts))
            digests: list[str] = []
            output_bytes = 0
            with contextlib.ExitStack() as stack:
                for number, (part, path) in enumerate(zip(parts, paths, strict=True), start=1):
                    raw = stack.enter_context(atomic_write(path))
                    out = _HashingWriter(raw)
                    writer = BundleWriter(
                        out,  # type: ignore[arg-type]
                        self.request.passphrase,
                        files=len(part.names),
                        input_bytes=part.input_bytes,
                        part=number,
                        parts=len(parts),
                        **self._writer_options(),
                    )
                    spool = part.spool
                    assert isinstance(spool, Spool)
                    for block in spool.replay():
                        self.report.check()
                        writer.write(block)
                    builder.entries = part.entries
                    manifest = builder.manifest_data(part=number, parts=len(parts))
                    writer.add(encode_record(MANIFEST_NAME, "manifest", manifest, compress=True))
                    writer.close()
                    digests.append(out.sha256.hexdigest())
                    output_bytes += out.count
                    spool.close()
        finally:
            for spool in spools:
                spool.close()
        return PackResult(
            parts=paths,
            file_names=self.names,
            input_bytes=sum(p.input_bytes for p in parts),
            output_bytes=output_bytes,
            sha256=digests,
            reports=self.reports,
        )

    # -- OpenPGP -----------------------------------------------------------------------------

    def write_openpgp(self) -> PackResult:
        """The same payload as one standard ZIP, encrypted as an OpenPGP message.

        ``openpgp.write_package`` takes the whole message in memory, so this path holds the
        cleaned files of a part (unlike the HTML path).
        """
        import zlib

        from dentsend.payload import zip_bytes

        builder = self._builder(views=False)
        limit = self.request.max_part_bytes
        groups: list[tuple[list[PayloadRecord], list[dict[str, object]]]] = [([], [])]
        group_bytes = 0
        for clean in self.cleaned():
            builder.entries = groups[-1][1]
            records = [r for r in builder.records_for(clean) if r.role == "file"]
            record = records[0]
            self.names.append(record.name)
            if limit is not None:
                stored = len(record.data)
                if record.compress:
                    stored = min(stored, len(zlib.compress(record.data, 6)))
                size = stored + 2 * (len(record.name.encode()) + 100)
                if groups[-1][0] and _pgp_mail_size(group_bytes + size, self.request) > limit:
                    entry = groups[-1][1].pop()
                    groups.append(([], [entry]))
                    group_bytes = 0
                if _pgp_mail_size(size, self.request) > limit:
                    raise DentsendError(
                        f"{record.name}: alone is larger than the size limit of "
                        f"{limit / 1e6:.3g} MB in an email; raise the limit or send it on its own"
                    )
                group_bytes += size
            groups[-1][0].append(record)
        self.report(0.9, "Encrypting…")
        paths = part_paths(self.request.output, len(groups))
        return self._write_pgp_parts(builder, groups, paths, zip_bytes)

    def _write_pgp_parts(
        self,
        builder: PayloadBuilder,
        groups: list[tuple[list[PayloadRecord], list[dict[str, object]]]],
        paths: list[Path],
        zip_bytes: Callable[..., bytes],
    ) -> PackResult:
        from dentsend.atomic import atomic_write
        from dentsend.openpgp import write_package

        request = self.request
        digests = []
        output_bytes = 0
        input_bytes = 0
        with contextlib.ExitStack() as stack:
            for number, ((records, entries), path) in enumerate(
                zip(groups, paths, strict=True), start=1
            ):
                self.report.check()
                builder.entries = entries
                manifest = builder.manifest(part=number, parts=len(groups))
                payload = zip_bytes([*records, manifest], created=self.created)
                input_bytes += sum(len(r.data) for r in records)
                raw = stack.enter_context(atomic_write(path))
                out = _HashingWriter(raw)
                write_package(
                    payload,
                    out,  # type: ignore[arg-type]
                    recipients=list(request.recipients) if request.format == "openpgp" else [],
                    sign_with=request.sign_with,
                    sign_passphrase=request.sign_passphrase,
                    sign_with_own_key=request.sign_with_own_key,
                    passphrase=request.passphrase if request.format != "openpgp" else None,
                    armor=request.armor,
                    literal_name="radiographs.zip",
                )
                digests.append(out.sha256.hexdigest())
                output_bytes += out.count
                del payload
        return PackResult(
            parts=paths,
            file_names=self.names,
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            sha256=digests,
            reports=self.reports,
        )


def _resolved(
    item: tuple[int, str, dict[str, Any], list[PendingRecord]],
) -> tuple[int, str, dict[str, Any], list[EncodedRecord]]:
    """Wait for a file's records; its manifest entry gets the SHA-256 the encoder computed."""
    size, name, entry, pending = item
    encoded = [p.result() for p in pending]
    entry["sha256"] = encoded[0].meta.sha256
    return size, name, entry, encoded


def _pgp_mail_size(zip_payload: int, request: PackRequest) -> int:
    message = zip_payload + 22 + 2048  # end of central directory, OpenPGP packets and keys
    if request.armor:
        message = int(message * 1.37)  # ASCII armor; mailed as 7-bit text
        return message + 1
    return mail_size(message)


# ---------------------------------------------------------------------------------------------
# estimates for the GUI


def estimate_mail_size(files: Sequence[Path], format: Format) -> int:
    """A quick estimate (no cleaning, no compression) of the package's size in an email.

    Uncompressed DICOM counts at 0.6× (what the predictor typically leaves), compressed
    images at 1×, plus a view for DICOM the browser cannot read; base64 (4/3) for HTML.
    """
    from dentsend.intake import sniff

    total = 0.0
    for path in files:
        try:
            size = path.stat().st_size
            with path.open("rb") as f:
                head = f.read(512)
        except OSError:
            continue
        kind = sniff(head)
        factor = 1.0
        if kind == "DICOM":
            ts = _transfer_syntax(path)
            native = ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", None)
            factor = 0.6 if native else (1.0 if format != "html" else 2.0)
            if format != "html" and native:
                factor = 0.8
        elif kind in ("TIFF", "BMP"):
            factor = 0.8 if format != "html" else 1.4
        total += size * factor
    if format == "html":
        total = total * 4 / 3 + 60_000
    else:
        total += 4096
    return mail_size(int(total))


def _transfer_syntax(path: Path) -> str | None:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=[])
        return str(ds.file_meta.get("TransferSyntaxUID", "")) or None
    except Exception:  # an estimate: an unreadable header counts as uncompressed
        return None
