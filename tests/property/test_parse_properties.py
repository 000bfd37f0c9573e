"""Parsing never raises anything but a classified ``StageError``, and ids are stable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.parse import derive_id, parse_message
from pipeline.similarity.normalize import url_host
from schemas.failures import StageError
from schemas.models import Provenance, ProvenanceKind, RawMessage
from schemas.urls import canonical_url

from .strategies import any_text, messages, url_text

_PROVENANCE = Provenance(kind=ProvenanceKind.KAFKA, topic="t", partition=0, offset=7,
                         key=b"\xff\x00", headers={"h": b"\x80"})


def _parse(value: bytes):
    return parse_message(RawMessage(value=value, provenance=_PROVENANCE))


@given(messages)
def test_parse_either_returns_an_article_or_raises_a_classified_stage_error(value: bytes) -> None:
    try:
        article = _parse(value)
    except StageError as exc:
        assert exc.error_class and exc.error_class[0].isupper() and str(exc)
        return
    assert article.id and article.body is not None
    article.to_avro()  # every accepted article can be written
    article.model_dump_json(exclude={"provenance"})  # ... and its text is valid Unicode


@given(messages)
def test_parse_is_deterministic(value: bytes) -> None:
    def outcome(v: bytes) -> object:
        try:
            return _parse(v).model_dump(exclude={"processed_at"})
        except StageError as exc:
            return exc.error_class, str(exc)

    assert outcome(value) == outcome(value)


@given(url_text)
def test_canonical_url_never_raises_and_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@given(url_text, st.sampled_from(["utm_source=x", "fbclid=1", "gclid=2"]))
def test_derived_ids_ignore_tracking_parameters(url: str, tracking: str) -> None:
    canonical = canonical_url(url)
    if not canonical.startswith(("http://", "https://")) or not url_host(canonical):
        return
    separator = "&" if "?" in canonical else "?"
    assert derive_id(canonical_url(canonical + separator + tracking)) == derive_id(canonical)


@given(any_text)
def test_derive_id_is_stable_and_short(canonical: str) -> None:
    first = derive_id(canonical.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    assert len(first) == 32 and first == derive_id(
        canonical.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
