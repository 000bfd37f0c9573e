"""Splitting a bounded run into components: the decisions must equal one index's."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.similarity import DedupConfig, DedupIndex
from pipeline.similarity.components import (
    UnionFind,
    bucket_members,
    decide_by_components,
    partition_links,
    run_clocks,
)
from pipeline.similarity.fingerprint import Fingerprint
from tests.support.stories import Doc, mixed_run, prose


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ttl", [200.0, 7 * 86400.0])
@pytest.mark.parametrize("bands", [64, 8])  # few bands: the re-issue is found by headline only
def test_components_reach_the_decisions_of_one_index(seed: int, ttl: float, bands: int) -> None:
    config = DedupConfig(ttl_seconds=ttl, bands=bands)
    docs, times = mixed_run(seed)
    one = DedupIndex(config)
    expected = [one.observe(d, t).decision for d, t in zip(docs, times, strict=True)]
    got, groups = decide_by_components(docs, times, config)
    assert got == expected
    kinds = {d.kind for d in expected if d.duplicate_of}
    assert {"exact_body", "near_duplicate", "same_source_url", "exact_url"} <= kinds
    if ttl > 1000:
        assert any(d.related for d in expected)  # the anchor links are exercised too
    # the work really splits: many components, none holding most of the run
    assert len(groups) > 40
    assert max(len(g) for g in groups.values()) < len(docs) / 5


def test_unrelated_articles_sharing_a_bucket_are_not_linked() -> None:
    config = DedupConfig()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**32, size=config.num_perm, dtype=np.uint64).astype(np.uint32)
    other = rng.integers(0, 2**32, size=config.num_perm, dtype=np.uint64).astype(np.uint32)
    other[: config.rows] = base[: config.rows]  # the first band collides, nothing else
    close = base.copy()
    close[::4] = other[::4]  # 75% of the slots agree: a near duplicate

    def member(ident: str, sig: np.ndarray) -> tuple:
        fp = Fingerprint(id=ident, language="en", body_key=None, url_key=None,
                         source_key=None, size=300, signature=sig,
                         band_keys=np.arange(config.bands, dtype=np.uint64))
        return next((m, band) for k, m, band in bucket_members(fp) if k[0] == "near")

    bucket = ("near", 1)
    assert partition_links({bucket: [member("a", base), member("b", other)]}, config) == []
    links = partition_links({bucket: [member("a", base), member("b", other),
                                      member("c", close)]}, config)
    assert links == [("c", "a")]


def test_exact_keys_link_everything_in_their_bucket() -> None:
    config = DedupConfig()
    members = [(("x",), -1), (("y",), -1), (("x",), -1), (("z",), -1)]  # x redelivered
    assert partition_links({("body", 7): members}, config) == [("x", "y"), ("x", "z")]


def test_run_clocks_follow_the_index_clock() -> None:
    ids = ["a", "b", "a", "c", "d", "a"]
    times = [100.0, None, 400.0, 700.0, None, 900.0]
    clocks = run_clocks(zip(ids, times, strict=True), ttl_seconds=500.0)
    # b and d carry no time (the clock stays); the first redelivery of a is still
    # remembered, so its 400 does not move the clock; the last one comes after a expired
    # (100 + 500 <= 700), so it is a new record and moves the clock to 900
    assert [now for now, _ in clocks] == [float("-inf"), 100.0, 100.0, 100.0, 700.0, 700.0]
    assert [epoch for _, epoch in clocks] == [float("-inf")] + [100.0] * 5
    index = DedupIndex(DedupConfig(ttl_seconds=500.0))
    seen = []
    for ident, ts in zip(ids, times, strict=True):
        seen.append(index.clock)
        index.observe(Doc(ident, prose(ord(ident))), ts)
    assert seen == [now for now, _ in clocks]
    assert index.clock == 900.0


def test_union_find() -> None:
    forest = UnionFind()
    for a, b in [(1, 2), (3, 4), (2, 4), (5, 6)]:
        forest.union(a, b)
    assert forest.find(1) == forest.find(3) != forest.find(5)
    assert forest.find(7) == 7


def test_verbatim_copies_collapse_but_a_marked_one_keeps_its_own_links() -> None:
    config = DedupConfig()
    rng = np.random.default_rng(1)
    original = rng.integers(0, 2**32, size=config.num_perm, dtype=np.uint64).astype(np.uint32)
    correction = rng.integers(0, 2**32, size=config.num_perm, dtype=np.uint64).astype(np.uint32)
    correction[::4] = original[::4]  # Jaccard ~0.25: a duplicate only as a marked re-issue
    headline = np.array([1, 2, 3, 4, 5], dtype=np.uint32)

    def member(ident: str, sig: np.ndarray, marked: bool) -> tuple:
        return (ident, sig.tobytes(), 300, headline.tobytes(), marked)

    copies = [(member(f"copy{i}", correction, False), 0) for i in range(600)]
    marked = (member("marked", correction, True), 0)  # same text, CORRECTED marker
    links = partition_links({("near", 9): [(member("orig", original, False), 0), *copies,
                                           marked]}, config)
    forest = UnionFind()
    for a, b in links:
        forest.union(a, b)
    assert forest.find("orig") == forest.find("marked") == forest.find("copy599")
    # without the marked copy the original is a story of its own
    links = partition_links({("near", 9): [(member("orig", original, False), 0), *copies]},
                            config)
    assert all("orig" not in link for link in links) and len(links) == 599
