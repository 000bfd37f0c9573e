"""Deduplication of a bounded run (files, replays): the streaming decisions, spread out.

``deduplicate_split_by_story`` reaches exactly the decisions of one ``DedupIndex`` fed the whole
run in ``replay_order`` (what ``DeduplicateArticles`` decides when a stream arrives in
that order), but keyed by story instead of one global key, so the work and the state
spread over the workers (``pipeline.similarity.components`` proves why it is exact):

    Fingerprint (parallel) -> BatchBucketMembers -> GroupBuckets (key: a partition of
    the LSH band buckets and exact keys) -> BucketLinks (verified) -> Components + run
    clocks (one step over ids and times only) -> ToComponent -> GroupComponents (key:
    the component) -> DecideComponents (a DedupIndex per component, in run order)

The one serial step holds ids, links and event times, no text or signatures: about
100 bytes per article; its result reaches ``ToComponent`` as a side input (about 150
bytes per record on each worker). Components are stories; a story republished a thousand times
is one component, decided on one worker, as first-seen-wins requires.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import apache_beam as beam
import xxhash
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.dedup.streaming import apply_decision, article_event_time
from pipeline.similarity import DedupConfig, DedupIndex
from pipeline.similarity.components import (
    bucket_members,
    components_of,
    partition_links,
    run_clocks,
)
from pipeline.similarity.fingerprint import fingerprint_of
from pipeline.stage import ARTICLES, DEAD_LETTER, guard_stage
from pipeline.stateful_order import replay_order
from schemas.failures import Stage
from schemas.models import Article

__all__ = ["deduplicate_split_by_story"]

STAGE = Stage.DEDUP  # the same stage in dead letters and metrics as the streaming step


def _record_key(order: tuple, ident: str) -> str:
    """A join key for one record (its run position and id), cheap to encode and compare."""
    return repr((order, ident))


class _FingerprintFn(beam.DoFn):
    """Article -> (record key, run position, article, fingerprint, event time), or its
    dead letter. The event time is read once: it is capped against the wall clock, and
    the run clocks and the decisions must see the same value."""

    def __init__(self, config: DedupConfig, order: Callable[[Any], tuple]) -> None:
        self._config = config
        self._order = order

    def process(self, article: Article) -> Iterator[Any]:
        def item(a: Article) -> tuple:
            order = self._order(a)
            return (_record_key(order, a.id), order, a, fingerprint_of(a, self._config),
                    article_event_time(a))
        yield from guard_stage(STAGE, article, item)


def bucket_partition(key: tuple, partitions: int) -> int:
    """The partition a bucket is grouped in: a hash that is the same in every process
    (Python's ``hash`` of a str is not)."""
    return xxhash.xxh64_intdigest(repr(key).encode("utf-8")) % partitions


class _BucketBatchFn(beam.DoFn):
    """Items -> ``(partition, (members, [(bucket key, member row, band), ...]))``, one
    element per partition and bundle. An article is in ~100 buckets: a shuffle element
    per membership would cost more than the whole stage, and its signature is sent once
    per partition, not once per bucket. Buckets are split out again after the shuffle."""

    def __init__(self, partitions: int) -> None:
        self._partitions = partitions

    def start_bundle(self) -> None:
        self._batches: dict[int, tuple[list, list]] = {}

    def process(self, item: tuple) -> None:
        rows: dict[tuple[int, int], int] = {}  # (partition, member object) -> row
        for key, member, band in bucket_members(item[3]):
            partition = bucket_partition(key, self._partitions)
            members, entries = self._batches.setdefault(partition, ([], []))
            row = rows.get((partition, id(member)))
            if row is None:
                row = rows[(partition, id(member))] = len(members)
                members.append(member)
            entries.append((key, row, band))

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for partition, batch in self._batches.items():
            yield GlobalWindows.windowed_value((partition, batch))
        self._batches = {}


def _partition_links(group: tuple[int, Iterable[tuple[list, list]]],
                     config: DedupConfig) -> list:
    """One partition's buckets -> their links, as one element for the serial step."""
    _, batches = group
    buckets: dict[tuple, list] = defaultdict(list)
    for members, entries in batches:
        for key, row, band in entries:
            buckets[key].append((members[row], band))
    return [(None, ("links", partition_links(buckets, config)))]


def _assign(group: tuple[None, list[tuple[str, Any]]], ttl_seconds: float) -> Iterator[Any]:
    """All links and record times -> (record key, (component, clock)) for every record."""
    _, tagged = group
    links = [link for tag, batch in tagged if tag == "links" for link in batch]
    records = sorted(value for tag, value in tagged if tag == "record")  # run order
    where = components_of(links, (ident for _, _, ident, _ in records))
    clocks = run_clocks(((ident, ts) for _, _, ident, ts in records), ttl_seconds)
    for (_, key, ident, _), clock in zip(records, clocks, strict=True):
        yield key, (where[ident], clock)


def _to_component(item: tuple, where: dict[str, tuple[str, float]]) -> tuple:
    """An item -> (its component, (run position, clock, article, fingerprint, time)).

    Records with one key are one record delivered twice, at one run position: the second
    is a redelivery and its decision replays the first's, whatever its clock."""
    key, order, article, fp, event_time = item
    component, clock = where[key]
    return component, (order, clock, article, fp, event_time)


class _DecideComponentFn(beam.DoFn):
    """(component, records) -> the sequential decisions over the component, in run order."""

    def __init__(self, config: DedupConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._duplicates = beam.metrics.Metrics.counter(STAGE.value, "duplicates")
        self._canonicals = beam.metrics.Metrics.counter(STAGE.value, "canonicals")
        self._components = beam.metrics.Metrics.counter(STAGE.value, "components")
        self._sizes = beam.metrics.Metrics.distribution(STAGE.value, "component_size")

    def process(self, group: tuple[str, list]) -> Iterator[Any]:
        _, records = group
        records = list(records)
        self._components.inc()
        self._sizes.update(len(records))
        index = DedupIndex(self._config)
        for _, clock, article, fp, event_time in sorted(records, key=lambda r: (r[0], r[1])):
            yield from guard_stage(STAGE, article, partial(
                self._decide, index, fp=fp, clock=clock, event_time=event_time))

    def _decide(self, index: DedupIndex, article: Article, *, fp, clock: tuple[float, float],
                event_time: float | None) -> Article:
        decision = index.observe(article, event_time, fingerprint=fp, clock=clock).decision
        (self._duplicates if decision.duplicate_of else self._canonicals).inc()
        return apply_decision(article, decision)


def deduplicate_split_by_story(articles: beam.PCollection, config: DedupConfig,
                               order: Callable[[Any], tuple] = replay_order,
                               partitions: int = 16) -> dict[str, beam.PCollection]:
    """Bounded ``Article``s -> ``{"articles": ..., "dead_letter": ...}``, decisions equal to
    the streaming step's over the run in ``order`` (default ``replay_order``)."""
    fingerprinted = articles | "Fingerprint" >> beam.ParDo(
        _FingerprintFn(config, order)).with_outputs(DEAD_LETTER, main="items")
    items = fingerprinted["items"]
    links = (items
             | "BatchBucketMembers" >> beam.ParDo(_BucketBatchFn(partitions))
             | "GroupBuckets" >> beam.GroupByKey()
             | "BucketLinks" >> beam.FlatMap(_partition_links, config))
    times = items | "RecordTimes" >> beam.Map(
        lambda item: (None, ("record", (item[1], item[0], item[2].id, item[4]))))
    assignments = ((links, times)
                   | "LinksAndTimes" >> beam.Flatten()
                   | "GatherRun" >> beam.GroupByKey()
                   | "Components" >> beam.FlatMap(_assign, config.ttl_seconds))
    decided = (items
               | "ToComponent" >> beam.Map(_to_component, beam.pvalue.AsDict(assignments))
               | "GroupComponents" >> beam.GroupByKey()
               | "DecideComponents" >> beam.ParDo(_DecideComponentFn(config)).with_outputs(
                   DEAD_LETTER, main=ARTICLES))
    dead = ((fingerprinted[DEAD_LETTER], decided[DEAD_LETTER])
            | "MergeDeadLetters" >> beam.Flatten())
    return {ARTICLES: decided[ARTICLES], DEAD_LETTER: dead}
