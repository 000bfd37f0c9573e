"""A compact multi-map from LSH band keys to entry sequence numbers, in numpy arrays.

Why not a dict of lists: a canonical article puts 64 band keys in the table, and a
Python dict entry with an int key and a list value costs ~130 bytes; that is ~8 KB per
article, 8 GB per million. Here a slot is a ``uint32`` key plus an ``int64`` value in
two flat arrays (open addressing, linear probing, load factor 0.25-0.6): ~25 bytes per
band key, ~1.6 KB per canonical article.

Keys are truncated to 32 bits: two different band keys may collide, which only adds a
candidate that verification against the canonical signature then rejects; it can never
hide a true candidate. Values are sequence numbers; one key may hold many values (all
articles that share that band). Removal leaves a tombstone; a rebuild drops them when
occupied slots pass the load limit. All operations are vectorised over a whole
article's keys at once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BandTable"]

_EMPTY = -1
_TOMB = -2
_MAX_LOAD = 0.6
_MIN_CAPACITY = 1024


class BandTable:
    """Multi-map ``band key -> seqs`` with vectorised add, lookup and remove."""

    def __init__(self, capacity: int = _MIN_CAPACITY) -> None:
        capacity = max(_MIN_CAPACITY, 1 << (int(capacity) - 1).bit_length())
        self._keys = np.zeros(capacity, dtype=np.uint32)
        self._vals = np.full(capacity, _EMPTY, dtype=np.int64)
        self._used = 0   # live + tombstones
        self._live = 0

    def __len__(self) -> int:
        return self._live

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._vals.nbytes

    @staticmethod
    def _fold(keys: list[int] | np.ndarray) -> np.ndarray:
        arr = np.asarray(keys, dtype=np.uint64)
        return ((arr >> np.uint64(32)) ^ (arr & np.uint64(0xFFFFFFFF))).astype(np.uint32)

    def _start(self, keys32: np.ndarray) -> np.ndarray:
        mask = np.uint64(len(self._keys) - 1)
        with np.errstate(over="ignore"):
            mixed = keys32.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        return ((mixed >> np.uint64(29)) & mask).astype(np.int64)

    def add(self, keys: list[int] | np.ndarray, value: int) -> None:
        """Map every key to ``value`` (duplicates of a key within ``keys`` are kept once)."""
        keys32 = np.unique(self._fold(keys))
        if (self._used + len(keys32)) > _MAX_LOAD * len(self._keys):
            self._rebuild(self._live + len(keys32))
        self._insert32(keys32, np.full(len(keys32), value, dtype=np.int64))

    def lookup(self, keys: list[int] | np.ndarray) -> np.ndarray:
        """All values stored under any of ``keys`` (unique, sorted)."""
        keys32 = self._fold(keys)
        pos = self._start(keys32)
        mask = len(self._keys) - 1
        found: list[np.ndarray] = []
        active = np.arange(len(keys32))
        while len(active):
            p = pos[active]
            vals = self._vals[p]
            hit = (vals >= 0) & (self._keys[p] == keys32[active])
            if hit.any():
                found.append(vals[hit])
            active = active[vals != _EMPTY]
            pos[active] = (pos[active] + 1) & mask
        if not found:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(found))

    def remove(self, keys: list[int] | np.ndarray, value: int) -> None:
        """Drop the mapping of each key to ``value`` (absent ones are ignored)."""
        keys32 = np.unique(self._fold(keys))
        pos = self._start(keys32)
        mask = len(self._keys) - 1
        active = np.arange(len(keys32))
        while len(active):
            p = pos[active]
            vals = self._vals[p]
            hit = (vals == value) & (self._keys[p] == keys32[active])
            self._vals[p[hit]] = _TOMB
            self._live -= int(np.count_nonzero(hit))
            active = active[~hit & (vals != _EMPTY)]
            pos[active] = (pos[active] + 1) & mask

    def _rebuild(self, need: int) -> None:
        live = self._vals >= 0
        keys, vals = self._keys[live], self._vals[live]
        capacity = max(_MIN_CAPACITY, 1 << (int(need / 0.3) - 1).bit_length())
        self._keys = np.zeros(capacity, dtype=np.uint32)
        self._vals = np.full(capacity, _EMPTY, dtype=np.int64)
        self._used = self._live = 0
        self._insert32(keys, vals)

    def _insert32(self, keys32: np.ndarray, values: np.ndarray) -> None:
        pos = self._start(keys32)
        mask = len(self._keys) - 1
        pending = np.arange(len(keys32))
        while len(pending):
            p = pos[pending]
            free = self._vals[p] < 0
            # two pending keys may probe the same free slot: the first takes it
            _, first = np.unique(p, return_index=True)
            take = np.zeros(len(pending), dtype=bool)
            take[first] = True
            take &= free
            slots = p[take]
            self._used += int(np.count_nonzero(self._vals[slots] == _EMPTY))
            self._keys[slots] = keys32[pending[take]]
            self._vals[slots] = values[pending[take]]
            self._live += len(slots)
            pending = pending[~take]
            pos[pending] = (pos[pending] + 1) & mask
