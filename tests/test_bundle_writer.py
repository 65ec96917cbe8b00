"""The writer's promises: a strict page, nothing identifying outside the ciphertext, the size
target on uncompressed radiographs, and memory that does not grow with the package."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

import dicom_factory
from dentsend.bundle import write_bundle
from dentsend.bundle.format import MIN_ITERATIONS
from dentsend.deid import DeidOptions
from dentsend.pipeline import PackRequest, pack

PASSPHRASE = "violet tram scribble north umpire canyon"


def _inline(page: str, tag: str) -> str:
    match = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
    assert match is not None
    return match.group(1)


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_allows_exactly_its_own_script_and_style(tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 100)
    package = tmp_path / "p.html"
    write_bundle(package, [source], PASSPHRASE, sender="Smile Dental", iterations=MIN_ITERATIONS)
    page = package.read_text(encoding="utf-8")
    head = page[page.index("<head>") + 6 :].lstrip()
    assert head.startswith('<meta http-equiv="Content-Security-Policy" content="')
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None
    directives = dict(d.strip().split(" ", 1) for d in csp.group(1).split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == _sha256_source(_inline(page, "script"))
    assert directives["style-src"] == _sha256_source(_inline(page, "style"))
    for name in ("connect-src", "form-action", "base-uri", "frame-src", "object-src",
                 "worker-src"):
        assert directives[name] == "'none'"
    assert directives["img-src"] == "blob: data:"
    assert "unsafe" not in csp.group(1)
    # Exactly one executable script; everything else is data the browser never runs.
    scripts = re.findall(r"<script([^>]*)>", page)
    assert [s for s in scripts if "type=" not in s] == [""]
    assert "{{" not in page.replace(_inline(page, "script"), "")
    assert "<title>Encrypted radiographs from Smile Dental</title>" in page


def test_nothing_identifying_outside_the_ciphertext(tmp_path: Path) -> None:
    """Even a named referral (metadata kept) shows no patient data before unlock."""
    named = dicom_factory.intraoral(tmp_path / "Testperson_Erika_1961-03-14.dcm")
    package = tmp_path / "referral.html"
    pack(PackRequest([named], package, "html", DeidOptions(mode="keep"), passphrase=PASSPHRASE,
                     practice_name="Smile Dental", iterations=MIN_ITERATIONS))
    page = package.read_bytes()
    for secret in ("Testperson", "Erika", "1961", "PID-83726154", "Sonnenschein"):
        assert secret.encode() not in page, secret
    assert b"Smile Dental" in page  # the sender is meant to be seen


def test_uncompressed_radiographs_shrink_below_the_target(tmp_path: Path) -> None:
    """The whole .html file, base64 included, ≤ 0.85× the input (issue 4, point 3)."""
    inputs = [Path(str(get_testdata_file(n))) for n in ("RG1_UNCI.dcm", "RG3_UNCI.dcm")]
    inputs.append(dicom_factory.intraoral(tmp_path / "io.dcm", size=(1000, 1500)))
    package = tmp_path / "p.html"
    result = pack(PackRequest(inputs, package, "html", DeidOptions(mode="keep"),
                              passphrase=PASSPHRASE, iterations=MIN_ITERATIONS))
    ratio = package.stat().st_size / sum(p.stat().st_size for p in inputs)
    assert ratio <= 0.85, ratio
    assert result.input_bytes == sum(p.stat().st_size for p in inputs)


_MEASURE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dentsend.deid import DeidOptions
    from dentsend.pipeline import PackRequest, pack
    files = sorted(Path(sys.argv[1]).glob("*.dcm"))[: int(sys.argv[2])]
    pack(PackRequest(files, Path(sys.argv[3]), "html", DeidOptions(mode="keep"),
                     passphrase="violet tram scribble north umpire canyon", iterations=600000))
    status = Path("/proc/self/status").read_text()
    print(int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:"))))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_peak_memory_does_not_grow_with_the_package(tmp_path: Path) -> None:
    """Peak RSS for 6 vs 30 files of 6 MB: the same to within a few chunks."""
    rng = np.random.default_rng(11)
    base = dicom_factory.tooth_phantom(1500, 2000)
    for index in range(30):
        pixels = (base + rng.integers(0, 64, base.shape, dtype=np.uint16)).astype(np.uint16)
        dicom_factory.write(dicom_factory.make_dataset(pixels, patient={}),
                            tmp_path / f"IO-{index:02d}.dcm")
    peaks = {}
    for count in (6, 30):
        result = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(tmp_path), str(count), str(tmp_path / "p.html")],
            capture_output=True, text=True, check=True, timeout=600,
        )
        peaks[count] = int(result.stdout.strip()) / 1024  # MiB
    # 24 more files (144 MB more input, ~100 MB more output) may cost a few chunks, not 100 MB.
    print(f"peak RSS: {peaks}")
    assert peaks[30] - peaks[6] < 24, peaks
