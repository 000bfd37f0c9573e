"""MinHash signatures over word shingles, and LSH band keys, vectorised with numpy.

Why our own rather than ``datasketch.MinHash``: a signature here is one numpy expression
over all shingles at once (``bench/bench_dedup.py`` measures it against datasketch), the
hash functions are fixed by a seed so every worker and every restart computes the same
signature for the same text, and signatures are plain ``uint32`` arrays that serialise
into Beam state as bytes.

Hashing: each token is hashed with xxh3-64, a shingle of ``k`` tokens is a 64-bit mix
of its token hashes, and the ``i``-th MinHash function is the multiply-shift hash
``(a_i * x + b_i) mod 2**64 >> 32`` with odd ``a_i``. The estimated Jaccard similarity of
two sets is the fraction of equal signature slots.

Banding: a signature of ``bands * rows`` slots is cut into ``bands`` bands; two sets
become candidates when any band is equal, which happens with probability
``1 - (1 - J**rows)**bands``. ``candidate_probability`` shows the curve; the defaults
(64 bands of 3 rows) find a pair at Jaccard 0.35 with p ~ 0.94 and at 0.5 with p ~ 0.9998.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xxhash

__all__ = [
    "MinHasher",
    "band_keys",
    "candidate_probability",
    "estimate_containment",
    "estimate_jaccard",
    "shingle_hashes",
]

_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_SHIFT32 = np.uint64(32)
_CHUNK = 4096  # shingles per block, bounds the (shingles x perms) temporary


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads a combined shingle value over all 64 bits."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def shingle_hashes(toks: Sequence[str], k: int) -> np.ndarray:
    """Unique 64-bit hashes of the ``k``-token shingles (the whole text when shorter)."""
    if not toks:
        return np.empty(0, dtype=np.uint64)
    th = np.fromiter(map(xxhash.xxh3_64_intdigest, map(str.encode, toks)),
                     dtype=np.uint64, count=len(toks))
    if len(th) < k:
        k = len(th)
    n = len(th) - k + 1
    with np.errstate(over="ignore"):
        acc = th[:n].copy()
        for j in range(1, k):
            acc = acc * _P1 + th[j:j + n] * (_P2 if j % 2 else _P3)
    return np.unique(_mix64(acc))


class MinHasher:
    """``num_perm`` seeded multiply-shift hash functions: signatures of 64-bit hash sets."""

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        if num_perm < 1:
            raise ValueError("num_perm must be at least 1")
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.seed = seed
        self._a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)

    def signature(self, hashes: np.ndarray) -> np.ndarray:
        """``uint32[num_perm]`` MinHash of a hash set; all-ones for the empty set.

        In-place on one (shingles x perms) block, and the minimum taken before narrowing
        to 32 bits (the shifted values are below 2**32): one temporary, not three."""
        sig = np.full(self.num_perm, np.iinfo(np.uint32).max, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for start in range(0, len(hashes), _CHUNK):
                block = np.multiply(hashes[start:start + _CHUNK, None], self._a)
                block += self._b
                block >>= _SHIFT32
                np.minimum(sig, block.min(axis=0), out=sig)
        return sig.astype(np.uint32)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band; the band index is mixed in, so one table serves all bands."""
    if bands * rows > len(sig):
        raise ValueError(f"bands*rows = {bands * rows} exceeds the signature length {len(sig)}")
    block = sig[: bands * rows].astype(np.uint64).reshape(bands, rows)
    with np.errstate(over="ignore"):
        acc = np.arange(1, bands + 1, dtype=np.uint64) * _P3
        for j in range(rows):
            acc = _mix64(acc * _P1 + block[:, j])
    return acc


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of equal slots: an unbiased estimate of the Jaccard similarity."""
    return float(np.count_nonzero(a == b)) / len(a)


def estimate_containment(jaccard: float, size_a: int, size_b: int) -> float:
    """Share of the smaller set found in the larger, derived from Jaccard and set sizes.

    ``|A & B| = J (|A| + |B|) / (1 + J)``: a truncated or extended copy (a correction that
    drops the last paragraphs) has a modest Jaccard but a high containment.
    """
    smaller = min(size_a, size_b)
    if smaller <= 0:
        return 0.0
    inter = jaccard * (size_a + size_b) / (1.0 + jaccard)
    return min(1.0, inter / smaller)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """Probability that LSH banding proposes a pair of the given Jaccard similarity."""
    return 1.0 - (1.0 - jaccard**rows) ** bands
