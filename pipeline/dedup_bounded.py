"""Deduplication of a bounded run (files, replays): the streaming decisions, spread out.

``DeduplicateBounded`` reaches exactly the decisions of one ``DedupIndex`` fed the whole
run in ``replay_order`` (what ``DeduplicateArticles`` decides when a stream arrives in
that order), but keyed by story instead of one global key, so the work and the state
spread over the workers (``pipeline.similarity.components`` proves why it is exact):

    Fingerprint (parallel) -> BucketMembers -> GroupBuckets (key: LSH band bucket,
    exact key) -> BucketLinks (verified) -> Components + run clocks (one step over ids
    and times only) -> JoinComponents -> GroupComponents (key: component) ->
    DecideComponents (a DedupIndex per component, in run order)

The one serial step holds ids, links and event times, no text or signatures: about
100 bytes per article. Components are stories; a story republished a thousand times
is one component, decided on one worker, as first-seen-wins requires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam

from pipeline.dead_letters import ARTICLES, DEAD_LETTER, guard_stage
from pipeline.dedup import apply_decision, article_event_time
from pipeline.models import Article
from pipeline.replay_stateful import replay_order
from pipeline.similarity import DedupConfig, DedupIndex
from pipeline.similarity.components import (
    bucket_links,
    bucket_members,
    components_of,
    run_clocks,
)
from pipeline.similarity.fingerprint import fingerprint_of

__all__ = ["DeduplicateBounded"]

STAGE = "DeduplicateArticles"  # the same stage name in dead letters and metrics


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


def _assign(group: tuple[None, list[tuple[str, Any]]], ttl_seconds: float) -> Iterator[Any]:
    """All links and record times -> (record key, (component, clock)) for every record."""
    _, tagged = group
    links = [value for tag, value in tagged if tag == "link"]
    records = sorted(value for tag, value in tagged if tag == "record")  # run order
    where = components_of(links, (ident for _, _, ident, _ in records))
    clocks = run_clocks(((ident, ts) for _, _, ident, ts in records), ttl_seconds)
    for (_, key, ident, _), clock in zip(records, clocks, strict=True):
        yield key, (where[ident], clock)


def _to_component(joined: tuple[str, dict[str, list]]) -> Iterator[Any]:
    """Item and its assignment, joined by record key -> (component, item + clock)."""
    _, sides = joined
    items = list(sides["item"])
    assignments = sorted(sides["where"], key=lambda a: a[1])  # identical records: by clock
    if len(items) != len(assignments):
        raise RuntimeError(f"{len(items)} records but {len(assignments)} assignments "
                           "for one record key")
    for (_, order, article, fp, event_time), (component, clock) in zip(
            items, assignments, strict=True):
        yield component, (order, clock, article, fp, event_time)


class _DecideComponentFn(beam.DoFn):
    """(component, records) -> the sequential decisions over the component, in run order."""

    def __init__(self, config: DedupConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._duplicates = beam.metrics.Metrics.counter(STAGE, "duplicates")
        self._canonicals = beam.metrics.Metrics.counter(STAGE, "canonicals")
        self._components = beam.metrics.Metrics.counter(STAGE, "components")
        self._sizes = beam.metrics.Metrics.distribution(STAGE, "component_size")

    def process(self, group: tuple[str, list]) -> Iterator[Any]:
        _, records = group
        records = list(records)
        self._components.inc()
        self._sizes.update(len(records))
        index = DedupIndex(self._config)
        for _, clock, article, fp, event_time in sorted(records, key=lambda r: (r[0], r[1])):
            def decide(item: Article, fp=fp, clock=clock, event_time=event_time) -> Article:
                decision = index.observe(item, event_time, fingerprint=fp,
                                         clock=clock).decision
                (self._duplicates if decision.duplicate_of else self._canonicals).inc()
                return apply_decision(item, decision)
            yield from guard_stage(STAGE, article, decide)


class DeduplicateBounded(beam.PTransform):
    """Bounded ``Article``s -> ``{"articles": ..., "dead_letter": ...}``, decisions equal to
    ``DeduplicateArticles`` over the run in ``order`` (default ``replay_order``)."""

    def __init__(self, config: DedupConfig, order: Callable[[Any], tuple] = replay_order,
                 ) -> None:
        super().__init__()
        self.config = config
        self._order = order

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        config = self.config
        fingerprinted = articles | "Fingerprint" >> beam.ParDo(
            _FingerprintFn(config, self._order)).with_outputs(DEAD_LETTER, main="items")
        items = fingerprinted["items"]
        links = (items
                 | "BucketMembers" >> beam.FlatMap(lambda item: bucket_members(item[3]))
                 | "GroupBuckets" >> beam.GroupByKey()
                 | "BucketLinks" >> beam.FlatMap(
                     lambda bucket: bucket_links(bucket[0], bucket[1], config))
                 | "TagLinks" >> beam.Map(lambda link: (None, ("link", link))))
        times = items | "RecordTimes" >> beam.Map(
            lambda item: (None, ("record", (item[1], item[0], item[2].id, item[4]))))
        assignments = ((links, times)
                       | "LinksAndTimes" >> beam.Flatten()
                       | "GatherRun" >> beam.GroupByKey()
                       | "Components" >> beam.FlatMap(_assign, config.ttl_seconds))
        decided = ({"item": items | "KeyByRecord" >> beam.Map(lambda item: (item[0], item)),
                    "where": assignments}
                   | "JoinComponents" >> beam.CoGroupByKey()
                   | "ToComponent" >> beam.FlatMap(_to_component)
                   | "GroupComponents" >> beam.GroupByKey()
                   | "DecideComponents" >> beam.ParDo(_DecideComponentFn(config)).with_outputs(
                       DEAD_LETTER, main=ARTICLES))
        dead = ((fingerprinted[DEAD_LETTER], decided[DEAD_LETTER])
                | "MergeDeadLetters" >> beam.Flatten())
        return {ARTICLES: decided[ARTICLES], DEAD_LETTER: dead}
