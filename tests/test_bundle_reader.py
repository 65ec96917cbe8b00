"""The Python reader against hostile bundles: ones that authenticate (the sender knows the
passphrase) but lie about names, sizes, hashes or structure, and pages edited by hand."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dentsend.bundle import BundleError, extract_bundle, verify_bundle, write_bundle
from dentsend.bundle.format import MIN_ITERATIONS
from dentsend.bundle.records import RecordMeta, encode_record
from dentsend.bundle.writer import BundleWriter

PASSPHRASE = "quiver lantern oyster gravel"


def _record(name: str, data: bytes, role: str = "file", **meta: object) -> bytes:
    value: dict[str, object] = {
        "name": name, "role": role, "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(), "encodings": [], "length": len(data),
    }
    value.update(meta)
    description = json.dumps(value).encode()
    return len(description).to_bytes(4, "big") + description + data


def _manifest(files: list[tuple[str, bytes]]) -> bytes:
    entries = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
               for n, d in files]
    return json.dumps({"format": "dentsend-manifest", "version": 1, "files": entries}).encode()


def _hostile(
    path: Path,
    body: Callable[[BundleWriter], None],
    *,
    files: int = 1,
) -> Path:
    """A bundle whose plaintext stream (after the magic) ``body`` writes by hand."""
    with path.open("wb") as out:
        writer = BundleWriter(out, PASSPHRASE, files=files, iterations=MIN_ITERATIONS)
        body(writer)
        writer.close()
    return path


def _honest(writer: BundleWriter, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        writer.write(_record(name, data))
    writer.write(_record("manifest.json", _manifest(files), role="manifest"))


def test_an_honest_hand_made_stream_opens(tmp_path: Path) -> None:
    """The helpers below make valid bundles unless told to lie: each lie is the only change."""
    files = [("a.dcm", b"alpha"), ("b.dcm", b"beta")]
    path = _hostile(tmp_path / "p.html", lambda w: _honest(w, files), files=2)
    assert [r.name for r in verify_bundle(path, PASSPHRASE).files] == ["a.dcm", "b.dcm"]


LIES: dict[str, Callable[[BundleWriter], None]] = {
    "path traversal": lambda w: _honest(w, [("../../evil.sh", b"x")]),
    "absolute path": lambda w: _honest(w, [("/etc/passwd", b"x")]),
    "two records, one name": lambda w: (
        w.write(_record("a.dcm", b"1")), _honest(w, [("a.dcm", b"2")])
    ),
    "wrong SHA-256": lambda w: (
        w.write(_record("a.dcm", b"real", sha256="0" * 64)),
        w.write(_record("manifest.json", _manifest([("a.dcm", b"real")]), role="manifest")),
    ),
    "manifest lists another file": lambda w: (
        w.write(_record("a.dcm", b"real")),
        w.write(_record("manifest.json", _manifest([("b.dcm", b"real")]), role="manifest")),
    ),
    "manifest hides a file": lambda w: (
        w.write(_record("hidden.exe", b"MZ")), _honest(w, [("a.dcm", b"x")])
    ),
    "no manifest": lambda w: w.write(_record("a.dcm", b"x")),
    "two manifests": lambda w: (
        _honest(w, [("a.dcm", b"x")]),
        w.write(_record("other.json", _manifest([("a.dcm", b"x")]), role="manifest")),
    ),
    "data after the end mark": lambda w: (
        _honest(w, [("a.dcm", b"x")]), w.write(b"\x00\x00\x00\x00garbage")
    ),
    "record longer than the stream": lambda w: w.write(
        _record("a.dcm", b"x", size=10, length=10)
    ),
    "stored record shorter than its size": lambda w: (
        w.write(_record("a.dcm", b"xyz", size=5)),
    ),
}


@pytest.mark.parametrize("lie", list(LIES), ids=list(LIES))
def test_authenticated_lies_are_damage_and_nothing_is_written(lie: str, tmp_path: Path) -> None:
    path = _hostile(tmp_path / "hostile.html", LIES[lie])
    target = tmp_path / "out"
    with pytest.raises(BundleError) as error:
        extract_bundle(path, PASSPHRASE, target)
    assert error.value.kind == "damaged", error.value.detail
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.html"]


def test_header_file_count_must_match(tmp_path: Path) -> None:
    path = _hostile(tmp_path / "p.html", lambda w: _honest(w, [("a.dcm", b"x")]), files=3)
    with pytest.raises(BundleError, match="damaged"):
        verify_bundle(path, PASSPHRASE)


def test_a_newer_encoding_says_update(tmp_path: Path) -> None:
    path = _hostile(tmp_path / "p.html", lambda w: (
        w.write(_record("a.dcm", b"x", encodings=["zstd"])),
    ))
    with pytest.raises(BundleError) as error:
        verify_bundle(path, PASSPHRASE)
    assert error.value.kind == "unsupported"
    assert "newer version of dentsend" in str(error.value)


def test_unknown_roles_are_ignored(tmp_path: Path) -> None:
    path = _hostile(tmp_path / "p.html", lambda w: (
        w.write(_record("a.thumb", b"future", role="thumbnail")), _honest(w, [("a.dcm", b"x")])
    ))
    opened, written = extract_bundle(path, PASSPHRASE, tmp_path / "out")
    assert sorted(p.name for p in written) == ["a.dcm", "manifest.json"]
    assert [r.role for r in opened.records] == ["thumbnail", "file", "manifest"]


def test_hostile_names_are_made_safe_on_disk(tmp_path: Path) -> None:
    names = ["<img src=x onerror=alert(1)>.jpg", "CON.txt", "a:b?.dcm", "trailing. ", "A.DCM",
             "a.dcm"]
    files = [(n.strip(), n.encode()) for n in names]
    path = _hostile(tmp_path / "p.html", lambda w: _honest(w, files), files=len(files))
    _, written = extract_bundle(path, PASSPHRASE, tmp_path / "out")
    on_disk = sorted(p.name for p in written)
    assert on_disk == sorted([
        "_img src=x onerror=alert(1)_.jpg", "_CON.txt", "a_b_.dcm", "trailing", "A.DCM",
        "a (2).dcm", "manifest.json",
    ])
    assert all(p.parent == tmp_path / "out" for p in written)
    assert (tmp_path / "out" / "_CON.txt").read_bytes() == b"CON.txt"


def test_a_decompression_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    data = bytes(64 << 20)
    path = tmp_path / "bomb.html"
    with path.open("wb") as out:
        writer = BundleWriter(out, PASSPHRASE, files=1, iterations=MIN_ITERATIONS)
        writer.add(encode_record("bomb.dcm", "file", data, compress=True))
        manifest = _manifest([("bomb.dcm", data)])
        writer.add(encode_record("manifest.json", "manifest", manifest, compress=False))
        writer.close()
    assert path.stat().st_size < 1 << 20
    with pytest.raises(BundleError, match="far more than its own size") as error:
        extract_bundle(path, PASSPHRASE, tmp_path / "out")
    assert str(error.value).startswith("bomb.html: ")
    assert not (tmp_path / "out").exists()


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    source = tmp_path / "a.dcm"
    source.write_bytes(b"mine")
    bundle = tmp_path / "p.html"
    write_bundle(bundle, [source], PASSPHRASE, iterations=MIN_ITERATIONS)
    with pytest.raises(Exception, match=r"already holds a\.dcm"):
        extract_bundle(bundle, PASSPHRASE, tmp_path)
    assert source.read_bytes() == b"mine"
    assert not (tmp_path / "manifest.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_wrong_passphrase_can_be_retried(tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(os.urandom(3000))
    bundle = tmp_path / "p.html"
    write_bundle(bundle, [source], PASSPHRASE, iterations=MIN_ITERATIONS)
    with pytest.raises(BundleError) as error:
        verify_bundle(bundle, "quiver lantern oyster")
    assert error.value.kind == "passphrase"
    assert "passphrase" in str(error.value)
    assert verify_bundle(bundle, " quiver  lantern oyster gravel ").files[0].name == "a.bin"


def test_a_page_rewritten_by_an_editor_still_opens(tmp_path: Path) -> None:
    """Attribute order, quotes and letter case do not matter to a browser; nor to this reader."""
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 5000)
    bundle = tmp_path / "p.html"
    write_bundle(bundle, [source], PASSPHRASE, iterations=MIN_ITERATIONS)
    text = bundle.read_text(encoding="utf-8")
    text = text.replace(
        '<script type="application/octet-stream" class="dentsend-chunk">',
        "<SCRIPT class='x dentsend-chunk' type=application/octet-stream>",
    ).replace('<script id="dentsend-header" type="application/json">',
              "<script type='application/json' id=dentsend-header>")
    edited = tmp_path / "edited.html"
    edited.write_text(text, encoding="utf-8")
    assert verify_bundle(edited, PASSPHRASE).files[0].size == 5000


def test_a_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body><script>var x = 1;</script></body></html>")
    with pytest.raises(BundleError) as error:
        verify_bundle(page, PASSPHRASE)
    assert error.value.kind == "unsupported"
    assert "not a dentsend package" in str(error.value)


def test_record_meta_roundtrip() -> None:
    meta = RecordMeta("IO-01.dcm", "file", 10, "a" * 64, 10)
    assert RecordMeta.parse(meta.to_bytes()) == meta
