"""Shared pieces of the reliability suite: articles, a live producer, pipeline runs, audits.

Every test here drives the real ``newsbeam run`` (a subprocess, killed or cut off from the
broker as a real deployment would be) against a real Kafka-protocol broker, then reads the
Avro files back and audits them offset by offset. Figures are written as JSON under
``build/reliability/`` (``$NEWSBEAM_RELIABILITY_DIR``) for ``docs/RELIABILITY.md``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaProducer

from connectors.avro_files import list_avro_files, read_avro_records
from connectors.kafka.settings import KafkaClientSettings
from connectors.kafka.topics import ensure_topic

__all__ = ["REPO", "Audit", "CommittedOffsets", "LiveProducer", "PipelineRun", "article_value",
           "audit", "figures_dir", "new_topic", "publish", "run_args", "tail", "write_figures"]

REPO = Path(__file__).resolve().parents[2]
NEWSBEAM = [sys.executable, "-m", "newsbeam.cli"]

_WORDS = (
    "the of and to in is that it was for on are with as they at be this from have or by "
    "had not but what all were when we there can an which their said if do will each about "
    "how up out them then she many some so these would other into has more her two like him "
    "see time could no make than first been its who now people made over did down only way "
    "use may long little very after called just where most know council harbour minister "
    "village teacher museum river winter market bridge station library engineer farmer "
    "doctor festival budget hospital railway company school theatre garden"
).split()


def figures_dir() -> Path:
    path = Path(os.environ.get("NEWSBEAM_RELIABILITY_DIR", REPO / "build" / "reliability"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_figures(name: str, figures: dict) -> None:
    """Keep a test's figures (``build/reliability/<name>.json``) for the documentation."""
    figures = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
    (figures_dir() / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True))


def article_value(rng: random.Random, serial: int, run: str) -> bytes:
    """A distinct, well-formed article: prose long and dense enough to survive cleaning."""
    sentences = []
    for _ in range(rng.randint(4, 7)):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(14, 24))]
        sentences.append(" ".join(words).capitalize() + ".")
    body = "\n\n".join(" ".join(sentences[i:i + 2]) for i in range(0, len(sentences), 2))
    article = {"id": f"{run}-{serial:06d}", "url": f"https://news.example/{run}/{serial}",
               "title": f"Report {serial} from the {rng.choice(_WORDS)} desk",
               "body": f"{body}\n\nSerial {serial} of run {run}.", "language": "en"}
    return json.dumps(article).encode()


def new_topic(bootstrap_servers: str, prefix: str, partitions: int = 2) -> str:
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ensure_topic(KafkaClientSettings(bootstrap_servers=bootstrap_servers), topic, partitions)
    return topic


class LiveProducer:
    """Produces articles at a steady rate from a thread; remembers every acknowledged offset.

    ``paused`` holds production (e.g. while the test cuts the network); ``stop`` flushes.
    """

    def __init__(self, bootstrap_servers: str, topic: str, *, rate: float, seed: int,
                 run: str, **config: object) -> None:
        self._producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all",
                                       retries=10, linger_ms=5, **config)
        self._topic, self._rate, self._run = topic, rate, run
        self._rng = random.Random(seed)
        self.acked: set[tuple[int, int]] = set()
        self.failed: list[str] = []
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._serial = 0
        self._thread = threading.Thread(target=self._loop, name="live-producer", daemon=True)

    def start(self) -> LiveProducer:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.paused.is_set():
                time.sleep(0.05)
                continue
            self._serial += 1
            future = self._producer.send(self._topic, value=article_value(
                self._rng, self._serial, self._run))
            future.add_callback(self._acked)
            future.add_errback(lambda exc: self.failed.append(repr(exc)))
            time.sleep(1.0 / self._rate)

    def _acked(self, meta) -> None:
        with self._lock:
            self.acked.add((meta.partition, meta.offset))

    def stop(self) -> set[tuple[int, int]]:
        self._stop.set()
        self._thread.join(timeout=10)
        self._producer.flush(timeout=60)
        self._producer.close(timeout=10)
        assert not self.failed, f"the test's own producer failed: {self.failed[:3]}"
        return set(self.acked)


@dataclass
class PipelineRun:
    """A ``newsbeam run`` subprocess in its own session (so SIGKILL reaches all of it)."""

    args: Sequence[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    process: subprocess.Popen = field(init=False)

    def __post_init__(self) -> None:
        self._log_handle = self.log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen([*NEWSBEAM, "--log-level", self.log_level, "run",
                                         *self.args],
                                        stdout=self._log_handle, stderr=subprocess.STDOUT,
                                        cwd=REPO, env=env, start_new_session=True)

    def kill(self) -> int:
        """SIGKILL the whole process group: no cleanup, no finalization, no flush."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        code = self.process.wait(timeout=30)
        self._log_handle.close()
        return code

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"newsbeam run did not finish within {timeout:.0f}s; "
                                 f"log: {self.log}\n{tail(self.log)}") from None
        self._log_handle.close()
        return code


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_args(broker_address: str, topic: str, out: Path, group: str, *extra: str) -> list[str]:
    return ["--bootstrap-servers", broker_address, "--topic", topic, "--group-id", group,
            "--output-dir", str(out), *extra]


@dataclass
class Audit:
    """What the output directory holds, offset by offset."""

    ids_by_offset: dict[tuple[int, int], set[str]]
    copies_by_offset: dict[tuple[int, int], int]  # records per offset within one route
    dead_letters: dict[tuple[int, int], tuple[str, str]]  # offset -> (stage, error_class)
    records: int
    files: int

    def missing(self, produced: set[tuple[int, int]]) -> set[tuple[int, int]]:
        return produced - set(self.ids_by_offset)

    @property
    def conflicting(self) -> dict[tuple[int, int], set[str]]:
        """Offsets that came out under two different ids: never allowed."""
        return {k: v for k, v in self.ids_by_offset.items() if len(v) > 1}

    @property
    def redelivered(self) -> int:
        """Extra copies of an offset in one route (at-least-once re-processing)."""
        return sum(n - 1 for n in self.copies_by_offset.values() if n > 1)


def audit(out: Path, topic: str) -> Audit:
    ids: dict[tuple[int, int], set[str]] = {}
    per_route: dict[tuple[str, int, int], int] = {}
    letters: dict[tuple[int, int], tuple[str, str]] = {}
    records = 0
    files = list_avro_files(str(out))
    for path in files:
        route = Path(path).parent.name
        for record in read_avro_records(path):
            records += 1
            prov = record["provenance"]
            assert prov["topic"] == topic, f"record from another topic in {path}"
            position = (prov["partition"], prov["offset"])
            if route == "dead_letter":
                letters[position] = (record["stage"], record["error_class"])
                # a dead letter's identity is the offset itself (its id hashes stage+offset)
                identity = f"dead-letter:{record['stage']}"
            else:
                identity = record["id"]
            ids.setdefault(position, set()).add(identity)
            slot = (route, *position)
            per_route[slot] = per_route.get(slot, 0) + 1
    copies: dict[tuple[int, int], int] = {}
    for (_, partition, offset), count in per_route.items():
        key = (partition, offset)
        copies[key] = max(copies.get(key, 0), count)
    return Audit(ids, copies, letters, records, len(files))


class CommittedOffsets:
    """Reads a consumer group's committed offsets (without joining the group)."""

    def __init__(self, bootstrap_servers: str, group: str, topic: str, partitions: int) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group,
                                       enable_auto_commit=False)
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]

    def read(self) -> dict[int, int]:
        found = {}
        for tp in self._partitions:
            offset = self._consumer.committed(tp)
            if offset is not None:
                found[tp.partition] = offset
        return found

    def close(self) -> None:
        self._consumer.close()


def publish(bootstrap_servers: str, topic: str, values: Sequence[bytes | None], *,
            keys: Sequence[bytes | None] | None = None,
            timestamps_ms: Sequence[int | None] | None = None,
            headers: Sequence[list[tuple[str, bytes]] | None] | None = None,
            **config: object) -> list[tuple[int, int]]:
    """Send each value (acks=all); returns the acknowledged ``(partition, offset)``s in order."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", retries=5,
                             linger_ms=5, **config)
    try:
        futures = [producer.send(topic, value=value,
                                 key=keys[i] if keys else None,
                                 timestamp_ms=timestamps_ms[i] if timestamps_ms else None,
                                 headers=(headers[i] or []) if headers else None)
                   for i, value in enumerate(values)]
        producer.flush(timeout=60)
        return [(m.partition, m.offset) for m in (f.get(timeout=60) for f in futures)]
    finally:
        producer.close(timeout=10)
