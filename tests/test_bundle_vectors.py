"""The Python reader against the bundle-v1 test vectors (docs/bundle-format.md, section 10).

The browser reader is checked against the same files in ``test_bundle_browser.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from dentsend.bundle import BundleError, extract_bundle, verify_bundle

VECTORS = Path(__file__).resolve().parent / "vectors"
SPEC: dict[str, Any] = json.loads((VECTORS / "bundle-v1.json").read_text(encoding="utf-8"))


def test_the_vectors_cover_every_attack_the_issue_lists() -> None:
    files = {v["file"] for v in SPEC["vectors"]}
    for name in ("good", "flipped", "swapped", "truncated", "header", "appended"):
        assert f"bundle-v1-{name}.html" in files
    assert SPEC["chunks"] >= 2


def test_the_good_vector_opens_byte_exact(tmp_path: Path) -> None:
    opened, written = extract_bundle(VECTORS / "bundle-v1-good.html", SPEC["passphrase"], tmp_path)
    by_name = {path.name: path for path in written}
    for expected in SPEC["files"]:
        data = by_name[expected["name"]].read_bytes()
        assert len(data) == expected["size"]
        assert hashlib.sha256(data).hexdigest() == expected["sha256"]
    manifest = by_name["manifest.json"].read_bytes()
    assert hashlib.sha256(manifest).hexdigest() == SPEC["manifest_sha256"]
    assert opened.header.sender == SPEC["sender"]
    views = [r.name for r in opened.records if r.role == "view"]
    assert views == [v["name"] for v in SPEC["views"]]


def test_the_normalised_passphrase_opens_it_too() -> None:
    verify_bundle(VECTORS / "bundle-v1-good.html", SPEC["passphrase_normalised"])


@pytest.mark.parametrize(
    "vector", [v for v in SPEC["vectors"] if v["expect"] != "ok"], ids=lambda v: v["file"]
)
def test_each_bad_vector_fails_as_expected_and_writes_nothing(
    vector: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "out"
    with pytest.raises(BundleError) as error:
        extract_bundle(VECTORS / vector["file"], vector["passphrase"], target)
    assert error.value.kind == vector["expect"]
    assert str(error.value).startswith(vector["file"] + ": ")
    assert not target.exists()
