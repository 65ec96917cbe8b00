"""One window per user: a second start hands its files to the running app and exits.

Explorer's "Send with dentsend" starts one process per selected file, and a second click on the
launcher means "show me dentsend", not "open another". The first process listens on a local
socket (on Linux and macOS a Unix socket only its user may open, on Windows a named pipe with the
same restriction); later ones connect, check that the server is really dentsend, send the
absolute paths as one JSON line, wait for "ok" and exit.

Why the check: socket and pipe names are visible to other users, who could listen under the name
while no dentsend runs, to read file names (often patients' names) or to make dentsend exit. The
server proves it holds a per-user secret (a file only the user can read) by answering a random
challenge with an HMAC; a start that gets no proof opens its own window and sends nothing.

A lock file decides which process serves when several start at once: the one holding it serves,
the others keep trying to hand over until it listens.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from dentsend.settings import config_dir

log = logging.getLogger(__name__)

#: How long a start waits for the running app before it opens its own window.
HAND_OVER_SECONDS = 5.0
_MAX_MESSAGE = 1 << 20
_ACK = b"ok\n"
_NONCE_BYTES = 16
_PROCESS_SECRET = secrets.token_bytes(32)


def server_name() -> str:
    """One name per user and settings folder (tests with their own home do not meet)."""
    digest = hashlib.sha256(str(config_dir().resolve()).encode()).hexdigest()[:16]
    return f"dentsend-{digest}"


def _secret() -> bytes:
    """The user's instance secret: 32 random bytes in a file only the user can read.

    Without it (an unwritable settings folder) each process has its own, so no start trusts
    another: every start opens a window, and nothing breaks.
    """
    path = config_dir() / "instance.key"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        for _ in range(2):
            with (
                contextlib.suppress(FileExistsError),
                os.fdopen(os.open(path, flags, 0o600), "wb") as out,
            ):
                out.write(secrets.token_bytes(32))
            secret = path.read_bytes()
            if len(secret) == 32:
                return secret
            path.unlink()  # cut short by a crash while it was written: make a new one
    except OSError as exc:
        log.info("no instance secret (%s): every start opens its own window", exc.strerror)
    return _PROCESS_SECRET


def _proof(secret: bytes, nonce: bytes) -> bytes:
    return hmac.new(secret, b"dentsend instance\0" + nonce, hashlib.sha256).hexdigest().encode()


def _read_line(socket: QLocalSocket, timeout_ms: int) -> bytes:
    line = b""
    while not line.endswith(b"\n") and len(line) < 256 and socket.waitForReadyRead(timeout_ms):
        line += bytes(socket.readLine(256 - len(line)).data())
    return line


def hand_over(paths: list[Path], demo: bool, *, timeout_ms: int = 1000) -> bool:
    """Give ``paths`` to a running dentsend; False if none answers, or one that cannot prove
    it is this user's dentsend."""
    socket = QLocalSocket()
    socket.connectToServer(server_name())
    if not socket.waitForConnected(timeout_ms):
        return False
    try:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        socket.write(nonce.hex().encode() + b"\n")
        socket.waitForBytesWritten(timeout_ms)
        proof = _read_line(socket, 3000).rstrip(b"\n")
        if not hmac.compare_digest(proof, _proof(_secret(), nonce)):
            log.warning("something that is not dentsend listens under dentsend's name; ignored")
            return False
        message = {"files": [str(p.absolute()) for p in paths], "demo": demo}
        socket.write(json.dumps(message).encode("utf-8") + b"\n")
        socket.waitForBytesWritten(timeout_ms)
        # The running app answers once it took the files: leaving earlier could lose them.
        return _read_line(socket, 3000) == _ACK
    finally:
        socket.abort()


class InstanceServer(QObject):
    """Listens for later starts; emits their files (and whether they asked for the demo)."""

    received = Signal(list, bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = QLockFile(str(config_dir() / "instance.lock"))
        self._lock.setStaleLockTime(0)  # stale only when its process is gone
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytearray] = {}
        self._answered: set[QLocalSocket] = set()
        self._secret = b""

    def try_serve(self) -> bool:
        """Become the one instance, if no other holds the lock."""
        if not self._lock.tryLock(100):
            return False
        self._secret = _secret()
        QLocalServer.removeServer(server_name())  # a socket left by a crash: we hold the lock
        if not self._server.listen(server_name()):
            log.info("cannot listen for later starts: %s", self._server.errorString())
            self._lock.unlock()
            return False
        return True

    def close(self) -> None:
        self._server.close()
        self._lock.unlock()

    def _accept(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            self._buffers[socket] = bytearray()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._forget(s))

    def _forget(self, socket: QLocalSocket) -> None:
        self._buffers.pop(socket, None)
        self._answered.discard(socket)
        socket.deleteLater()

    def _read(self, socket: QLocalSocket) -> None:
        buffer = self._buffers.get(socket)
        if buffer is None:
            return
        buffer += bytes(socket.readAll().data())
        if len(buffer) > _MAX_MESSAGE:
            socket.abort()
            return
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            if socket not in self._answered:
                self._answer_challenge(socket, line)
            else:
                self._take_files(socket, line)
                return

    def _answer_challenge(self, socket: QLocalSocket, line: bytes) -> None:
        try:
            nonce = bytes.fromhex(line.decode("ascii"))
        except ValueError:
            nonce = b""
        if len(nonce) != _NONCE_BYTES:
            socket.abort()
            return
        self._answered.add(socket)
        socket.write(_proof(self._secret, nonce) + b"\n")
        socket.flush()

    def _take_files(self, socket: QLocalSocket, line: bytes) -> None:
        try:
            message = json.loads(line.decode("utf-8"))
            files = message["files"]
            demo = message.get("demo", False)
            if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
                raise ValueError("files is not a list of names")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.info("ignored a malformed message from another start (%s)", type(exc).__name__)
            socket.abort()
            return
        socket.write(_ACK)
        socket.flush()
        socket.disconnectFromServer()
        self.received.emit(files, bool(demo))


def serve_or_hand_over(paths: list[Path], demo: bool) -> InstanceServer | None:
    """The server if this process is the one instance; None once the files were handed to it.

    If neither works within :data:`HAND_OVER_SECONDS` (a hung instance), this process serves
    nobody and opens its own window: the returned server then does not listen.
    """
    server = InstanceServer()
    deadline = time.monotonic() + HAND_OVER_SECONDS
    while True:
        if hand_over(paths, demo, timeout_ms=300):
            server.deleteLater()
            return None
        if server.try_serve() or time.monotonic() > deadline:
            return server
