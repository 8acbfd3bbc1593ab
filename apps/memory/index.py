"""Exact nearest-neighbour search over a store's vectors, held in a per-process cache.

Reading 100,000 embeddings from the database for every query would take
seconds, so each process keeps, per store, the matrix of its vectors and the
columns that searches filter on (author, run, tags). Before a search the
cache asks the store row where it stands (one indexed query) and:

- nothing changed (same epoch, seq and stamp): searches what it holds;
- entries were added (higher seq): reads only the entries after its seq;
- entries were removed (new epoch), or a write it had seen was rolled back
  (lower seq, or the entry at its seq carries another stamp): reloads.

Writes number a store's entries under its row lock (see ``models``), so a
higher seq never hides a gap. The cache is shared by the threads of a
process (Celery thread pools): a lock per store serialises refreshes, and a
search works on an immutable ``Snapshot`` taken under that lock, so it never
sees a half-appended row.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from apps.engine.embeddings import DIMENSIONS

from .models import MemoryEntry, MemoryStore, split_tags

#: Rows kept across all stores of a process (float32: 1.5 KiB each); least recently searched stores go first.
MAX_CACHED_ROWS = 300_000

_NO_ID = -1


@dataclass(frozen=True)
class Snapshot:
    """What a search sees: the first ``n`` rows of a store's arrays (rows past ``n`` may be filling in)."""

    n: int
    ids: np.ndarray  # int64, entry ids
    seqs: np.ndarray  # int64
    authors: np.ndarray  # int64, -1 where none
    runs: np.ndarray  # int64, -1 where none
    vectors: np.ndarray  # (capacity, DIMENSIONS) float32
    tag_rows: dict[str, list[int]]  # tag -> row positions (may list rows past n)

    def top_k(
        self,
        query: np.ndarray,
        k: int,
        *,
        author_id: int | None = None,
        run_id: int | None = None,
        tag: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Entry ids and cosine scores of the ``k`` best rows matching the filters, best first.

        Ties are broken by the order of writing (older first), so results are deterministic.
        """
        n = self.n
        rows: np.ndarray | None = None
        if author_id is not None or run_id is not None or tag is not None:
            mask = np.ones(n, dtype=bool)
            if author_id is not None:
                mask &= self.authors[:n] == author_id
            if run_id is not None:
                mask &= self.runs[:n] == run_id
            if tag is not None:
                tagged = np.zeros(n, dtype=bool)
                positions = np.asarray(self.tag_rows.get(tag, ()), dtype=np.int64)
                tagged[positions[positions < n]] = True
                mask &= tagged
            rows = np.flatnonzero(mask)
            # Few rows: gather them. Many: scan everything and pick (a gather would copy more than a scan reads).
            scores = self.vectors[rows] @ query if len(rows) * 8 < n else (self.vectors[:n] @ query)[rows]
        else:
            scores = self.vectors[:n] @ query
        if len(scores) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        total = len(scores)
        k = min(k, total)
        best = np.argpartition(scores, total - k)[total - k :] if k < total else np.arange(total)
        picked = best if rows is None else rows[best]
        order = np.lexsort((self.seqs[picked], -scores[best]))
        return self.ids[picked[order]], scores[best[order]]


@dataclass
class _StoreCache:
    """The growing arrays of one store, with the store state they reflect."""

    epoch: int = 0
    seq: int = 0
    stamp: int = 0
    n: int = 0
    ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    seqs: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    authors: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    runs: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    vectors: np.ndarray = field(default_factory=lambda: np.empty((0, DIMENSIONS), dtype=np.float32))
    tag_rows: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded: bool = False

    def snapshot(self) -> Snapshot:
        return Snapshot(self.n, self.ids, self.seqs, self.authors, self.runs, self.vectors, self.tag_rows)

    def reset(self, epoch: int) -> None:
        self.epoch, self.seq, self.stamp, self.n = epoch, 0, 0, 0
        # New arrays: snapshots handed out earlier keep the old ones.
        self.ids = np.empty(0, dtype=np.int64)
        self.seqs = np.empty(0, dtype=np.int64)
        self.authors = np.empty(0, dtype=np.int64)
        self.runs = np.empty(0, dtype=np.int64)
        self.vectors = np.empty((0, DIMENSIONS), dtype=np.float32)
        self.tag_rows = {}
        self.loaded = True

    def _reserve(self, extra: int, *, headroom: int = 0) -> None:
        need = self.n + extra
        if need <= len(self.ids):
            return
        capacity = max(need + headroom, int(len(self.ids) * 1.5), 64)

        def grow(array: np.ndarray) -> np.ndarray:
            bigger = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
            bigger[: self.n] = array[: self.n]
            return bigger

        self.ids, self.seqs, self.authors, self.runs = map(grow, (self.ids, self.seqs, self.authors, self.runs))
        self.vectors = grow(self.vectors)

    def append(self, rows: list[tuple], *, headroom: int = 0) -> None:
        """Append ``(id, seq, stamp, author_id, run_id, tags, embedding)`` rows in seq order.

        ``headroom`` rows are reserved beyond these when the arrays must grow, so the
        writes that follow a full load do not each copy the whole matrix.
        """
        if not rows:
            return
        self._reserve(len(rows), headroom=headroom)
        start, end = self.n, self.n + len(rows)
        ids, seqs, _stamps, authors, runs, tags, blobs = zip(*rows, strict=True)
        self.ids[start:end] = ids
        self.seqs[start:end] = seqs
        self.authors[start:end] = [_NO_ID if a is None else a for a in authors]
        self.runs[start:end] = [_NO_ID if r is None else r for r in runs]
        self.vectors[start:end] = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype="<f4").reshape(-1, DIMENSIONS)
        for offset, stored in enumerate(tags):
            for tag in split_tags(stored):
                self.tag_rows.setdefault(tag, []).append(start + offset)
        self.n = end  # publish last: a snapshot taken now sees whole rows only


_ROW_COLUMNS = ("id", "seq", "stamp", "author_id", "run_id", "tags", "embedding")


def _entry_rows(store_id: int, *, after_seq: int, upto_seq: int) -> list[tuple]:
    """Raw rows (no model instances: 100,000 of them cost seconds) of a store, in seq order."""
    table = MemoryEntry._meta.db_table
    columns = ", ".join(connection.ops.quote_name(c) for c in _ROW_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {connection.ops.quote_name(table)} "
            "WHERE store_id = %s AND seq >= %s AND seq <= %s ORDER BY seq",
            [store_id, after_seq, upto_seq],
        )
        return cursor.fetchall()


class VectorCache:
    """Per-process cache of store matrices; thread-safe. Use ``shared_cache()``."""

    def __init__(self, *, max_rows: int = MAX_CACHED_ROWS) -> None:
        self._stores: OrderedDict[int, _StoreCache] = OrderedDict()
        #: ("swarm" | "agent", its id) -> store id, saving a query per search; always checked by ``snapshot``.
        self.store_ids: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self.max_rows = max_rows
        self.full_loads = 0  # counters, for tests and the benchmark
        self.incremental_loads = 0

    def clear(self) -> None:
        """Forget everything (as a fresh process would)."""
        with self._lock:
            self._stores.clear()
            self.store_ids.clear()
            self.full_loads = self.incremental_loads = 0

    def forget(self, store_id: int) -> None:
        with self._lock:
            self._stores.pop(store_id, None)

    def _slot(self, store_id: int) -> _StoreCache:
        with self._lock:
            slot = self._stores.get(store_id)
            if slot is None:
                slot = self._stores[store_id] = _StoreCache()
            self._stores.move_to_end(store_id)
            return slot

    def _evict(self) -> None:
        with self._lock:
            total = sum(s.n for s in self._stores.values())
            while total > self.max_rows and len(self._stores) > 1:
                _, oldest = self._stores.popitem(last=False)
                total -= oldest.n

    def snapshot(self, store_id: int, **expect) -> Snapshot | None:
        """The store's vectors as of now (refreshed from the database).

        ``expect`` are column values the store row must have (``owner_id=..., swarm_id=...``);
        None if there is no such store (any more).
        """
        slot = self._slot(store_id)
        with slot.lock:
            # Read the store's state under the slot lock: a thread holding an older reading
            # must not refresh after one holding a newer one (that would look like a rollback).
            state = MemoryStore.objects.filter(pk=store_id, **expect).values_list("epoch", "seq", "stamp").first()
            if state is None:
                self.forget(store_id)
                return None
            self._refresh(slot, store_id, *state)
            snapshot = slot.snapshot()
        self._evict()
        return snapshot

    def _refresh(self, slot: _StoreCache, store_id: int, epoch: int, seq: int, stamp: int) -> None:
        if slot.loaded and slot.epoch == epoch:
            if seq == slot.seq and stamp == slot.stamp:
                return
            if seq > slot.seq:
                rows = _entry_rows(store_id, after_seq=slot.seq, upto_seq=seq)
                if slot.seq == 0 or (rows and rows[0][1] == slot.seq and rows[0][2] == slot.stamp):
                    slot.append(rows if slot.seq == 0 else rows[1:])
                    slot.seq, slot.stamp = seq, stamp
                    self.incremental_loads += 1
                    return
        # Removed entries, a rolled-back write, or nothing loaded yet: read the store again.
        slot.reset(epoch)
        rows = _entry_rows(store_id, after_seq=0, upto_seq=seq)
        slot.append(rows, headroom=max(1024, len(rows) // 8))
        slot.seq, slot.stamp = seq, stamp
        self.full_loads += 1


_shared = VectorCache()


def shared_cache() -> VectorCache:
    """The process-wide cache (tests clear it to play a second process)."""
    return _shared
