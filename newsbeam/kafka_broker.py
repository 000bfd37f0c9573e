"""Apache Kafka (KRaft, one node) from Maven Central, for tests and for developers.

``newsbeam broker --engine kafka`` and the test fixtures start the real broker: the
``org.apache.kafka:kafka_2.13`` jars and their runtime dependencies are resolved with
Maven into the local repository on first use (``~/.m2``; the classpath is cached under
``~/.cache/newsbeam/``), the storage directory is formatted, and ``kafka.Kafka`` runs on
free loopback ports. Unlike the embedded broker it keeps its data on disk
(``log_dir``), so it can be killed and restarted on the same data. Needs Java 17+ and
Maven; a clear ``BrokerNotAvailable`` says which is missing.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from newsbeam.broker import BrokerNotAvailable, die_with_parent, free_port

__all__ = ["KAFKA_VERSION", "ApacheKafkaBroker", "kafka_classpath"]

_log = logging.getLogger(__name__)

KAFKA_VERSION = "4.4.0"
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "newsbeam"

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.newsbeam.local</groupId>
  <artifactId>apache-kafka</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version></dependency>
  </dependencies>
</project>
"""


def _tools() -> tuple[str, str]:
    java, mvn = shutil.which("java"), shutil.which("mvn")
    missing = [name for name, path in (("java", java), ("mvn", mvn)) if not path]
    if missing:
        raise BrokerNotAvailable(
            f"Apache Kafka needs {' and '.join(missing)} on PATH (Java 17+ and Maven, to fetch "
            f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}); the embedded broker needs neither")
    return java, mvn  # type: ignore[return-value]


def kafka_classpath(version: str = KAFKA_VERSION) -> str:
    """The broker's classpath, resolved with Maven once and cached."""
    _, mvn = _tools()
    home = _CACHE / f"kafka-{version}"
    cached = home / "classpath.txt"
    if cached.exists():
        classpath = cached.read_text().strip()
        if all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(version=version))
    _log.info("resolving Apache Kafka with Maven", extra={"version": version})
    done = subprocess.run(
        [mvn, "-q", "-B", "-f", str(home / "pom.xml"), "dependency:build-classpath",
         f"-Dmdep.outputFile={cached}.part"], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise BrokerNotAvailable(f"Maven could not resolve Apache Kafka {version}:\n"
                                 f"{(done.stdout + done.stderr)[-3000:]}")
    Path(f"{cached}.part").rename(cached)
    return cached.read_text().strip()


def _cluster_id() -> str:
    """A random cluster id as Kafka's ``Uuid.randomUuid()`` makes them: URL-safe base64
    of 16 random bytes, never starting with ``-`` (``kafka-storage format -t -...`` would
    take it for an option: one start in 64 failed so)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


class ApacheKafkaBroker:
    """One KRaft node (broker and controller) on loopback; a context manager.

    ``log_dir``: where the data lives (a fresh temporary folder by default, removed on
    ``stop``); give the same folder again to restart on existing data. ``properties`` are
    added to (or override) the server configuration, e.g. listeners with SASL/TLS.
    """

    def __init__(self, port: int | None = None, *, log_dir: str | Path | None = None,
                 properties: Mapping[str, str] | None = None,
                 startup_timeout: float = 90.0, heap: str = "512m") -> None:
        self.port = port or free_port()
        self.controller_port = free_port()
        self._owned_dir = log_dir is None
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="newsbeam-kafka-"))
        self._properties = dict(properties or {})
        self.startup_timeout = startup_timeout
        self._heap = heap
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def server_properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        props.update(self._properties)
        return props

    def _write_config(self) -> Path:
        path = self.log_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in self.server_properties().items()))
        return path

    def _java(self, main: str, *args: str, **kwargs) -> subprocess.Popen[bytes]:
        java, _ = _tools()
        log4j = self.log_dir / "log4j.properties"
        if not log4j.exists():
            log4j.write_text("log4j.rootLogger=WARN, file\n"
                             "log4j.appender.file=org.apache.log4j.FileAppender\n"
                             f"log4j.appender.file.File={self.log_dir / 'server.log'}\n"
                             "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
                             "log4j.appender.file.layout.ConversionPattern=%d %p %c %m%n\n")
        command = [java, f"-Xmx{self._heap}", f"-Dlog4j.configuration=file:{log4j}",
                   "-cp", kafka_classpath(), main, *args]
        return subprocess.Popen(command, start_new_session=True, preexec_fn=die_with_parent,
                                **kwargs)

    def tool(self, main: str, *args: str, timeout: float = 120.0) -> str:
        """Run one of Kafka's own command-line tools from the broker's jars (e.g.
        ``org.apache.kafka.tools.consumer.group.ConsumerGroupCommand``, what
        ``kafka-consumer-groups.sh`` runs) against this broker; its standard output.
        Raises ``RuntimeError`` with the tool's output when it fails."""
        process = self._java(main, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise RuntimeError(f"{main} {' '.join(args)} exited {process.returncode}:\n"
                               f"{(out + err).decode(errors='replace')[-3000:]}")
        return out.decode(errors="replace")

    def start(self) -> ApacheKafkaBroker:
        config = self._write_config()
        if not (self.log_dir / "data" / "meta.properties").exists():
            formatting = self._java("kafka.tools.StorageTool", "format", "-t", _cluster_id(),
                                    "-c", str(config), *self._format_arguments(),
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            output, _ = formatting.communicate(timeout=120)
            if formatting.returncode != 0:
                raise BrokerNotAvailable(f"formatting {self.log_dir} failed:\n"
                                         f"{output.decode(errors='replace')[-2000:]}")
        self._process = self._java("kafka.Kafka", str(config), stdout=subprocess.DEVNULL,
                                   stderr=(self.log_dir / "stderr.log").open("ab"))
        self._wait_until_ready()
        _log.info("Apache Kafka started", extra={"bootstrap_servers": self.bootstrap_servers,
                                                 "log_dir": str(self.log_dir)})
        return self

    def _wait_until_ready(self) -> None:
        from kafka.errors import KafkaError

        from connectors.kafka.settings import KafkaClientSettings

        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerNotAvailable(
                    f"Apache Kafka exited with code {self._process.returncode} while starting; "
                    f"see {self.log_dir / 'server.log'} and {self.log_dir / 'stderr.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                admin = KafkaClientSettings(
                    bootstrap_servers=self.bootstrap_servers,
                    properties=self._client_security()).admin(request_timeout_ms=5000)
                try:
                    admin.describe_cluster()
                finally:
                    admin.close()
                return
            except (OSError, KafkaError):
                time.sleep(0.3)
        self.stop()
        raise BrokerNotAvailable(f"Apache Kafka did not answer on port {self.port} within "
                                 f"{self.startup_timeout:.0f}s; see {self.log_dir / 'server.log'}")

    def _format_arguments(self) -> list[str]:
        """Extra ``kafka-storage format`` arguments, e.g. ``--add-scram`` credentials that
        must exist before the first start (none)."""
        return []

    def _client_security(self) -> dict[str, str]:
        """Client settings the readiness probe needs when the listener is secured (none)."""
        return {}

    def kill(self) -> None:
        """SIGKILL the broker (fault trials): the data stays in ``log_dir``."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)
        self._process = None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process = None
        if self._owned_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def wait(self) -> int:
        assert self._process is not None, "broker not started"
        return self._process.wait()

    def __enter__(self) -> ApacheKafkaBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
