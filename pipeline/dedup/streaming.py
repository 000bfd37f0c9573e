"""Deduplication stage: ``DeduplicateArticles``, a stateful Beam wrapper of ``DedupIndex``.

Every article is marked with ``duplicate_of``, ``duplicate_kind`` and
``duplicate_similarity`` when it repeats one seen before (the routing stage sends it to
the ``duplicates`` route); probable translations get a ``related`` entry instead.
Bounded runs (files, replays) split by story (``pipeline.dedup.bounded``) and reach the
same decisions; this module is the streaming form. ``pipeline.dedup.DeduplicateArticles``
is the one transform for both.

Design - decisions equal to the pure core's, on every runner:

- *Where the work goes.* ``FingerprintAndKey`` computes everything an article's decision
  needs from its own text (``similarity.fingerprint``: tokens, shingles, MinHash, LSH
  band keys, anchors; 70-85% of the stage's CPU) in a stateless step before the key, so
  it runs on every worker. The keyed step only looks up, verifies against canonical
  signatures and records: ~0.3 ms per article (``bench/bench_dedup.py``: decision step
  alone, several thousand articles/s per key).
- *Key.* The decisions are first-seen-wins, so each one must read the state that every
  earlier decision wrote. A Beam graph has no cycles: state keyed by LSH band could
  propose candidates, but it cannot learn which of them became canonical (that is
  decided downstream), and two near copies arriving together would both become
  canonical. So streaming decisions share one ordered key (``DEDUP_KEY``), exactly the
  decisions of ``DedupIndex`` over the arrival order. Bounded runs know their whole
  input and need no such compromise: they split by story (``pipeline.dedup.bounded``).
  No GroupByKey: a stateful DoFn after a keyed ``Map`` is fused and streams on the
  FnApiRunner. State is per key *and window*: the input stays in the global window.
- *Order.* First seen wins, so the order decides. On the in-process runner the graph is
  fused from the Kafka read to the decision, and articles arrive in Kafka's order per
  partition: ``deduplicate_in_arrival_order`` decides each at once. Runners that shuffle
  into the key (Prism, Flink, Dataflow) deliver in an order of their own, and decisions
  among copies changed from run to run on Prism; there
  ``deduplicate_in_event_time_order`` holds each article until the watermark passes it
  and decides the held ones in replay order (Kafka time, topic, partition, offset), the
  decisions of a replay. A record behind the watermark already (late) is decided at the
  next firing, after what was decided before it. ``DedupOrder`` picks one.
- *State.* A ``BagState`` of entry records (bytes, ``similarity.entry``; never the
  text: ~1 KB per canonical article, ~80 bytes per duplicate) plus a
  ``ReadModifyWriteState`` (write token, bag length). Each decision appends one record.
  The DoFn instance caches the index rebuilt from the bag and trusts it only while the
  random token it wrote is the one in state, so a retried bundle, a restart or a key
  moving to another worker rebuilds it from state: the cache is an accelerator, never
  the truth (``tests/pipeline/test_dedup.py`` moves the key between workers).
- *TTL.* Lazy, on event time: the clock is the largest article event time seen (Kafka
  timestamp, else ``published_at``, capped at an hour past the wall clock so one wild
  timestamp cannot expire everything); an entry older than ``ttl`` no longer matches and is
  evicted; the bag is compacted to the live entries when it holds over twice as many
  records as are live. No timers: processing-time timers do not exist on the
  FnApiRunner, and with one key lazy eviction needs none (the key is touched by every
  article). A copy that keeps arriving within the TTL keeps its exact key alive, so it
  still resolves to the first-seen canonical.
- *Memory per million articles remembered* (the index in the worker, measured by
  ``bench/bench_dedup.py`` and tracemalloc): ~3.2 KB per canonical article (192-slot
  signature, band tables, anchors) and ~0.4 KB per duplicate (exact keys only), so
  ~1.6-1.8 GB per million at 50% copies (datasketch ``MinHashLSH`` with the same
  banding: ~10.9 GB), ~3.2 GB if all are distinct; plus the bag in the
  runner's state backend, ~1 KB / 80 B per record (~0.55 GB per million at 50%). With a
  7-day TTL "remembered" means the last week's articles.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import BytesCoder, PickleCoder, TupleCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Timestamp

from pipeline.similarity import Decision, DedupConfig, DedupIndex
from pipeline.similarity.fingerprint import Fingerprint, fingerprint_of
from pipeline.stage import ARTICLES, DEAD_LETTER, guard_stage
from pipeline.stateful_order import replay_order
from schemas.failures import Stage
from schemas.models import Article, Relation

__all__ = [
    "DEDUP_KEY",
    "MAX_FUTURE_SKEW_SECONDS",
    "apply_decision",
    "article_event_time",
    "deduplicate_batch",
    "deduplicate_in_arrival_order",
    "deduplicate_in_event_time_order",
    "fingerprint_or_none",
    "split_due",
]

_log = logging.getLogger(__name__)

DEDUP_KEY = "dedup"
MAX_FUTURE_SKEW_SECONDS = 3600.0
_COMPACT_MIN = 1024  # never compact a bag shorter than this


def article_event_time(article: Article) -> float | None:
    """Seconds since the epoch that age an article in the index: Kafka time, else published.

    Never more than ``MAX_FUTURE_SKEW_SECONDS`` ahead of the wall clock: the index clock
    is the largest event time seen, so one record stamped 2100 (a producer with a wrong
    clock, a page dated 2999) would otherwise expire everything remembered and every
    later article, for good. Past times are kept as they are, so replays of archives age
    the index exactly as the original run did.
    """
    stamp = article.provenance.timestamp or article.published_at
    if stamp is None:
        return None
    return min(stamp.timestamp(), time.time() + MAX_FUTURE_SKEW_SECONDS)


def apply_decision(article: Article, decision: Decision) -> Article:
    """The article with the decision's fields set (a copy: records are never mutated)."""
    update: dict[str, Any] = {}
    if decision.duplicate_of is not None:
        update.update(duplicate_of=decision.duplicate_of, duplicate_kind=decision.kind,
                      duplicate_similarity=decision.similarity)
    if decision.related:
        known = {(r.id, r.relation) for r in article.related}
        extra = [Relation(id=r.id, relation=r.relation, confidence=r.confidence)
                 for r in decision.related if (r.id, r.relation) not in known]
        update["related"] = [*article.related, *extra]
    return article.model_copy(update=update) if update else article


def deduplicate_batch(articles: list[Article], config: DedupConfig | None = None) -> list[Article]:
    """The same decisions without Beam, in list order (tests, tools, small replays)."""
    index = DedupIndex(config)
    return [apply_decision(a, index.observe(a, article_event_time(a)).decision) for a in articles]


class _DeduplicateFn(beam.DoFn):
    """Decides each article as it arrives (``deduplicate_in_arrival_order``)."""

    STAGE = Stage.DEDUP
    RECORDS = BagStateSpec("records", BytesCoder())
    META = ReadModifyWriteStateSpec("meta", TupleCoder((VarIntCoder(), VarIntCoder())))

    def __init__(self, config: DedupConfig) -> None:
        self._config = config

    def setup(self) -> None:
        # key -> (state token it matches, index): see the module doc
        self._cache: dict[str, tuple[int, DedupIndex]] = {}
        self._duplicates = beam.metrics.Metrics.counter(self.STAGE.value, "duplicates")
        self._canonicals = beam.metrics.Metrics.counter(self.STAGE.value, "canonicals")
        self._rebuilds = beam.metrics.Metrics.counter(self.STAGE.value, "index_rebuilds")

    def process(self, element: tuple[str, tuple[Article, Fingerprint | None]],
                records=beam.DoFn.StateParam(RECORDS),  # noqa: B008 - Beam idiom
                meta=beam.DoFn.StateParam(META)) -> Iterator[Any]:  # noqa: B008
        key, item = element
        yield from self._decide(key, [item], records, meta)

    def _decide(self, key: str, items: list[tuple[Article, Fingerprint | None]],
                records, meta) -> Iterator[Any]:
        """Decide ``items`` in list order against the key's index, then write the new
        entry records (and the index's token) to state once."""
        token, bag_len = meta.read() or (0, 0)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == token:
            index = cached[1]
        else:
            self._cache.pop(key, None)
            index = DedupIndex.restore(records.read(), self._config)
            self._rebuilds.inc()
        new_records: list[bytes] = []
        for article, fingerprint in items:

            def decide(item: Article, fingerprint: Fingerprint | None = fingerprint) -> Article:
                observation = index.observe(item, article_event_time(item),
                                            fingerprint=fingerprint)
                if observation.record is not None:
                    new_records.append(observation.record)
                counter = (self._duplicates if observation.decision.duplicate_of
                           else self._canonicals)
                counter.inc()
                return apply_decision(item, observation.decision)

            yield from guard_stage(self.STAGE, article, decide)
        if not new_records:  # redelivered, or failed (the index rolled itself back)
            self._cache[key] = (token, index)
            return
        for record in new_records:
            records.add(record)
        bag_len += len(new_records)
        if bag_len > max(_COMPACT_MIN, 2 * len(index)):
            live = index.records()
            records.clear()
            for record in live:
                records.add(record)
            bag_len = len(live)
        # A fresh random token per write: a cache built by another worker, or from a
        # bundle the runner discarded, can never carry the token that is in state.
        token = secrets.randbits(62) + 1
        meta.write((token, bag_len))
        self._cache[key] = (token, index)


class _DeduplicateInEventTimeOrderFn(_DeduplicateFn):
    """Holds each article until the input watermark passes its event time, then decides
    the held ones in ``replay_order`` (``deduplicate_in_event_time_order``).

    ``PENDING`` holds ``(article, fingerprint)`` pairs not decided yet; one event-time
    timer stands at the earliest of their timestamps (``EARLIEST``). When it fires, every
    pending article at or before the firing time is decided in replay order, and the timer
    moves to the earliest one left. The timer holds the output watermark at its time, so
    a downstream event-time window (the file sink's) does not close before the articles
    it waits for are decided. A late article (behind the watermark already) sets a timer
    the runner fires at once: it waits one firing, not a window.
    """

    PENDING = BagStateSpec("pending", PickleCoder())
    EARLIEST = ReadModifyWriteStateSpec("earliest", VarIntCoder())  # micros
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)

    def process(self, element: tuple[str, tuple[Article, Fingerprint | None]],
                timestamp=beam.DoFn.TimestampParam,  # noqa: B008 - Beam idiom
                pending=beam.DoFn.StateParam(PENDING),  # noqa: B008
                earliest=beam.DoFn.StateParam(EARLIEST),  # noqa: B008
                release=beam.DoFn.TimerParam(RELEASE)) -> Iterator[Any]:  # noqa: B008
        _, item = element
        pending.add((timestamp.micros, item))
        first = earliest.read()
        if first is None or timestamp.micros < first:
            earliest.write(timestamp.micros)
            release.set(timestamp)
        return iter(())

    @on_timer(RELEASE)
    def release_pending(self, key=beam.DoFn.KeyParam,  # noqa: B008 - Beam idiom
                        fired=beam.DoFn.TimestampParam,  # noqa: B008
                        pending=beam.DoFn.StateParam(PENDING),  # noqa: B008
                        earliest=beam.DoFn.StateParam(EARLIEST),  # noqa: B008
                        release=beam.DoFn.TimerParam(RELEASE),  # noqa: B008
                        records=beam.DoFn.StateParam(_DeduplicateFn.RECORDS),  # noqa: B008
                        meta=beam.DoFn.StateParam(_DeduplicateFn.META),  # noqa: B008
                        ) -> Iterator[Any]:
        due, later = split_due(pending.read(), fired.micros)
        pending.clear()
        for held in later:
            pending.add(held)
        if later:
            first = min(micros for micros, _ in later)
            earliest.write(first)
            release.set(Timestamp(micros=first))
        else:
            earliest.clear()
        yield from self._decide(key, due, records, meta)


def split_due(held: Iterable[tuple[int, tuple[Article, Fingerprint | None]]], until_micros: int,
              ) -> tuple[list[tuple[Article, Fingerprint | None]],
                         list[tuple[int, tuple[Article, Fingerprint | None]]]]:
    """``(due, later)``: the held ``(event time in micros, item)`` pairs at or before
    ``until_micros`` as items in ``replay_order`` (Kafka time, topic, partition, offset),
    and the rest as they were."""
    due, later = [], []
    for micros, item in held:
        (due if micros <= until_micros else later).append((micros, item))
    due.sort(key=lambda pair: (pair[0], *replay_order(pair[1])))
    return [item for _, item in due], later


def deduplicate_in_arrival_order(articles: beam.PCollection,
                                 config: DedupConfig) -> beam.pvalue.DoOutputsTuple:
    """The streaming graph: fingerprints in parallel, then one decision key deciding in
    the order articles arrive (the in-process runner's: it fuses the graph, so that is
    Kafka's order within each partition).

    Applied by ``pipeline.dedup.DeduplicateArticles`` (its step labels are this
    function's, unchanged since the first release).
    """
    return _decide_under_one_key(articles, config, _DeduplicateFn(config))


def deduplicate_in_event_time_order(articles: beam.PCollection,
                                    config: DedupConfig) -> beam.pvalue.DoOutputsTuple:
    """The streaming graph for runners that shuffle into the decision key (Prism, Flink,
    Dataflow: Beam promises no order there): fingerprints in parallel, then one key that
    holds articles until the watermark passes them and decides them in replay order, the
    decisions a replay of the same records makes. Same step labels as
    ``deduplicate_in_arrival_order``: the state differs (a pending bag and a timer), so
    switching a running job from one to the other is a new job, not an update."""
    return _decide_under_one_key(articles, config, _DeduplicateInEventTimeOrderFn(config))


def _decide_under_one_key(articles: beam.PCollection, config: DedupConfig,
                          decide: _DeduplicateFn) -> beam.pvalue.DoOutputsTuple:
    return (
        articles
        | "FingerprintAndKey" >> beam.Map(
            lambda a: (DEDUP_KEY, (a, fingerprint_or_none(a, config))))
        | "Deduplicate" >> beam.ParDo(decide).with_outputs(DEAD_LETTER, main=ARTICLES))


def fingerprint_or_none(article: Article, config: DedupConfig) -> Fingerprint | None:
    """The article's fingerprint, computed before the keyed step so that it runs in
    parallel; None if it fails, and the decision step computes it again under its
    dead-letter guard, so the failure is reported with the record that caused it."""
    try:
        return fingerprint_of(article, config)
    except Exception:  # noqa: BLE001 - re-raised by the guarded decision step
        return None
