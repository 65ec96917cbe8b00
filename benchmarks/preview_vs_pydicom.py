"""Time ``dentsend preview`` against a plain pydicom + numpy + Pillow script, side by side.

Both run as fresh processes (as a user or script runs them) on pydicom-data's RG1_UNCI.dcm, a
real 1955×1841 15-bit MONOCHROME1 CR radiograph, alternating so that machine noise hits both
equally. Prints every run and the median ratio dentsend / baseline (target ≤ 1.0×).

    python benchmarks/preview_vs_pydicom.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom.data import get_testdata_file

HERE = Path(__file__).resolve().parent


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    source = get_testdata_file("RG1_UNCI.dcm")
    with tempfile.TemporaryDirectory() as folder:
        ours = [sys.executable, "-m", "dentsend", "preview", source, "-o", f"{folder}/ours.png"]
        plain = [sys.executable, str(HERE / "preview_baseline.py"), source, f"{folder}/plain.png"]
        timed(ours), timed(plain)  # warm the file cache and .pyc files
        ratios, our_times, plain_times = [], [], []
        for run in range(args.runs):
            pair = (
                [timed(ours), timed(plain)]
                if run % 2 == 0
                else reversed([timed(plain), timed(ours)])
            )
            a, b = pair
            our_times.append(a)
            plain_times.append(b)
            ratios.append(a / b)
            print(
                f"run {run + 1:2d}: dentsend {a * 1000:6.0f} ms"
                f"   baseline {b * 1000:6.0f} ms   ratio {a / b:.2f}"
            )
    print(
        f"median: dentsend {statistics.median(our_times) * 1000:.0f} ms, "
        f"baseline {statistics.median(plain_times) * 1000:.0f} ms, "
        f"ratio {statistics.median(ratios):.2f}x (target <= 1.0x)"
    )


if __name__ == "__main__":
    main()
