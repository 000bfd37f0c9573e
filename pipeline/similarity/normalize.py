"""Text and URL normalisation: the exact keys that deduplication hashes.

Republished news differs from its original in ways that carry no meaning for identity:
Unicode forms (full-width digits, ligatures, NBSP), case, punctuation and spacing,
and - for URLs - tracking parameters, fragments and host case. These functions fold all
of that away so that two copies of one text, or two links to one page, hash alike.

Digits are folded in *form* (any Unicode decimal digit becomes its ASCII digit: ``٣``
and ``3`` are the same token), not in *value*: folding ``38.5`` and ``41.2`` to one
placeholder would make every quarterly-results table of the same template an "exact
duplicate" of every other, and wire services publish thousands of those.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import xxhash

from schemas.urls import canonical_url

__all__ = [
    "body_key",
    "normalise_text",
    "tokens",
    "url_host",
    "url_key",
]

_WORD = re.compile(r"\w+", re.UNICODE)

def _fold_digit(match: re.Match[str]) -> str:
    return str(unicodedata.digit(match.group(0)))


_NON_ASCII_DIGIT = re.compile(r"[^\x00-\x7f]")


def normalise_text(text: str) -> str:
    """NFKC, case-folded, every Unicode digit as ASCII; punctuation is left to ``tokens``."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    return _NON_ASCII_DIGIT.sub(
        lambda m: _fold_digit(m) if unicodedata.category(m.group(0)) == "Nd" else m.group(0),
        text)


def tokens(text: str) -> list[str]:
    """Word tokens of the normalised text: punctuation and spacing folded away."""
    return [t for t in _WORD.findall(normalise_text(text)) if t != "_"]


def body_key(text: str, toks: list[str] | None = None) -> int | None:
    """64-bit key of a body's normalised token stream, or None for a body with no words.

    ``toks`` lets a caller that already has ``tokens(text)`` skip tokenising twice.
    """
    toks = tokens(text) if toks is None else toks
    if not toks:
        return None
    return xxhash.xxh3_64_intdigest(" ".join(toks).encode("utf-8", "surrogatepass"))


def url_key(url: str | None) -> int | None:
    """64-bit identity key of a URL: canonical form, scheme and ``www.`` ignored.

    None for a missing URL or one that names only a site (``https://example.com/``):
    a "Source: example.com" credit says where a story came from, not which story it is.
    """
    if not url or not url.strip():
        return None
    canon = canonical_url(url)
    try:
        parts = urlsplit(canon)
    except ValueError:  # "https://[::1/x": not a URL we can split, but still an identity
        parts = None
    if parts is None or parts.scheme not in ("http", "https"):
        return xxhash.xxh3_64_intdigest(canon.encode("utf-8", "surrogatepass"))
    host = parts.netloc.removeprefix("www.")
    path = parts.path.rstrip("/")
    if not path and not parts.query:
        return None
    identity = f"{host}{path}?{parts.query}" if parts.query else f"{host}{path}"
    return xxhash.xxh3_64_intdigest(identity.encode("utf-8", "surrogatepass"))


def url_host(url: str) -> str | None:
    """The lower-case host of ``url``, or None when it has none (or does not parse)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None
