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
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import BytesCoder, TupleCoder, VarIntCoder
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec

from pipeline.similarity import Decision, DedupConfig, DedupIndex
from pipeline.similarity.fingerprint import Fingerprint, fingerprint_of
from pipeline.stage import ARTICLES, DEAD_LETTER, guard_stage
from schemas.failures import Stage
from schemas.models import Article, Relation

__all__ = [
    "DEDUP_KEY",
    "MAX_FUTURE_SKEW_SECONDS",
    "apply_decision",
    "article_event_time",
    "deduplicate_batch",
    "deduplicate_in_arrival_order",
    "fingerprint_or_none",
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
        key, (article, fingerprint) = element
        token, bag_len = meta.read() or (0, 0)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == token:
            index = cached[1]
        else:
            self._cache.pop(key, None)
            index = DedupIndex.restore(records.read(), self._config)
            self._rebuilds.inc()
        new_records: list[bytes] = []

        def decide(item: Article) -> Article:
            observation = index.observe(item, article_event_time(item),
                                        fingerprint=fingerprint)
            if observation.record is not None:
                new_records.append(observation.record)
            counter = self._duplicates if observation.decision.duplicate_of else self._canonicals
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


def deduplicate_in_arrival_order(articles: beam.PCollection,
                                 config: DedupConfig) -> beam.pvalue.DoOutputsTuple:
    """The streaming graph: fingerprints in parallel, then one ordered decision key.

    Applied by ``pipeline.dedup.DeduplicateArticles`` (its step labels are this
    function's, unchanged since the first release).
    """
    return (
        articles
        | "FingerprintAndKey" >> beam.Map(
            lambda a: (DEDUP_KEY, (a, fingerprint_or_none(a, config))))
        | "Deduplicate" >> beam.ParDo(_DeduplicateFn(config)).with_outputs(
            DEAD_LETTER, main=ARTICLES))


def fingerprint_or_none(article: Article, config: DedupConfig) -> Fingerprint | None:
    """The article's fingerprint, computed before the keyed step so that it runs in
    parallel; None if it fails, and the decision step computes it again under its
    dead-letter guard, so the failure is reported with the record that caused it."""
    try:
        return fingerprint_of(article, config)
    except Exception:  # noqa: BLE001 - re-raised by the guarded decision step
        return None
