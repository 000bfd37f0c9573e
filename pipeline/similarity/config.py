"""Deduplication parameters, validated where they enter.

Defaults are set from measurements, not taste (``bench/eval_dedup.py`` prints them):

- 3-word shingles: on the dev set, syndicated copies score Jaccard >= 0.85 and wire
  corrections >= 0.42, while the closest *different* stories (same company, same book
  reviewed by another critic) stay below 0.04. Longer shingles push corrections below
  0.4; single words push different stories about one company above 0.2.
- ``threshold`` 0.35 sits in that gap; ``containment`` 0.65 catches a copy that drops or
  adds paragraphs (a correction that ends early) whose Jaccard is lower. Both sit about
  two standard deviations of the MinHash estimate (~0.035 at 192 functions) below the
  hardest dev corrections, so the seed of the hash functions does not decide recall.
- 64 bands x 3 rows (192 hash functions): candidate probability 0.94 at Jaccard 0.35,
  0.99 at 0.42 and 0.9998 at 0.5, but ~6e-5 for an unrelated pair at 0.01 (about 64
  candidates to verify per million remembered articles). Two rows per band would catch
  a little more and propose 100x as many candidates. A "tuned for 0.8" banding such as
  16 x 8 proposes a Jaccard-0.8 pair with p ~ 0.95 but a 0.5 pair with p ~ 0.06: that is
  how corrections get missed.
- Wire re-issues (``titles``): a headline marked ``CORRECTED -``/``REFILE-``/``UPDATE 1-``
  whose unmarked headline has Jaccard >= 0.5 with a remembered canonical's is a
  duplicate from body Jaccard 0.2 (or containment 0.4) up; 12 bands x 2 rows over the
  headline words find such a canonical even when the bodies share too little for the
  body bands. Dev corrections have headline Jaccard >= 0.57; no pair of different
  stories there has a marked headline above 0.3.
- Translations: anchor fingerprint (names, numbers and ordered pairs of them) with an
  estimated Jaccard >= 0.3 and at least 10 distinct anchors on both sides. On the dev
  set the closest different-language pair that is *not* a translation (one book
  reviewed in Bokmal and in Nynorsk by two critics) scores 0.26 with 9 anchors.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DAY_SECONDS", "DedupConfig"]

DAY_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """Everything a decision depends on; equal configs give equal decisions."""

    num_perm: int = 192
    bands: int = 64
    rows: int = 3
    shingle_size: int = 3
    threshold: float = 0.35
    containment: float = 0.65
    min_tokens: int = 15
    min_exact_tokens: int = 8
    min_containment_shingles: int = 30
    ttl_seconds: float = 7 * DAY_SECONDS
    seed: int = 1
    anchor_perm: int = 48
    anchor_bands: int = 16
    anchor_rows: int = 3
    translation_threshold: float = 0.3
    min_anchors: int = 10
    max_relations: int = 3
    sweep_every: int = 10_000
    correction_threshold: float = 0.2
    correction_containment: float = 0.4
    title_threshold: float = 0.5
    title_perm: int = 24
    title_bands: int = 12
    title_rows: int = 2

    def __post_init__(self) -> None:
        if not self.ttl_seconds or self.ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive: without a time-to-live the "
                             "deduplication state grows without bound (default 7 days)")
        if self.bands < 1 or self.rows < 1:
            raise ValueError("bands and rows must be at least 1")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} needs num_perm >= that; "
                             f"got num_perm={self.num_perm}: raise num_perm or lower bands/rows")
        if self.anchor_bands * self.anchor_rows > self.anchor_perm:
            raise ValueError("anchor_bands*anchor_rows exceeds anchor_perm")
        if self.title_bands * self.title_rows > self.title_perm:
            raise ValueError("title_bands*title_rows exceeds title_perm")
        for name in ("threshold", "containment", "translation_threshold",
                     "correction_threshold", "correction_containment", "title_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if self.shingle_size < 1 or self.min_tokens < 1:
            raise ValueError("shingle_size and min_tokens must be at least 1")
