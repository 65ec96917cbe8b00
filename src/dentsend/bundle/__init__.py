"""The self-decrypting HTML package ("bundle"): format, writer and reader.

The format is specified in ``docs/bundle-format.md``; the browser side is
``resources/viewer/bundle.js``. Public entry points:

- :func:`write_bundle` — files to one ``.html`` package (tests, scripts);
  :class:`BundleWriter` — the streaming writer the send pipeline drives record by record.
- :func:`verify_bundle`, :func:`extract_bundle` — ``dentsend open``.
"""

from dentsend.bundle.format import DEFAULT_ITERATIONS, BundleError, Header, normalise_passphrase
from dentsend.bundle.reader import (
    OpenedBundle,
    extract_bundle,
    is_bundle,
    read_header,
    verify_bundle,
)
from dentsend.bundle.records import EncodedRecord, encode_record
from dentsend.bundle.writer import BundleSummary, BundleWriter, default_title, write_bundle

__all__ = [
    "DEFAULT_ITERATIONS",
    "BundleError",
    "BundleSummary",
    "BundleWriter",
    "EncodedRecord",
    "Header",
    "OpenedBundle",
    "default_title",
    "encode_record",
    "extract_bundle",
    "is_bundle",
    "normalise_passphrase",
    "read_header",
    "verify_bundle",
    "write_bundle",
]
