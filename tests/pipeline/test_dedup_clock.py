"""The dedup clock (issue 21), against routing tables written by hand.

Each run lists (id, body, event time) in arrival order; ``EXPECTED`` is what a person
reading the rule in ``pipeline.similarity.clock`` works out: which id each record is a
duplicate of (None: canonical). Every run is decided twice, by one streaming index in
arrival order and by the bounded path split by story (``decide_by_components``), and
both must give the table.

The rule being checked: the clock is the newest real event time; an undated record never
moves it and is remembered at it (or, before any real time, at the run's first real
time); an entry expires when ``time + ttl <= clock``.
"""

from __future__ import annotations

import pytest

from pipeline.similarity import DedupConfig, DedupIndex
from pipeline.similarity.components import decide_by_components
from tests.support.stories import Doc, prose

DAY = 86400.0
TTL = 7 * DAY
NOW = 1_793_000_000.0  # 2026-10-25, a plain current time
Run = list[tuple[str, int, float | None]]  # id, story (body seed), event time or None


def _decide(run: Run) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """(streaming, bounded) decisions: id -> duplicate_of."""
    config = DedupConfig(ttl_seconds=TTL)
    docs = [Doc(id=rid, body=prose(story, 140), title=f"Story {story}",
                canonical_url=f"https://site{n}.example/{rid}")
            for n, (rid, story, _) in enumerate(run)]
    times = [t for _, _, t in run]
    index = DedupIndex(config)
    streaming = {d.id: index.observe(d, t).decision.duplicate_of
                 for d, t in zip(docs, times, strict=True)}
    bounded, _ = decide_by_components(docs, times, config)
    return streaming, {d.id: decision.duplicate_of for d, decision in zip(docs, bounded,
                                                                          strict=True)}


UNDATED_THEN_DATED: Run = [
    *((f"orig-{i}", i, None) for i in range(5)),
    ("dated", 99, NOW),
    *((f"copy-{i}", i, None) for i in range(5)),
]
OUT_OF_ORDER: Run = [
    ("a", 1, NOW),
    ("b", 2, NOW + 3 * DAY),
    ("a-late-copy", 1, NOW + 1 * DAY),  # late, but a is 3 days old at the clock: found
    ("c-old", 3, NOW - 30 * DAY),  # dated before the TTL: remembered, already expired
    ("c-copy", 3, NOW + 3 * DAY),  # c-old is past its TTL at the clock: canonical
    ("b-copy", 2, NOW + 9 * DAY),  # clock moves to +9 d: b (+3 d) is 6 days old, found
    ("a-copy", 1, NOW + 9 * DAY),  # a (now) and a-late-copy (+1 d) are 9 and 8 days old
]
DECADES_OLD_FIRST: Run = [
    ("ancient", 7, NOW - 40 * 365 * DAY),
    ("fresh", 8, NOW),
    ("fresh-copy", 8, NOW + DAY),
    ("ancient-copy", 7, NOW + DAY),  # the 1986 original expired long ago: canonical
    ("ancient-copy-2", 7, None),  # undated: remembered at the clock, finds ancient-copy
]
UNDATED_EXPIRE_BY_REAL_TIME: Run = [
    ("undated", 4, None),  # pending, then the run's first real time (NOW)
    ("first", 5, NOW),
    ("later", 6, NOW + 8 * DAY),  # the clock passes NOW + TTL: undated expires
    ("undated-copy", 4, None),  # canonical: its original expired by real times only
    ("undated-copy-2", 4, None),  # remembered at the clock (+8 d): found
]

EXPECTED: dict[str, tuple[Run, dict[str, str | None]]] = {
    "undated, dated, undated copies": (UNDATED_THEN_DATED, {
        **{f"orig-{i}": None for i in range(5)}, "dated": None,
        **{f"copy-{i}": f"orig-{i}" for i in range(5)}}),
    "dated out of order, within and beyond the TTL": (OUT_OF_ORDER, {
        "a": None, "b": None, "a-late-copy": "a", "c-old": None, "c-copy": None,
        "b-copy": "b", "a-copy": None}),
    "decades-old record, then current ones": (DECADES_OLD_FIRST, {
        "ancient": None, "fresh": None, "fresh-copy": "fresh", "ancient-copy": None,
        "ancient-copy-2": "ancient-copy"}),
    "undated records expire by real times only": (UNDATED_EXPIRE_BY_REAL_TIME, {
        "undated": None, "first": None, "later": None, "undated-copy": None,
        "undated-copy-2": "undated-copy"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_streaming_and_bounded_paths_route_as_the_hand_written_table(name: str) -> None:
    run, expected = EXPECTED[name]
    streaming, bounded = _decide(run)
    assert streaming == expected
    assert bounded == expected


def test_undated_records_never_move_the_clock() -> None:
    index = DedupIndex(DedupConfig(ttl_seconds=TTL))
    index.observe(Doc(id="u0", body=prose(1, 140)), None)
    assert index.clock == float("-inf")  # no real time seen yet
    index.observe(Doc(id="d", body=prose(2, 140)), NOW)
    index.observe(Doc(id="u1", body=prose(3, 140)), None)
    index.observe(Doc(id="old", body=prose(4, 140)), NOW - 365 * DAY)
    assert index.clock == NOW
