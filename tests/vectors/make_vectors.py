"""Make the bundle-v1 test vectors (docs/bundle-format.md, section 10), reproducibly.

    python tests/vectors/make_vectors.py            # rewrite the vectors in this folder

Everything random is fixed (salt, file contents, UIDs, times) and compression uses the standard
library's zlib (not ISA-L), so the same library versions give the same bytes. The vectors are bare
pages: the header element and the chunk elements, without the viewer, so they stay valid as the
viewer changes (the browser test wraps them in the current page).

The tampered vectors are made from the good one by editing its text exactly as
``bundle-v1.json`` describes; each must fail as damaged in every reader.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DigitalIntraOralXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    RLELossless,
)

HERE = Path(__file__).resolve().parent
#: Typed with a decomposed "é", a no-break space and extra spaces: both readers must normalise
#: it to "Vector café horse battery staple".
PASSPHRASE = "  Vector  cafe\u0301\u00a0horse battery   staple "
NORMALISED = "Vector caf\u00e9 horse battery staple"
WRONG_PASSPHRASE = "Vector cafe horse battery staple"
SALT = bytes.fromhex("00112233445566778899aabbccddeeff")
ITERATIONS = 600_000
SENDER = "Vector Dental Practice"
CREATED = datetime(2026, 11, 29, 10, 12, 0, tzinfo=UTC)
#: A 32×24 grey JPEG (Pillow, quality 85), fixed here so the vector does not depend on libjpeg.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAUDBAQEAwUEBAQFBQUGBwwIBwcHBw8LCwkMEQ8SEhEPERETFhwXExQaFRER"
    "GCEYGh0dHx8fExciJCIeJBweHx7/wAALCAAYACABAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QA"
    "tRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0"
    "NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2"
    "t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APnXwppH3Plr1rwppH3Plr1r"
    "wppH3Plr1nwppH3Plr4y8KaR9z5a9a8KaR9z5a9a8KaR9z5a8y/a/wDir/wjGhn4a+GZ7KXVtXtnj1p/vvZWrqAI9uNo"
    "eVWbkncqDO0F0ccx4U0j7ny1614U0j7ny1tfFbxnYfCr4aXnia5Tfevm10uEwtIs14yMY1cAjCDaWY7h8qkDLFQfhL7T"
    "rPinxFd+IfEN9NqOqX0vm3FxL95z0AAHCqAAAoACgAAAACv/2Q=="
)

_CHUNK = re.compile(
    r'<script type="application/octet-stream" class="dentsend-chunk">[^<]*</script>\n'
)


def _pixels(rows: int, columns: int, seed: int, noise: float = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    image = 1500 + 900 * np.sin(x / 40.0) * np.cos(y / 30.0) + rng.normal(0, noise, (rows, columns))
    return np.clip(image, 0, 4095).astype(np.uint16)


def _dicom(pixels: np.ndarray, number: int, *, rle: bool) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DigitalIntraOralXRayImageStorageForPresentation
    uid = f"2.25.2026112910120{number}"
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SOPClassUID = DigitalIntraOralXRayImageStorageForPresentation
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = "2.25.20261129101200"
    ds.SeriesInstanceUID = "2.25.20261129101201"
    ds.Modality = "IO"
    ds.PatientIdentityRemoved = "YES"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.ImagerPixelSpacing = ["0.02", "0.02"]
    ds.WindowCenter, ds.WindowWidth = 1500, 3000
    ds.PixelData = pixels.tobytes()
    if rle:
        ds.compress(RLELossless, pixels, encoding_plugin="pydicom", generate_instance_uid=False)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@dataclass
class VectorFile:
    name: str
    data: bytes
    radiograph: object


def inputs() -> list[VectorFile]:
    """Native DICOM predicted every way the writer does (varints as they are, varints deflated,
    planes deflated), an RLE DICOM (raw view), a JPEG and 1 MiB of random bytes (stored)."""
    from dentsend.errors import FileProblem
    from dentsend.intake import load_bytes

    files = [
        ("IO-01.dcm", _dicom(_pixels(96, 128, 1, noise=20), 1, rle=False)),
        ("IO-02.dcm", _dicom(_pixels(40, 48, 2), 2, rle=True)),
        ("IO-03.dcm", _dicom(_pixels(64, 80, 3, noise=700), 3, rle=False)),
        ("IO-04.dcm", _dicom(_pixels(64, 80, 4, noise=1.5), 4, rle=False)),
        ("image-01.jpg", JPEG),
        ("random.bin", random.Random(20261129).randbytes(1 << 20)),
    ]
    result = []
    for name, data in files:
        try:
            radiograph = load_bytes(data, name)
        except FileProblem:
            radiograph = None
        result.append(VectorFile(name, data, radiograph))
    return result


def bare_page(header_text: str, title: str) -> tuple[str, str]:
    """The smallest page both readers accept: the header element, then the chunks."""
    before = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>\n"
        f'<script id="dentsend-header" type="application/json">{header_text}</script>\n'
    )
    return before, "</body></html>\n"


def good_vector() -> tuple[str, dict[str, object]]:
    """The good vector's text and the description of what it holds."""
    from dentsend.bundle import records
    from dentsend.bundle.records import encode_record
    from dentsend.bundle.writer import BundleWriter
    from dentsend.payload import PayloadBuilder

    records._isal = None  # the standard zlib: the same bytes wherever the vectors are made
    files = inputs()
    builder = PayloadBuilder(sender=SENDER, note="Test vector <b>not bold</b>",
                             deidentification="deidentified", created=CREATED)
    out = io.BytesIO()
    writer = BundleWriter(
        out, PASSPHRASE, sender=SENDER, created=CREATED.date().isoformat(), files=len(files),
        input_bytes=sum(len(f.data) for f in files), iterations=ITERATIONS, salt=SALT,
        title="dentsend bundle-v1 test vector", page=bare_page,
    )
    views = []
    for item in files:
        for record in builder.records_for(item):  # type: ignore[arg-type]
            if record.role == "view":
                views.append({"name": record.name, "size": len(record.data),
                              "sha256": hashlib.sha256(record.data).hexdigest()})
            writer.add(encode_record(record.name, record.role, record.data,
                                     compress=record.compress, predict=record.predict))
    manifest = builder.manifest()
    writer.add(encode_record(manifest.name, manifest.role, manifest.data, compress=True))
    writer.close()
    description = {
        "files": [
            {"name": f.name, "size": len(f.data), "sha256": hashlib.sha256(f.data).hexdigest()}
            for f in files
        ],
        "views": views,
        "manifest_sha256": hashlib.sha256(manifest.data).hexdigest(),
        "chunks": writer.chunks,
    }
    return out.getvalue().decode("utf-8"), description


def tampered(good: str) -> dict[str, tuple[str, str]]:
    """name → (page text, what was done), each a copy of the good vector with one change."""
    chunks = _CHUNK.findall(good)
    assert len(chunks) >= 2, "the good vector must have at least two chunks"
    first, second = chunks[0], chunks[1]
    start = second.index(">") + 1 + 100
    flipped_char = "B" if second[start] != "B" else "C"
    flipped = good.replace(second, second[:start] + flipped_char + second[start + 1 :])
    last = chunks[-1]
    return {
        "flipped": (flipped, "one base64 character of chunk 1 changed"),
        "swapped": (good.replace(first + second, second + first),
                    "chunks 0 and 1 exchanged"),
        "truncated": (good.replace(last, ""), "the final chunk element removed"),
        "header": (good.replace(f'"sender":"{SENDER}"', f'"sender":"{SENDER[:-1]}E"', 1),
                   "the header's sender edited (one letter)"),
        "appended": (good.replace(last, last + last),
                     "a copy of the final chunk appended after it"),
    }


def main() -> None:
    good, description = good_vector()
    (HERE / "bundle-v1-good.html").write_text(good, encoding="utf-8", newline="\n")
    vectors = [{"file": "bundle-v1-good.html", "passphrase": PASSPHRASE, "expect": "ok",
                "what": "DICOM (each predictor layout), RLE DICOM with raw view, JPEG, random"},
               {"file": "bundle-v1-good.html", "passphrase": WRONG_PASSPHRASE,
                "expect": "passphrase", "what": "the good vector, another passphrase"}]
    for name, (text, what) in tampered(good).items():
        assert text != good, name
        file = f"bundle-v1-{name}.html"
        (HERE / file).write_text(text, encoding="utf-8", newline="\n")
        vectors.append({"file": file, "passphrase": PASSPHRASE, "expect": "damaged", "what": what})
    document = {
        "format": "dentsend-bundle",
        "version": 1,
        "passphrase": PASSPHRASE,
        "passphrase_normalised": NORMALISED,
        "wrong_passphrase": WRONG_PASSPHRASE,
        "salt_hex": SALT.hex(),
        "iterations": ITERATIONS,
        "sender": SENDER,
        **description,
        "vectors": vectors,
    }
    (HERE / "bundle-v1.json").write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {len(vectors) - 1} vector files to {HERE}", file=sys.stderr)


if __name__ == "__main__":
    main()
