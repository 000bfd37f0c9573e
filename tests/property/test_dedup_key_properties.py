"""Dedup keys: never raise on any string, deterministic, and blind to what must not matter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.similarity.normalize import body_key, tokens, url_host, url_key
from schemas.urls import canonical_url

from .strategies import any_text, url_text, web_text


@given(web_text)
def test_body_key_is_deterministic_and_blind_to_case_and_spacing(text: str) -> None:
    key = body_key(text)
    assert key == body_key(text)
    assert body_key(text.upper()) == key
    assert body_key(text.lower()) == key
    assert body_key("  " + text.replace(" ", "   ") + "\n") == key
    assert (key is None) == (not tokens(text))


@given(url_text)
def test_url_keys_never_raise_and_canonical_urls_are_idempotent(url: str) -> None:
    assert url_key(url) == url_key(url)
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert url_key(once) == url_key(url)


@given(url_text, st.sampled_from(["utm_medium=social", "fbclid=abc", "gclid=1"]))
def test_tracking_parameters_do_not_change_the_url_key(url: str, tracking: str) -> None:
    canon = canonical_url(url)
    if not canon.startswith(("http://", "https://")) or not url_host(canon):
        return
    separator = "&" if "?" in canon else "?"
    assert url_key(canon + separator + tracking) == url_key(canon)


@given(any_text)
def test_tokens_never_raise(text: str) -> None:
    assert all(t and t == t.casefold() for t in tokens(text))


@pytest.mark.parametrize("url", ["https://[::1/story", "A://[", "http://[", "https://a]b/",
                                 "HTTP://0/\ud800", "https://x.example/?q=\udc80"])
def test_url_key_of_an_unparseable_url_does_not_raise(url: str) -> None:
    """Reachable: a page's <link rel=canonical> or a "Source: https://[..." line in the
    body becomes canonical_url/source_url, and dedup keys them with url_key. (Lone
    surrogates are refused at parse time now; the key functions should still not raise.)"""
    assert url_key(url) == url_key(url)
    assert canonical_url(canonical_url(url)) == canonical_url(url)
