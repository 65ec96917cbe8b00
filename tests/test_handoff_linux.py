"""Linux hand-off against the real xdg-utils: a desktop entry installed in a temporary
XDG_DATA_HOME, made the default mailto handler with ``xdg-mime default``, whose Exec is a recorder
script. What the recorder receives is what Thunderbird, Evolution or KMail would receive.

Also the reveal: a real ``gdbus``/``dbus-send`` call to a FileManager1 service on a private
session bus, and the ``xdg-open`` folder fallback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from conftest import require_tool
from dentsend.handoff import compose_draft, hand_off, handoff_chain
from dentsend.handoff.draft import Draft
from dentsend.handoff.linux import (
    classify,
    default_mailto_entry,
    expand_exec,
    find_desktop_file,
    split_exec,
    thunderbird_compose_argument,
)
from dentsend.handoff.reveal import (
    reveal_in_folder,
    show_items_dbus_send_command,
    show_items_gdbus_command,
)
from dentsend.handoff.windows import OpenEmlDraft, SimpleMapi, eml_draft_path
from dentsend.settings import Settings

RECORDER = """#!{python}
import json, pathlib, sys
log = pathlib.Path(__file__).resolve().parent.parent / "calls.jsonl"
with log.open("a", encoding="utf-8") as handle:
    handle.write(json.dumps(sys.argv) + "\\n")
"""


class Desktop:
    """A temporary desktop: XDG folders (from conftest's isolated_home), recorder programs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        self.calls = root / "calls.jsonl"
        self.applications = Path(_env("XDG_DATA_HOME")) / "applications"
        self.applications.mkdir(parents=True, exist_ok=True)

    def program(self, name: str) -> Path:
        path = self.bin / name
        path.write_text(RECORDER.format(python=sys.executable))
        path.chmod(0o755)
        return path

    def install(self, desktop_id: str, exec_line: str, mime: str, *extra: str) -> None:
        (self.applications / desktop_id).write_text(
            "[Desktop Entry]\nType=Application\nName=Recorder\nName[de]=Rekorder\n"
            f"Exec={exec_line}\nMimeType={mime};\n" + "".join(f"{line}\n" for line in extra)
        )
        subprocess.run(["xdg-mime", "default", desktop_id, mime], check=True)

    def wait_for_calls(self, count: int = 1, timeout: float = 10.0) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.calls.exists():
                lines = self.calls.read_text().splitlines()
                if len(lines) >= count:
                    return [json.loads(line) for line in lines]
            time.sleep(0.05)
        raise AssertionError(f"the recorder was not called {count} time(s)")


def _env(name: str) -> str:
    return os.environ[name]


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Desktop:
    require_tool("xdg-mime")
    # A generic desktop (no GNOME/KDE helpers) with a display, as xdg-utils expects; BROWSER=false
    # so that a failing xdg-open can never start a real browser.
    for var in (
        "XDG_CURRENT_DESKTOP",
        "DESKTOP_SESSION",
        "KDE_FULL_SESSION",
        "GNOME_DESKTOP_SESSION_ID",
        "MAILER",
    ):
        monkeypatch.delenv(var, raising=False)
    # No session bus, not even the developer's own at $XDG_RUNTIME_DIR/bus.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("BROWSER", "false")
    monkeypatch.setenv("XDG_DATA_DIRS", "/usr/local/share:/usr/share")
    return Desktop(tmp_path / "desktop")


@pytest.fixture
def package(tmp_path: Path) -> Path:
    folder = tmp_path / "Documents" / "dentsend" / "outgoing"
    folder.mkdir(parents=True)
    path = folder / "radiographs 2025-03-04, part 'A' #1.html"
    path.write_bytes(b"<!doctype html>ciphertext")
    return path


def _draft(package: Path, to: str = "dr.jones@example.org") -> Draft:
    return compose_draft(
        [package], format="html", settings=Settings(practice_name="Smile Dental"), to=to
    )


def thunderbird_get_args(text: str) -> dict[str, str]:
    """Thunderbird's own parser for the -compose argument (MsgComposeCommands.js GetArgs):
    a quoted value ends only at a quote followed by a comma or the end."""
    separator = "\x01"
    data, quote_char, prev = "", "", ""
    for index, char in enumerate(text):
        following = text[index + 1] if index + 1 < len(text) else ""
        if char == quote_char and following in (",", ""):
            quote_char = ""
            data += char
        elif char in "'\"" and prev == "=":
            quote_char = quote_char or char
            data += char
        elif char == ",":
            data += separator if quote_char == "" else char
        else:
            data += char
        prev = char
    args = {}
    for item in data.split(separator):
        name, _, value = item.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        args[name] = value
    return args


def test_thunderbird_like_default_gets_compose_with_attachment(
    desktop: Desktop, package: Path
) -> None:
    program = desktop.program("thunderbird")
    desktop.install("recorder.desktop", f"{program} %u", "x-scheme-handler/mailto")
    draft = _draft(package)
    result = hand_off(draft, settings=Settings())
    assert result.method == "thunderbird" and result.opened_mail
    assert result.subject == draft.subject and result.body == draft.body
    [argv] = desktop.wait_for_calls()
    assert argv[0] == str(program)
    assert argv[1:] == ["-compose", thunderbird_compose_argument(draft)]
    args = thunderbird_get_args(argv[2])
    assert Path(unquote(urlsplit(args["attachment"]).path)) == package
    assert args["to"] == "dr.jones@example.org"
    assert args["subject"] == draft.subject
    assert args["body"].replace("\u2019", "'") == draft.body


def test_evolution_like_default_gets_mailto_with_attach(desktop: Desktop, package: Path) -> None:
    program = desktop.program("evolution")
    desktop.install("recorder.desktop", f"{program} %U", "x-scheme-handler/mailto")
    draft = _draft(package)
    result = hand_off(draft, settings=Settings())
    assert result.method == "evolution" and result.opened_mail
    [argv] = desktop.wait_for_calls()
    assert argv[0] == str(program) and len(argv) == 2
    url = urlsplit(argv[1])
    assert url.scheme == "mailto" and unquote(url.path) == "dr.jones@example.org"
    query = parse_qs(url.query)
    assert query["attach"] == [str(package)]
    assert query["subject"] == [draft.subject]
    assert query["body"] == [draft.body]


def test_kmail_like_default_gets_composer_and_attach(desktop: Desktop, package: Path) -> None:
    program = desktop.program("kmail")
    desktop.install(
        "recorder.desktop", f'{program} -qwindowtitle %c "%u"', "x-scheme-handler/mailto"
    )
    draft = _draft(package)
    result = hand_off(draft, settings=Settings())
    assert result.method == "kmail"
    [argv] = desktop.wait_for_calls()
    assert argv == [
        str(program), "-qwindowtitle", "--composer", f"--subject={draft.subject}",
        f"--body={draft.body}", f"--attach={package}", "--", "dr.jones@example.org",
    ]  # fmt: skip


def test_unknown_default_goes_through_xdg_email(desktop: Desktop, package: Path) -> None:
    require_tool("xdg-email")
    program = desktop.program("recorder")
    desktop.install("recorder.desktop", f"{program} %u", "x-scheme-handler/mailto")
    draft = _draft(package)
    assert [h.name for h in handoff_chain(Settings())] == ["xdg-email", "reveal"]
    result = hand_off(draft, settings=Settings())
    assert result.method == "xdg-email" and result.opened_mail
    [argv] = desktop.wait_for_calls()
    url = urlsplit(argv[1])
    assert url.scheme == "mailto" and unquote(url.path) == "dr.jones@example.org"
    query = parse_qs(url.query)
    assert query["attach"] == [str(package)]
    assert query["subject"] == [draft.subject]
    # xdg-email turns line ends into CRLF and drops the final one (shell substitution).
    assert query["body"][0].replace("\r\n", "\n") == draft.body.rstrip("\n")


def test_webmail_default_reveals_the_file_with_text_to_paste(
    desktop: Desktop, package: Path
) -> None:
    program = desktop.program("browser")
    desktop.install(
        "recorder.desktop", f"{program} %u", "x-scheme-handler/mailto",
        "Categories=Network;WebBrowser;",
    )  # fmt: skip
    folder_program = desktop.program("files")
    desktop.install("files.desktop", f"{folder_program} %U", "inode/directory")
    require_tool("mimetype")  # how xdg-utils tells a folder's type
    draft = _draft(package)
    assert [h.name for h in handoff_chain(Settings())] == ["reveal"]
    result = hand_off(draft, settings=Settings())
    assert result.method == "reveal" and not result.opened_mail
    assert result.subject == draft.subject and result.body == draft.body
    assert result.revealed == package
    [argv] = desktop.wait_for_calls()
    assert argv[1:] == [str(package.parent)]  # no session bus: the folder is opened


def test_forced_handler_wins_over_the_default(
    desktop: Desktop, package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = desktop.program("evolution")
    desktop.install("recorder.desktop", f"{default} %U", "x-scheme-handler/mailto")
    forced = desktop.program("thunderbird")
    monkeypatch.setenv("PATH", f"{desktop.bin}:{_env('PATH')}")
    (desktop.applications / "thunderbird.desktop").write_text(
        f"[Desktop Entry]\nType=Application\nName=Thunderbird\nExec={forced} %u\n"
    )
    result = hand_off(_draft(package), settings=Settings(mail_handler="thunderbird"))
    assert result.method == "thunderbird"
    [argv] = desktop.wait_for_calls()
    assert argv[0] == str(forced) and argv[1] == "-compose"


def test_failing_client_falls_through_the_chain(desktop: Desktop, package: Path) -> None:
    broken = desktop.bin / "thunderbird"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    desktop.install("recorder.desktop", f"{broken} %u", "x-scheme-handler/mailto")
    folder_program = desktop.program("files")
    desktop.install("files.desktop", f"{folder_program} %U", "inode/directory")
    require_tool("mimetype")
    result = hand_off(_draft(package), settings=Settings(mail_handler="thunderbird"))
    assert result.method == "reveal"
    assert result.tried == ("thunderbird: Thunderbird ended with status 3.",)


def test_eml_draft_opened_with_the_default_program(desktop: Desktop, package: Path) -> None:
    require_tool("mimetype")
    program = desktop.program("mailreader")
    desktop.install("eml.desktop", f"{program} %f", "message/rfc822")
    result = hand_off(_draft(package), settings=Settings(mail_handler="eml"))
    assert result.method == "eml" and result.draft_path is not None
    assert result.draft_path.parent == package.parent  # the persistent outgoing folder
    [argv] = desktop.wait_for_calls()
    assert argv[1:] == [str(result.draft_path)]


def test_mapi_failure_falls_back_to_the_eml_draft(desktop: Desktop, package: Path) -> None:
    """The Windows chain (Simple MAPI, then the .eml draft), run here with xdg-open standing in
    for os.startfile; only the MAPISendMail function is replaced (it fails, code 2)."""
    require_tool("mimetype")
    program = desktop.program("outlook")
    desktop.install("eml.desktop", f"{program} %f", "message/rfc822")
    chain = [
        SimpleMapi(functions=(lambda *args: 2, None)),
        OpenEmlDraft(platform="linux"),
    ]
    draft = _draft(package)
    result = hand_off(draft, settings=Settings(), chain=chain)
    assert result.method == "eml"
    assert result.tried == ("mapi: Simple MAPI failed (general failure, code 2).",)
    assert result.draft_path == eml_draft_path(draft) == package.with_suffix(".eml")
    [argv] = desktop.wait_for_calls()
    assert argv[1:] == [str(result.draft_path)]
    assert result.draft_path.read_bytes().startswith(b"To: dr.jones@example.org\r\n")


def test_desktop_entry_resolution_reads_the_real_files(desktop: Desktop) -> None:
    program = desktop.program("kmail")
    desktop.install(
        "recorder.desktop", f'"{program}" --title "K\\\\$Mail" %u', "x-scheme-handler/mailto"
    )
    entry = default_mailto_entry(dict(os.environ))
    assert entry is not None and entry.path == desktop.applications / "recorder.desktop"
    assert entry.name == "Recorder"  # not the translated Name[de]
    assert entry.exec_argv == (str(program), "--title", "K$Mail", "%u")
    assert classify(entry) == "kmail"
    # A desktop file ID's dashes may stand for sub-folders (kde4/kmail.desktop).
    (desktop.applications / "kde4").mkdir()
    (desktop.applications / "kde4" / "kmail.desktop").write_text("[Desktop Entry]\nExec=kmail\n")
    found = find_desktop_file("kde4-kmail.desktop", dict(os.environ))
    assert found == desktop.applications / "kde4" / "kmail.desktop"
    assert find_desktop_file("../../etc/passwd.desktop", dict(os.environ)) is None


def test_exec_line_parsing_and_expansion() -> None:
    assert split_exec(r'"/opt/My Mail/tb" -P "a \"b\"" %u') == [
        "/opt/My Mail/tb",
        "-P",
        'a "b"',
        "%u",
    ]
    flatpak = split_exec(
        "/usr/bin/flatpak run --command=thunderbird org.mozilla.Thunderbird @@u %u @@"
    )
    expanded = expand_exec(flatpak, ["-compose", "x"])
    assert expanded == [
        "/usr/bin/flatpak", "run", "--command=thunderbird", "org.mozilla.Thunderbird",
        "-compose", "x",
    ]  # fmt: skip
    assert expand_exec(["kmail", "%i", "%c", "100%%"], ["--composer"]) == [
        "kmail", "100%", "--composer",
    ]  # fmt: skip


# ------------------------------------------------------------------ reveal over D-Bus

FILE_MANAGER = """
import json, sys
from jeepney import MessageType, HeaderFields, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

INTROSPECTION = (
    '<node><interface name="org.freedesktop.FileManager1"><method name="ShowItems">'
    '<arg type="as" name="URIs" direction="in"/><arg type="s" name="StartupId" direction="in"/>'
    '</method></interface></node>'
)
connection = open_dbus_connection(bus=sys.argv[1])
connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.FileManager1"))
print("ready", flush=True)
while True:
    message = connection.receive()
    if message.header.message_type != MessageType.method_call:
        continue
    member = message.header.fields.get(HeaderFields.member)
    if member == "ShowItems":
        with open(sys.argv[2], "a") as log:
            log.write(json.dumps(list(message.body)) + "\\n")
        connection.send(new_method_return(message))
    elif member == "Introspect":
        connection.send(new_method_return(message, "s", (INTROSPECTION,)))
    else:
        connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))
"""


@pytest.fixture
def file_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private session bus with a FileManager1 service that records ShowItems calls."""
    require_tool("dbus-daemon")
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    log = tmp_path / "show-items.jsonl"
    service = subprocess.Popen(
        [sys.executable, "-c", FILE_MANAGER, address, str(log)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert service.stdout is not None and service.stdout.readline().strip() == "ready"
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield log
    finally:
        service.kill()
        service.wait()
        bus.kill()
        bus.wait()


def test_reveal_calls_file_manager1_show_items(file_manager: Path, package: Path) -> None:
    require_tool("gdbus")
    assert reveal_in_folder(package, platform="linux")
    calls = [json.loads(line) for line in file_manager.read_text().splitlines()]
    assert calls == [[[package.as_uri()], ""]]


def test_dbus_send_form_of_show_items(file_manager: Path, package: Path) -> None:
    require_tool("dbus-send")
    subprocess.run(show_items_dbus_send_command(package), check=True, capture_output=True)
    require_tool("gdbus")
    subprocess.run(show_items_gdbus_command(package), check=True, capture_output=True)
    calls = [json.loads(line) for line in file_manager.read_text().splitlines()]
    assert calls == [[[package.as_uri()], ""]] * 2
