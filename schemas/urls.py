"""URL identity: the canonical form of an article's URL (``article.avsc``: canonical_url).

Part of the record kernel: the parse stage derives an article's id from it, and
deduplication hashes it, so both must agree on one definition.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "canonical_url"]

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
