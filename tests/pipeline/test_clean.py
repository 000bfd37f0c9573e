"""CleanArticles, the Beam wrapper: outputs, dead letters, per-site learned chrome."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.boilerplate import clean_document
from pipeline.clean import CleanArticles, apply_cleaning, site_of
from pipeline.stage import ARTICLES, DEAD_LETTER
from schemas.failures import StageError
from schemas.models import Article, Provenance, ProvenanceKind

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
PROV = Provenance(kind=ProvenanceKind.FILE, file="seeds", line=1)
PROSE = ("The regional council approved the new budget on Tuesday after a long debate "
         "about schools, roads and the cost of heating public buildings this winter. ")


def article(n: int, body: str | None = None, *, source: str | None = None,
            title: str = "", html: str | None = None,
            url: str | None = None) -> Article:
    url = url or f"https://www.example.com/news/{n}"
    return Article(id=f"a{n}", url=url, canonical_url=url, title=title, body=body or "",
                   html=html, source=source, provenance=PROV)


def test_site_is_the_source_else_the_host_without_www() -> None:
    assert site_of(article(1, "x", source="NRK")) == "nrk"
    assert site_of(article(1, "x")) == "example.com"


def test_apply_cleaning_fills_fields_and_drops_html() -> None:
    seed = next(SEEDS.glob("004_*.txt")).read_text(encoding="utf-8")
    raw = article(1, seed, title="Vietnam.vn - Nền tảng quảng bá Việt Nam")
    out = apply_cleaning(raw, clean_document(seed, title=raw.title))
    assert out.title == "Japansk ambassadør: Vietnam er en viktig og uerstattelig partner"
    assert out.source_url.startswith("https://www.vietnamplus.vn/")
    assert len(out.captions) == 6 and out.html is None
    assert out.boilerplate.reasons["related"] == 15
    assert "Kommentar" not in out.body and "No data" not in out.body
    assert out.body.split("\n\n")[0].startswith("Ambassadør Ito Naoki så tilbake")


def test_nothing_left_is_an_empty_after_cleaning_error() -> None:
    raw = article(1, "Share\nKommentar (0)\nNo data\n")
    with pytest.raises(StageError) as caught:
        apply_cleaning(raw, clean_document(raw.body))
    assert caught.value.error_class == "EmptyAfterCleaning"


def test_html_article_gets_metadata_from_the_page() -> None:
    html = next(SEEDS.glob("*.html")).read_text(encoding="utf-8")
    raw = article(1, html=html, url="https://www.example.org/x")
    out = apply_cleaning(raw, clean_document(None, html, url=raw.url))
    assert out.title and out.author and out.published_at is not None
    assert out.canonical_url != raw.url and out.canonical_url.startswith("https://")
    assert "cookie" not in out.body.lower()
    assert out.html is None


def test_transform_cleans_learns_site_chrome_and_routes_dead_letters() -> None:
    footer = "Sign up for the Example Daily briefing in your inbox every morning"
    site_a = [article(i, f"{PROSE}{i}.\n{footer}\n{PROSE * 2} Number {i}.", source="a")
              for i in range(6)]
    # The same footer on another site is never learned for it: state is per site.
    site_b = [article(100, f"{PROSE}b.\n{footer}\n{PROSE * 2}", source="b")]
    empty = article(200, "Share\nNo data", source="c")
    page = article(300, html=next(SEEDS.glob("101_*.html")).read_text(encoding="utf-8"),
                   url="https://www.northportcourier.example/x")
    with TestPipeline() as p:
        out = p | beam.Create(site_a + site_b + [empty, page]) | "CleanArticles" >> CleanArticles(
            site_window=50)
        pages = out[ARTICLES] | beam.Filter(lambda a: a.id == "a300") | beam.Map(
            lambda a: (a.title, a.author, a.html, len(a.captions), "Advertisement" in a.body))
        assert_that(pages, equal_to([("Harbour council approves landing site for offshore "
                                      "wind cable", "Maria Ellison", None, 1, False)]),
                    label="html")
        footers = out[ARTICLES] | beam.Filter(lambda a: a.id != "a300") | beam.Map(lambda a: (a.source, footer in a.body,
                                                      a.boilerplate.reasons.get("site_chrome", 0)))
        assert_that(footers | "Count" >> beam.combiners.Count.PerElement(),
                    equal_to([(("a", True, 0), 2), (("a", False, 1), 4), (("b", True, 0), 1)]),
                    label="site_chrome")
        assert_that(out[DEAD_LETTER] | beam.Map(lambda d: (d.stage, d.error_class)),
                    equal_to([("clean", "EmptyAfterCleaning")]), label="dead")


def test_transform_refuses_unbounded_state() -> None:
    with pytest.raises(ValueError, match="bounded"):
        CleanArticles(site_window=0)
