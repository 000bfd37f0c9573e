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
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import xxhash

__all__ = [
    "TRACKING_PARAMS",
    "body_key",
    "canonical_url",
    "normalise_text",
    "tokens",
    "url_host",
    "url_key",
]

_WORD = re.compile(r"\w+", re.UNICODE)

#: Query parameters that identify a campaign or a click, never the page itself.
TRACKING_PARAMS: frozenset[str] = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
    "_ga", "_gl", "_hsenc", "_hsmi", "ocid", "cmpid", "icid", "ncid", "ref", "ref_src",
    "ref_url", "referrer", "spm", "smid", "s_cid", "mkt_tok", "vero_id", "wt.mc_id",
    "utm", "sr_share", "at_medium", "at_campaign", "xtor", "ito", "guccounter",
    "guce_referrer", "guce_referrer_sig",
})
_TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "hsa_", "at_", "__")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


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


def _keep_param(name: str) -> bool:
    lowered = name.lower()
    return lowered not in TRACKING_PARAMS and not lowered.startswith(_TRACKING_PREFIXES)


def _requote(part: str, safe: str) -> str:
    """Decode then re-encode percent escapes, so ``%7e``, ``%7E`` and ``~`` agree."""
    return quote(unquote(part, errors="surrogatepass"), safe=safe, errors="surrogatepass")


def canonical_url(url: str) -> str:
    """The URL normalised for identity (``article.avsc``: canonical_url).

    Lower-case scheme and host, IDN host in punycode, default port and fragment dropped,
    tracking parameters (``utm_*``, ``fbclid``, ``gclid``...) dropped, remaining query
    parameters sorted, percent-escapes normalised, empty path as ``/``. Anything that
    does not parse as an absolute http(s) URL is returned stripped but otherwise intact,
    so the function never fails on odd input (lone surrogates are carried through
    percent-escapes with ``surrogatepass``, so the result is still idempotent).
    """
    raw = url.strip()
    try:
        parts = urlsplit(raw)
    except ValueError:
        return raw
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return raw
    host = parts.hostname.lower().rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    port = None
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or str(port) == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = _requote(parts.path or "/", safe="/:@!$&'()*+,;=-._~")
    query_pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True,
                                                errors="surrogatepass")
                   if _keep_param(k)]
    query = urlencode(sorted(query_pairs), doseq=True, errors="surrogatepass")
    return urlunsplit((scheme, netloc, path, query, ""))


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
