"""A compact multi-map from LSH band keys to entry sequence numbers, in numpy arrays.

Why not a dict of lists: a canonical article puts 64 band keys in the table, and a
Python dict entry with an int key and a list value costs ~130 bytes; that is ~8 KB per
article, 8 GB per million. Here a slot is a ``uint32`` key plus an ``int32`` value in
two flat arrays (open addressing, double hashing over a prime size, load factor 0.45-0.7): 8 bytes a slot,
~14 bytes per band key, ~0.9 KB per canonical article.

Each distinct key has one slot. A key shared by several articles (a popular bucket)
keeps its values in a small Python list on the side, and its slot says so: probing
never walks through a run of equal keys, so a hot bucket costs one list, not a long
probe sequence for every lookup.

Keys are truncated to 32 bits: two different band keys may collide, which only adds a
candidate that verification against the canonical signature then rejects; it can never
hide a true candidate. Removal leaves a tombstone; a rebuild drops them when occupied
slots pass the load limit. Probing is vectorised over a whole article's keys at once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BandTable"]

_EMPTY = -1
_TOMB = -2
_SHARED = -3  # the key's values are in ``_shared[key]``
_MAX_LOAD = 0.7
_REBUILD_LOAD = 0.45
_MIN_CAPACITY = 1024
_SCALAR_PROBES = 16  # keys still probing below which _find walks them one by one
_MAX_VALUE = 2**31  # sequence numbers: 2 billion articles, ~5,800 years at 1M a day


class BandTable:
    """Multi-map ``band key -> seqs`` with vectorised add, lookup and remove."""

    def __init__(self, capacity: int = _MIN_CAPACITY) -> None:
        self._alloc(capacity)
        self._shared: dict[int, list[int]] = {}
        self._live = 0   # (key, value) mappings

    def _alloc(self, capacity: int) -> None:
        capacity = _next_prime(max(_MIN_CAPACITY, int(capacity)))
        self._keys = np.zeros(capacity, dtype=np.uint32)
        self._vals = np.full(capacity, _EMPTY, dtype=np.int32)
        self._used = 0   # slots not EMPTY (keys and tombstones)

    def __len__(self) -> int:
        return self._live

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._vals.nbytes

    @staticmethod
    def _fold(keys: list[int] | np.ndarray) -> np.ndarray:
        arr = np.asarray(keys, dtype=np.uint64)
        return np.unique(((arr >> np.uint64(32)) ^ (arr & np.uint64(0xFFFFFFFF))).astype(np.uint32))

    def _start(self, keys32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First slot and probe step of each key (double hashing over a prime size)."""
        size = np.uint64(len(self._keys))
        with np.errstate(over="ignore"):
            mixed = keys32.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        start = ((mixed >> np.uint64(24)) % size).astype(np.int64)
        step = (np.uint64(1) + (mixed & np.uint64(0xFFFFFF)) % (size - np.uint64(1)))
        return start, step.astype(np.int64)

    def _find(self, keys32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(slot of each key or -1, first reusable slot on its probe path or -1).

        Vectorised while many keys still probe; the few long probe paths left are
        walked one key at a time (a numpy round costs the same for 2 keys as for 64)."""
        n = len(keys32)
        (pos, step), size = self._start(keys32), len(self._keys)
        where = np.full(n, -1, dtype=np.int64)
        free = np.full(n, -1, dtype=np.int64)
        active = np.arange(n)
        while len(active) > _SCALAR_PROBES:
            p = pos[active]
            vals = self._vals[p]
            tomb = (vals == _TOMB) & (free[active] < 0)
            free[active[tomb]] = p[tomb]
            hit = (vals != _EMPTY) & (vals != _TOMB) & (self._keys[p] == keys32[active])
            where[active[hit]] = p[hit]
            empty = vals == _EMPTY
            first_empty = empty & (free[active] < 0)
            free[active[first_empty]] = p[first_empty]
            active = active[~hit & ~empty]
            pos[active] = (pos[active] + step[active]) % size
        for k in active.tolist():
            slot, stride, key, reusable = int(pos[k]), int(step[k]), int(keys32[k]), int(free[k])
            while True:
                value = int(self._vals[slot])
                if value == _EMPTY:
                    if reusable < 0:
                        reusable = slot
                    break
                if value == _TOMB:
                    if reusable < 0:
                        reusable = slot
                elif int(self._keys[slot]) == key:
                    where[k] = slot
                    break
                slot = (slot + stride) % size
            free[k] = reusable
        return where, free

    def lookup(self, keys: list[int] | np.ndarray) -> np.ndarray:
        """All values stored under any of ``keys`` (unique, sorted)."""
        keys32 = self._fold(keys)
        where, _ = self._find(keys32)
        vals = self._vals[where[where >= 0]]
        parts = [vals[vals >= 0]]
        for key in keys32[where >= 0][vals == _SHARED].tolist():
            parts.append(np.asarray(self._shared[key], dtype=np.int64))
        return np.unique(np.concatenate(parts))

    def add(self, keys: list[int] | np.ndarray, value: int) -> None:
        """Map every key to ``value`` (a sequence number below 2**31)."""
        if not 0 <= value < _MAX_VALUE:
            raise ValueError(f"band table values must be in [0, 2**31), got {value}")
        keys32 = self._fold(keys)
        if self._used + len(keys32) > _MAX_LOAD * len(self._keys):
            self._rebuild(self._used + len(keys32))
        self._insert(keys32, np.full(len(keys32), value, dtype=np.int32))

    def _insert(self, keys32: np.ndarray, values: np.ndarray) -> None:
        while len(keys32):
            where, free = self._find(keys32)
            for slot, key, value in zip(where[where >= 0].tolist(), keys32[where >= 0].tolist(),
                                        values[where >= 0].tolist(), strict=True):
                current = int(self._vals[slot])
                if current == _SHARED:
                    self._shared[key].append(value)
                else:
                    self._shared[key] = [current, value]
                    self._vals[slot] = _SHARED
            self._live += int(np.count_nonzero(where >= 0))
            new = where < 0
            slots, keys32, values = free[new], keys32[new], values[new]
            # new keys racing for one free slot: the first takes it, the rest probe again
            _, first = np.unique(slots, return_index=True)
            take = np.zeros(len(slots), dtype=bool)
            take[first] = True
            self._used += int(np.count_nonzero(self._vals[slots[take]] == _EMPTY))
            self._keys[slots[take]] = keys32[take]
            self._vals[slots[take]] = values[take]
            self._live += int(np.count_nonzero(take))
            keys32, values = keys32[~take], values[~take]

    def remove(self, keys: list[int] | np.ndarray, value: int) -> None:
        """Drop the mapping of each key to ``value`` (absent ones are ignored)."""
        keys32 = self._fold(keys)
        where, _ = self._find(keys32)
        for slot, key in zip(where[where >= 0].tolist(), keys32[where >= 0].tolist(), strict=True):
            current = int(self._vals[slot])
            if current == value:
                self._vals[slot] = _TOMB
                self._live -= 1
            elif current == _SHARED and value in self._shared[key]:
                rest = self._shared[key]
                rest.remove(value)
                self._live -= 1
                if len(rest) == 1:
                    self._vals[slot] = rest[0]
                    del self._shared[key]

    def _rebuild(self, need: int) -> None:
        occupied = self._vals >= 0
        shared = self._vals == _SHARED
        keys = np.concatenate([self._keys[occupied], self._keys[shared]])
        vals = np.concatenate([self._vals[occupied], self._vals[shared]])
        live = int(np.count_nonzero(occupied) + np.count_nonzero(shared))
        self._alloc(max(need, live) / _REBUILD_LOAD)
        (pos, step), size = self._start(keys), len(self._keys)
        pending = np.arange(len(keys))
        while len(pending):  # distinct keys into an empty table: first free slot wins
            p = pos[pending]
            free = self._vals[p] == _EMPTY
            _, first = np.unique(p, return_index=True)
            take = np.zeros(len(pending), dtype=bool)
            take[first] = True
            take &= free
            self._keys[p[take]] = keys[pending[take]]
            self._vals[p[take]] = vals[pending[take]]
            pending = pending[~take]
            pos[pending] = (pos[pending] + step[pending]) % size
        self._used = len(keys)


def _next_prime(n: int) -> int:
    """Smallest prime >= n: with a prime table size every probe step visits every slot."""
    n |= 1
    while any(n % d == 0 for d in range(3, int(n**0.5) + 1, 2)):
        n += 2
    return n
