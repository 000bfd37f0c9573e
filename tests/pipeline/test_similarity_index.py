"""The deduplication core: decisions, verification against the canonical, TTL and restart."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import struct

import numpy as np
import pytest

from pipeline.similarity import (
    DAY_SECONDS,
    DedupConfig,
    DedupIndex,
    Entry,
    MinHasher,
    band_keys,
    candidate_probability,
    decode_entry,
    encode_entry,
    estimate_containment,
    estimate_jaccard,
    shingle_hashes,
    tokens,
)
from tests.support.stories import WORDS, Doc, anchored_story, edit, prose, reissue_pair


def run(docs: list[Doc], index: DedupIndex | None = None,
        times: list[float] | None = None) -> dict[str, tuple[str | None, str | None]]:
    index = DedupIndex() if index is None else index
    out = {}
    for i, doc in enumerate(docs):
        decision = index.observe(doc, None if times is None else times[i]).decision
        out[doc.id] = (decision.duplicate_of, decision.kind)
    return out


# ---------------------------------------------------------------- MinHash / LSH
def test_minhash_estimates_jaccard_and_is_reproducible() -> None:
    a = shingle_hashes(tokens(prose(1, 400)), 3)
    b = shingle_hashes(tokens(edit(prose(1, 400), 40)), 3)
    true = len(np.intersect1d(a, b)) / len(np.union1d(a, b))
    sig_a, sig_b = MinHasher(192, seed=1).signature(a), MinHasher(192, seed=1).signature(b)
    assert abs(estimate_jaccard(sig_a, sig_b) - true) < 0.12
    assert np.array_equal(sig_a, MinHasher(192, seed=1).signature(a))  # every worker agrees
    assert not np.array_equal(sig_a, MinHasher(192, seed=2).signature(a))


def test_banding_is_explicit_and_catches_moderate_similarity() -> None:
    assert candidate_probability(0.35, 64, 3) > 0.93
    assert candidate_probability(0.01, 64, 3) < 1e-4
    assert candidate_probability(0.5, 16, 8) < 0.1  # why "tuned for 0.8" misses corrections
    sig = MinHasher(192).signature(shingle_hashes(tokens(prose(3)), 3))
    keys = band_keys(sig, 64, 3)
    assert len(keys) == len(np.unique(keys)) == 64
    with pytest.raises(ValueError):
        band_keys(sig, 65, 3)
    assert estimate_containment(0.5, 100, 200) == pytest.approx(1.0)


# ---------------------------------------------------------------- decisions
def test_exact_copy_edited_copy_and_unrelated() -> None:
    story = prose(10)
    decisions = run([
        Doc("a", story),
        Doc("b", story.upper().replace(".", " ;")),   # same words, other case/punctuation
        Doc("c", edit(story, 6)),                     # a few words changed
        Doc("d", prose(11)),                          # another story
    ])
    assert decisions == {"a": (None, None), "b": ("a", "exact_body"),
                         "c": ("a", "near_duplicate"), "d": (None, None)}


def test_near_duplicate_reports_similarity() -> None:
    index = DedupIndex()
    index.observe(Doc("a", prose(12)))
    decision = index.observe(Doc("b", edit(prose(12), 8))).decision
    assert decision.kind == "near_duplicate" and 0.5 < decision.similarity < 1.0


def test_correction_that_drops_paragraphs_is_found_by_containment() -> None:
    original = prose(20, 240)
    corrected = " ".join(edit(original, 3).split()[:70]) + " (corrects figure in paragraph two)"
    decisions = run([Doc("orig", original), Doc("corr", corrected)])
    assert decisions["corr"] == ("orig", "near_duplicate")


def test_verification_is_against_the_canonical_not_a_chain() -> None:
    base = prose(30, 200).split()
    step1 = base[:]
    step1[0:50] = [f"first{i}" for i in range(50)]      # Jaccard to base ~0.58
    step2 = step1[:]
    step2[100:150] = [f"second{i}" for i in range(50)]  # ~0.58 to step1, ~0.31 to base
    base, step1, step2 = " ".join(base), " ".join(step1), " ".join(step2)
    cfg = DedupConfig(threshold=0.5, containment=0.9)
    index = DedupIndex(cfg)
    decisions = run([Doc("base", base), Doc("s1", step1), Doc("s2", step2)], index)
    assert decisions["s1"] == ("base", "near_duplicate")
    assert decisions["s2"] == (None, None)  # chaining would have attached it via s1


def test_exact_url_with_tracking_parameters() -> None:
    decisions = run([
        Doc("a", prose(40), canonical_url="https://news.example/x/1"),
        Doc("b", prose(41), canonical_url="http://www.news.example/x/1?utm_source=tw"),
    ])
    assert decisions["b"] == ("a", "exact_url")


def test_translations_sharing_a_source_url_are_one_story() -> None:
    source = "https://origin.example/story-123.html"
    decisions = run([
        Doc("nb", prose(50), language="nb", source_url=source),
        Doc("en", prose(51), language="en", source_url=source + "?utm_medium=rss"),
        Doc("orig", prose(52), language="vi", canonical_url=source),
        Doc("other", prose(53), language="de", source_url="https://origin.example/"),
    ])
    assert decisions["en"] == ("nb", "same_source_url")
    assert decisions["orig"] == ("nb", "same_source_url")  # the credited page itself
    assert decisions["other"] == (None, None)  # a site root names no story


def test_translation_of_an_article_already_seen() -> None:
    decisions = run([
        Doc("orig", prose(54), language="vi", canonical_url="https://origin.example/a/9"),
        Doc("nb", prose(55), language="nb", source_url="https://origin.example/a/9"),
    ])
    assert decisions["nb"] == ("orig", "same_source_url")


def test_probable_translation_is_a_relation_not_a_duplicate() -> None:
    english = anchored_story(
        "The report names {name} and cites {figure} as a {word} target.", WORDS[:10])
    norwegian = anchored_story(
        "Rapporten nevner {name} og viser til {figure} som et {word} mål.", WORDS[10:20])
    unrelated = prose(60)
    index = DedupIndex()
    run([Doc("en", english, language="en"), Doc("x", unrelated)], index)
    decision = index.observe(Doc("nb", norwegian, language="nb")).decision
    assert decision.duplicate_of is None
    assert [(r.id, r.relation) for r in decision.related] == [("en", "probable_translation")]
    assert 0.3 <= decision.related[0].confidence <= 1.0
    # the same anchors in the *same* language are not a translation
    same = index.observe(Doc("en2", norwegian.replace("Rapporten", "Notatet"),
                             language="en")).decision
    assert all(r.id != "en" for r in same.related)


def test_short_texts_fall_back_to_exact_keys() -> None:
    decisions = run([Doc("a", "Storm closes the harbour road tonight"),
                     Doc("b", "Storm closes the harbour road tonight!"),
                     Doc("c", "Storm closes the harbour bridge tonight")])
    assert decisions == {"a": (None, None), "b": ("a", "exact_body"), "c": (None, None)}
    # a body of a word or two proves nothing on its own: the headline must agree too
    tiny = run([Doc("v1", "Video.", title="Storm hits the coast"),
                Doc("v2", "Video", title="Election results tonight"),
                Doc("v3", "VIDEO", title="Storm hits the coast!")])
    assert tiny == {"v1": (None, None), "v2": (None, None), "v3": ("v1", "exact_body")}


def test_redelivery_returns_the_first_decision() -> None:
    index = DedupIndex()
    run([Doc("a", prose(70)), Doc("b", prose(70))], index)
    again = index.observe(Doc("b", prose(70)))
    assert (again.decision.duplicate_of, again.decision.kind, again.record) == (
        "a", "exact_body", None)
    assert index.observe(Doc("a", prose(70))).decision.duplicate_of is None
    assert len(index) == 2


# ---------------------------------------------------------------- time and state
def test_ttl_expiry() -> None:
    story, cfg = prose(80), DedupConfig(ttl_seconds=DAY_SECONDS)
    index = DedupIndex(cfg)
    decisions = run([Doc("a", story), Doc("b", story), Doc("filler", prose(81)),
                     Doc("c", edit(story, 4))], index,
                    times=[0.0, 0.5 * DAY_SECONDS, 2.0 * DAY_SECONDS, 2.1 * DAY_SECONDS])
    assert decisions["b"] == ("a", "exact_body")   # within a day
    assert decisions["c"] == (None, None)          # a and b were forgotten
    assert {e.id for e in (decode_entry(r) for r in index.records())} == {"filler", "c"}
    with pytest.raises(ValueError, match="ttl_seconds must be positive"):
        DedupConfig(ttl_seconds=0)


def test_late_event_time_does_not_rewind_the_clock() -> None:
    index = DedupIndex(DedupConfig(ttl_seconds=100.0))
    index.observe(Doc("a", prose(82)), 1000.0)
    index.observe(Doc("late", prose(83)), 10.0)       # expired on arrival: kept out
    assert index.clock == 1000.0
    assert index.observe(Doc("b", prose(83)), 1001.0).decision.duplicate_of is None


def _stream() -> list[Doc]:
    stories = [prose(100 + i) for i in range(8)]
    docs = []
    for i in range(40):
        base = stories[i % 8]
        kind = i % 4
        body = base if kind == 0 else edit(base, 5, seed=i) if kind == 1 else prose(200 + i)
        docs.append(Doc(f"d{i}", body, source_url=(f"https://o.example/s{i % 3}/x"
                                                   if kind == 3 else None)))
    return docs


def test_restart_from_serialised_state_continues_identically() -> None:
    docs = _stream()
    times = [i * 3600.0 for i in range(len(docs))]
    cfg = DedupConfig(ttl_seconds=12 * 3600.0)
    uninterrupted = run(docs, DedupIndex(cfg), times)

    first = DedupIndex(cfg)
    log: list[bytes] = []
    for doc, t in zip(docs[:25], times[:25], strict=True):
        log.append(first.observe(doc, t).record)
    for snapshot in (first.records(), log):  # compacted snapshot, or the full observe log
        restored = DedupIndex.restore(list(snapshot), cfg)
        assert restored.clock == first.clock and len(restored) == len(first)
        resumed = run(docs[25:], restored, times[25:])
        assert resumed == {k: v for k, v in uninterrupted.items() if k in resumed}


def test_state_records_roundtrip_and_refuse_unknown_versions() -> None:
    sig = np.arange(192, dtype=np.uint32)
    entry = Entry(seq=3, id="é-1", ts=12.5, canonical=None, language="nb", body_key=2**63,
                  url_key=None, source_key=7, size=40, signature=sig, n_anchors=12,
                  anchor_signature=sig[:48])
    back = decode_entry(encode_entry(entry))
    assert (back.id, back.ts, back.body_key, back.url_key, back.source_key, back.size) == (
        "é-1", 12.5, 2**63, None, 7, 40)
    assert np.array_equal(back.signature, sig) and np.array_equal(back.anchor_signature, sig[:48])
    dup = Entry(seq=4, id="d", ts=1.0, canonical="é-1", language="en", body_key=None,
                url_key=1, source_key=None, kind="near_duplicate", similarity=0.8123)
    assert decode_entry(encode_entry(dup)) == dup
    with pytest.raises(ValueError, match="unknown dedup state record version"):
        decode_entry(b"\x09" + encode_entry(dup)[1:])


def _same_entry(a: Entry, b: Entry) -> bool:
    """Field by field; a hash array equals another of the same uint32 values (or None)."""
    def same(x, y) -> bool:
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            return (x is not None and y is not None and x.dtype == y.dtype == np.uint32
                    and np.array_equal(x, y))
        return x == y
    return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(Entry))


def test_state_records_are_written_and_read_as_the_version_2_layout() -> None:
    """Golden records built by hand from the layout ``entry.py`` describes, little-endian:
    ``<BqdIIBBfQQQHHBHHH`` (version 2, seq, ts, size, n_anchors, flags: 1 body / 2 url /
    4 source key present, kind index, similarity as float32 or NaN, body, url and source
    keys (0 when absent), byte lengths of id, canonical, language, signature, anchor
    signature, title hashes), then those six fields: UTF-8 text and uint32 arrays."""
    sig, anchors, titles = [1, 2**32 - 1, 0x01020304, 7], [5, 6], [9]
    canonical = Entry(seq=3, id="é-1", ts=12.5, canonical=None, language="nb",
                      body_key=2**63, url_key=None, source_key=7, size=40,
                      signature=np.array(sig, dtype=np.uint32), n_anchors=12,
                      anchor_signature=np.array(anchors, dtype=np.uint32),
                      title_hashes=np.array(titles, dtype=np.uint32))
    canonical_bytes = (
        struct.pack("<BqdIIBBfQQQHHBHHH", 2, 3, 12.5, 40, 12, 1 | 4, 0, math.nan, 2**63, 0, 7,
                    4, 0, 2, 16, 8, 4)
        + "é-1".encode() + b"nb" + struct.pack("<4I", *sig) + struct.pack("<2I", *anchors)
        + struct.pack("<I", *titles))
    duplicate = Entry(seq=4, id="d", ts=1.0, canonical="é-1", language="en", body_key=None,
                      url_key=1, source_key=2**64 - 1, kind="near_duplicate",
                      similarity=0.8125)
    duplicate_bytes = (
        struct.pack("<BqdIIBBfQQQHHBHHH", 2, 4, 1.0, 0, 0, 2 | 4, 4, 0.8125, 0, 1, 2**64 - 1,
                    1, 4, 2, 0, 0, 0)
        + b"d" + "é-1".encode() + b"en")
    for entry, golden in ((canonical, canonical_bytes), (duplicate, duplicate_bytes)):
        assert encode_entry(entry) == golden
        assert _same_entry(decode_entry(golden), entry)
    # the version 1 layout (before title hashes) is refused, not misread
    v1 = struct.pack("<BqdIIBBfQQQHHBHH", 1, 4, 1.0, 0, 0, 2, 4, 0.8125, 0, 1, 0, 1, 4, 2, 0, 0)
    with pytest.raises(ValueError, match="unknown dedup state record version"):
        decode_entry(v1 + b"d" + "é-1".encode() + b"en")


def test_exact_groups_do_not_depend_on_arrival_order() -> None:
    story_a, story_b = prose(300), prose(301)
    docs = [Doc("a1", story_a), Doc("a2", story_a.upper()), Doc("a3", story_a + " !"),
            Doc("b1", story_b), Doc("b2", story_b.replace(".", ",")), Doc("c", prose(302))]

    def groups(order: tuple[Doc, ...]) -> set[frozenset[str]]:
        decisions = run(list(order))
        clusters: dict[str, set[str]] = {}
        for ident, (root, _) in decisions.items():
            clusters.setdefault(root or ident, set()).add(ident)
        return {frozenset(c) for c in clusters.values()}

    expected = {frozenset({"a1", "a2", "a3"}), frozenset({"b1", "b2"}), frozenset({"c"})}
    orders = list(itertools.permutations(docs))
    for order in random.Random(0).sample(orders, 60) + [orders[0], orders[-1]]:
        assert groups(order) == expected


def test_marked_wire_reissue_matches_on_headline_and_lower_body_bar() -> None:
    original, corrected = reissue_pair()
    a = shingle_hashes(tokens(original), 3)
    b = shingle_hashes(tokens(corrected), 3)
    inter = len(np.intersect1d(a, b))
    assert 0.2 < inter / (len(a) + len(b) - inter) < 0.3  # below the ordinary bar
    headline = "GM <GM> TO IDLE SIX PLANTS, 21,600 WORKERS"
    decisions = run([Doc("orig", original, title=headline),
                     Doc("corr", corrected, title="CORRECTED - GM <GM> TO IDLE SIX PLANTS")])
    assert decisions["corr"] == ("orig", "near_duplicate")
    # without the marker, or with another headline, the same texts stay apart
    assert run([Doc("orig", original, title=headline),
                Doc("upd", corrected, title="GM <GM> TO IDLE SIX PLANTS")])["upd"] == (None, None)
    assert run([Doc("orig", original, title=headline),
                Doc("corr", corrected, title="CORRECTED - FORD <F> RAISES DIVIDEND")]
               )["corr"] == (None, None)


def test_correction_marker() -> None:
    from pipeline.similarity.titles import strip_marker

    assert strip_marker("CORRECTED - DATRON <DATR> AGREES TO BUYOUT") == (
        True, "DATRON <DATR> AGREES TO BUYOUT")
    assert strip_marker("UPDATE 2-Oil prices fall") == (True, "Oil prices fall")
    assert strip_marker("REFILE-Bank sells unit")[0]
    assert strip_marker("Update on the harbour talks") == (False, "Update on the harbour talks")
    assert strip_marker("Corrections officers strike")[0] is False
