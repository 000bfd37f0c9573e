"""Chrome learned per site: lines that recur across many recent articles of one site.

Why: every site has its own footer, newsletter plug or disclaimer that no global
pattern knows. A line seen in at least ``min_articles`` of the site's recent articles
and in at least ``min_share`` of its window is chrome *for that site only* (text shared
across sites is syndication, which dedup handles).

The learner is pure and bounded: a window of the last ``window`` articles, each capped
at ``max_lines`` line hashes, so state never grows with the stream. Re-sent copies of
one article (updates, corrections) would otherwise teach the learner that the article
itself is chrome, so an article sharing most of its long lines with one in the window
replaces that entry instead of adding a new one. ``to_bytes``/``from_bytes`` let a Beam
stateful DoFn keep it in per-key state.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections import Counter, deque
from collections.abc import Iterable

import xxhash

from pipeline.boilerplate.features import normalise_line

__all__ = ["SiteChromeLearner", "line_key"]

_HEADER = struct.Struct("<4sIIdId")
_ENTRY = struct.Struct("<Id")
_MAGIC = b"SCL3"
_LONG_LINE = 60


def line_key(line: str) -> int:
    """A stable 32-bit key for a line, insensitive to case and whitespace.

    32 bits keep per-site state small (a few bytes per line); a collision only matters
    if an article line collides with one of the site's few recurring lines.
    """
    return xxhash.xxh32_intdigest(normalise_line(line).casefold().encode())


class SiteChromeLearner:
    """Recurring-line statistics of one site's recent articles."""

    def __init__(self, window: int = 200, min_articles: int = 3, min_share: float = 0.02,
                 max_lines: int = 300, max_age_s: float = 30 * 86400.0) -> None:
        if window < 1 or max_lines < 1:
            raise ValueError("SiteChromeLearner needs window >= 1 and max_lines >= 1 "
                             "(state must stay bounded)")
        if min_articles < 2:
            raise ValueError("min_articles must be >= 2: one article alone is not a pattern")
        self.window, self.min_articles = window, min_articles
        if max_age_s <= 0:
            raise ValueError("max_age_s must be > 0")
        self.min_share, self.max_lines, self.max_age_s = min_share, max_lines, max_age_s
        # Each entry: (all line keys, keys of long lines, serialised form, seen at) of
        # one article.
        self._articles: deque[tuple[frozenset[int], frozenset[int], bytes, float]] = deque()
        self._counts: Counter[int] = Counter()

    def __len__(self) -> int:
        return len(self._articles)

    @property
    def threshold(self) -> int:
        return max(self.min_articles, math.ceil(self.min_share * len(self._articles)))

    def observe(self, lines: Iterable[str], at: float = 0.0) -> frozenset[int]:
        """Add one article's lines; return the keys that are now chrome for this site.

        ``at`` (seconds, e.g. the record's processing time) drives lazy eviction:
        articles older than ``max_age_s`` before it are forgotten, so a site's old
        chrome fades after a redesign without any timer.
        """
        keys: list[int] = []
        long_keys: list[int] = []
        seen: set[int] = set()
        for raw in lines:
            line = normalise_line(raw)
            if not line:
                continue
            key = line_key(line)
            if key in seen:
                continue
            seen.add(key)
            keys.append(key)
            if len(line) >= _LONG_LINE:
                long_keys.append(key)
            if len(keys) >= self.max_lines:
                break
        self._expire(at)
        self._add(frozenset(keys), frozenset(long_keys), at)
        return self.chrome_keys(keys)

    def _expire(self, now: float) -> None:
        while self._articles and self._articles[0][3] < now - self.max_age_s:
            self._counts.subtract(self._articles.popleft()[0])

    def chrome_keys(self, keys: Iterable[int]) -> frozenset[int]:
        """Of ``keys``, those seen in enough of the window's articles."""
        threshold = self.threshold
        return frozenset(k for k in keys if self._counts[k] >= threshold)

    def _add(self, keys: frozenset[int], long_keys: frozenset[int], at: float) -> None:
        replaced = self._near_copy(long_keys)
        if replaced is not None:
            old = self._articles[replaced]
            self._counts.subtract(old[0])
            del self._articles[replaced]
        self._articles.append((keys, long_keys, _encode_entry(keys, long_keys, at), at))
        self._counts.update(keys)
        while len(self._articles) > self.window:  # lazy eviction: oldest article first
            self._counts.subtract(self._articles.popleft()[0])
        if len(self._counts) > 2 * self.window * self.max_lines:
            self._counts = +self._counts  # drop zero entries, keep memory bounded

    def _near_copy(self, long_keys: frozenset[int]) -> int | None:
        """Index of a window article sharing over half of these long lines, if any."""
        if len(long_keys) < 2:
            return None
        candidates = [k for k in long_keys if self._counts[k] > 0]
        if len(candidates) * 2 <= len(long_keys):
            return None
        for idx in range(len(self._articles) - 1, -1, -1):
            shared = len(long_keys & self._articles[idx][1])
            if shared * 2 > len(long_keys):
                return idx
        return None

    def to_bytes(self) -> bytes:
        """Compact, versioned serialisation (for Beam state)."""
        header = _HEADER.pack(_MAGIC, self.window, self.min_articles, self.min_share,
                              self.max_lines, self.max_age_s)
        return header + struct.pack("<I", len(self._articles)) + b"".join(
            entry[2] for entry in self._articles)

    @classmethod
    def from_bytes(cls, data: bytes) -> SiteChromeLearner:
        magic, window, min_articles, min_share, max_lines, max_age_s = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("not a SiteChromeLearner state (bad magic)")
        learner = cls(window, min_articles, min_share, max_lines, max_age_s)
        offset = _HEADER.size
        (n_articles,) = struct.unpack_from("<I", data, offset)
        offset += 4
        for _ in range(n_articles):
            n, at = _ENTRY.unpack_from(data, offset)
            end = offset + _ENTRY.size + 5 * n
            blob = bytes(data[offset:end])
            keys = array("I")
            keys.frombytes(blob[_ENTRY.size:_ENTRY.size + 4 * n])
            flags = blob[_ENTRY.size + 4 * n:]
            long_keys = frozenset(k for k, f in zip(keys, flags, strict=True) if f)
            learner._articles.append((frozenset(keys), long_keys, blob, at))
            learner._counts.update(keys)
            offset = end
        return learner


def _encode_entry(keys: frozenset[int], long_keys: frozenset[int], at: float) -> bytes:
    ordered = sorted(keys)
    flags = bytes(1 if k in long_keys else 0 for k in ordered)
    return _ENTRY.pack(len(ordered), at) + array("I", ordered).tobytes() + flags
