"""Everything deduplication derives from one article's text, computed without the index.

A ``Fingerprint`` depends on the article and the ``DedupConfig`` alone, never on what
was seen before, so it can be computed anywhere, in parallel, ahead of the ordered
decision step: tokenising, shingling and MinHashing are most of the per-article cost,
while a decision against the index is dictionary and band-table lookups
(``DedupIndex.observe(..., fingerprint=...)``). The same fingerprint also gives the keys
that bounded runs partition the stream by (``pipeline.similarity.components``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import xxhash

from pipeline.similarity.anchors import anchor_tokens
from pipeline.similarity.config import DedupConfig
from pipeline.similarity.minhash import MinHasher, band_keys, shingle_hashes
from pipeline.similarity.normalize import body_key, tokens, url_key
from pipeline.similarity.titles import strip_marker, title_hashes

__all__ = ["Fingerprint", "fingerprint_of", "hash_token", "title_band_keys"]


@dataclass(frozen=True, slots=True, eq=False)
class Fingerprint:
    """Keys, signatures and LSH band keys of one article (see ``DedupIndex`` for their use).

    ``signature``/``band_keys`` are None for bodies under ``min_tokens`` words (exact keys
    only); ``anchor_signature``/``anchor_keys`` are None under ``min_anchors`` anchors;
    ``title_keys`` band the headline for wire re-issues (``marked``: the headline carries
    a ``CORRECTED -``-style marker).
    """

    id: str
    language: str
    body_key: int | None
    url_key: int | None
    source_key: int | None
    size: int = 0
    signature: np.ndarray | None = None
    band_keys: np.ndarray | None = None
    marked: bool = False
    title_hashes: np.ndarray | None = None
    title_keys: np.ndarray | None = None
    n_anchors: int = 0
    anchor_signature: np.ndarray | None = None
    anchor_keys: np.ndarray | None = None


@lru_cache(maxsize=32)
def _hasher(num_perm: int, seed: int) -> MinHasher:
    return MinHasher(num_perm, seed)


def _hashers(config: DedupConfig) -> tuple[MinHasher, MinHasher, MinHasher]:
    """Body, anchor and headline hash families: distinct seeds, the same on every worker."""
    return (_hasher(config.num_perm, config.seed),
            _hasher(config.anchor_perm, config.seed + 7919),
            _hasher(config.title_perm, config.seed + 104729))


def hash_token(token: str) -> int:
    """64-bit hash of one anchor token (same function on every worker)."""
    return xxhash.xxh3_64_intdigest(token.encode("utf-8"))


def title_band_keys(hashes: np.ndarray, config: DedupConfig) -> np.ndarray:
    """LSH band keys of a headline's word hashes."""
    sig = _hashers(config)[2].signature(hashes.astype(np.uint64))
    return band_keys(sig, config.title_bands, config.title_rows)


def fingerprint_of(doc, config: DedupConfig) -> Fingerprint:
    """The fingerprint of a ``Document`` (id, title, body, language, canonical_url, source_url)."""
    body_hasher, anchor_hasher, _ = _hashers(config)
    title, body = doc.title or "", doc.body or ""
    toks = tokens(body)
    if len(toks) < config.min_exact_tokens:  # "Video", "Photo: AP": the title must agree too
        bkey = body_key(f"{title}\n{body}")
    else:
        bkey = body_key(body, toks)
    ukey = url_key(doc.canonical_url)
    skey = url_key(doc.source_url)
    if skey == ukey:
        skey = None

    size, signature, bands = 0, None, None
    if len(toks) >= config.min_tokens:
        hashes = shingle_hashes(toks, config.shingle_size)
        size = len(hashes)
        signature = body_hasher.signature(hashes)
        bands = band_keys(signature, config.bands, config.rows)

    marked, _ = strip_marker(title)
    titles = title_hashes(title)
    has_title = len(titles) > 0

    anchors, n_anchors = anchor_tokens(f"{title}\n{body}")
    anchor_sig = anchor_keys = None
    if n_anchors >= config.min_anchors:
        values = np.fromiter((hash_token(a) for a in anchors), dtype=np.uint64,
                             count=len(anchors))
        anchor_sig = anchor_hasher.signature(np.unique(values))
        anchor_keys = band_keys(anchor_sig, config.anchor_bands, config.anchor_rows)

    return Fingerprint(
        id=doc.id, language=doc.language or "und", body_key=bkey, url_key=ukey,
        source_key=skey, size=size, signature=signature, band_keys=bands, marked=marked,
        title_hashes=titles if has_title else None,
        title_keys=title_band_keys(titles, config) if has_title else None,
        n_anchors=n_anchors, anchor_signature=anchor_sig, anchor_keys=anchor_keys)
