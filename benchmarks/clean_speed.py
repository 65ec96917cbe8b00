"""Time cleaning 100 intraoral-sized DICOM files, beside a plain pydicom read + write of them.

The files are made here: 1000×1300 pixels, 16 bits allocated (12 stored), uncompressed, with a
typical set of identifying attributes, a private block and a few sequences (about 2.6 MB each).
Three ways over the same files, in the same run, alternating rounds so machine noise hits all:

* baseline: ``pydicom.dcmread`` + ``pydicom.dcmwrite`` of each file, nothing else, and the same
  written the way dentsend writes every output (temporary name, fsync, rename), which is most
  of the difference;
* dentsend API: ``intake.load`` + ``Deidentifier.clean`` (which also re-loads the result) +
  an atomic write;
* dentsend clean: the whole command, as a fresh process.

Cleaning never decodes pixel data (it only does when redacting), so it should cost about what
reading and writing the files costs.

    python benchmarks/clean_speed.py [--files 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROWS, COLUMNS = 1300, 1000


def make_files(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(7)
    study = generate_uid()
    paths = []
    for number in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.3"
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
        ds.Modality, ds.Manufacturer = "IO", "Acme Sensors"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "P123456", "19700101"
        ds.PatientSex, ds.ReferringPhysicianName = "F", "Smith^Anna^^Dr."
        ds.InstitutionName, ds.StationName = "Example Dental", "IO-SENSOR-1"
        ds.StudyDate = ds.ContentDate = "20240311"
        ds.StudyTime = ds.ContentTime = "101500"
        ds.AccessionNumber, ds.StudyID, ds.InstanceNumber = "A1", "1", number + 1
        ds.StudyDescription, ds.ImageComments = "Bitewings", "tooth 36"
        ds.AnatomicRegionSequence = Sequence([Dataset()])
        ds.AnatomicRegionSequence[0].CodeValue = "T-11170"
        ds.AnatomicRegionSequence[0].CodingSchemeDesignator = "SRT"
        block = ds.private_block(0x0029, "ACME DENTAL", create=True)
        block.add_new(0x01, "LO", "Doe Jane")
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = ROWS, COLUMNS
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.BurnedInAnnotation = "NO"
        ds.PixelData = rng.integers(0, 4096, (ROWS, COLUMNS), dtype=np.uint16).tobytes()
        path = folder / f"Doe_Jane_{number:03d}.dcm"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def baseline(paths: list[Path], out: Path) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        (out / path.name).write_bytes(buffer.getvalue())


def baseline_synced(paths: list[Path], out: Path) -> None:
    """The baseline with dentsend's write discipline (temporary name, fsync, rename)."""
    from dentsend.atomic import atomic_write

    for path in paths:
        ds = pydicom.dcmread(path)
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        with atomic_write(out / path.name) as handle:
            handle.write(buffer.getvalue())


def dentsend_api(paths: list[Path], out: Path) -> None:
    from dentsend.atomic import atomic_write
    from dentsend.deid import Deidentifier, DeidOptions
    from dentsend.intake import load

    deid = Deidentifier(DeidOptions())
    radiographs = [load(path) for path in paths]
    for radiograph in radiographs:
        deid.check(radiograph)
    for radiograph in radiographs:
        cleaned = deid.clean(radiograph)
        with atomic_write(out / cleaned.name) as handle:
            handle.write(cleaned.data)


def dentsend_cli(paths: list[Path], out: Path) -> None:
    command = [sys.executable, "-m", "dentsend", "clean", *map(str, paths), "-o", str(out)]
    subprocess.run(command, check=True, capture_output=True)


def timed(work: Callable[[list[Path], Path], None], paths: list[Path], scratch: Path) -> float:
    out = scratch / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    start = time.perf_counter()
    work(paths, out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ways: dict[str, Callable[[list[Path], Path], None]] = {
        "pydicom read+write (baseline)": baseline,
        "pydicom read+write, atomic+fsync": baseline_synced,
        "dentsend API (load+clean+write)": dentsend_api,
        "dentsend clean (command)": dentsend_cli,
    }
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        source = scratch / "in"
        source.mkdir()
        paths = make_files(source, args.files)
        size = sum(p.stat().st_size for p in paths) / 1e6
        print(f"{len(paths)} files of {COLUMNS}×{ROWS} 16-bit, {size:.0f} MB in total")
        timed(baseline, paths, scratch)  # warm the file cache and imports
        results: dict[str, list[float]] = {name: [] for name in ways}
        for round_number in range(args.rounds):
            order = list(ways.items())
            if round_number % 2:
                order.reverse()
            for name, work in order:
                results[name].append(timed(work, paths, scratch))
        base = statistics.median(results["pydicom read+write (baseline)"])
        for name, times in results.items():
            median = statistics.median(times)
            runs = ", ".join(f"{t:.2f}" for t in times)
            print(
                f"{name:34s} median {median:6.2f} s  ({base and median / base:.2f}× baseline)"
                f"  runs: {runs}"
            )


if __name__ == "__main__":
    main()
