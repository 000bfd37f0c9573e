"""The tests' one TCP proxy on loopback: it takes the network away from Kafka and gives it back.

``cut()`` resets every open connection (RST, not FIN: what a pulled cable or a dead peer
looks like to a client) and resets each new one at once until ``restore()``. The listening
socket stays open throughout, so the port a broker advertises never changes hands.
``target`` may be set after the proxy starts (the broker advertising the proxy's port is
started second). With ``tls`` the proxy terminates TLS: clients speak TLS, the broker
plain. ``bytes_down`` counts what the broker sent to clients (fetches, mostly), so a test
can cut mid-stream.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import threading
from types import TracebackType

__all__ = ["TcpProxy"]

_HOST = "127.0.0.1"


class TcpProxy:
    def __init__(self, target_port: int = 0, *, port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.target = (_HOST, target_port)
        self._tls = tls
        self._listener = socket.create_server((_HOST, port), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._cut = False
        self.bytes_down = 0
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    @property
    def address(self) -> str:
        return f"{_HOST}:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            open_sockets, self._sockets = list(self._sockets), set()
        _reset(*open_sockets)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        try:  # wakes the thread blocked in accept(); close() alone would not
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self._tls is not None:
            try:
                client.settimeout(10)
                client = self._tls.wrap_socket(client, server_side=True)
                client.settimeout(None)
            except OSError:  # ssl.SSLError included
                _reset(client)
                return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _reset(client)
            return
        with self._lock:
            refused = self._cut
            if not refused:
                self._sockets |= {client, upstream}
        if refused:
            _reset(client, upstream)
            return
        self._pump(client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 1.0)
                pending = [s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
                for sock in set(readable) | set(pending):
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
                    if sock is upstream:
                        with self._lock:
                            self.bytes_down += len(data)
        except (OSError, ValueError):  # ValueError: select() on a socket cut() closed
            return
        finally:
            with self._lock:
                self._sockets -= {client, upstream}
            _reset(client, upstream)


def _reset(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()
