"""Hostile and malformed inputs: each is one sentence naming the file, never a crash or a hang."""

from __future__ import annotations

import io
import signal
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLosslessSV1

import dentsend.intake
from conftest import REPO
from dentsend.atomic import atomic_write
from dentsend.cli import main
from dentsend.errors import FileProblem, printable
from dentsend.intake import jpeg_frame_is_sound, load
from dentsend.render import FrameRenderer
from dicom_factory import make_dataset, tooth_phantom

FUZZ = sorted((REPO / "tests" / "data" / "fuzz").glob("bad-*"))


@pytest.mark.parametrize("path", FUZZ, ids=[p.name for p in FUZZ])
def test_fuzzed_files_are_one_sentence(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FileProblem) as problem:
        FrameRenderer(load(path)).image()
    assert str(problem.value).startswith(f"{path.name}: ")
    assert main(["preview", str(path), "-o", str(path.parent / "never.png")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_a_damaged_jpeg_frame_does_not_abort_the_process(tmp_path: Path) -> None:
    """GDCM throws an uncaught C++ exception on this frame and aborts Python; dentsend must
    decode baseline JPEG with Pillow and check frames before they reach GDCM."""
    pixels = (tooth_phantom(48, 64, bits=8)).astype(np.uint8)
    good = _jpeg(pixels)
    damaged = good[:2] + b"\x00" + good[2:]  # one stray byte before the first marker
    for syntax in (JPEGBaseline8Bit, JPEGLosslessSV1):
        ds = make_dataset(pixels, bits_stored=8)
        ds.file_meta.TransferSyntaxUID = syntax
        ds.PixelData = encapsulate([damaged + b"\x00" * (len(damaged) % 2)])
        ds["PixelData"].VR = "OB"
        path = tmp_path / f"{syntax.name[:10]}.dcm"
        ds.save_as(path, enforce_file_format=True)
        with pytest.raises(FileProblem, match=r"damaged|cannot be decoded"):
            FrameRenderer(load(path)).image()


def test_the_jpeg_structure_check() -> None:
    good = _jpeg(tooth_phantom(32, 32, bits=8).astype(np.uint8))
    assert jpeg_frame_is_sound(good)
    assert jpeg_frame_is_sound(good + b"\x00")  # DICOM's even-length padding
    assert not jpeg_frame_is_sound(good[:2] + b"\x00" + good[2:])
    assert not jpeg_frame_is_sound(good[:-2])  # no EOI
    assert not jpeg_frame_is_sound(b"\xff\xd8\xff\xd9\xff\xd9")


def test_a_deflate_bomb_is_refused_before_it_is_inflated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dentsend.intake, "_MAX_INFLATED_BYTES", 8 * 1024 * 1024)
    ds = make_dataset(np.zeros((4096, 4096), np.uint16))  # 32 MB of zeros, deflates to ~30 kB
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = tmp_path / "bomb.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert path.stat().st_size < 200_000
    with pytest.raises(FileProblem, match="expands without limit"):
        load(path)
    monkeypatch.setattr(dentsend.intake, "_MAX_INFLATED_BYTES", 64 * 1024 * 1024)
    assert load(path).rows == 4096  # an honest deflated file within the limit still opens


def test_file_names_cannot_drive_the_terminal(tmp_path: Path) -> None:
    name = "scan\x1b[2J\x1b[31m\u202egpj.dcm"
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(FileProblem) as problem:
        load(tmp_path / name)
    message = str(problem.value)
    assert "\x1b" not in message and "\u202e" not in message
    assert message.startswith("scan\\x1b[2J\\x1b[31m\\u202egpj.dcm: is empty")
    assert printable("Zahnärztin Ölmüller.dcm") == "Zahnärztin Ölmüller.dcm"


def test_atomic_write_leaves_nothing_on_interrupt_and_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "package.html"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as out:
        out.write(b"secret plaintext")
        raise KeyboardInterrupt  # what SIGTERM becomes in a command (see the next test)
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target) as out:
        out.write(b"first")
    with pytest.raises(FileExistsError), atomic_write(target, overwrite=False) as out:
        out.write(b"second")
    racing = tmp_path / "report.json"
    with pytest.raises(FileExistsError), atomic_write(racing, overwrite=False) as out:
        out.write(b"ours")
        racing.write_bytes(b"theirs")  # the name is taken while this one is written
    assert (target.read_bytes(), racing.read_bytes()) == (b"first", b"theirs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["package.html", "report.json"]


def test_commands_turn_sigterm_into_an_orderly_cancel(tmp_path: Path) -> None:
    seen = []

    def handler_probe(_args: object) -> int:
        seen.append(signal.getsignal(signal.SIGTERM))
        return 0

    import argparse

    from dentsend import cli

    real_parse = argparse.ArgumentParser.parse_args

    def parse(self: argparse.ArgumentParser, *a: object, **k: object) -> argparse.Namespace:
        namespace = real_parse(self, *a, **k)  # type: ignore[arg-type]
        namespace.handler = handler_probe
        return namespace

    before = signal.getsignal(signal.SIGTERM)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", parse)
        assert cli.main(["inspect", str(tmp_path)]) == 0
    assert seen == [cli._exit_on_signal]
    assert signal.getsignal(signal.SIGTERM) == before


def test_deflated_size_check_does_not_read_a_truncated_meta_group(tmp_path: Path) -> None:
    path = tmp_path / "odd.dcm"
    path.write_bytes(
        b"\x00" * 128 + b"DICM" + b"\x02\x00" + zlib.compress(b"1.2.840.10008.1.2.1.99")
    )
    with pytest.raises(FileProblem):
        load(path)
