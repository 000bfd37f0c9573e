"""Split a bounded run into parts that can be deduplicated apart, with unchanged decisions.

First seen wins is a sequential rule, but an article's decision only ever reads index
entries it shares a key with: its exact keys, an LSH bucket holding a canonical it
verifies against, an anchor bucket holding a translation. Link two articles when one
could read the other (``partition_links``); the connected components of those links are
independent: run ``DedupIndex`` over each component in the run's order, give every
article the clock the whole run would have had at that point (``run_clocks``), and each
decision equals the one a single index over the whole run makes. Components are stories
(a wire item and its copies), so a backfill spreads over as many workers as it has
stories; an unlucky LSH bucket only links what verification would link.

Links are *verified*: two articles in one band bucket are linked only if one is a near
duplicate of the other by ``verify.near_matches``, so unrelated articles that collide in
a bucket do not merge components. Exact keys link unconditionally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.similarity.clock import DedupClock
from pipeline.similarity.config import DedupConfig
from pipeline.similarity.entry import u32_bytes, u32_from
from pipeline.similarity.fingerprint import Fingerprint, fingerprint_of
from pipeline.similarity.index import Decision, DedupIndex
from pipeline.similarity.verify import near_matches, reissue_match

__all__ = ["UnionFind", "bucket_members", "components_of", "decide_by_components",
           "partition_links", "plan_components", "run_clocks"]

# bucket namespaces: the index tables an article is looked up in
EXACT = ("id", "body", "url")   # redelivered id, normalised body, canonical/credited URL
NEAR, TITLE, ANCHOR = "near", "title", "anchor"

BucketKey = tuple[str, int | str]
Member = tuple[Any, ...]


def _banded(keys: np.ndarray) -> list[tuple[int, int]]:
    """(band, 32-bit fold of its key) per band, as ``BandTable`` files them: a fold
    collision makes the index propose a candidate, so it must share a bucket here too."""
    arr = np.asarray(keys, dtype=np.uint64)
    folded = ((arr >> np.uint64(32)) ^ (arr & np.uint64(0xFFFFFFFF))).tolist()
    first: dict[int, int] = {}
    for band, key in enumerate(folded):
        first.setdefault(key, band)
    return [(band, key) for key, band in first.items()]


def bucket_members(fp: Fingerprint) -> list[tuple[BucketKey, Member, int]]:
    """Every bucket the article is looked up or filed in: (bucket key, what verifying
    the article needs, band). Members are plain tuples of str/bytes/int (cheap to
    shuffle), one object shared by all of the article's LSH buckets; the band (-1 for
    exact keys) is the one the article is in the bucket for: a pair is verified in the
    bucket of the first band it shares."""
    ident = (fp.id,)
    out: list[tuple[BucketKey, Member, int]] = [(("id", fp.id), ident, -1)]
    if fp.body_key is not None:
        out.append((("body", fp.body_key), ident, -1))
    for key in {k for k in (fp.url_key, fp.source_key) if k is not None}:
        out.append((("url", key), ident, -1))  # one table in the index: URL and credit
    if fp.signature is not None:
        member = (fp.id, u32_bytes(fp.signature), fp.size, u32_bytes(fp.title_hashes), fp.marked)
        out.extend(((NEAR, key), member, band) for band, key in _banded(fp.band_keys))
        if fp.title_keys is not None:
            out.extend(((TITLE, key), member, band) for band, key in _banded(fp.title_keys))
    if fp.anchor_signature is not None and fp.language != "und":
        member = (fp.id, u32_bytes(fp.anchor_signature), fp.language)
        out.extend(((ANCHOR, key), member, band) for band, key in _banded(fp.anchor_keys))
    return out


class UnionFind:
    """Disjoint sets of hashable items, path halving and union by size."""

    def __init__(self) -> None:
        self._parent: dict[Any, Any] = {}
        self._size: dict[Any, int] = {}

    def find(self, item: Any) -> Any:
        parent = self._parent
        if item not in parent:
            parent[item] = item
            return item
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: Any, b: Any) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self._size.get(ra, 1) < self._size.get(rb, 1):
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] = self._size.get(ra, 1) + self._size.get(rb, 1)
        return True


def partition_links(buckets: Mapping[BucketKey, Sequence[tuple[Member, int]]],
                    config: DedupConfig) -> list[tuple[str, str]]:
    """Links among the articles of some buckets (a partition of all of them) that keep
    every pair able to affect a decision connected: a spanning forest, not every pair.

    Exact keys link every member. In LSH buckets a pair is linked only if it verifies
    (``near_matches`` either way, a marked re-issue on its headline, a translation's
    anchor confidence), and it is verified once, in the bucket of the first band the
    two share, all pairs of the partition at once in numpy.
    """
    forest = UnionFind()
    links: list[tuple[str, str]] = []

    def link(a: str, b: str) -> None:
        if forest.union(a, b):
            links.append((a, b))

    near: list[tuple[str, Sequence[tuple[Member, int]]]] = []
    anchor: list[Sequence[tuple[Member, int]]] = []
    for (namespace, _), members in buckets.items():
        if len(members) < 2:
            continue
        if namespace in EXACT:
            first = members[0][0][0]
            for member, _ in members[1:]:
                link(first, member[0])
        elif namespace in (NEAR, TITLE):
            near.append((namespace, members))
        else:
            anchor.append(members)
    for a, b in _verified_near(near, config):
        link(a, b)
    for a, b in _verified_translations(anchor, config):
        link(a, b)
    return links


class _Pairs:
    """Member table (one row per distinct member) and the candidate pairs of many buckets.

    A row is a member, not an id: an id can come back with another text once its first
    article has expired (the index then decides it afresh), and that text must be
    verified as itself, not as the first one (a property test found it)."""

    def __init__(self, label_of=lambda member: 0) -> None:
        self.rows: dict[Member, int] = {}
        self.members: list[Member] = []
        self._labels: list[int] = []
        self._label_of = label_of
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.direct: list[tuple[int, int]] = []  # rows linked without a pair test
        self._pairs: list[tuple[int, int, int]] = []  # two-member buckets, the usual case

    def row(self, member: Member) -> int:
        row = self.rows.get(member)
        if row is None:
            row = self.rows[member] = len(self.members)
            self.members.append(member)
            self._labels.append(self._label_of(member))
        return row

    def add_bucket(self, members: Sequence[tuple[Member, int]], keep=None,
                   any_band: bool = False, collapse: bool = False) -> None:
        """Every pair of the bucket, or those ``keep(labels_i, labels_j)`` selects
        (``label_of``: a language, a marked headline); ``any_band``: verify every pair
        here, whatever band it shares first; ``collapse``: members equal in everything the
        pair test reads (signature, size, headline, marker) are linked to the first of
        them directly and only that one is paired, so a story copied verbatim a thousand
        times costs a thousand links, not half a million pair tests."""
        by_row = {self.row(m): -1 if any_band else band for m, band in members}
        if collapse:
            firsts: dict[tuple, int] = {}
            distinct: dict[int, int] = {}
            for row, band in by_row.items():
                first = firsts.setdefault(tuple(self.members[row][1:5]), row)
                if first == row:
                    distinct[row] = band
                else:
                    self.direct.append((first, row))
            by_row = distinct
        if len(by_row) < 2:
            return
        if len(by_row) == 2:
            (r0, b0), (r1, b1) = by_row.items()
            if keep is None or keep(np.array([self._labels[r1]]), np.array([self._labels[r0]]))[0]:
                self._pairs.append((r1, r0, b0 if b0 == b1 else -1))
            return
        rows = np.fromiter(by_row, dtype=np.int64, count=len(by_row))
        bands = np.fromiter(by_row.values(), dtype=np.int64, count=len(by_row))
        i, j = np.tril_indices(len(rows), -1)
        if keep is not None:
            labels = np.fromiter((self._labels[r] for r in by_row), dtype=np.int64,
                                 count=len(by_row))
            kept = keep(labels[i], labels[j])
            i, j = i[kept], j[kept]
        # a pair filed under two bands in one bucket is a fold collision: verify it here
        band = np.where(bands[i] == bands[j], bands[i], -1)
        self._parts.append((rows[i], rows[j], band))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        parts = list(self._parts)
        if self._pairs:
            parts.append(tuple(np.array(column, dtype=np.int64)
                               for column in zip(*self._pairs, strict=True)))
        if not parts:
            return None
        return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))


_CHUNK = 1 << 15  # pairs compared at once (x 192 signature slots)


def _first_shared_band(equal: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Per pair, the first band whose rows are all equal, or -1."""
    shared = equal[:, : bands * rows].reshape(len(equal), bands, rows).all(axis=2)
    return np.where(shared.any(axis=1), shared.argmax(axis=1), -1)


def _verified_near(buckets: Sequence[tuple[str, Sequence[tuple[Member, int]]]],
                   config: DedupConfig) -> Iterable[tuple[str, str]]:
    pairs = _Pairs(lambda m: int(bool(m[4])))  # label: a marked re-issue
    for namespace, members in buckets:
        if namespace == NEAR:
            pairs.add_bucket(members, collapse=True)
        elif any(m[4] for m, _ in members):  # headline buckets serve marked re-issues only
            pairs.add_bucket(members, keep=np.logical_or, any_band=True, collapse=True)
    for first, row in pairs.direct:  # equal signatures: Jaccard 1, a near duplicate
        yield pairs.members[first][0], pairs.members[row][0]
    arrays = pairs.arrays()
    if arrays is None:
        return
    left, right, band = arrays
    sigs = np.stack([u32_from(m[1]) for m in pairs.members])
    sizes = np.array([m[2] for m in pairs.members], dtype=np.int64)
    for start in range(0, len(left), _CHUNK):
        a, b, c = (x[start:start + _CHUNK] for x in (left, right, band))
        equal = sigs[a] == sigs[b]
        first = _first_shared_band(equal, config.bands, config.rows)
        # verified in the bucket of the first band the pair shares (or wherever a fold
        # collision puts it: more checks, never fewer)
        owned = (c < 0) | (first < 0) | (first >= c)
        a, b, equal = a[owned], b[owned], equal[owned]
        jaccards = equal.mean(axis=1)
        ok = near_matches(jaccards, sizes[a], sizes[b], config)
        for k in np.flatnonzero(~ok):  # a marked re-issue, either way round
            ma, mb = pairs.members[a[k]], pairs.members[b[k]]
            if not (ma[4] or mb[4]):
                continue
            for x, y in ((ma, mb), (mb, ma)):
                if x[4] and x[3] and reissue_match(float(jaccards[k]), x[2], y[2],
                                                   u32_from(x[3]), u32_from(y[3]), config):
                    ok[k] = True
                    break
        for k in np.flatnonzero(ok):
            yield pairs.members[a[k]][0], pairs.members[b[k]][0]


def _verified_translations(buckets: Sequence[Sequence[tuple[Member, int]]],
                           config: DedupConfig) -> Iterable[tuple[str, str]]:
    languages: dict[str, int] = {}
    pairs = _Pairs(lambda m: languages.setdefault(m[2], len(languages)))
    for members in buckets:
        pairs.add_bucket(members, keep=np.not_equal)
    arrays = pairs.arrays()
    if arrays is None:
        return
    left, right, band = arrays
    sigs = np.stack([u32_from(m[1]) for m in pairs.members])
    for start in range(0, len(left), _CHUNK):
        a, b, c = (x[start:start + _CHUNK] for x in (left, right, band))
        equal = sigs[a] == sigs[b]
        first = _first_shared_band(equal, config.anchor_bands, config.anchor_rows)
        owned = (c < 0) | (first < 0) | (first >= c)
        confidence = np.count_nonzero(equal, axis=1) / config.anchor_perm
        for k in np.flatnonzero(owned & (confidence >= config.translation_threshold)):
            yield pairs.members[a[k]][0], pairs.members[b[k]][0]


def run_clocks(records: Iterable[tuple[str, float | None]],
               ttl_seconds: float) -> list[tuple[float, float]]:
    """The index clock ``(now, epoch)`` just before each record of a run, in run order.

    Mirrors ``DedupIndex.observe`` (the rule is ``clock.DedupClock``'s): the clock is the
    largest real event time of the records it remembered, the epoch the first; a
    redelivered id that is still remembered (within the TTL) leaves it unchanged. Only
    ids and times: the whole run's list fits one worker.
    """
    clock = DedupClock()
    remembered: dict[str, float] = {}
    clocks: list[tuple[float, float]] = []
    for ident, event_time in records:
        clocks.append(clock.snapshot())
        ts = remembered.get(ident)
        if ts is not None and not clock.expired(ts, ttl_seconds):
            continue
        remembered[ident] = clock.advance(event_time)
    return clocks


def components_of(links: Iterable[tuple[str, str]], ids: Iterable[str]) -> dict[str, str]:
    """Component (its root id) of every id, from the links of all buckets."""
    forest = UnionFind()
    for a, b in links:
        forest.union(a, b)
    return {ident: forest.find(ident) for ident in ids}


def plan_components(fingerprints: Sequence[Fingerprint], event_times: Sequence[float | None],
                    config: DedupConfig) -> tuple[list[str], list[float]]:
    """In one process, what the bounded Beam transform computes in steps: the component
    and the clock of each record of a run (records in run order)."""
    buckets: dict[BucketKey, list[tuple[Member, int]]] = {}
    for fp in fingerprints:
        for key, member, band in bucket_members(fp):
            buckets.setdefault(key, []).append((member, band))
    links = partition_links(buckets, config)
    where = components_of(links, (fp.id for fp in fingerprints))
    clocks = run_clocks(zip((fp.id for fp in fingerprints), event_times, strict=True),
                        config.ttl_seconds)
    return [where[fp.id] for fp in fingerprints], clocks


def decide_by_components(docs: Sequence, event_times: Sequence[float | None],
                         config: DedupConfig,
                         fingerprints: Sequence[Fingerprint] | None = None,
                         ) -> tuple[list[Decision], dict[str, list[int]]]:
    """A bounded run decided the way ``DeduplicateBounded`` does it, in one process: a
    fresh index per component, as on another worker. Returns the decisions in run order
    and the components (positions in the run, by component)."""
    fps = list(fingerprints) if fingerprints is not None else [
        fingerprint_of(doc, config) for doc in docs]
    where, clocks = plan_components(fps, event_times, config)
    groups: dict[str, list[int]] = {}
    for i, component in enumerate(where):
        groups.setdefault(component, []).append(i)
    decided: dict[int, Decision] = {}
    for members in groups.values():
        index = DedupIndex(config)
        for i in members:
            decided[i] = index.observe(docs[i], event_times[i], fingerprint=fps[i],
                                       clock=clocks[i]).decision
    return [decided[i] for i in range(len(docs))], groups
