"""OpenPGP packing speed and memory: dentsend (Sequoia) against ``gpg -e``, side by side.

About 70 MB of radiograph-like data (12-bit grey images with smooth anatomy-like structure
and noise, stored as 16-bit, as DR detectors deliver them) goes into one deflated ZIP — the
payload. Then, alternating in one run, each timed as its own process:

* dentsend: ``write_package`` of the ZIP to two recipients (a process that starts Python, imports
  dentsend and pysequoia, reads the ZIP and writes the package: what ``dentsend pack`` pays for
  the OpenPGP step);
* ``gpg -e`` of the same ZIP to the same two keys (RSA-3072 and Ed25519/Cv25519), with gpg's
  defaults (it compresses);
* ``gpg -e -z 0`` (no compression), which is what dentsend writes;
* "Sequoia alone": a process that imports only pysequoia and calls ``pysequoia.encrypt`` on the
  same ZIP for the same two certificates (SEIPDv1, as dentsend writes) — the floor for
  dentsend, which does its OpenPGP work through that call;
* the same signed: dentsend with a secret key file (passphrase-protected, as ``pack --sign``)
  against ``gpg -e -s`` (which compresses) and ``gpg -e -s -z 0``.

Printed: the median wall time of each, the median ratio dentsend/gpg of the paired runs (target
≤ 1.2×), and the peak resident memory of each process, measured by GNU ``time`` when installed
(a child forked from this script would otherwise inherit the script's own peak).

Run: ``/tmp/v/bin/python benchmarks/pgp_vs_gpg.py [--size-mb 70] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

WORKER = "--dentsend-worker"
SEQUOIA_WORKER = "--sequoia-worker"
PAYLOAD_MAKER = "--make-payload"
SIGNER_PASSPHRASE = "benchmark signer"


def radiograph_like(rows: int, columns: int, seed: int) -> bytes:
    """A 12-bit image in 16-bit words: soft tissue gradient, teeth-like bright blobs, noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float32)
    image = 900 + 600 * np.sin(x / columns * 3.1) * np.cos(y / rows * 2.2)
    for _ in range(24):
        cy, cx = rng.uniform(0, rows), rng.uniform(0, columns)
        ry, rx = rng.uniform(60, 260), rng.uniform(30, 110)
        image += 1800 * np.exp(-(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2))
    image += rng.normal(0, 35, size=image.shape)
    return np.clip(image, 0, 4095).astype("<u2").tobytes()


def make_payload(size_mb: float) -> bytes:
    rows, columns = 2048, 2560  # a 10 MB detector image
    count = max(1, round(size_mb * 1e6 / (rows * columns * 2)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for index in range(count):
            archive.writestr(f"image-{index + 1:02d}.raw", radiograph_like(rows, columns, index))
    return buffer.getvalue()


def gpg(home: Path, *args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--yes", "--pinentry-mode", "loopback",
         "--passphrase", "", "--trust-model", "always", *args],
        input=stdin, capture_output=True, check=True,
    )  # fmt: skip
    return result.stdout


def make_keys(home: Path) -> list[str]:
    home.mkdir(mode=0o700)
    fingerprints = []
    for user_id, algo in (("Rita <rita@example.org>", "rsa3072"), ("Edda <edda@example.org>",
                                                                    "future-default")):  # fmt: skip
        gpg(home, "--quick-gen-key", user_id, algo, "default", "never")
        if algo == "rsa3072":
            fpr = fingerprint(home, user_id)
            gpg(home, "--quick-add-key", fpr, "rsa3072", "encr", "never")
        fingerprints.append(fingerprint(home, user_id))
    return fingerprints


def fingerprint(home: Path, user_id: str) -> str:
    listing = gpg(home, "--with-colons", "--list-keys", user_id).decode()
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))


GNU_TIME = shutil.which("time") if Path("/usr/bin/time").exists() else None


def timed(command: list[str], env: dict[str, str], report: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one process."""
    if GNU_TIME:
        command = [GNU_TIME, "-f", "%M", "-o", str(report), *command]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed")
    if GNU_TIME:
        return elapsed, int(report.read_text().split()[-1]) // 1024
    return elapsed, usage.ru_maxrss // 1024


def worker(zip_path: str, out_path: str, signer: str, *certs: str) -> None:
    """The OpenPGP step of ``dentsend pack``: read the ZIP, write the package.

    The package goes to a plain file, as gpg's does; ``pack`` itself also fsyncs it
    (``atomic_write``), which this comparison leaves out on both sides.
    """
    from dentsend.openpgp import write_package

    data = Path(zip_path).read_bytes()
    with Path(out_path).open("wb") as out:
        write_package(
            data,
            out,
            recipients=[Path(c) for c in certs],
            sign_with=Path(signer) if signer != "-" else None,
            sign_passphrase=SIGNER_PASSPHRASE,
            sign_with_own_key=False,
        )


def sequoia_worker(zip_path: str, out_path: str, *certs: str) -> None:
    """Only Sequoia's encryption, as dentsend calls it: no checks, no dentsend import."""
    import pysequoia

    recipients = [pysequoia.Cert.from_bytes(Path(c).read_bytes()) for c in certs]
    written = pysequoia.encrypt(Path(zip_path).read_bytes(), recipients=recipients, armor=False)
    Path(out_path).write_bytes(written)


ORDER = (
    "dentsend",
    "Sequoia alone",
    "gpg -e",
    "gpg -e -z 0",
    "dentsend signed",
    "gpg -e -s",
    "gpg -e -s -z 0",
)
SIGNER_SCRIPT = """
import sys
import pysequoia
from dentsend.openpgp import keygen, packets
secret = keygen.generate_secret_key("Bench Signer <signer@example.org>", sys.argv[2])
open(sys.argv[1], "wb").write(packets.armor(packets.ARMOR_PRIVATE_KEY, secret))
cert = pysequoia.Tsk.from_bytes(secret).extract_certificate()
open(sys.argv[1] + ".pub", "wb").write(bytes(cert))
"""


def startup_seconds(env: dict[str, str]) -> float:
    command = [sys.executable, "-c", "import dentsend.openpgp"]
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == WORKER:
        worker(*sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == SEQUOIA_WORKER:
        sequoia_worker(*sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == PAYLOAD_MAKER:
        Path(sys.argv[2]).write_bytes(make_payload(float(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=70.0, help="radiograph data before ZIP")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("gpg") is None:
        raise SystemExit("gpg is not installed")

    with tempfile.TemporaryDirectory(prefix="dentsend-bench-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "XDG_DATA_HOME": str(folder / "data"),
               "XDG_CONFIG_HOME": str(folder / "config")}  # fmt: skip
        print(f"building ~{args.size_mb:.0f} MB of radiograph-like images …", flush=True)
        zip_path = folder / "radiographs.zip"
        # in a child process, so this script stays small (see ``timed``)
        subprocess.run(
            [sys.executable, __file__, PAYLOAD_MAKER, str(zip_path), str(args.size_mb)], check=True
        )
        home = folder / "gnupg"
        fingerprints = make_keys(home)
        certs = []
        for index, fpr in enumerate(fingerprints):
            cert = folder / f"recipient-{index}.asc"
            cert.write_bytes(gpg(home, "--armor", "--export", fpr))
            certs.append(str(cert))
        signer = folder / "signer.asc"
        subprocess.run(
            [sys.executable, "-c", SIGNER_SCRIPT, str(signer), SIGNER_PASSPHRASE],
            check=True,
            env=env,
        )
        gpg(home, "--import", f"{signer}.pub")  # so gpg checks dentsend's signature
        # settle the trust database now, or every signing gpg run below would rebuild it
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--check-trustdb"], check=False)
        recipients = [arg for fpr in fingerprints for arg in ("-r", fpr)]
        gpg_base = [
            "gpg", "--homedir", str(home), "--batch", "--yes", "--trust-model", "always",
            "--pinentry-mode", "loopback", "--passphrase", "",
        ]  # fmt: skip
        out = {name: str(folder / f"out-{i}.pgp") for i, name in enumerate(ORDER)}
        dentsend = [sys.executable, __file__, WORKER, str(zip_path)]
        sequoia = [sys.executable, __file__, SEQUOIA_WORKER, str(zip_path)]
        signing = ["-s", "-u", fingerprints[1]]

        def gpg_e(name: str, *options: str) -> list[str]:
            return [*gpg_base, "-e", *options, *recipients, "-o", out[name], str(zip_path)]

        commands = {
            "dentsend": [*dentsend, out["dentsend"], "-", *certs],
            "Sequoia alone": [*sequoia, out["Sequoia alone"], *certs],
            "gpg -e": gpg_e("gpg -e"),
            "gpg -e -z 0": gpg_e("gpg -e -z 0", "-z", "0"),
            "dentsend signed": [*dentsend, out["dentsend signed"], str(signer), *certs],
            "gpg -e -s": gpg_e("gpg -e -s", *signing),
            "gpg -e -s -z 0": gpg_e("gpg -e -s -z 0", *signing, "-z", "0"),
        }
        size = zip_path.stat().st_size
        print(
            f"payload ZIP: {size / 1e6:.1f} MB; recipients: RSA-3072 + Ed25519/Cv25519; "
            f"{args.rounds} alternating rounds; memory by "
            f"{'GNU time' if GNU_TIME else 'wait4 (includes this script: install GNU time)'}",
            flush=True,
        )
        times: dict[str, list[float]] = {name: [] for name in commands}
        memory: dict[str, int] = dict.fromkeys(commands, 0)
        for _ in range(args.rounds):
            for name, command in commands.items():
                elapsed, rss = timed(command, env, folder / "time.txt")
                times[name].append(elapsed)
                memory[name] = max(memory[name], rss)
        # the packages dentsend wrote open in gpg, byte for byte
        payload = zip_path.read_bytes()
        assert gpg(home, "--decrypt", out["dentsend"]) == payload
        assert gpg(home, "--decrypt", out["dentsend signed"]) == payload
        assert gpg(home, "--decrypt", out["Sequoia alone"]) == payload
        assert Path(out["Sequoia alone"]).read_bytes()[:1] != b"-"  # binary, like dentsend's

        print(f"\n{'':17}{'median s':>9}{'peak RSS MB':>13}{'MB':>7}   dentsend ÷ this")
        pairs = {
            "Sequoia alone": "dentsend",
            "gpg -e": "dentsend",
            "gpg -e -z 0": "dentsend",
            "gpg -e -s": "dentsend signed",
            "gpg -e -s -z 0": "dentsend signed",
        }
        for name in commands:
            median = statistics.median(times[name])
            ratio = ""
            if name in pairs:
                mine = times[pairs[name]]
                paired = zip(mine, times[name], strict=True)
                ratio = f"{statistics.median(d / o for d, o in paired):.2f}×"
            package = Path(out[name]).stat().st_size / 1e6
            print(f"{name:17}{median:9.2f}{memory[name]:13d}{package:7.1f}   {ratio}")
        print("(dentsend's times include starting Python and importing dentsend: "
              f"{startup_seconds(env):.2f} s here)")  # fmt: skip
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


if __name__ == "__main__":
    main()
