"""Exact keys: text folding, canonical URLs, URL identity keys, and the anchor fingerprint."""

from __future__ import annotations

import pytest

from pipeline.similarity import (
    anchor_sequence,
    anchor_tokens,
    body_key,
    normalise_text,
    tokens,
    url_key,
)
from schemas.urls import canonical_url


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTPS://News.Example.COM:443/a/b?utm_source=x&id=7&fbclid=abc#top",
     "https://news.example.com/a/b?id=7"),
    ("http://example.com", "http://example.com/"),
    ("http://example.com:8080/x?b=2&a=1&gclid=z", "http://example.com:8080/x?a=1&b=2"),
    ("https://example.com/%7euser/caf%C3%A9", "https://example.com/~user/caf%C3%A9"),
    ("https://example.com/path?utm_medium=rss&UTM_Campaign=c&mc_cid=1", "https://example.com/path"),
    ("  file:seeds/000.txt ", "file:seeds/000.txt"),
    ("not a url", "not a url"),
])
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected  # idempotent


def test_canonical_url_keeps_parameters_that_name_the_page() -> None:
    assert canonical_url("https://ex.com/read?p=12&page=2") == "https://ex.com/read?p=12&page=2"


def test_url_key_ignores_scheme_www_and_tracking_but_not_the_path() -> None:
    key = url_key("https://www.example.com/story/1?utm_source=feed")
    assert key is not None
    assert key == url_key("http://example.com/story/1")
    assert key != url_key("https://example.com/story/2")
    assert url_key(None) is None and url_key("  ") is None
    # a credit that names only a site says where a story came from, not which story
    assert url_key("https://www.reuters.com/") is None
    assert url_key("file:seeds/000.txt") is not None


def test_text_folding_unicode_case_punctuation_and_digit_forms() -> None:
    assert normalise_text("ＡＢＣ ﬁ Straße") == "abc fi strasse"
    assert tokens("Hello,  WORLD!! It's 2025…") == ["hello", "world", "it", "s", "2025"]
    assert tokens("٣ apples") == tokens("3 apples")  # Arabic-Indic digit folded to ASCII


def test_body_key_folds_layout_but_not_numbers() -> None:
    a = "Shares rose 5% on Tuesday.\n\nThe company said so."
    b = "SHARES  rose 5 %  on tuesday -- the company said so"
    assert body_key(a) == body_key(b)
    # different figures are different stories (earnings tables share one template)
    assert body_key("Net profit 38.5 mln vs 41.2 mln") != body_key("Net profit 12.1 mln vs 9.7 mln")
    assert body_key("") is None and body_key("...") is None


def test_anchor_sequence_keeps_numbers_and_names_in_order() -> None:
    seq = anchor_sequence("On 21 September 1973 Vietnam and Japan opened relations. "
                          "Trade reached 1,042,000 dlrs, said JICA.")
    assert seq == ["#21", "septe", "#1973", "vietn", "japan", "#1042000", "jica"]
    # sentence-initial capitals are not names; separators and diacritics do not matter
    assert anchor_sequence("Trade grew. Nội Bài said 38,5") == ["bai", "#385"]
    assert anchor_sequence("Trade grew at Noi Bai, 38.5") == ["noi", "bai", "#385"]


def test_anchor_tokens_carry_order_as_pairs() -> None:
    tokens_, count = anchor_tokens("He met Ito Naoki and Ishiba Shigeru in 2025.")
    assert count == 5
    assert {"ito>naoki", "naoki>ishib", "#2025"} <= tokens_
