"""The deduplication index: sequential, first-seen-wins decisions with TTL eviction.

``DedupIndex.observe`` decides one article against everything still remembered, in
this order (the first that fires wins):

1. ``exact_body``: same normalised body key (``normalize.body_key``).
2. ``exact_url``: same canonical URL (scheme, ``www.`` and tracking parameters ignored);
   ``same_source_url`` when this URL is the one a remembered article credits.
3. ``near_duplicate``: LSH banding proposes candidates among remembered *canonical*
   articles; each is verified against the canonical's own signature (estimated Jaccard
   >= ``threshold``, or estimated containment >= ``containment`` for a truncated or
   extended copy), never against an intermediate copy, so clusters cannot drift by
   chaining edits. The best-scoring canonical wins, ties to the earliest seen. A wire
   re-issue (headline marked ``CORRECTED -``, ``REFILE-``...) also gets the canonicals
   with a similar headline as candidates, and a lower body bar (``titles``).
4. ``same_source_url``: the article credits (``source_url``) a page that a remembered
   article credits too, or that *is* a remembered article: one story translated into
   many languages. It comes after the text checks, so an edited copy that keeps the
   credit line is reported as what it is, a near duplicate with its similarity.

An article that is not a duplicate becomes canonical; if its language-independent
anchors (``anchors.anchor_tokens``) overlap a remembered canonical's in another language,
it gets ``probable_translation`` relations - evidence, not a duplicate decision.

Bodies shorter than ``min_tokens`` words fall back to the exact keys: on a dozen words a
MinHash estimate is noise. Below ``min_exact_tokens`` words the body alone proves
nothing ("Video.", "Photo: AP") and the exact key covers headline and body. Redelivering an id already remembered returns the decision
made the first time, so at-least-once sources do not create self-duplicates.

What an article contributes (keys, signatures, band keys) is its ``Fingerprint``, a
function of its text alone: the Beam stages compute it ahead, on any worker, and pass it
to ``observe``; the pairwise tests are ``verify``'s, shared with bounded partitioning.

Time (``clock``: one rule for every path): each entry carries an event time (the
article's; without one, the newest real time seen, or the first real time once one
arrives); the clock is the maximum real event time seen, and an entry with
``ts + ttl <= clock`` no longer matches and is evicted. Because expiry is checked on every lookup, *when* memory is
reclaimed never changes a decision, and ``restore(records())`` continues exactly where
the original index stopped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from pipeline.similarity.bandtable import BandTable
from pipeline.similarity.clock import PENDING, DedupClock
from pipeline.similarity.config import DedupConfig
from pipeline.similarity.entry import Entry, decode_entry, encode_entry
from pipeline.similarity.fingerprint import Fingerprint, fingerprint_of, title_band_keys
from pipeline.similarity.minhash import band_keys
from pipeline.similarity.verify import near_matches, translation_confidence

__all__ = ["Decision", "DedupIndex", "Document", "Observation", "RelatedArticle"]


class Document(Protocol):
    """What deduplication reads from an article (``schemas.models.Article`` fits)."""

    id: str
    title: str
    body: str
    language: str
    canonical_url: str
    source_url: str | None


@dataclass(frozen=True, slots=True)
class RelatedArticle:
    id: str
    relation: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome for one article: canonical (``duplicate_of is None``) or a duplicate."""

    id: str
    duplicate_of: str | None = None
    kind: str | None = None
    similarity: float | None = None
    related: tuple[RelatedArticle, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    """A decision plus the state record to persist (None for a redelivered id)."""

    decision: Decision
    record: bytes | None


class DedupIndex:
    """Remembered articles with exact-key tables and LSH band tables; see module doc."""

    def __init__(self, config: DedupConfig | None = None) -> None:
        self.config = config or DedupConfig()
        self._entries: OrderedDict[int, Entry] = OrderedDict()  # by seq, insertion order
        self._by_id: dict[str, int] = {}
        # key -> seqs of the entries that carry it, oldest first; a lookup takes the oldest
        # *live* one, a function of the live set alone, so eviction order cannot matter
        self._body: dict[int, int | list[int]] = {}
        self._url: dict[int, int | list[int]] = {}  # canonical-URL and credited-source keys
        self._bands = BandTable()         # canonical articles' LSH bands -> seqs
        self._anchor_bands = BandTable()  # canonical articles' anchor bands -> seqs
        self._title_bands = BandTable()   # canonical articles' headline bands -> seqs
        self._next_seq = 0
        self._clock = DedupClock()
        self._since_sweep = 0

    # ------------------------------------------------------------------ public API
    def __len__(self) -> int:
        return len(self._entries)

    @property
    def clock(self) -> float:
        """The newest real event time seen (``-inf`` before any)."""
        return self._clock.now

    def observe(self, doc: Document, event_time: float | None = None, *,
                fingerprint: Fingerprint | None = None,
                clock: tuple[float, float] | None = None) -> Observation:
        """Decide ``doc`` against the remembered articles, then remember it.

        ``fingerprint``: ``fingerprint_of(doc, config)`` computed ahead (in parallel, by the
        Beam stage); ``clock``: the clock ``(now, epoch)`` of a run this index sees only
        part of (a bounded run's component, ``components.run_clocks``) just before ``doc``.
        """
        if clock is not None:
            self._clock.catch_up(*clock)
        known = self._live(self._by_id.get(doc.id))
        if known is not None:  # the clock moves only with a new record, so restore agrees
            return Observation(self._replayed(known), None)
        previous = self._clock.snapshot()
        ts = self._clock.advance(event_time)
        try:
            fp = fingerprint if fingerprint is not None else fingerprint_of(doc, self.config)
            entry, decision = self._decide(fp, ts)
        except BaseException:
            self._clock = DedupClock(*previous)  # a failed observation changes nothing
            raise
        self._evict()
        self._insert(entry, fp)
        return Observation(decision, encode_entry(entry))

    def records(self) -> list[bytes]:
        """Every live entry, oldest first: a snapshot ``restore`` rebuilds from."""
        self._evict(full=True)
        return [encode_entry(e if e.ts != PENDING or self._clock.epoch == PENDING
                             else replace(e, ts=self._clock.epoch))
                for e in self._entries.values()]

    @classmethod
    def restore(cls, records: Iterable[bytes], config: DedupConfig | None = None) -> DedupIndex:
        """An index equivalent to the one whose ``records()`` (or observe log) is given.

        The first real time (the epoch) is the time of the first entry by seq that has
        one: every entry before it is pending, and it moved the clock off "no time"."""
        index = cls(config)
        entries = sorted((decode_entry(r) for r in records), key=lambda e: e.seq)
        for entry in entries:
            if entry.seq in index._entries:
                continue
            if entry.ts != PENDING:
                index._clock.catch_up(entry.ts, entry.ts)
            index._insert(entry)
        index._evict(full=True)
        return index

    # ------------------------------------------------------------------ deciding
    def _decide(self, fp: Fingerprint, ts: float) -> tuple[Entry, Decision]:
        base = dict(seq=self._next_seq, id=fp.id, ts=ts, language=fp.language,
                    body_key=fp.body_key, url_key=fp.url_key, source_key=fp.source_key)

        match = self._exact(fp.body_key, fp.url_key)
        if match is not None:
            root, kind = match
            sim = 1.0 if kind == "exact_body" else None
            return (Entry(canonical=root, kind=kind, similarity=sim, **base),
                    Decision(fp.id, duplicate_of=root, kind=kind, similarity=sim))

        if fp.signature is not None:
            near = self._near(fp)
            if near is not None:
                root, sim = near
                sim = round(sim, 4)
                return (Entry(canonical=root, kind="near_duplicate", similarity=sim,
                              size=fp.size, **base),
                        Decision(fp.id, duplicate_of=root, kind="near_duplicate",
                                 similarity=sim))

        root = self._same_source(fp.source_key)
        if root is not None:
            return (Entry(canonical=root, kind="same_source_url", size=fp.size, **base),
                    Decision(fp.id, duplicate_of=root, kind="same_source_url"))

        related = self._translations(fp)
        entry = Entry(canonical=None, size=fp.size, signature=fp.signature,
                      n_anchors=fp.n_anchors, anchor_signature=fp.anchor_signature,
                      title_hashes=fp.title_hashes, **base)
        return entry, Decision(fp.id, related=related)

    def _exact(self, bkey: int | None, ukey: int | None) -> tuple[str, str] | None:
        hit = self._first_live(self._body, bkey)
        if hit is not None:
            return hit.root, "exact_body"
        hit = self._first_live(self._url, ukey)
        if hit is not None:
            return hit.root, "exact_url" if hit.url_key == ukey else "same_source_url"
        return None

    def _same_source(self, skey: int | None) -> str | None:
        hit = self._first_live(self._url, skey)
        return hit.root if hit is not None else None

    def _first_live(self, table: dict[int, int | list[int]], key: int | None) -> Entry | None:
        if key is None:
            return None
        seqs = table.get(key, ())
        for seq in (seqs,) if isinstance(seqs, int) else seqs:
            entry = self._live(seq)
            if entry is not None:
                return entry
        return None

    def _near(self, fp: Fingerprint) -> tuple[str, float] | None:
        """Best verified canonical for an article with a body signature."""
        seqs = self._bands.lookup(fp.band_keys)
        if fp.marked and fp.title_keys is not None:
            seqs = np.union1d(seqs, self._title_bands.lookup(fp.title_keys))
        candidates = [e for e in (self._live(int(s)) for s in seqs)
                      if e is not None and e.signature is not None]
        if not candidates:
            return None
        sigs = np.stack([e.signature for e in candidates])
        jaccards = (sigs == fp.signature).mean(axis=1)
        ok = near_matches(jaccards, fp.size, np.array([e.size for e in candidates]),
                          self.config, fp.title_hashes if fp.marked else None,
                          [e.title_hashes for e in candidates])
        best: tuple[float, int, Entry] | None = None
        for k in np.flatnonzero(ok):
            entry, jac = candidates[k], float(jaccards[k])
            if best is None or (jac, -entry.seq) > (best[0], -best[1]):
                best = (jac, entry.seq, entry)
        return None if best is None else (best[2].id, best[0])

    def _translations(self, fp: Fingerprint) -> tuple[RelatedArticle, ...]:
        cfg = self.config
        if fp.anchor_signature is None or fp.language == "und":
            return ()
        found: list[tuple[float, int, str]] = []
        for seq in (int(s) for s in self._anchor_bands.lookup(fp.anchor_keys)):
            entry = self._live(seq)
            if entry is None or entry.language in ("und", fp.language) or entry.canonical:
                continue
            conf = translation_confidence(fp.anchor_signature, entry.anchor_signature, cfg)
            if conf >= cfg.translation_threshold:
                found.append((-conf, seq, entry.id))
        found.sort()
        return tuple(RelatedArticle(i, "probable_translation", round(-c, 4))
                     for c, _, i in found[: cfg.max_relations])

    def _replayed(self, entry: Entry) -> Decision:
        if entry.canonical is None:
            return Decision(entry.id)
        return Decision(entry.id, duplicate_of=entry.canonical, kind=entry.kind,
                        similarity=entry.similarity)

    # ------------------------------------------------------------------ bookkeeping
    def _live(self, seq: int | None) -> Entry | None:
        if seq is None:
            return None
        entry = self._entries.get(seq)
        if entry is None or self._clock.expired(entry.ts, self.config.ttl_seconds):
            return None
        return entry

    def _insert(self, entry: Entry, fp: Fingerprint | None = None) -> None:
        self._entries[entry.seq] = entry
        self._by_id[entry.id] = entry.seq
        self._next_seq = max(self._next_seq, entry.seq + 1)
        for table, key in ((self._body, entry.body_key), (self._url, entry.url_key),
                           (self._url, entry.source_key)):
            if key is not None:
                _link(table, key, entry.seq)
        for table, keys in self._band_keys_of(entry, fp):
            table.add(keys, entry.seq)

    def _band_keys_of(self, entry: Entry, fp: Fingerprint | None = None,
                      ) -> list[tuple[BandTable, np.ndarray]]:
        """The LSH tables a canonical entry is filed in, with its keys in each: one list
        for adding and removing, so the two can never disagree. Duplicates are not filed.
        ``fp``: the entry's own fingerprint, whose keys are these (saves recomputing)."""
        if entry.canonical is not None:
            return []
        cfg = self.config
        filed = []
        if entry.signature is not None:
            keys = fp.band_keys if fp is not None else None
            filed.append((self._bands, band_keys(entry.signature, cfg.bands, cfg.rows)
                          if keys is None else keys))
        if entry.title_hashes is not None:
            keys = fp.title_keys if fp is not None else None
            filed.append((self._title_bands, title_band_keys(entry.title_hashes, cfg)
                          if keys is None else keys))
        if entry.anchor_signature is not None:
            keys = fp.anchor_keys if fp is not None else None
            filed.append((self._anchor_bands, band_keys(entry.anchor_signature,
                                                        cfg.anchor_bands, cfg.anchor_rows)
                          if keys is None else keys))
        return filed

    def _evict(self, full: bool = False) -> None:
        """Drop expired entries: oldest-first always, a full sweep now and then.

        Late data makes event times non-monotonic in arrival order, so the front of the
        queue can hold a fresh entry while an older one sits behind it; the periodic full
        sweep bounds how long such an entry outlives its TTL in memory.
        """
        ttl, clock = self.config.ttl_seconds, self._clock
        while self._entries:
            entry = next(iter(self._entries.values()))
            if not clock.expired(entry.ts, ttl):
                break
            self._remove(entry)
        self._since_sweep += 1
        if full or self._since_sweep >= self.config.sweep_every:
            self._since_sweep = 0
            for entry in [e for e in self._entries.values() if clock.expired(e.ts, ttl)]:
                self._remove(entry)

    def _remove(self, entry: Entry) -> None:
        del self._entries[entry.seq]
        if self._by_id.get(entry.id) == entry.seq:
            del self._by_id[entry.id]
        if entry.body_key is not None:
            _unlink(self._body, [entry.body_key], entry.seq)
        _unlink(self._url, [k for k in (entry.url_key, entry.source_key) if k is not None],
                entry.seq)
        for table, keys in self._band_keys_of(entry):
            table.remove(keys, entry.seq)


def _link(table: dict[int, int | list[int]], key: int, seq: int) -> None:
    """Add ``seq`` under ``key``: a bare int for the usual single entry, a list beyond."""
    current = table.get(key)
    if current is None:
        table[key] = seq
    elif isinstance(current, int):
        table[key] = [current, seq]
    else:
        current.append(seq)


def _unlink(table: dict[int, int | list[int]], keys: list[int], seq: int) -> None:
    for key in keys:
        current = table.get(key)
        if current is None:
            continue
        if isinstance(current, int):
            if current == seq:
                del table[key]
            continue
        if seq in current:
            current.remove(seq)
        if len(current) == 1:
            table[key] = current[0]
