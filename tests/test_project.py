"""The promises the repository makes about itself: README commands, CI, licences."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, "README must open with a sh block of the two commands"
    assert text.index("```sh") < 200, "the two commands must be the README's first lines"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_the_app_command_and_the_test_command() -> None:
    app, tests = _readme_commands()
    assert app.endswith("dentsend --demo") and "pip install" in app
    assert "pytest" in tests and "pip install" in tests and "[test]" in tests


def test_ci_runs_exactly_the_readme_test_command_with_nothing_skipped() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    _, tests = _readme_commands()
    assert tests in ci.splitlines()
    assert "export DENTSEND_REQUIRE_ALL=1" in ci
    assert ci.index("export DENTSEND_REQUIRE_ALL=1") < ci.index(tests)
    for package in ("chromium", "firefox-esr", "webkit2gtk-driver", "gnupg", "xvfb"):
        assert re.search(rf"\b{re.escape(package)}\b", ci), package


def test_the_annex_e_table_ships_with_its_attribution() -> None:
    folder = REPO / "resources" / "annex-e"
    assert list(folder.glob("annex-e-confidentiality-*.json"))
    notice = (folder / "README.md").read_text(encoding="utf-8")
    assert "Copyright (c) 2017 Innolitics, LLC." in notice and "MIT License" in notice


def test_the_test_fixtures_ship_with_their_sources() -> None:
    folder = Path(REPO / "tests" / "data" / "fixtures")
    listed = (folder / "README.md").read_text(encoding="utf-8")
    for path in folder.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in listed, path.name
