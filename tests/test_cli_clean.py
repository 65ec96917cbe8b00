"""``dentsend clean`` as a user runs it: files in, cleaned copies out, clear errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pydicom
import pytest

from conftest import run_cli
from dentsend.cli import UsageError, main
from dentsend.cli.clean import add_deid_arguments, deid_options_from_args
from dentsend.deid import Box
from test_deid_samples import (
    PATIENT_PN,
    base_dataset,
    leaks,
    planted_dataset,
    planted_name,
    png_with_metadata,
    to_bytes,
)


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "Quixwhistle Zebulon"  # folders are named after patients too
    folder.mkdir()
    files = {
        "dicom": folder / planted_name(".dcm"),
        "second": folder / "second.dcm",
        "png": folder / planted_name(".png"),
        "broken": folder / "broken.dcm",
    }
    files["dicom"].write_bytes(to_bytes(planted_dataset()))
    files["second"].write_bytes(to_bytes(base_dataset()))
    files["png"].write_bytes(png_with_metadata())
    files["broken"].write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI")
    for path in files.values():
        path.chmod(0o444)
    return files


def test_clean_writes_neutral_copies_and_a_local_report(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    originals = {p: p.read_bytes() for p in inputs.values()}
    result = run_cli(
        "clean",
        inputs["dicom"],
        inputs["second"],
        inputs["png"],
        "-o",
        out,
        "--redact",
        f"{inputs['png']}:0,0,10,10",
        "--report",
        report,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["IO-01.dcm", "IO-02.dcm", "image-01.png"]
    assert result.stdout.split() == [
        str(out / n) for n in ("IO-01.dcm", "IO-02.dcm", "image-01.png")
    ]
    for path in out.iterdir():
        assert not leaks(path.read_bytes()), path.name
    assert {p: p.read_bytes() for p in inputs.values()} == originals  # originals untouched
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["annex_e_edition"] == "2024b"
    assert [f["output_name"] for f in document["files"]] == [
        "IO-01.dcm",
        "IO-02.dcm",
        "image-01.png",
    ]
    first = document["files"][0]["changes"]
    assert {
        "tag": "(0010,0010)",
        "name": "PatientName",
        "action": "emptied",
        "before": PATIENT_PN,
        "after": "",
    } in first
    assert any(c["action"] == "redacted" for c in document["files"][2]["changes"])


def test_one_bad_file_is_named_and_the_rest_still_cleaned(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    status = main(
        ["clean", str(inputs["broken"]), str(inputs["png"]), str(inputs["second"]), "-o", str(out)]
    )
    assert status == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("dentsend: broken.dcm: ")
    # the plain image may show burned-in text: refused, by name, with what to do
    assert errors[1].startswith(f"dentsend: {inputs['png'].name}: ")
    assert "--confirm-no-burned-in" in errors[1]
    assert "Quixwhistle Zebulon/" not in "\n".join(errors)  # never the (patient's) folder
    assert [p.name for p in out.iterdir()] == ["IO-01.dcm"]


def test_keep_metadata_sends_files_byte_identical(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(["clean", str(inputs["dicom"]), str(inputs["png"]), "-o", str(out), "--keep-metadata"])
        == 0
    )
    for source in (inputs["dicom"], inputs["png"]):
        assert (out / source.name).read_bytes() == source.read_bytes()


def test_existing_files_are_never_overwritten(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "IO-01.dcm").write_bytes(b"earlier")
    assert main(["clean", str(inputs["second"]), "-o", str(out)]) == 1
    assert (out / "IO-01.dcm").read_bytes() == b"earlier"
    assert "already exists" in capsys.readouterr().err
    # keep mode into the source folder would overwrite the original: refused the same way
    assert (
        main(
            ["clean", str(inputs["second"]), "-o", str(inputs["second"].parent), "--keep-metadata"]
        )
        == 1
    )
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--retain", "everything"], "--retain everything: choose from"),
        (["--clean", "pixels"], "--clean pixels: choose from"),
        (["--retain", "dates", "--retain", "modified-dates"], "not both"),
        (["--keep-metadata", "--retain", "uids"], "cannot be combined with --retain"),
        (["--keep-metadata", "--pseudonym", "X"], "not allowed with argument"),
        (["--pseudonym", "Doe^John"], "a pseudonym is 1 to 64 letters"),
        (["--pseudonym", ""], "a pseudonym is 1 to 64 letters"),
        (["--redact", "file.dcm:1,2,3"], "--redact takes FILE:X,Y,W,H"),
        (["--redact", "file.dcm:1,2,0,4"], "W and H at least 1"),
        (["--redact", "other.dcm:1,2,3,4"], "--redact names other.dcm, which is not among"),
    ],
)
def test_bad_combinations_are_usage_errors(
    inputs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["clean", str(inputs["second"]), "-o", str(tmp_path / "out"), *arguments])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_report_may_not_go_into_the_output_folder(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(
            [
                "clean",
                str(inputs["second"]),
                "-o",
                str(tmp_path / "out"),
                "--report",
                str(tmp_path / "out" / "report.json"),
            ]
        )
    assert caught.value.code == 2
    assert "outside the output folder" in capsys.readouterr().err


def test_pack_reuses_the_options(tmp_path: Path) -> None:
    """``dentsend pack`` adds the same arguments to its own parser."""
    parser = argparse.ArgumentParser()
    add_deid_arguments(parser)
    args = parser.parse_args(
        [
            "--pseudonym",
            "REF-2026-114",
            "--retain",
            "device",
            "--retain",
            "modified-dates",
            "--clean",
            "descriptors",
            "--redact",
            f"{tmp_path}/a:b.png:1,2,3,4",
            "--redact",
            f"{tmp_path}/a:b.png:5,6,7,8",
            "--confirm-no-burned-in",
        ]
    )
    options = deid_options_from_args(args)
    assert options.mode == "pseudonym" and options.pseudonym == "REF-2026-114"
    assert options.retain == {"device", "modified-dates"}
    assert options.clean == {"descriptors"}
    assert options.redactions == {
        (tmp_path / "a:b.png").resolve(): (Box(1, 2, 3, 4), Box(5, 6, 7, 8))
    }
    assert options.confirmed_no_burned_in is True
    with pytest.raises(UsageError):
        deid_options_from_args(
            parser.parse_args(["--retain", "dates", "--retain", "modified-dates"])
        )


def test_stable_uids_come_from_the_settings(inputs: dict[str, Path], tmp_path: Path) -> None:
    from dentsend.settings import Settings, save_settings

    save_settings(Settings(stable_uids=True))
    for folder in ("one", "two"):
        assert main(["clean", str(inputs["second"]), "-o", str(tmp_path / folder)]) == 0
    uids = [pydicom.dcmread(tmp_path / f / "IO-01.dcm").SOPInstanceUID for f in ("one", "two")]
    assert uids[0] == uids[1]
