from __future__ import annotations

from schemas.models import Article, DeadLetter, Provenance, ProvenanceKind, TopicTag
from schemas.routes import route_article, route_dead_letter, routes_for

PROV = Provenance(kind=ProvenanceKind.FILE, file="f", line=1)


def article(tags: list[str], duplicate_of: str | None = None) -> Article:
    return Article(id="a", url="u", canonical_url="u", provenance=PROV, duplicate_of=duplicate_of,
                   topics=[TopicTag(tag=t, score=1.0, iptc_code="medtop:x") for t in tags])


def test_article_with_two_tags_goes_to_both_routes() -> None:
    records = route_article(article(["defense", "semiconductors"]))
    assert [r.route for r in records] == ["semiconductors", "defense"]
    assert all(r.record["routes"] == ["semiconductors", "defense"] for r in records)
    assert all(r.key == "a" and r.schema == "article" for r in records)


def test_untagged_and_duplicates() -> None:
    assert routes_for(article([])) == ["untagged"]
    assert routes_for(article(["energy"], duplicate_of="b")) == ["duplicates"]


def test_dead_letter_route() -> None:
    letter = DeadLetter(id="d", stage="parse", error_class="InvalidJson", error_message="m",
                        payload=b"x", provenance=PROV)
    record = route_dead_letter(letter)
    assert record.route == "dead_letter" and record.schema == "dead_letter"
    assert record.record["payload"] == b"x"
