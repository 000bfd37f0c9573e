"""Split a bounded run into parts that can be deduplicated apart, with unchanged decisions.

First seen wins is a sequential rule, but an article's decision only ever reads index
entries it shares a key with: its exact keys, an LSH bucket holding a canonical it
verifies against, an anchor bucket holding a translation. Link two articles when one
could read the other (``bucket_links``); the connected components of those links are
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

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from pipeline.similarity.config import DedupConfig
from pipeline.similarity.fingerprint import Fingerprint
from pipeline.similarity.verify import near_matches, reissue_match, translation_confidence

__all__ = ["UnionFind", "bucket_links", "bucket_members", "components_of", "plan_components",
           "run_clocks"]

# bucket namespaces: the index tables an article is looked up in
EXACT = ("id", "body", "url")   # redelivered id, normalised body, canonical/credited URL
NEAR, TITLE, ANCHOR = "near", "title", "anchor"

BucketKey = tuple[str, int | str]
Member = tuple[Any, ...]


def _fold(keys: np.ndarray) -> list[int]:
    """32-bit folds of band keys, as ``BandTable`` stores them: a fold collision makes
    the index propose a candidate, so it must make a bucket here too."""
    arr = np.asarray(keys, dtype=np.uint64)
    return np.unique((arr >> np.uint64(32)) ^ (arr & np.uint64(0xFFFFFFFF))).tolist()


def _bytes(values: np.ndarray | None) -> bytes:
    return b"" if values is None else np.ascontiguousarray(values, dtype="<u4").tobytes()


def _u32(raw: bytes) -> np.ndarray | None:
    return np.frombuffer(raw, dtype="<u4") if raw else None


def bucket_members(fp: Fingerprint) -> list[tuple[BucketKey, Member]]:
    """Every bucket the article is looked up or filed in, with what verifying it needs
    (plain tuples of str/bytes/int: cheap to shuffle)."""
    out: list[tuple[BucketKey, Member]] = [(("id", fp.id), (fp.id,))]
    for key in (fp.body_key,):
        if key is not None:
            out.append((("body", key), (fp.id,)))
    for key in {k for k in (fp.url_key, fp.source_key) if k is not None}:
        out.append((("url", key), (fp.id,)))  # one table in the index: URL and credit
    if fp.signature is not None:
        member = (fp.id, _bytes(fp.signature), fp.size, _bytes(fp.title_hashes), fp.marked)
        out.extend(((NEAR, k), member) for k in _fold(fp.band_keys))
        if fp.title_keys is not None:
            out.extend(((TITLE, k), member) for k in _fold(fp.title_keys))
    if fp.anchor_signature is not None and fp.language != "und":
        member = (fp.id, _bytes(fp.anchor_signature), fp.language)
        out.extend(((ANCHOR, k), member) for k in _fold(fp.anchor_keys))
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


def bucket_links(key: BucketKey, members: Iterable[Member],
                 config: DedupConfig) -> list[tuple[str, str]]:
    """Links among one bucket's articles that keep every pair able to affect a decision
    connected: a spanning forest (at most one link per article), not every pair."""
    namespace = key[0]
    unique: dict[str, Member] = {}
    for member in members:
        unique.setdefault(member[0], member)  # a redelivered id: one article
    items = [unique[i] for i in sorted(unique)]
    if len(items) < 2:
        return []
    if namespace in EXACT:
        return [(items[0][0], m[0]) for m in items[1:]]
    forest = UnionFind()
    links: list[tuple[str, str]] = []
    pairs = _near_pairs(items, config) if namespace in (NEAR, TITLE) else \
        _translation_pairs(items, config)
    for i, j in pairs:
        if forest.union(items[i][0], items[j][0]):
            links.append((items[i][0], items[j][0]))
    return links


def _near_pairs(items: Sequence[Member], config: DedupConfig) -> Iterable[tuple[int, int]]:
    """Pairs (i, j), j < i, where either is a near duplicate of the other as a canonical."""
    sigs = np.stack([_u32(m[1]) for m in items])
    sizes = np.array([m[2] for m in items], dtype=np.int64)
    titles = [_u32(m[3]) for m in items]
    marked = [j for j, m in enumerate(items) if m[4] and titles[j] is not None]
    for i in range(1, len(items)):
        jaccards = (sigs[:i] == sigs[i]).mean(axis=1)
        ok = near_matches(jaccards, int(sizes[i]), sizes[:i], config,
                          titles[i] if items[i][4] else None, titles[:i])
        for j in marked:  # j, a marked re-issue, against i as its canonical
            if j >= i:
                break
            if not ok[j]:
                ok[j] = reissue_match(float(jaccards[j]), int(sizes[j]), int(sizes[i]),
                                      titles[j], titles[i], config)
        yield from ((i, int(j)) for j in np.flatnonzero(ok))


def _translation_pairs(items: Sequence[Member],
                       config: DedupConfig) -> Iterable[tuple[int, int]]:
    """Pairs in different languages whose anchors agree enough for a translation link."""
    sigs = [_u32(m[1]) for m in items]
    for i in range(1, len(items)):
        for j in range(i):
            if (items[i][2] != items[j][2]
                    and translation_confidence(sigs[i], sigs[j], config)
                    >= config.translation_threshold):
                yield i, j


def run_clocks(records: Iterable[tuple[str, float | None]],
               ttl_seconds: float) -> list[float]:
    """The index clock just before each record of a run, in run order.

    Mirrors ``DedupIndex.observe``: the clock is the largest event time of the records
    it remembered; a redelivered id that is still remembered (within the TTL) leaves it
    unchanged. Only ids and times: the whole run's list fits one worker.
    """
    clock = float("-inf")
    remembered: dict[str, float] = {}
    clocks: list[float] = []
    for ident, event_time in records:
        clocks.append(clock)
        ts = remembered.get(ident)
        if ts is not None and ts + ttl_seconds > clock:
            continue
        if event_time is not None and event_time > clock:
            clock = event_time
        ts = event_time if event_time is not None else clock
        remembered[ident] = 0.0 if ts == float("-inf") else ts
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
    buckets: dict[BucketKey, list[Member]] = {}
    for fp in fingerprints:
        for key, member in bucket_members(fp):
            buckets.setdefault(key, []).append(member)
    links = [link for key, members in buckets.items()
             for link in bucket_links(key, members, config)]
    where = components_of(links, (fp.id for fp in fingerprints))
    clocks = run_clocks(zip((fp.id for fp in fingerprints), event_times, strict=True),
                        config.ttl_seconds)
    return [where[fp.id] for fp in fingerprints], clocks
