"""Avro object container files per route, written so readers never see a partial file.

Each bundle's records for a route are written to ``DIR/.tmp/<uuid>.avro``, closed, then
renamed to ``DIR/<route>/part-<window>-<digest>.avro``. The digest is taken over the
records' ids and provenance, so re-running the same input yields the same names and a
rerun replaces a file instead of adding a copy. Works on any filesystem Beam supports
(local paths, ``gs://``, ``s3://``) through ``apache_beam.io.filesystems``.

Files are complete before the bundle ends; the Kafka source commits offsets only after
that (bundle finalization), which is what makes delivery at-least-once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import fastavro
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

import schemas
from pipeline.routing import RoutedRecord

__all__ = ["WriteAvroFiles", "list_avro_files", "read_avro_records", "write_avro_file"]

_log = logging.getLogger(__name__)
TMP_DIR = ".tmp"


def write_avro_file(path: str, schema_name: str, records: Iterable[dict[str, Any]],
                    codec: str = "deflate") -> None:
    """Write a complete container file at ``path`` (any Beam filesystem)."""
    with FileSystems.create(path) as handle:
        fastavro.writer(handle, schemas.parsed_schema(schema_name), records, codec=codec,
                        metadata={"newsbeam.schema": schema_name})


def list_avro_files(root: str) -> list[str]:
    """Finished ``.avro`` files under ``root`` (a file, or a directory searched recursively)."""
    if root.endswith(".avro"):
        return [root]
    pattern = FileSystems.join(root, "**.avro") if "://" in root else f"{root.rstrip('/')}/**/*.avro"
    found = []
    for result in FileSystems.match([pattern]):
        found.extend(m.path for m in result.metadata_list)
    return sorted(p for p in found if f"/{TMP_DIR}/" not in p)


def read_avro_records(path: str) -> Iterator[dict[str, Any]]:
    with FileSystems.open(path) as handle:
        yield from fastavro.reader(handle)


def _window_label(window: Any) -> str:
    if isinstance(window, GlobalWindow) or not hasattr(window, "start"):
        return "global"
    start = datetime.fromtimestamp(window.start.micros / 1e6, tz=UTC)
    return start.strftime("%Y%m%dT%H%M%S")


def _digest(records: list[RoutedRecord]) -> str:
    hasher = hashlib.sha256()
    for rec in sorted(records, key=lambda r: (r.key, json.dumps(r.record["provenance"], default=str))):
        hasher.update(rec.key.encode())
        hasher.update(json.dumps(rec.record["provenance"], sort_keys=True, default=str).encode())
    return hasher.hexdigest()[:20]


def _ensure_dir(path: str) -> None:
    if not FileSystems.exists(path):
        try:
            FileSystems.mkdirs(path)
        except OSError:  # created concurrently by another worker
            if not FileSystems.exists(path):
                raise


class _WriteAvroFilesFn(beam.DoFn):
    def __init__(self, output_dir: str, codec: str) -> None:
        self._output_dir = output_dir.rstrip("/")
        self._codec = codec

    def start_bundle(self) -> None:
        self._pending: dict[tuple[str, Any], list[RoutedRecord]] = defaultdict(list)

    def process(self, record: RoutedRecord, window: Any = beam.DoFn.WindowParam) -> None:
        self._pending[(record.route, window)].append(record)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for (route, window), records in self._pending.items():
            path = self._publish(route, window, records)
            beam.metrics.Metrics.counter("avro_files", f"records.{route}").inc(len(records))
            yield WindowedValue(path, window.max_timestamp(), [window])
        self._pending.clear()

    def _publish(self, route: str, window: Any, records: list[RoutedRecord]) -> str:
        schema_name = records[0].schema
        final = FileSystems.join(
            self._output_dir, route, f"part-{_window_label(window)}-{_digest(records)}.avro")
        temporary = FileSystems.join(self._output_dir, TMP_DIR, f"{uuid.uuid4().hex}.avro")
        _ensure_dir(FileSystems.join(self._output_dir, TMP_DIR))
        _ensure_dir(FileSystems.join(self._output_dir, route))
        write_avro_file(temporary, schema_name, (r.record for r in records), self._codec)
        if FileSystems.exists(final):
            FileSystems.delete([final])
        FileSystems.rename([temporary], [final])
        _log.debug("wrote avro file", extra={"path": final, "records": len(records)})
        return final


class WriteAvroFiles(beam.PTransform):
    """``RoutedRecord``s -> finished Avro files under ``output_dir/<route>/``; yields their paths."""

    def __init__(self, output_dir: str, codec: str = "deflate") -> None:
        super().__init__()
        if codec not in ("null", "deflate", "snappy", "zstandard", "bzip2", "xz"):
            raise ValueError(f"unsupported Avro codec {codec!r}")
        self._output_dir = output_dir
        self._codec = codec

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return records | beam.ParDo(_WriteAvroFilesFn(self._output_dir, self._codec))
