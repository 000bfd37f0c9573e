"""Chrome learned per site: lines that recur across many recent articles of one site.

Why: every site has its own footer, newsletter plug or disclaimer that no global
pattern knows. A line seen in at least ``min_articles`` of the site's recent articles
and in at least ``min_share`` of its window is chrome *for that site only* (text shared
across sites is syndication, which dedup handles).

The learner is pure and bounded: a window of the last ``window`` articles, each capped
at ``max_lines`` line hashes (with each line's length), so state never grows with the
stream. A line counts once per distinct *story*: copies of one story (a republished
wire flash, updates, corrections) would otherwise teach the learner that the story
itself is chrome (issue 20), so an article is a near copy of a window article when the
lines they share hold more than half of the characters of each, and a near copy
replaces that entry instead of adding a new one. Weighing lines by their characters
makes a one-line flash a copy of itself while a shared footer, a small part of two
different stories, is not. ``to_bytes``/``from_bytes`` let a Beam stateful DoFn keep it
in per-key state.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

import xxhash

from pipeline.boilerplate.features import normalise_line

__all__ = ["SiteChromeLearner", "line_key"]

_HEADER = struct.Struct("<4sIIdId")
_ENTRY = struct.Struct("<Id")
_MAGIC = b"SCL4"  # entries hold each line's length (uint16)
_MAGIC_V3 = b"SCL3"  # entries held a long-line flag (byte); still read
_V3_WEIGHTS = (20, 60)  # a v3 line's assumed length: short, long (>= 60 characters)
_MAX_WEIGHT = 0xFFFF


def line_key(line: str) -> int:
    """A stable 32-bit key for a line, insensitive to case and whitespace.

    32 bits keep per-site state small (a few bytes per line); a collision only matters
    if an article line collides with one of the site's few recurring lines.
    """
    return xxhash.xxh32_intdigest(normalise_line(line).casefold().encode())


@dataclass(frozen=True, slots=True)
class _Story:
    """One window article: its line keys, each line's length (characters), when seen."""

    weights: dict[int, int]
    total: int
    at: float
    blob: bytes


def _little_endian(values: array) -> bytes:
    """``values`` as little-endian bytes whatever the machine's byte order (the state
    format is little-endian, like its ``struct`` fields)."""
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_little_endian(typecode: str, data: bytes) -> array:
    values = array(typecode)
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _story(weights: dict[int, int], at: float) -> _Story:
    ordered = sorted(weights)
    blob = (_ENTRY.pack(len(ordered), at) + _little_endian(array("I", ordered))
            + _little_endian(array("H", (weights[k] for k in ordered))))
    return _Story(weights, sum(weights.values()), at, blob)


class SiteChromeLearner:
    """Recurring-line statistics of one site's recent stories."""

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
        self._articles: deque[_Story] = deque()
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
        weights: dict[int, int] = {}
        for raw in lines:
            line = normalise_line(raw)
            if not line:
                continue
            key = line_key(line)
            if key in weights:
                continue
            weights[key] = min(len(line), _MAX_WEIGHT)
            if len(weights) >= self.max_lines:
                break
        self._expire(at)
        self._add(weights, at)
        return self.chrome_keys(weights)

    def _expire(self, now: float) -> None:
        while self._articles and self._articles[0].at < now - self.max_age_s:
            self._counts.subtract(self._articles.popleft().weights.keys())

    def chrome_keys(self, keys: Iterable[int]) -> frozenset[int]:
        """Of ``keys``, those seen in enough of the window's stories."""
        threshold = self.threshold
        return frozenset(k for k in keys if self._counts[k] >= threshold)

    def _add(self, weights: dict[int, int], at: float) -> None:
        replaced = self._near_copy(weights)
        if replaced is not None:
            self._counts.subtract(self._articles[replaced].weights.keys())
            del self._articles[replaced]
        self._articles.append(_story(weights, at))
        self._counts.update(weights.keys())
        while len(self._articles) > self.window:  # lazy eviction: oldest article first
            self._counts.subtract(self._articles.popleft().weights.keys())
        if len(self._counts) > 2 * self.window * self.max_lines:
            self._counts = +self._counts  # drop zero entries, keep memory bounded

    def _near_copy(self, weights: dict[int, int]) -> int | None:
        """Index of the newest window story this article is a copy of, if any: the lines
        they share hold more than half of the characters of each."""
        total = sum(weights.values())
        known = sum(w for k, w in weights.items() if self._counts[k] > 0)
        if known * 2 <= total:  # cheap: most of its text is new to the whole window
            return None
        for idx in range(len(self._articles) - 1, -1, -1):
            story = self._articles[idx]
            shared = sum(w for k, w in weights.items() if k in story.weights)
            if shared * 2 > total and shared * 2 > story.total:
                return idx
        return None

    def to_bytes(self) -> bytes:
        """Compact, versioned serialisation (for Beam state)."""
        header = _HEADER.pack(_MAGIC, self.window, self.min_articles, self.min_share,
                              self.max_lines, self.max_age_s)
        return header + struct.pack("<I", len(self._articles)) + b"".join(
            story.blob for story in self._articles)

    @classmethod
    def from_bytes(cls, data: bytes) -> SiteChromeLearner:
        """Read ``to_bytes``'s form; state written by the previous version (``SCL3``,
        long-line flags) is read too, each line weighed by ``_V3_WEIGHTS``."""
        magic, window, min_articles, min_share, max_lines, max_age_s = _HEADER.unpack_from(data)
        if magic not in (_MAGIC, _MAGIC_V3):
            raise ValueError("not a SiteChromeLearner state (bad magic)")
        learner = cls(window, min_articles, min_share, max_lines, max_age_s)
        offset = _HEADER.size
        (n_articles,) = struct.unpack_from("<I", data, offset)
        offset += 4
        for _ in range(n_articles):
            n, at = _ENTRY.unpack_from(data, offset)
            offset += _ENTRY.size
            keys = _from_little_endian("I", bytes(data[offset:offset + 4 * n]))
            offset += 4 * n
            if magic == _MAGIC:
                lengths = _from_little_endian("H", bytes(data[offset:offset + 2 * n]))
                offset += 2 * n
            else:
                lengths = array("H", (_V3_WEIGHTS[bool(f)] for f in data[offset:offset + n]))
                offset += n
            story = _story(dict(zip(keys, lengths, strict=True)), at)
            learner._articles.append(story)
            learner._counts.update(story.weights.keys())
        return learner
