"""Similarity core for deduplication: pure Python + numpy, no Beam.

``normalize`` (text folding, exact keys), ``minhash`` (signatures and
LSH bands), ``anchors`` (the translation fingerprint), ``fingerprint`` (all of one
article's keys and signatures, computable ahead), ``verify`` (the pairwise tests),
``entry`` (state records), ``index`` (sequential decisions with TTL), ``components``
(splitting a bounded run into independent stories). ``pipeline.dedup.streaming`` wraps
``DedupIndex`` in a stateful Beam DoFn, ``pipeline.dedup.bounded`` runs it per story;
batch tools and tests use it directly.
"""

from pipeline.similarity.anchors import anchor_sequence, anchor_tokens
from pipeline.similarity.config import DAY_SECONDS, DedupConfig
from pipeline.similarity.entry import Entry, decode_entry, encode_entry
from pipeline.similarity.index import (
    Decision,
    DedupIndex,
    Document,
    Observation,
    RelatedArticle,
)
from pipeline.similarity.minhash import (
    MinHasher,
    band_keys,
    candidate_probability,
    estimate_containment,
    estimate_jaccard,
    shingle_hashes,
)
from pipeline.similarity.normalize import (
    body_key,
    normalise_text,
    tokens,
    url_key,
)

__all__ = [
    "DAY_SECONDS",
    "Decision",
    "DedupConfig",
    "DedupIndex",
    "Document",
    "Entry",
    "MinHasher",
    "Observation",
    "RelatedArticle",
    "anchor_sequence",
    "anchor_tokens",
    "band_keys",
    "body_key",
    "candidate_probability",
    "decode_entry",
    "encode_entry",
    "estimate_containment",
    "estimate_jaccard",
    "normalise_text",
    "shingle_hashes",
    "tokens",
    "url_key",
]
