"""Does the window stay responsive while a large package is built? (target: no stall > 100 ms)

Drives the real main window offscreen: adds a folder of synthetic radiographs (loaded and
thumbnailed in the thread pool, de-identification report in the background), then clicks
Create and waits for the result page. A QTimer on the GUI thread ticks every 10 ms throughout;
a "stall" is how much later than due a tick arrived, i.e. how long the event loop could not
answer a click or repaint. The same heartbeat on an idle window is the baseline, in the same
run.

    python benchmarks/gui_responsiveness.py [--mb 150] [--files 30] [--format html|openpgp]

Everything happens in a temporary folder with its own settings, data and output folders.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TICK_MS = 10
TARGET_MS = 100.0


def make_inputs(folder: Path, total_mb: float, files: int) -> list[Path]:
    """``files`` uncompressed 12-bit DICOM radiographs adding up to about ``total_mb``."""
    import numpy as np

    from dentsend.samples import _base_dataset, _set_pixels, _window, _write_dicom

    folder.mkdir(parents=True, exist_ok=True)
    per_file = total_mb * 1e6 / files
    side = int((per_file / 2) ** 0.5)
    rows, columns = side, int(side * 1.3) // 2 * 2
    rows = int(per_file / 2 / columns)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:rows, 0:columns]
    base = (1500 + 900 * np.sin(xx / 37.0) * np.cos(yy / 53.0)).astype(np.int32)
    paths = []
    for index in range(files):
        noise = rng.integers(0, 120, size=(rows, columns), dtype=np.int32)
        values = np.clip(base + noise + index * 3, 0, 4095).astype(np.uint16)
        ds = _base_dataset("1.2.840.10008.5.1.4.1.1.1.1", 100 + index, "DX")
        ds.BurnedInAnnotation = "NO"
        ds.ImagerPixelSpacing = [0.1, 0.1]
        _set_pixels(ds, [values], 12)
        _window(ds, values)
        path = folder / f"large-{index:03d}.dcm"
        path.write_bytes(_write_dicom(ds))
        paths.append(path)
    return paths


class Heartbeat:
    """Records when each 10 ms tick actually ran."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        self.ticks.append(time.perf_counter())
        gaps = [(b - a) * 1000 for a, b in zip(self.ticks, self.ticks[1:], strict=False)]
        return [max(0.0, gap - TICK_MS) for gap in gaps]  # lateness of each tick

    def late_ticks(self, over_ms: float) -> list[tuple[float, float]]:
        """(seconds since start, stall in ms) of every tick later than ``over_ms``."""
        start = self.ticks[0]
        return [
            (a - start, (b - a) * 1000 - TICK_MS)
            for a, b in zip(self.ticks, self.ticks[1:], strict=False)
            if (b - a) * 1000 - TICK_MS > over_ms
        ]


def run_until(condition: object, timeout_s: float) -> bool:
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # processEvents, not QTest.qWait: this loop must not hold the GIL while it waits.
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.002)
    return False


def summary(name: str, stalls: list[float], seconds: float) -> str:
    if not stalls:
        return f"{name:<26} no ticks"
    ordered = sorted(stalls)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    over = sum(1 for s in stalls if s > TARGET_MS)
    return (
        f"{name:<26} {seconds:7.1f} s  longest stall {max(stalls):6.1f} ms  "
        f"p99 {p99:5.1f} ms  median {statistics.median(stalls):4.1f} ms  "
        f"ticks {len(stalls):5d}  stalls > {TARGET_MS:.0f} ms: {over}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=150.0, help="total input size (MB)")
    parser.add_argument("--files", type=int, default=30, help="number of input files")
    parser.add_argument("--format", choices=("html", "openpgp"), default="html")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle baseline")
    parser.add_argument(
        "--explain", action="store_true", help="list stalls over 40 ms with the progress then"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="dentsend-bench-") as temp:
        root = Path(temp)
        for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DOCUMENTS_DIR"):
            (root / var).mkdir()
            os.environ[var] = str(root / var)
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

        started = time.perf_counter()
        inputs = make_inputs(root / "inputs", args.mb, args.files)
        size = sum(p.stat().st_size for p in inputs)
        print(
            f"inputs: {len(inputs)} DICOM files, {size / 1e6:.0f} MB "
            f"(made in {time.perf_counter() - started:.1f} s)"
        )

        from dentsend.gui.app import create_application
        from dentsend.gui.window import MainWindow
        from dentsend.settings import Settings

        create_application()
        window = MainWindow(settings=Settings(mail_size_limit_mb=10_000))
        window.resize(1440, 900)
        window.show()
        heartbeat = Heartbeat()
        run_until(lambda: False, 0.5)  # let the first paint and start-up settle

        results = []
        heartbeat.start()
        t0 = time.perf_counter()
        run_until(lambda: False, args.idle)
        results.append(summary("idle window (baseline)", heartbeat.stop(), args.idle))

        heartbeat.start()
        t0 = time.perf_counter()
        window.add_paths([root / "inputs"])
        loaded = run_until(
            lambda: len(window.model.entries) == len(inputs) and window.model.loading_count == 0,
            600,
        )
        results.append(summary("adding + thumbnails", heartbeat.stop(), time.perf_counter() - t0))
        if not loaded:
            print("the files did not load in time")
            return 1

        if args.format == "openpgp":
            from dentsend.openpgp import selftest_key_paths
            from dentsend.openpgp.store import import_file

            import_file(selftest_key_paths()[0])
            window.protect.set_format("openpgp")
            window.protect.refresh_certificates()
            run_until(lambda: window.protect.cert_list.count() > 0, 30)
            window.protect.tick_recipient(window.protect.certificates[0].fingerprint)
        run_until(lambda: window.create_button.isEnabled(), 60)
        outcomes: list[object] = []
        window.package_created.connect(outcomes.append)
        window.package_failed.connect(outcomes.append)
        timeline: list[tuple[float, str]] = []
        heartbeat.start()
        t0 = time.perf_counter()
        window.create_button.click()
        if args.explain:
            task = window.package_task
            assert task is not None
            task.signals.progress.connect(
                lambda share, text: timeline.append(
                    (time.perf_counter() - t0, f"{share:.2f} {text}")
                )
            )
        run_until(lambda: bool(outcomes), 1800)
        timeline.append((time.perf_counter() - t0, "result page shown"))
        build_seconds = time.perf_counter() - t0
        build = heartbeat.stop()
        if args.explain:
            for when, stall in heartbeat.late_ticks(40):
                said = [text for at, text in timeline if at <= when + stall / 1000]
                print(f"  stall {stall:6.1f} ms at {when:5.2f} s, last progress: {said[-1:]}")
        results.append(summary(f"creating ({args.format})", build, build_seconds))
        if not outcomes or isinstance(outcomes[0], str):
            print(f"the package failed: {outcomes[0] if outcomes else 'timeout'}")
            return 1
        outcome = outcomes[0]
        out_bytes = sum(p.stat().st_size for p in outcome.parts)  # type: ignore[attr-defined]

        print(
            f"package: {outcome.file_count} files, "  # type: ignore[attr-defined]
            f"{out_bytes / 1e6:.0f} MB in {build_seconds:.1f} s "
            f"({size / 1e6 / build_seconds:.0f} MB/s of input)"
        )
        print(f"heartbeat every {TICK_MS} ms on the GUI thread; stall = how late a tick ran")
        for line in results:
            print(line)
        worst = max(build)
        verdict = "PASS" if worst <= TARGET_MS else "FAIL"
        print(
            f"target: no stall over {TARGET_MS:.0f} ms while creating: {verdict} "
            f"(longest {worst:.1f} ms)"
        )
        window.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
