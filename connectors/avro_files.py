"""Avro object container files per route, written so readers never see a partial file.

Every file is written under ``DIR/.tmp/<uuid>.avro``, closed, then renamed into
``DIR/<route>/``; readers list the route folders and skip ``.tmp``, so they see a file
complete or not at all (a local rename is atomic; on GCS/S3 the object appears whole).
Any filesystem Beam supports works by path (local, ``gs://``, ``s3://``) through
``apache_beam.io.filesystems``.

Two layouts, chosen by ``bounded``:

- **Streaming** (``bounded=False``): records are put in fixed windows of
  ``window_seconds`` and each bundle writes its records per route and window into
  ``part-<window start>-<digest>.avro``, rolling to a new file past ``max_file_bytes``.
  The digest is over the records' ids and provenance, so re-processing the same bundle
  replaces its file. Files are complete (closed and renamed) before the bundle ends; the
  Kafka source commits offsets only after that (bundle finalization): at-least-once.
  No GroupByKey: on the FnApiRunner it would wait for the end of an unbounded input.
- **Bounded** (``bounded=True``: ``newsbeam process``, replays): records are sharded by
  ``crc32(id) % shards``, grouped, sorted by id and written to
  ``part-<shard>-of-<shards>.avro``; shard files of an earlier run that this run did not
  write are deleted at the end. Rerunning the same input replaces the files exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import fastavro
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import FixedWindows, GlobalWindow, GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue
from fastavro.write import Writer

import schemas
from schemas.routes import RoutedRecord

__all__ = [
    "CODECS",
    "WriteAvroFiles",
    "list_avro_files",
    "read_avro_records",
    "shard_file_name",
]

_log = logging.getLogger(__name__)
TMP_DIR = ".tmp"
CODECS = ("null", "deflate", "snappy", "zstandard", "bzip2", "xz")
_SHARD_PATTERN = "part-?????-of-?????.avro"
STALE_TEMPORARY_SECONDS = 3600.0  # a temporary file this old belongs to a dead writer


def list_avro_files(root: str) -> list[str]:
    """Finished ``.avro`` files under ``root`` (a file, or a directory searched recursively)."""
    if root.endswith(".avro"):
        return [root]
    base = root.rstrip("/")
    patterns = ([FileSystems.join(base, "**.avro")] if "://" in root
                else [f"{base}/*.avro", f"{base}/**/*.avro"])
    found = set()
    for result in FileSystems.match(patterns):
        found.update(m.path for m in result.metadata_list)
    return sorted(p for p in found if f"/{TMP_DIR}/" not in p)


def read_avro_records(path: str) -> Iterator[dict[str, Any]]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        yield from fastavro.reader(handle)


def shard_file_name(shard: int, shards: int) -> str:
    return f"part-{shard:05d}-of-{shards:05d}.avro"


def _window_label(window: Any) -> str:
    if isinstance(window, GlobalWindow) or not hasattr(window, "start"):
        return "global"
    try:
        start = datetime.fromtimestamp(window.start.micros / 1e6, tz=UTC)
    except (ValueError, OverflowError, OSError):  # e.g. records without a timestamp
        return "notime"
    return start.strftime("%Y%m%dT%H%M%S")


def _identity(record: RoutedRecord) -> str:
    return json.dumps(record.record.get("provenance"), sort_keys=True, default=str)


def _digest(identities: Iterable[tuple[str, str]]) -> str:
    hasher = hashlib.sha256()
    for key, provenance in sorted(identities):
        hasher.update(key.encode())
        hasher.update(provenance.encode())
    return hasher.hexdigest()[:20]


def _ensure_dir(path: str) -> None:
    if not FileSystems.exists(path):
        try:
            FileSystems.mkdirs(path)
        except OSError:  # created concurrently by another worker
            if not FileSystems.exists(path):
                raise


class _CountingHandle:
    """Passes writes through and counts bytes: how big the file is so far."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        self.handle.write(data)
        return len(data)

    def flush(self) -> None:
        self.handle.flush()

    def seekable(self) -> bool:  # fastavro asks to decide whether it may append
        return False


@dataclass
class _OpenFile:
    """A container file being written under ``.tmp``, renamed when complete."""

    output_dir: str
    route: str
    schema: str
    codec: str
    block_bytes: int = 16000  # Avro block size: the size is known to within one block
    temporary: str = ""
    identities: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.temporary = FileSystems.join(self.output_dir, TMP_DIR, f"{uuid.uuid4().hex}.avro")
        self._handle = FileSystems.create(self.temporary,
                                          compression_type=CompressionTypes.UNCOMPRESSED)
        self._counting = _CountingHandle(self._handle)
        self._writer = Writer(self._counting, schemas.parsed_schema(self.schema),
                              codec=self.codec, sync_interval=self.block_bytes,
                              metadata={"newsbeam.schema": self.schema})

    def write(self, record: RoutedRecord) -> None:
        if record.schema != self.schema:
            raise ValueError(f"route {self.route!r} mixes {self.schema!r} and "
                             f"{record.schema!r} records")
        self._writer.write(record.record)
        self.identities.append((record.key, _identity(record)))

    @property
    def size(self) -> int:
        return self._counting.written

    def publish(self, name: str) -> str:
        """Close, then rename into the route folder; returns the final path."""
        self._writer.flush()
        self._handle.close()
        final = FileSystems.join(self.output_dir, self.route, name)
        FileSystems.rename([self.temporary], [final])  # replaces an earlier copy
        return final

    def abandon(self) -> None:
        try:
            self._handle.close()
            FileSystems.delete([self.temporary])
        except OSError as exc:  # left in .tmp, invisible to readers, swept later
            _log.warning("could not remove temporary file", extra={
                "path": self.temporary, "error": str(exc)})


def _prepare(output_dir: str) -> None:
    _ensure_dir(FileSystems.join(output_dir, TMP_DIR))


def _sweep_stale_temporaries(output_dir: str) -> None:
    """Delete temporaries of writers that died (older than ``STALE_TEMPORARY_SECONDS``)."""
    pattern = FileSystems.join(output_dir, TMP_DIR, "*.avro")
    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    try:
        stale = [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list
                 if m.last_updated_in_seconds and m.last_updated_in_seconds < cutoff]
        if stale:
            FileSystems.delete(stale)
            _log.info("removed stale temporary files", extra={"count": len(stale)})
    except OSError as exc:
        _log.warning("could not sweep temporary files", extra={"error": str(exc)})


class _WriteBundleFilesFn(beam.DoFn):
    """Streaming: per bundle, one file per route and window (more past ``max_file_bytes``)."""

    def __init__(self, output_dir: str, codec: str, max_file_bytes: int) -> None:
        self._output_dir = output_dir.rstrip("/")
        self._codec = codec
        self._max_file_bytes = max_file_bytes

    def setup(self) -> None:
        _prepare(self._output_dir)
        _sweep_stale_temporaries(self._output_dir)
        self._open: dict[tuple[str, Any], _OpenFile] = {}
        self._routes_ready: set[str] = set()

    def start_bundle(self) -> None:
        for current in self._open.values():  # left by a failed bundle: never published
            current.abandon()
        self._open = {}

    def process(self, record: RoutedRecord, window: Any = beam.DoFn.WindowParam,
                ) -> Iterator[str]:
        slot = (record.route, window)
        current = self._open.get(slot)
        if current is None:
            current = self._open[slot] = _OpenFile(
                self._output_dir, record.route, record.schema, self._codec,
                block_bytes=min(16000, max(512, self._max_file_bytes // 8)))
        current.write(record)
        if current.size >= self._max_file_bytes:
            del self._open[slot]
            yield self._publish(current, window)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for (_, window), current in self._open.items():
            yield WindowedValue(self._publish(current, window), window.max_timestamp(), [window])
        self._open = {}

    def _publish(self, current: _OpenFile, window: Any) -> str:
        if current.route not in self._routes_ready:
            _ensure_dir(FileSystems.join(self._output_dir, current.route))
            self._routes_ready.add(current.route)
        name = f"part-{_window_label(window)}-{_digest(current.identities)}.avro"
        path = current.publish(name)
        beam.metrics.Metrics.counter("avro_files", f"records.{current.route}").inc(
            len(current.identities))
        beam.metrics.Metrics.counter("avro_files", "files").inc()
        return path

    def teardown(self) -> None:
        for current in getattr(self, "_open", {}).values():  # a failed bundle's files
            current.abandon()


class _WriteShardFn(beam.DoFn):
    """Bounded: one ``(route, shard)`` group -> ``part-<shard>-of-<shards>.avro``, id order."""

    def __init__(self, output_dir: str, codec: str, shards: int) -> None:
        self._output_dir = output_dir.rstrip("/")
        self._codec = codec
        self._shards = shards

    def setup(self) -> None:
        _prepare(self._output_dir)

    def process(self, group: tuple[tuple[str, int], Iterable[RoutedRecord]]) -> Iterator[str]:
        (route, shard), records = group
        ordered = sorted(records, key=lambda r: (
            r.key, _identity(r), json.dumps(r.record, sort_keys=True, default=repr)))
        _ensure_dir(FileSystems.join(self._output_dir, route))
        current = _OpenFile(self._output_dir, route, ordered[0].schema, self._codec)
        try:
            for record in ordered:
                current.write(record)
        except Exception:
            current.abandon()
            raise
        path = current.publish(shard_file_name(shard, self._shards))
        beam.metrics.Metrics.counter("avro_files", f"records.{route}").inc(len(ordered))
        beam.metrics.Metrics.counter("avro_files", "files").inc()
        yield path


class _RemoveStaleShardsFn(beam.DoFn):
    """After every shard is written: delete shard files this run did not write."""

    def __init__(self, output_dir: str) -> None:
        self._output_dir = output_dir.rstrip("/")

    def process(self, written: list[str]) -> Iterator[str]:
        keep = set(written)
        pattern = FileSystems.join(self._output_dir, "*", _SHARD_PATTERN)
        stale = [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list
                 if m.path not in keep and f"/{TMP_DIR}/" not in m.path]
        if stale:
            FileSystems.delete(stale)
            _log.info("removed shard files of an earlier run", extra={"count": len(stale)})
        yield from stale


def _shard_of(record: RoutedRecord, shards: int) -> tuple[tuple[str, int], RoutedRecord]:
    return (record.route, zlib.crc32(record.key.encode()) % shards), record


class WriteAvroFiles(beam.PTransform):
    """``RoutedRecord``s -> finished Avro files under ``output_dir/<route>/``; yields paths.

    ``bounded`` picks the layout (see the module doc); streaming windows are
    ``window_seconds`` long (0 keeps the input's windows), files roll past
    ``max_file_bytes``; bounded runs write ``shards`` files per route at most.
    """

    def __init__(self, output_dir: str, codec: str = "deflate", *, bounded: bool = False,
                 shards: int = 4, window_seconds: float = 60.0,
                 max_file_bytes: int = 64 * 1024 * 1024) -> None:
        super().__init__()
        if codec not in CODECS:
            raise ValueError(f"unsupported Avro codec {codec!r}; choose one of {CODECS}")
        if not 1 <= shards <= 99999:
            raise ValueError(f"shards must be between 1 and 99999, got {shards}")
        if window_seconds < 0:
            raise ValueError("window_seconds must be >= 0 (0: keep the input's windows)")
        if max_file_bytes < 1024:
            raise ValueError("max_file_bytes must be at least 1024")
        self._output_dir = output_dir
        self._codec = codec
        self._bounded = bounded
        self._shards = shards
        self._window_seconds = window_seconds
        self._max_file_bytes = max_file_bytes

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        if self._bounded:
            written = (
                records
                | "GlobalWindow" >> beam.WindowInto(GlobalWindows())
                | "ShardById" >> beam.Map(_shard_of, self._shards)
                | "GroupShards" >> beam.GroupByKey()
                | "WriteShardFiles" >> beam.ParDo(
                    _WriteShardFn(self._output_dir, self._codec, self._shards),
                ).with_output_types(str))
            _ = (written
                 | "CollectWritten" >> beam.combiners.ToList()
                 | "RemoveStaleShards" >> beam.ParDo(_RemoveStaleShardsFn(self._output_dir)))
            return written
        if self._window_seconds:
            records = records | "FixedWindows" >> beam.WindowInto(
                FixedWindows(self._window_seconds))
        return records | "WriteBundleFiles" >> beam.ParDo(
            _WriteBundleFilesFn(self._output_dir, self._codec, self._max_file_bytes),
        ).with_output_types(str)
