"""The whole flow through the real widgets, offscreen: add → look → decide → choose → create.

Every package made here is opened again with ``dentsend open`` (a subprocess, as the recipient's
side), and every byte that comes out is searched for the fake patient of the samples.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from dentsend.gui.window import WINDOW_TITLE
from dentsend.intake import load
from dentsend.openpgp import SELFTEST_PASSPHRASE, selftest_key_paths
from dentsend.render import display_image
from dentsend.samples import sample_paths
from dentsend.settings import Settings
from test_gui_support import (
    SAMPLE,
    add_files,
    assert_no_patient,
    click,
    copies,
    create,
    drag,
    entry_named,
    make_window,
    open_package,
    resolve_checks,
    select,
    tick_no_text,
)


def test_html_package_from_dropped_files_opens_without_the_patient(qtbot, tmp_path):
    broken = tmp_path / "DEMO_PATIENT-broken.dcm"
    broken.write_bytes(SAMPLE["intraoral"].read_bytes()[:5000])  # ends inside the pixel data
    window = make_window(qtbot)
    add_files(qtbot, window, [*sample_paths(), broken])

    bad = entry_named(window, "broken")
    assert bad.state == "problem"
    assert "truncated" in bad.problem
    assert [text for text, _ in bad.badges(window.model.mode)] == ["Unreadable"]
    ready = window.model.ready_entries
    assert len(ready) == 5
    assert all("Identifying data found" in [t for t, _ in e.badges("deidentify")] for e in ready)
    pano, export = entry_named(window, "panoramic"), entry_named(window, "export")
    assert {e.name for e in window.model.unresolved_checks()} == {pano.name, export.name}
    assert not window.create_button.isEnabled()
    assert "burned-in text" in window.missing.text()
    # The title bar never shows a file name (they carry the patient's name).
    assert window.windowTitle() == WINDOW_TITLE

    # Decide: the default is "remove identifying details"; the report lists what goes.
    assert window.decide.mode_buttons["deidentify"].isChecked()
    select(qtbot, window, entry_named(window, "intraoral"))
    qtbot.waitUntil(lambda: window.report.table.rowCount() > 0, timeout=15_000)
    report_rows = [
        (window.report.table.item(r, 0).text(), window.report.table.item(r, 1).text())
        for r in range(window.report.table.rowCount())
    ]
    assert any(f.startswith("PatientName") and a in ("emptied", "removed") for f, a in report_rows)
    assert "sent as IO-01.dcm" in window.report.title.text()

    tick_no_text(qtbot, window, pano)
    tick_no_text(qtbot, window, export)
    assert window.create_button.isEnabled(), window.missing.text()
    assert "unreadable file will be left out" in window.missing.text()

    # Choose: the generated passphrase, shown word by word.
    passphrase = window.protect.passphrase
    assert len(passphrase.split()) == 6
    assert window.protect.words.words == passphrase.split()

    outcome = create(qtbot, window)
    assert window.pages.currentWidget() is window.result_page
    package = outcome.parts[0]
    assert package.parent == Settings().outgoing_path
    assert package.name.startswith("dentsend-") and package.suffix == ".html"
    assert window.result_page.words.words == passphrase.split()
    assert "never in the same email" in window.result_page.rule.text()
    assert outcome.passphrase_kept_days == 30  # kept in the (test) keyring for recall

    secret = tmp_path / "passphrase.txt"
    secret.write_text(passphrase)
    files = open_package(package, tmp_path / "received", "--passphrase-file", str(secret))
    names = sorted(p.name for p in files)
    assert names == sorted(
        ["IO-01.dcm", "IO-02.dcm", "PX-01.dcm", "CT-01.dcm", "image-01.jpg", "manifest.json"]
    )
    assert_no_patient([*files, package])
    for path in files:
        if path.suffix != ".json":
            load(path)  # every file the recipient gets is a readable radiograph

    # Start over: an empty list, a new passphrase, the work page.
    QTest.mouseClick(window.result_page.start_over_button, Qt.MouseButton.LeftButton)
    assert window.model.entries == []
    assert window.protect.passphrase != passphrase
    assert window.pages.currentIndex() == 0


def test_openpgp_package_to_an_imported_certificate(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    public, secret_key = selftest_key_paths()
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"], SAMPLE["cbct-slices"]])
    click(window.protect.pgp_button)
    assert window.protect.format == "openpgp"
    assert "certificate" in window.missing.text()

    # Import through the real button; the file dialog answers with the test certificate.
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(public)], ""))
    )
    QTest.mouseClick(window.protect.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.protect.cert_list.count() == 1, timeout=10_000)
    item = window.protect.cert_list.item(0)
    info = window.protect.certificates[0]
    assert info.fingerprint[:4] in item.text() and "expire" in item.text()
    qtbot.waitUntil(lambda: window.protect.recipients == [info.fingerprint], timeout=5_000)
    assert window.create_button.isEnabled(), window.missing.text()

    outcome = create(qtbot, window)
    package = outcome.parts[0]
    assert package.suffix == ".pgp"
    assert not window.result_page.passphrase_card.isVisible()
    assert "self-test" in window.result_page.recipient_label.text()

    key_pass = tmp_path / "key-pass.txt"
    key_pass.write_text(SELFTEST_PASSPHRASE)
    files = open_package(
        package,
        tmp_path / "received",
        "--key",
        str(secret_key),
        "--key-passphrase-file",
        str(key_pass),
    )
    assert sorted(p.name for p in files) == ["CT-01.dcm", "IO-01.dcm", "manifest.json"]
    assert_no_patient(files)


def test_demo_offers_the_test_certificate_so_a_newcomer_can_try_openpgp(qtbot, tmp_path):
    from dentsend.openpgp import list_infos

    window = make_window(qtbot, demo=True)
    add_files(qtbot, window, [SAMPLE["bitewing"]])
    click(window.protect.pgp_button)
    qtbot.waitUntil(lambda: window.protect.cert_list.count() == 1, timeout=10_000)
    item = window.protect.cert_list.item(0)
    assert item.text().startswith("Demo recipient")
    item.setCheckState(Qt.CheckState.Checked)
    outcome = create(qtbot, window)
    assert list_infos() == []  # nothing was imported into the user's certificates
    hint = window.result_page.recipient_label.text()
    assert "dentsend open" in hint and "--key" in hint
    key_pass = tmp_path / "key-pass.txt"
    key_pass.write_text(SELFTEST_PASSPHRASE)
    secret_key = selftest_key_paths()[1]
    files = open_package(
        outcome.parts[0],
        tmp_path / "received",
        "--key",
        str(secret_key),
        "--key-passphrase-file",
        str(key_pass),
    )
    assert sorted(p.name for p in files) == ["IO-01.dcm", "manifest.json"]


def test_redaction_boxes_drawn_with_the_mouse_are_black_in_the_output(qtbot, tmp_path):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["panoramic"]])
    pano = entry_named(window, "panoramic")
    select(qtbot, window, pano)
    assert window.preview.check_banner.isVisible()

    QTest.mouseClick(window.preview.tool_buttons["redact"], Qt.MouseButton.LeftButton)
    assert window.preview.viewer.tool == "redact"
    viewer = window.preview.viewer
    drag(viewer, QPointF(6, 4), QPointF(330, 46))  # the name and birth date, top left
    assert len(pano.boxes) == 1
    x, y, width, height = pano.boxes[0]
    assert x <= 8 and y <= 6 and x + width >= 320 and y + height >= 44
    assert viewer.boxes == pano.boxes  # DICOM: display and stored coordinates agree
    assert "Text covered (1 box)" in [t for t, _ in pano.badges("deidentify")]
    assert window.create_button.isEnabled(), window.missing.text()

    outcome = create(qtbot, window)
    secret = tmp_path / "passphrase.txt"
    secret.write_text(outcome.passphrase)
    files = open_package(outcome.parts[0], tmp_path / "received", "--passphrase-file", str(secret))
    cleaned = load(next(p for p in files if p.name == "PX-01.dcm"))
    original = load(SAMPLE["panoramic"])
    shown = display_image(cleaned)
    assert shown[y : y + height, x : x + width].max() == 0  # black on screen
    values, before = cleaned.frame(0), original.frame(0)
    outside = np.ones(values.shape, dtype=bool)
    outside[y : y + height, x : x + width] = False
    assert np.array_equal(values[outside], before[outside])  # nothing else changed
    assert not np.array_equal(values[~outside], before[~outside])


@pytest.mark.parametrize("format", ["html", "openpgp"])
def test_cancel_midway_leaves_nothing_in_the_output_folder(qtbot, tmp_path, format):
    window = make_window(qtbot)
    add_files(qtbot, window, copies(tmp_path / "many", 6), timeout=40_000)
    resolve_checks(qtbot, window)
    if format == "openpgp":  # built in a worker process: cancel must reach it too
        click(window.protect.pgp_button)
        window.protect.import_paths([selftest_key_paths()[0]])
        qtbot.waitUntil(lambda: window.protect.recipients != [], timeout=10_000)
    outgoing = Settings().outgoing_path
    QTest.mouseClick(window.create_button, Qt.MouseButton.LeftButton)
    assert window.pages.currentWidget() is window.progress_page
    # Past the checks, into cleaning and encrypting: the package file is being written.
    qtbot.waitUntil(lambda: window.progress_page.bar.value() >= 180, timeout=30_000)
    assert "Cleaning and encrypting file" in window.progress_page.status.text()
    with qtbot.waitSignal(window.package_failed, timeout=30_000) as blocker:
        QTest.mouseClick(window.progress_page.cancel, Qt.MouseButton.LeftButton)
    assert blocker.args[0].startswith("cancelled")
    assert window.pages.currentIndex() == 0
    assert "no package was written" in window.statusBar().currentMessage()
    assert not outgoing.exists() or list(outgoing.iterdir()) == []  # not even a hidden .part file


def test_own_passphrase_is_rated_live_and_weak_ones_block_create(qtbot):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"]])
    protect = window.protect
    click(protect.own_button)
    QTest.keyClicks(protect.own, "password123")
    qtbot.waitUntil(lambda: protect._rating is not None, timeout=5_000)
    assert not protect._rating.acceptable
    assert "Too easy to guess" in protect.meter_label.text()
    assert not window.create_button.isEnabled()
    assert "too easy to guess" in window.missing.text()

    protect.own.clear()
    QTest.keyClicks(protect.own, "quarry lantern oboe mistral fjord pebble")
    qtbot.waitUntil(
        lambda: protect._rating is not None and protect._rating.acceptable, timeout=5_000
    )
    assert "Strong enough" in protect.meter_label.text()
    assert window.create_button.isEnabled(), window.missing.text()
    assert protect.passphrase == "quarry lantern oboe mistral fjord pebble"


def test_large_packages_warn_and_split_into_parts(qtbot, tmp_path):
    window = make_window(qtbot, settings=Settings(mail_size_limit_mb=1.0))
    add_files(qtbot, window, sample_paths())
    resolve_checks(qtbot, window)
    qtbot.waitUntil(lambda: window.size_banner.isVisible(), timeout=10_000)
    assert "more than the 1 MB" in window.size_banner.label.text()
    click(window.split)
    assert window.split.isChecked()

    outcome = create(qtbot, window)
    assert len(outcome.parts) >= 2
    for part in outcome.parts:
        assert part.stat().st_size * 1.37 <= 1_000_000
    assert f"{len(outcome.parts)} parts" in window.result_page.file_label.text()


@pytest.mark.parametrize("mode", ["pseudonym", "keep"])
def test_reference_code_and_named_referral(qtbot, tmp_path, mode):
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"], SAMPLE["export"]])
    button = window.decide.mode_buttons[mode]
    click(button)
    if mode == "pseudonym":
        resolve_checks(qtbot, window)
        assert "reference code" in window.missing.text()
        QTest.keyClicks(window.decide.pseudonym, "REF-2026-114")
    else:
        # Named referral: files leave unchanged, so there is nothing to check for text.
        assert window.model.unresolved_checks() == []
        assert not window.preview.check_banner.isVisible()
    outcome = create(qtbot, window)
    secret = tmp_path / "passphrase.txt"
    secret.write_text(outcome.passphrase)
    files = open_package(outcome.parts[0], tmp_path / "received", "--passphrase-file", str(secret))
    dicom = next(p for p in files if p.suffix == ".dcm")
    data = dicom.read_bytes()
    if mode == "pseudonym":
        assert b"REF-2026-114" in data
        assert_no_patient(files)
    else:
        assert dicom.name == SAMPLE["intraoral"].name
        assert data == SAMPLE["intraoral"].read_bytes()


def test_note_more_options_new_passphrase_and_copy_reach_the_package(qtbot, tmp_path):
    """The note travels inside the package; a "More options" choice changes what is kept; New
    passphrase and Copy act on what the result page then shows; without a keyring it says so."""
    import json

    import keyring
    from keyring.backends import fail
    from PySide6.QtWidgets import QApplication

    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"]])
    intraoral = entry_named(window, "intraoral")
    select(qtbot, window, intraoral)

    def action_for(field: str) -> str | None:
        table = window.report.table
        rows = range(table.rowCount())
        found = (table.item(r, 1).text() for r in rows if table.item(r, 0).text().startswith(field))
        return next(found, None)

    qtbot.waitUntil(lambda: window.report.table.rowCount() > 0, timeout=15_000)
    assert action_for("PatientSex") != "kept"
    click(window.decide.more)
    assert window.decide.more_box.isVisible()
    click(window.decide.retain_boxes["patient-characteristics"])
    qtbot.waitUntil(lambda: action_for("PatientSex") == "kept", timeout=15_000)

    first = window.protect.passphrase
    click(window.protect.regenerate_button)
    second = window.protect.passphrase
    assert second != first and window.protect.words.words == second.split()
    click(window.protect.copy_button)
    assert QApplication.clipboard().text() == second

    note = "Please assess the periapical lesion on 46 <b>urgent</b>"
    window.protect.note.setPlainText(note)
    keyring.set_keyring(fail.Keyring())  # no keyring: the passphrase cannot be kept
    outcome = create(qtbot, window)
    assert outcome.passphrase_kept_days == 0
    assert "does not keep it" in window.result_page.kept_label.text()
    assert window.result_page.words.words == second.split()

    secret = tmp_path / "passphrase.txt"
    secret.write_text(second)
    files = open_package(outcome.parts[0], tmp_path / "received", "--passphrase-file", str(secret))
    manifest = json.loads(next(p for p in files if p.name == "manifest.json").read_text())
    assert manifest["note"] == note
    received = load(next(p for p in files if p.suffix == ".dcm"))
    assert received.dataset is not None and received.dataset.PatientSex  # kept, as chosen


def test_without_a_keyring_the_app_asks_for_the_practice_key_passphrase(
    qtbot, tmp_path, monkeypatch
):
    """The practice key signs OpenPGP packages; with no keyring holding its passphrase the app
    asks for it (and nothing is made if the user cancels) instead of failing."""
    import keyring
    from keyring.backends import fail
    from PySide6.QtWidgets import QInputDialog

    from dentsend.cli import main
    from dentsend.openpgp import read_package
    from dentsend.settings import load_settings

    keyring.set_keyring(fail.Keyring())
    chosen = tmp_path / "key-pass.txt"
    chosen.write_text("molar incisor canine premolar\n")
    assert main(["keys", "generate", "--name", "Praxis Zahn", "--email", "praxis@example.org",
                 "--passphrase-file", str(chosen)]) == 0  # fmt: skip
    own = load_settings().own_key_fingerprint

    _, secret_key = selftest_key_paths()
    window = make_window(qtbot, demo=True)
    add_files(qtbot, window, [SAMPLE["bitewing"]])
    click(window.protect.pgp_button)
    qtbot.waitUntil(lambda: window.protect.cert_list.count() == 1, timeout=10_000)
    window.protect.cert_list.item(0).setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(window.create_button.isEnabled, timeout=5_000)

    asked: list[str] = []
    answer = ("", False)

    def get_text(parent, title, label, echo):
        asked.append(label)
        return answer

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(get_text))
    click(window.create_button)  # cancelled: nothing made
    assert len(asked) == 1 and own[-4:] in asked[0].replace(" ", "")
    assert window.pages.currentIndex() == 0 and window.package_task is None

    answer = ("molar incisor canine premolar", True)
    outcome = create(qtbot, window)
    assert len(asked) == 2
    opened = read_package(
        outcome.parts[0].read_bytes(),
        key=secret_key,
        key_passphrase=SELFTEST_PASSPHRASE,
    )
    assert opened.signature == "good" and own in (opened.signer or opened.signer_key or "")


def test_files_arriving_while_the_result_is_shown_wait_for_the_next_package(qtbot):
    """Another start (or Finder) may hand over files at any time; none gets lost."""
    window = make_window(qtbot)
    add_files(qtbot, window, [SAMPLE["intraoral"]])
    create(qtbot, window)
    assert window.pages.currentWidget() is window.result_page
    window.add_paths([SAMPLE["bitewing"]])
    assert [e.path for e in window.model.entries] == [SAMPLE["intraoral"]]
    assert "next package" in window.statusBar().currentMessage()

    QTest.mouseClick(window.result_page.start_over_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: [e.path for e in window.model.entries] == [SAMPLE["bitewing"]]
        and window.model.loading_count == 0,
        timeout=20_000,
    )
