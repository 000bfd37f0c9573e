"""Headlines of wire re-issues: the correction marker and comparable title tokens.

Wire services re-issue a story with a marked headline (``CORRECTED - GM TO IDLE SIX
PLANTS``, ``REFILE-...``, ``UPDATE 2-...``). The corrected text may share much less
wording with the original than a syndicated copy does - the fix can be the whole point
- but the headline, once the marker is stripped, still names the same story. So a marked
article may be matched on a similar headline plus a lower body similarity
(``DedupConfig.correction_*``). An unmarked article never takes that path: two different
stories about one company often have similar headlines.
"""

from __future__ import annotations

import re

import numpy as np
import xxhash

from pipeline.similarity.normalize import tokens

__all__ = ["CORRECTION_MARKER", "strip_marker", "title_hashes", "title_jaccard"]

#: A re-issue marker at the start of a headline (case-insensitive), then a separator.
CORRECTION_MARKER = re.compile(
    r"^\s*(?:corrected|correction|corrects?|refiled?|repeat|rpt|updated?(?:\s*\d+)?)"
    r"\s*[-–—:|]\s*", re.IGNORECASE)


def strip_marker(title: str) -> tuple[bool, str]:
    """(whether the headline carries a re-issue marker, the headline without it)."""
    stripped = CORRECTION_MARKER.sub("", title or "", count=1)
    return stripped != (title or ""), stripped


def title_hashes(title: str) -> np.ndarray:
    """Sorted unique 32-bit hashes of the headline's word tokens (marker stripped)."""
    _, stripped = strip_marker(title)
    words = set(tokens(stripped))
    if not words:
        return np.empty(0, dtype=np.uint32)
    return np.unique(np.fromiter((xxhash.xxh32_intdigest(w.encode()) for w in words),
                                 dtype=np.uint32, count=len(words)))


def title_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two headline hash sets."""
    if not len(a) or not len(b):
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
