"""One remembered article, and its byte encoding for Beam state and snapshots.

The deduplication index is rebuilt from these records alone (``DedupIndex.restore``), so
a record carries everything a later decision can need - keys, signatures, set sizes,
language, event time - and nothing else: never the text. The encoding is a versioned
``struct`` layout rather than pickle, so state written by one release is read (or
refused with a clear error) by the next, and it stays compact: about 1 KB per
canonical article with the default 192 + 48 hash functions, about 100 bytes per duplicate.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

__all__ = ["KINDS", "Entry", "decode_entry", "encode_entry", "u32_bytes", "u32_from"]

_VERSION = 2
# version, seq, ts, size, n_anchors, flags, kind, similarity, body_key, url_key,
# source_key, len(id), len(canonical), len(language), len(sig), len(anchor_sig),
# len(title hashes)
_HEAD = struct.Struct("<BqdIIBBfQQQHHBHHH")
#: duplicate kinds as stored; index 0 is "none" (a canonical article)
KINDS: tuple[str | None, ...] = (None, "exact_body", "exact_url", "same_source_url",
                                 "near_duplicate")
_HAS_BODY, _HAS_URL, _HAS_SOURCE = 1, 2, 4


@dataclass(frozen=True, slots=True)
class Entry:
    """An observed article: a canonical (``canonical is None``) or a duplicate of one."""

    seq: int
    id: str
    ts: float
    canonical: str | None
    language: str
    body_key: int | None
    url_key: int | None
    source_key: int | None
    kind: str | None = None
    similarity: float | None = None
    size: int = 0
    signature: np.ndarray | None = None
    n_anchors: int = 0
    anchor_signature: np.ndarray | None = None
    title_hashes: np.ndarray | None = None

    @property
    def root(self) -> str:
        """Id of the canonical article this entry resolves to (itself when canonical)."""
        return self.canonical or self.id


def u32_bytes(sig: np.ndarray | None) -> bytes:
    """A signature (or hash set) as little-endian uint32 bytes; b"" for None."""
    return b"" if sig is None else np.ascontiguousarray(sig, dtype="<u4").tobytes()


def u32_from(raw: bytes) -> np.ndarray | None:
    """Inverse of ``u32_bytes`` (None for b"")."""
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32) if raw else None


def encode_entry(entry: Entry) -> bytes:
    """Versioned little-endian bytes of an entry."""
    ident = entry.id.encode("utf-8")
    canon = (entry.canonical or "").encode("utf-8")
    lang = entry.language.encode("utf-8")[:255]
    sig, anchors = u32_bytes(entry.signature), u32_bytes(entry.anchor_signature)
    title = u32_bytes(entry.title_hashes)
    flags = ((_HAS_BODY if entry.body_key is not None else 0)
             | (_HAS_URL if entry.url_key is not None else 0)
             | (_HAS_SOURCE if entry.source_key is not None else 0))
    sim = float("nan") if entry.similarity is None else entry.similarity
    head = _HEAD.pack(_VERSION, entry.seq, entry.ts, entry.size, entry.n_anchors, flags,
                      KINDS.index(entry.kind), sim, entry.body_key or 0, entry.url_key or 0, entry.source_key or 0,
                      len(ident), len(canon), len(lang), len(sig), len(anchors), len(title))
    return b"".join((head, ident, canon, lang, sig, anchors, title))


def decode_entry(raw: bytes) -> Entry:
    """Inverse of ``encode_entry``; refuses records of an unknown layout version."""
    if not raw or raw[0] != _VERSION:
        raise ValueError(f"unknown dedup state record version {raw[:1]!r}; expected {_VERSION}")
    (_, seq, ts, size, n_anchors, flags, kind, sim, body, url, source,
     n_id, n_canon, n_lang, n_sig, n_anchor_sig, n_title) = _HEAD.unpack_from(raw)
    pos = _HEAD.size
    fields = []
    for length in (n_id, n_canon, n_lang, n_sig, n_anchor_sig, n_title):
        fields.append(raw[pos:pos + length])
        pos += length
    if pos != len(raw):
        raise ValueError("corrupt dedup state record: length mismatch")
    ident, canon, lang, sig, anchors, title = fields
    return Entry(
        seq=seq, id=ident.decode("utf-8"), ts=ts, canonical=canon.decode("utf-8") or None,
        language=lang.decode("utf-8"), kind=KINDS[kind],
        similarity=None if math.isnan(sim) else round(sim, 4),
        body_key=body if flags & _HAS_BODY else None,
        url_key=url if flags & _HAS_URL else None,
        source_key=source if flags & _HAS_SOURCE else None,
        size=size, signature=u32_from(sig), n_anchors=n_anchors,
        anchor_signature=u32_from(anchors), title_hashes=u32_from(title))
