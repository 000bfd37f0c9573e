"""A TCP proxy that can cut the network (and terminate TLS): the broker outage and TLS
tests of the reliability suite.

``cut()`` resets every open connection and refuses new ones (the listening socket is
closed); ``restore()`` listens again on the same port. ``ProxiedBroker`` starts the
embedded broker advertising the proxy's address, so every client connection, including
the ones metadata sends clients to, goes through the proxy.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import struct
import subprocess
import threading

from newsbeam.broker import EmbeddedBroker, find_tansu, free_port

__all__ = ["CuttableProxy", "ProxiedBroker"]


class CuttableProxy:
    def __init__(self, target_port: int, port: int | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.port = port or free_port()
        self._tls = tls
        self._target = ("127.0.0.1", target_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._down = False
        self.bytes_down = 0  # bytes forwarded from the broker to clients (fetches, mostly)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> CuttableProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._down = False
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()/stop()
            if self._down:  # accepted in the instant of the cut
                self._drop(client)
                return
            if self._tls is not None:  # terminate TLS here: clients speak TLS, Tansu plain
                try:
                    client.settimeout(10)
                    client = self._tls.wrap_socket(client, server_side=True)
                    client.settimeout(None)
                except (OSError, ssl.SSLError):
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 1.0)
                pending = [s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
                for sock in set(readable) | set(pending):
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
                    if sock is b:
                        self.bytes_down += len(data)
        except (OSError, ValueError):
            return
        finally:
            self._drop(a, b)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with self._lock:
                self._sockets.discard(sock)
            try:  # RST, not FIN: what a pulled cable or a dead peer looks like to a client
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            except OSError:
                pass

    def cut(self) -> None:
        self._down = True
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close() alone would not
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            open_sockets = list(self._sockets)
        self._drop(*open_sockets)

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()


class ProxiedBroker(EmbeddedBroker):
    """The embedded broker (Tansu) advertising ``advertised_port`` (the proxy's)."""

    def __init__(self, advertised_port: int) -> None:
        super().__init__()
        self.advertised_port = advertised_port

    def start(self) -> ProxiedBroker:
        listen = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        env = {k: v for k, v in os.environ.items()
               if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
        env.setdefault("RUST_LOG", "warn")
        self._process = subprocess.Popen(
            [str(find_tansu()), "broker", "--listener-url", listen,
             "--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True)
        self._wait_until_ready()
        return self
