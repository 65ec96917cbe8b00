"""``dentsend pack`` and ``dentsend open`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dicom_factory
from conftest import run_cli

VECTORS = Path(__file__).resolve().parent / "vectors"
PASSPHRASE = "violet tram scribble north umpire canyon"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("cli-inputs")
    return [
        dicom_factory.intraoral(folder / "Testperson_Erika.dcm", size=(200, 300)),
        dicom_factory.intraoral(folder / "second.dcm", size=(150, 220)),
    ]


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def test_pack_then_open_roundtrip(
    inputs: list[Path], passphrase_file: Path, tmp_path: Path
) -> None:
    package = tmp_path / "out" / "radiographs.html"
    report = tmp_path / "report.json"
    packed = run_cli("pack", *inputs, "-o", package, "--html", "--passphrase-file", passphrase_file,
                     "--note", "Please check 36", "--report", report)
    assert packed.returncode == 0, packed.stderr
    assert packed.stdout.strip() == str(package)
    assert json.loads(report.read_text())["files"][0]["output_name"] == "IO-01.dcm"
    opened = run_cli("open", package, "-o", tmp_path / "received", "--passphrase-file",
                     passphrase_file)
    assert opened.returncode == 0, opened.stderr
    assert "note from the sender: Please check 36" in opened.stderr
    names = sorted(Path(line).name for line in opened.stdout.split())
    assert names == ["IO-01.dcm", "IO-02.dcm", "manifest.json"]


def test_new_passphrase_is_printed_and_opens_the_package(
    inputs: list[Path], tmp_path: Path
) -> None:
    package = tmp_path / "p.html"
    packed = run_cli("pack", inputs[0], "-o", package, "--html", "--new-passphrase",
                     "--keep-metadata")
    assert packed.returncode == 0, packed.stderr
    line = next(x for x in packed.stdout.splitlines() if x.startswith("passphrase: "))
    words = line.removeprefix("passphrase: ").split()
    assert len(words) == 6
    assert "separately" in packed.stderr
    secret = tmp_path / "secret.txt"
    secret.write_text(" ".join(words))
    opened = run_cli("open", package, "-o", tmp_path / "in", "--passphrase-file", secret)
    assert opened.returncode == 0, opened.stderr
    assert (tmp_path / "in" / inputs[0].name).read_bytes() == inputs[0].read_bytes()


def test_a_weak_passphrase_is_refused_in_one_sentence(inputs: list[Path], tmp_path: Path) -> None:
    weak = tmp_path / "weak.txt"
    weak.write_text("summer2024\n")
    result = run_cli("pack", inputs[0], "-o", tmp_path / "p.html", "--html",
                     "--passphrase-file", weak)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "too easy to guess" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weak.txt"]


@pytest.mark.parametrize(
    "arguments",
    [
        ["--html"],  # no passphrase option
        ["--html", "--new-passphrase", "--armor"],
        ["--pgp", "cert.asc", "--new-passphrase"],
        ["--html", "--new-passphrase", "--max-size", "0"],
    ],
)
def test_usage_errors_exit_2(inputs: list[Path], tmp_path: Path, arguments: list[str]) -> None:
    result = run_cli("pack", inputs[0], "-o", tmp_path / "p.html", *arguments)
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "p.html").exists()


def test_an_html_package_needs_an_html_name(inputs: list[Path], tmp_path: Path) -> None:
    result = run_cli("pack", inputs[0], "-o", tmp_path / "p.zip", "--html", "--new-passphrase")
    assert result.returncode == 2 and ".html" in result.stderr


def test_bad_files_are_each_named(
    inputs: list[Path], passphrase_file: Path, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    result = run_cli("pack", inputs[0], text, tmp_path / "gone.dcm", "-o", tmp_path / "p.html",
                     "--html", "--passphrase-file", passphrase_file)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("dentsend: notes.txt: ") for line in lines)
    assert any(line.startswith("dentsend: gone.dcm: ") for line in lines)
    assert lines[-1] == "dentsend: no package was written"
    assert not (tmp_path / "p.html").exists()


def test_split_packages(
    inputs: list[Path], passphrase_file: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.html"
    assert run_cli("pack", *inputs, "-o", whole, "--html", "--passphrase-file",
                   passphrase_file).returncode == 0
    limit = whole.stat().st_size * 1.37 * 0.9  # just too small for both files in one part
    result = run_cli("pack", *inputs, "-o", tmp_path / "p.html", "--html", "--passphrase-file",
                     passphrase_file, "--max-size", f"{limit / 1e6:.6f}")
    assert result.returncode == 0, result.stderr
    parts = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in parts] == ["p-1-of-2.html", "p-2-of-2.html"]
    for part in parts:
        assert part.stat().st_size * 1.37 <= limit
        opened = run_cli("open", part, "-o", tmp_path / "in", "--passphrase-file", passphrase_file)
        assert opened.returncode == 0, opened.stderr
        assert "part" in opened.stderr


@pytest.mark.parametrize(
    "vector", ["flipped", "swapped", "truncated", "header", "appended"]
)
def test_open_refuses_tampered_packages_with_one_line(vector: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(json.loads((VECTORS / "bundle-v1.json").read_text())["passphrase"])
    target = tmp_path / "out"
    result = run_cli("open", VECTORS / f"bundle-v1-{vector}.html", "-o", target,
                     "--passphrase-file", secret)
    assert result.returncode == 1
    assert result.stderr == (
        f"dentsend: bundle-v1-{vector}.html: the package is damaged or was changed after it was "
        "made; ask the sender for a new one\n"
    )
    assert result.stdout == "" and not target.exists()


def test_open_with_the_wrong_passphrase(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("Vector cafe horse battery staple")
    target = tmp_path / "out"
    target.mkdir()
    result = run_cli("open", VECTORS / "bundle-v1-good.html", "-o", target,
                     "--passphrase-file", secret)
    assert result.returncode == 1
    assert "passphrase is not the one" in result.stderr and result.stderr.count("\n") == 1
    assert list(target.iterdir()) == []


def test_open_something_else(tmp_path: Path) -> None:
    other = tmp_path / "letter.pdf"
    other.write_bytes(b"%PDF-1.7\n")
    result = run_cli("open", other, "-o", tmp_path / "out", "--passphrase-file", other)
    assert result.returncode == 1
    assert result.stderr == (
        "dentsend: letter.pdf: is not a dentsend package or an OpenPGP message\n"
    )


def test_pgp_passphrase_roundtrip(
    inputs: list[Path], passphrase_file: Path, tmp_path: Path
) -> None:
    package = tmp_path / "p.pgp"
    packed = run_cli("pack", *inputs, "-o", package, "--pgp-passphrase", "--passphrase-file",
                     passphrase_file, "--keep-metadata")
    assert packed.returncode == 0, packed.stderr
    opened = run_cli("open", package, "-o", tmp_path / "in", "--passphrase-file", passphrase_file)
    assert opened.returncode == 0, opened.stderr
    for source in inputs:
        assert (tmp_path / "in" / source.name).read_bytes() == source.read_bytes()
    assert (tmp_path / "in" / "manifest.json").exists()


def test_split_openpgp_parts_open_into_one_folder(
    inputs: list[Path], passphrase_file: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.pgp"
    assert run_cli("pack", *inputs, "-o", whole, "--pgp-passphrase", "--passphrase-file",
                   passphrase_file, "--keep-metadata").returncode == 0
    limit = (whole.stat().st_size + 2048) * 1.37 * 0.8
    result = run_cli("pack", *inputs, "-o", tmp_path / "p.pgp", "--pgp-passphrase",
                     "--passphrase-file", passphrase_file, "--keep-metadata",
                     "--max-size", f"{limit / 1e6:.6f}")
    assert result.returncode == 0, result.stderr
    parts = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in parts] == ["p-1-of-2.pgp", "p-2-of-2.pgp"]
    for part in parts:
        opened = run_cli("open", part, "-o", tmp_path / "in", "--passphrase-file", passphrase_file)
        assert opened.returncode == 0, opened.stderr
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == sorted(
        [*(p.name for p in inputs), "manifest-part-1-of-2.json", "manifest-part-2-of-2.json"]
    )
