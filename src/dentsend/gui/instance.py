"""One window per user: a second start hands its files to the running app and exits.

Explorer's "Send with dentsend" starts one process per selected file, and a second click on the
launcher means "show me dentsend", not "open another". The first process listens on a local
socket (on Linux and macOS a Unix socket only the same user may open, on Windows a named pipe);
later ones connect, send the absolute paths as one JSON line, wait for "ok" and exit.

A lock file decides which process serves when several start at once: the one holding it serves,
the others keep trying to hand over until it listens.
"""

from __future__ import annotations

import hashlib
import json
import logging
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


def server_name() -> str:
    """One name per user and settings folder (tests with their own home do not meet)."""
    digest = hashlib.sha256(str(config_dir().resolve()).encode()).hexdigest()[:16]
    return f"dentsend-{digest}"


def hand_over(paths: list[Path], demo: bool, *, timeout_ms: int = 1000) -> bool:
    """Give ``paths`` to a running dentsend; False if none answers."""
    socket = QLocalSocket()
    socket.connectToServer(server_name())
    if not socket.waitForConnected(timeout_ms):
        return False
    message = {"files": [str(p.absolute()) for p in paths], "demo": demo}
    socket.write(json.dumps(message).encode("utf-8") + b"\n")
    socket.waitForBytesWritten(timeout_ms)
    answer = b""
    # The running app answers once it took the files: leaving earlier could lose them.
    while not answer.endswith(b"\n") and len(answer) < len(_ACK) and socket.waitForReadyRead(3000):
        answer += bytes(socket.readAll().data())
    socket.abort()
    return answer == _ACK


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

    def try_serve(self) -> bool:
        """Become the one instance, if no other holds the lock."""
        if not self._lock.tryLock(100):
            return False
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
        socket.deleteLater()

    def _read(self, socket: QLocalSocket) -> None:
        buffer = self._buffers.get(socket)
        if buffer is None:
            return
        buffer += bytes(socket.readAll().data())
        if len(buffer) > _MAX_MESSAGE:
            socket.abort()
            return
        if not buffer.endswith(b"\n"):
            return
        try:
            message = json.loads(buffer.decode("utf-8"))
            files = message["files"]
            demo = message.get("demo", False)
            if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
                raise ValueError("files is not a list of names")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
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
