"""A pydicom decoder plugin for 12-bit JPEG Extended (Process 2 & 4) through GDCM.

pydicom's own GDCM plugin refuses 12-bit JPEG Extended because early GDCM wheels decoded it wrongly.
The python-gdcm 3.x wheels carry a 12-bit libjpeg that decodes it correctly (the tests check it
against libjpeg-turbo), and no other permissively licensed decoder on PyPI reads it, so dentsend
registers this plugin for that one transfer syntax.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydicom import uid

try:
    import gdcm

    HAVE_GDCM = True
except ImportError:  # pragma: no cover - python-gdcm is a dependency
    HAVE_GDCM = False

DECODER_DEPENDENCIES = {uid.JPEGExtended12Bit: ("gdcm>=3.0.10",)}

_stderr_lock = threading.Lock()


def is_available(transfer_syntax: str) -> bool:
    return HAVE_GDCM and transfer_syntax in DECODER_DEPENDENCIES


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hide libjpeg's "Unsupported JPEG data precision 12" chatter.

    GDCM first tries its 8-bit libjpeg, which prints to the C-level stderr before GDCM falls back
    to the 12-bit one; users would read that as an error.
    """
    with _stderr_lock:
        try:
            stderr_fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):  # no real stderr (GUI, pytest capture)
            yield
            return
        saved = os.dup(stderr_fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            sys.stderr.flush()
            os.dup2(devnull, stderr_fd)
            yield
        finally:
            os.dup2(saved, stderr_fd)
            os.close(devnull)
            os.close(saved)


def _decode_frame(src: bytes, runner: Any) -> bytes:
    """Decode one encapsulated frame; pydicom's runner supplies the pixel description."""
    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(src)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetValue(fragments.__ref__())

    image = gdcm.Image()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((runner.columns, runner.rows, 1))
    image.SetDataElement(element)
    pi_type = gdcm.PhotometricInterpretation.GetPIType(runner.photometric_interpretation)
    image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(pi_type))
    if runner.samples_per_pixel > 1:
        image.SetPlanarConfiguration(runner.planar_configuration)
    ts_type = gdcm.TransferSyntax.GetTSType(str.__str__(runner.transfer_syntax))
    image.SetTransferSyntax(gdcm.TransferSyntax(ts_type))
    image.SetPixelFormat(
        gdcm.PixelFormat(
            runner.samples_per_pixel,
            runner.bits_allocated,
            runner.bits_stored,
            runner.bits_stored - 1,
            runner.pixel_representation,
        )
    )
    with _quiet_stderr():
        buffer = image.GetBuffer()
    if buffer is None:
        raise ValueError("GDCM could not decode the 12-bit JPEG frame")
    # GDCM hands back char* as str
    frame: bytes = buffer.encode("utf-8", "surrogateescape")
    expected = (
        runner.rows * runner.columns * runner.samples_per_pixel * (runner.bits_allocated // 8)
    )
    if len(frame) != expected:
        raise ValueError(f"GDCM decoded {len(frame)} bytes, expected {expected}")
    return frame
