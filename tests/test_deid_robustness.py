"""Damaged and hostile files: one sentence per file, and the rest of the batch carries on.

Whatever a library raises while a file is checked or cleaned (Pillow on a broken image stream,
pydicom on an element it cannot write) becomes a :class:`FileProblem` naming the file and no
value from it. Also: stable UIDs never quietly stop being stable.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from dentsend.cli import main
from dentsend.deid import Box, Deidentifier, DeidOptions, practice_secret
from dentsend.errors import DentsendError, FileProblem
from dentsend.intake import load_bytes
from test_deid_samples import base_dataset, gradient, leaks, to_bytes


def _broken_jpeg() -> bytes:
    """A JPEG whose segments are sound (it opens, and parses) but whose Huffman table is not:
    decoding it fails."""
    buffer = io.BytesIO()
    Image.fromarray(gradient(48, 64, 8).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    data = bytearray(buffer.getvalue())
    table = data.index(b"\xff\xc4") + 5  # after the marker, the length and the class byte
    data[table : table + 16] = b"\xff" * 16  # 4080 codes in a table that has room for ~30
    return bytes(data)


def test_a_library_error_becomes_one_sentence_naming_the_file() -> None:
    radiograph = load_bytes(_broken_jpeg(), "Quixwhistle.jpg")
    deid = Deidentifier(
        DeidOptions(redactions={Path("Quixwhistle.jpg").resolve(): (Box(0, 0, 4, 4),)})
    )
    with pytest.raises(FileProblem) as caught:
        deid.clean(radiograph)
    message = str(caught.value)
    assert message.startswith("Quixwhistle.jpg: ") and "\n" not in message


def test_file_meta_elements_in_the_body_no_longer_stop_the_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = to_bytes(base_dataset())
    bad += b"\x02\x00\x16\x00AE\x0c\x00QUIXWHISTLE "
    broken = _broken_jpeg()
    files = {"a.dcm": bad, "b.jpg": broken, "c.dcm": to_bytes(base_dataset())}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    args = ["clean", *(str(tmp_path / n) for n in files), "-o", str(tmp_path / "out")]
    args += ["--redact", f"{tmp_path / 'b.jpg'}:0,0,4,4"]
    assert main(args) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("dentsend: b.jpg: ")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["IO-01.dcm", "IO-02.dcm"]
    for path in (tmp_path / "out").iterdir():
        assert not leaks(path.read_bytes())
        assert pydicom.dcmread(path).file_meta.get("SourceApplicationEntityTitle") is None


@pytest.mark.parametrize("seed", range(3))
def test_mutated_files_are_cleaned_or_refused_in_one_sentence(seed: int) -> None:
    """A small fuzz: every mutation intake accepts is cleaned, or refused as a FileProblem."""
    import random

    from test_deid_samples import jpeg_dicom, planted_dataset, png_with_metadata

    rng = random.Random(seed)
    sources = [
        ("x.dcm", to_bytes(planted_dataset())),
        ("p.dcm", to_bytes(jpeg_dicom())),
        ("m.png", png_with_metadata()),
        ("j.jpg", _broken_jpeg()),
    ]
    for _ in range(40):
        name, data = rng.choice(sources)
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            radiograph = load_bytes(bytes(mutated), name)
        except FileProblem:
            continue  # intake's business
        boxes = {Path(name).resolve(): (Box(0, 0, 2, 2),)} if rng.random() < 0.5 else {}
        deid = Deidentifier(DeidOptions(confirmed_no_burned_in=True, redactions=boxes))
        try:
            cleaned = deid.clean(radiograph)
        except FileProblem as problem:
            assert str(problem).startswith(f"{name}: ")
            continue
        assert not leaks(cleaned.data)


# --------------------------------------------------------------------------------------------
# stable UIDs


@pytest.mark.parametrize("backend", ["null", "fail"])
def test_stable_uids_refuse_a_keyring_that_cannot_keep_the_secret(backend: str) -> None:
    import importlib

    import keyring

    keyring.set_keyring(importlib.import_module(f"keyring.backends.{backend}").Keyring())
    with pytest.raises(DentsendError, match="stable UIDs"):
        practice_secret()
    with pytest.raises(DentsendError, match="turn off stable UIDs"):
        Deidentifier(DeidOptions(stable_uids=True))
    Deidentifier(DeidOptions())  # per-package UIDs need no keyring


def test_the_secret_is_kept_and_reused() -> None:
    first = practice_secret()
    assert first == practice_secret() and len(first) == 32
