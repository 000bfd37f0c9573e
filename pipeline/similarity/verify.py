"""The pairwise tests of deduplication, shared by the index and by bounded partitioning.

One definition of "these two articles match", so the sequential index and bounded runs,
which split the stream by who-can-match-whom (``components``), can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.similarity.config import DedupConfig
from pipeline.similarity.minhash import estimate_containment
from pipeline.similarity.titles import title_jaccard

__all__ = ["near_matches", "reissue_match", "translation_confidence"]


def near_matches(jaccards: np.ndarray, size: int | np.ndarray, other_sizes: np.ndarray,
                 config: DedupConfig, titles: np.ndarray | None = None,
                 other_titles: Sequence[np.ndarray | None] = ()) -> np.ndarray:
    """Which canonicals (their shingle counts, headline hashes, estimated Jaccard to this
    article) this article is a near duplicate of.

    Jaccard over ``threshold``; or, for a truncated or extended copy, containment over
    ``containment``. ``titles``: this article's headline hashes when it is a marked wire
    re-issue (``CORRECTED -``...), which also matches a canonical with a similar headline
    at the lower correction bars. The first two tests are symmetric in the pair.
    ``size`` may be an array too (pairs of articles, element by element).
    """
    jaccards = np.asarray(jaccards, dtype=np.float64)
    other_sizes = np.asarray(other_sizes, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    smaller = np.minimum(size, other_sizes)
    with np.errstate(divide="ignore", invalid="ignore"):
        containment = np.minimum(1.0, (jaccards * (size + other_sizes) / (1.0 + jaccards))
                                 / smaller)
    ok = (jaccards >= config.threshold) | (
        (smaller >= config.min_containment_shingles) & (containment >= config.containment))
    if titles is not None and len(titles):
        for k in np.flatnonzero(~ok):
            ok[k] = reissue_match(float(jaccards[k]), int(size), int(other_sizes[k]), titles,
                                  other_titles[k], config)
    return ok


def reissue_match(jaccard: float, size: int, other_size: int, titles: np.ndarray,
                  other_titles: np.ndarray | None, config: DedupConfig) -> bool:
    """A marked re-issue against a canonical: similar headline, and a body at the
    correction bars (Jaccard, or containment)."""
    if other_titles is None or title_jaccard(titles, other_titles) < config.title_threshold:
        return False
    return (jaccard >= config.correction_threshold
            or estimate_containment(jaccard, size, other_size)
            >= config.correction_containment)


def translation_confidence(a: np.ndarray, b: np.ndarray, config: DedupConfig) -> float:
    """Estimated Jaccard of two anchor signatures: the confidence of a translation link."""
    return float(np.count_nonzero(a == b)) / config.anchor_perm
