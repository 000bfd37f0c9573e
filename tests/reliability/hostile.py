"""The hostile input corpus: what the open web and broken producers send, one case per kind.

Each ``Case`` is one Kafka message (value, key, headers, CreateTime) and what must become of
it: ``dead letter`` with one of the named reasons, ``processed`` (an article route), or
``either`` (a named reason or an article: both are correct, e.g. a page so broken that
no text survives). Whatever the outcome, it must come within ``BUDGET_SECONDS`` and must
never stop the pipeline.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.encoding import encode_single_object, schema_fingerprint

__all__ = ["BUDGET_SECONDS", "Case", "build_corpus"]

BUDGET_SECONDS = 10.0  # per record, for every stage together

PROCESSED = "processed"
EITHER = "either"
DEAD_LETTER = "dead letter"

_PROSE = (
    "The harbour council met on Tuesday evening to discuss the new ferry timetable, which "
    "residents say has made it harder for them to reach the hospital and the school on time.\n\n"
    "According to the minutes, the council will ask the operator to restore the early "
    "departure from the village by the end of the month, and it will review the fares.\n\n"
    "A spokesperson for the operator said that the company was aware of the complaints and "
    "that it would publish a revised plan after talks with the council next week."
)


@dataclass(frozen=True)
class Case:
    kind: str
    make_value: Callable[[], bytes | None]
    expect: str = PROCESSED
    reasons: frozenset[str] = frozenset()  # accepted dead-letter reasons (error_class)
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp_ms: int | None = None
    why: str = ""

    def value(self) -> bytes | None:
        return self.make_value()


def _article(serial: int, **fields: object) -> dict:
    base = {"id": f"hostile-{serial}", "url": f"https://hostile.example/{serial}",
            "title": f"Ferry timetable, case {serial}", "body": f"{_PROSE}\n\nCase {serial}.",
            "language": "en"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def _json(serial: int, **fields: object) -> Callable[[], bytes]:
    return lambda: json.dumps(_article(serial, **fields)).encode()


def _raw(value: bytes | None) -> Callable[[], bytes | None]:
    return lambda: value


def _breadcrumb_bomb() -> bytes:
    # "ab / ab / ... |": the breadcrumb pattern in patterns.yaml tries every way to split
    # the segments into groups (each +4 segments: ~12x slower; 26 segments ~12 s).
    line = "ab / " * 26 + "|"
    return json.dumps(_article(900, body=f"{_PROSE}\n{line}\n{_PROSE}")).encode()


def _million_tags() -> bytes:
    html = "<html><body>" + "<p>x</p>" * 1_000_000 + "</body></html>"  # ~8 MB, under 8 MiB
    return json.dumps(_article(901, body=_DROP, html=html)).encode()


def _deep_html() -> bytes:
    html = ("<html><body>" + "<div>" * 200_000 + f"<p>{_PROSE}</p>" + "</div>" * 200_000
            + "</body></html>")
    return json.dumps(_article(902, body=_DROP, html=html)).encode()


def _entity_bomb() -> bytes:
    entities = '<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    html = (f'<?xml version="1.0"?><!DOCTYPE html [{entities}]><html><body><p>&j;</p>'
            f"<p>{_PROSE}</p></body></html>")
    return json.dumps(_article(903, body=_DROP, html=html)).encode()


def _long_line() -> bytes:
    rng = random.Random(5)
    words = _PROSE.replace("\n", " ").split()
    line = " ".join(rng.choice(words) for _ in range(300_000))  # ~2 MB, one line
    return json.dumps(_article(904, body=line)).encode()


def _big_prose() -> bytes:
    rng = random.Random(6)
    paragraphs = _PROSE.split("\n\n")
    body = "\n\n".join(f"{rng.choice(paragraphs)} ({i})" for i in range(7_000))  # ~1.2 MB
    return json.dumps(_article(905, body=body)).encode()


def _twenty_megabytes() -> bytes:
    return json.dumps(_article(906, body="x" * (20 * 1024 * 1024))).encode()


def _avro_unknown_fingerprint() -> bytes:
    return b"\xc3\x01" + b"\x13\x37\x13\x37\x13\x37\x13\x37" + b"\x02\x00\x00"


def _avro_truncated() -> bytes:
    datum = {"id": "hostile-907", "url": "https://hostile.example/907", "title": "t",
             "body": _PROSE, "html": None, "source": None, "language": "en",
             "published_at": None}
    try:
        whole = encode_single_object("raw_article", datum)
    except (ValueError, KeyError, TypeError):  # schema differs: keep the header at least
        whole = b"\xc3\x01" + schema_fingerprint("raw_article") + b"\x02"
    return whole[:len(whole) // 2]


def _avro_valid() -> bytes:
    datum = {"id": "hostile-908", "url": "https://hostile.example/908", "title": "Avro",
             "body": _PROSE + "\n\nAvro.", "html": None, "source": None, "language": "en",
             "published_at": None}
    return encode_single_object("raw_article", datum)


_SCRIPT_ONLY = ("<html><head><script>var a = 1;</script><style>p {}</style></head>"
                "<body><script>for(;;){}</script></body></html>")


def build_corpus() -> list[Case]:
    c = Case
    dl = DEAD_LETTER
    return [
        c("invalid JSON (truncated)", _raw(b'{"url": "https://hostile.example/1", "body": "cut'),
          dl, frozenset({"InvalidJson"})),
        c("invalid JSON (trailing garbage)", lambda: _json(2)() + b"}}}", dl,
          frozenset({"InvalidJson"})),
        c("JSON array", _raw(b'[{"url": "https://hostile.example/3"}]'), dl,
          frozenset({"NotAnObject"})),
        c("JSON string", _raw(b'"just a string"'), dl, frozenset({"NotAnObject"})),
        c("JSON null", _raw(b"null"), dl, frozenset({"NotAnObject"})),
        c("JSON number", _raw(b"12345"), dl, frozenset({"NotAnObject"})),
        c("wrong type: url is a number", _json(7, url=42), dl, frozenset({"ValidationError"})),
        c("wrong type: body is a list", _json(8, body=["a", "b"]), dl,
          frozenset({"ValidationError"})),
        c("wrong type: id is a number", _json(9, id=9), dl, frozenset({"ValidationError"})),
        c("wrong type: published_at is not a date", _json(10, published_at="yesterday"), dl,
          frozenset({"ValidationError"})),
        c("missing url", _json(11, url=_DROP), dl, frozenset({"ValidationError"})),
        c("missing body and html", _json(12, body=_DROP), dl, frozenset({"ValidationError"})),
        c("empty body", _json(13, body=""), dl, frozenset({"ValidationError"})),
        c("whitespace-only body (Unicode spaces)", _json(14, body="\u2003 \u00a0\n\t"), dl,
          frozenset({"ValidationError"})),
        c("non-UTF-8 bytes", _raw(b"\xff\xfe\xfd not text \x80\x81"), dl,
          frozenset({"InvalidUtf8"})),
        c("Latin-1 encoded JSON", lambda: json.dumps(
            _article(16, body=_PROSE + " Café"), ensure_ascii=False).encode("latin-1"), dl,
          frozenset({"InvalidUtf8"})),
        c("UTF-16 JSON with BOM", lambda: json.dumps(_article(17)).encode("utf-16"), dl,
          frozenset({"InvalidUtf8"})),
        c("UTF-8 BOM before JSON", lambda: b"\xef\xbb\xbf" + _json(18)(), EITHER,
          frozenset({"InvalidJson"})),
        c("lone UTF-16 surrogate escape in body",
          lambda: _json(19)().replace(b"Case 19.", b"Case 19 \\ud800."), EITHER,
          frozenset({"InvalidUnicode", "InvalidJson", "ValidationError"}),
          why="valid JSON, but the string cannot be encoded as UTF-8 (Avro output)"),
        c("NUL and control characters in body",
          _json(20, body=_PROSE + "\x00\x01\x07\x1b[31m red \x7f"), PROCESSED),
        c("20 MB message", _twenty_megabytes, dl, frozenset({"MessageTooLarge"})),
        c("empty message", _raw(b""), dl, frozenset({"EmptyMessage"})),
        c("whitespace-only message", _raw(b" \n\t\r "), dl, frozenset({"EmptyMessage"})),
        c("tombstone (null value)", _raw(None), dl, frozenset({"Tombstone"}), key=b"gone-1"),
        c("null key, valid article", _json(25), PROCESSED, key=None),
        c("binary key and non-UTF-8 headers", _json(26), PROCESSED, key=b"\xff\x00\xfe",
          headers=[("trace", b"\xff\xfe"), ("empty", b"")]),
        c("invalid JSON under a binary key and headers", _raw(b"{not json"), dl,
          frozenset({"InvalidJson"}), key=b"\xff\xfe\x00", headers=[("trace", b"\x80")],
          why="the dead letter's id hashes the provenance, which holds those bytes"),
        c("Avro with an unknown fingerprint", _avro_unknown_fingerprint, dl,
          frozenset({"UnknownSchemaFingerprint"})),
        c("Avro truncated datum", _avro_truncated, dl, frozenset({"InvalidAvro"})),
        c("Avro valid record", _avro_valid, PROCESSED),
        c("deeply nested JSON (100k levels)", _raw(b"[" * 100_000 + b"]" * 100_000), dl,
          frozenset({"InvalidJson"})),
        c("deeply nested JSON object in a field",
          lambda: _json(31)()[:-1] + b', "extra": ' + b'{"a":' * 50_000 + b"1"
          + b"}" * 50_000 + b"}", dl, frozenset({"InvalidJson"})),
        c("deeply nested HTML (200k divs)", _deep_html, EITHER,
          frozenset({"EmptyAfterCleaning", "TooManyTags"})),
        c("HTML with a million tags", _million_tags, EITHER,
          frozenset({"TooManyTags", "EmptyAfterCleaning", "HtmlTooLarge"})),
        c("HTML entity expansion bomb", _entity_bomb, EITHER,
          frozenset({"EmptyAfterCleaning"})),
        c("HTML with only script and style", _raw(json.dumps(
            _article(35, body=_DROP, html=_SCRIPT_ONLY)).encode()), dl,
          frozenset({"EmptyAfterCleaning"})),
        c("catastrophic-backtracking line", _breadcrumb_bomb, EITHER,
          frozenset({"StageTimeout"})),
        c("single 2 MB line", _long_line, EITHER, frozenset({"BodyTooLong"})),
        c("1.2 MB body of prose", _big_prose, EITHER, frozenset({"BodyTooLong"})),
        c("unparseable URL (bad IPv6 host)", _json(39, url="http://[::1/x"), EITHER,
          frozenset({"InvalidUrl", "ValidationError"}),
          why="urlsplit raises ValueError on it"),
        c("page whose canonical link cannot be parsed", _raw(json.dumps(_article(
            55, body=_DROP, html='<html><head><link rel="canonical" href="http://[::1/x">'
            f"</head><body><article><p>{_PROSE}</p></article></body></html>")).encode()),
          PROCESSED, why="the canonical URL is keyed by dedup (url_key)"),
        c("source line with an unparseable URL",
          _json(56, body=_PROSE + "\n\nSource: https://[2001:db8::1/report"), PROCESSED,
          why="harvested as source_url, then keyed by dedup (url_key)"),
        c("1 MB URL", _json(40, url="https://hostile.example/" + "a" * 1_000_000), EITHER,
          frozenset({"FieldTooLong", "ValidationError"})),
        c("javascript: URL", _json(41, url="javascript:alert(1)"), EITHER,
          frozenset({"ValidationError", "InvalidUrl"})),
        c("duplicate id, first body", _json(42, id="dup-id"), PROCESSED),
        c("duplicate id, different body",
          _json(43, id="dup-id", body="A different story altogether. " + _PROSE[::-1]),
          PROCESSED),
        c("exact duplicate body under another id", _json(44, body=_PROSE + "\n\nCase 42."),
          PROCESSED),
        c("future published_at (year 2999)", _json(45, published_at="2999-01-01T00:00:00Z"),
          PROCESSED),
        c("epoch-zero published_at", _json(46, published_at="1970-01-01T00:00:00Z"),
          PROCESSED),
        c("year-one published_at", _json(47, published_at="0001-01-01T00:00:00Z"), EITHER,
          frozenset({"ValidationError"})),
        c("Kafka CreateTime in the future (2100)", _json(48), PROCESSED,
          timestamp_ms=4_102_444_800_000),
        c("Kafka CreateTime epoch zero", _json(49), PROCESSED, timestamp_ms=0),
        c("invalid language tag", _json(50, language="xx-Klingon-9"), PROCESSED),
        c("emoji, RTL override and zero-width characters",
          _json(51, body=_PROSE + " \U0001f525\u202e\u200b\u200d\ufeff done."), PROCESSED),
        c("unknown fields, NaN and duplicate keys",
          lambda: _json(52)()[:-1] + b', "extra": NaN, "id": "hostile-52b"}', PROCESSED),
        c("script tag inside a text body", _json(53, body=_PROSE + "\n<script>alert(1)</script>"),
          PROCESSED),
    ]
