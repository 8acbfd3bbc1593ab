"""The per-process vector cache: incremental refresh, invalidation, a second process, threads, exactness."""

import threading

import numpy as np
import pytest
from django.db import connection

from apps.memory import services
from apps.memory.index import Snapshot, shared_cache
from apps.memory.models import MemoryStore


def unit_rows(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def write_random(owner, swarm, n: int, seed: int, **item):
    vectors = unit_rows(n, seed)
    items = [services.NewMemory(text=f"entry {seed}-{i}", **item) for i in range(n)]
    return services.write_memories(owner=owner, swarm=swarm, items=items, vectors=vectors), vectors


def search(owner, swarm, vector, k=5, **filters):
    return services.search_vector(owner=owner, swarm=swarm, vector=vector, k=k, **filters)


@pytest.mark.django_db
def test_new_entries_are_read_incrementally_and_deletes_reload(alice, make_swarm):
    swarm = make_swarm()
    cache = shared_cache()
    entries, vectors = write_random(alice, swarm, 20, seed=1)
    assert search(alice, swarm, vectors[3], k=1)[0].entry == entries[3]
    assert (cache.full_loads, cache.incremental_loads) == (1, 0)

    search(alice, swarm, vectors[3], k=1)
    assert (cache.full_loads, cache.incremental_loads) == (1, 0)  # nothing changed: no reload

    more, more_vectors = write_random(alice, swarm, 5, seed=2)
    hit = search(alice, swarm, more_vectors[4], k=1)[0]
    assert hit.entry == more[4] and hit.score == pytest.approx(1.0, abs=1e-5)
    assert (cache.full_loads, cache.incremental_loads) == (1, 1)

    services.delete_memory(owner=alice, entry=more[4])
    hits = search(alice, swarm, more_vectors[4], k=3)
    assert more[4].pk not in [h.entry.pk for h in hits]
    assert cache.full_loads == 2


@pytest.mark.django_db
def test_a_second_process_with_an_empty_cache_sees_the_same_memory(alice, make_swarm):
    swarm = make_swarm()
    entries, vectors = write_random(alice, swarm, 30, seed=3)
    services.delete_memory(owner=alice, entry=entries[0])
    before = [(h.entry.pk, round(h.score, 5)) for h in search(alice, swarm, vectors[7], k=10)]

    shared_cache().clear()  # what a fresh worker process starts with

    after = [(h.entry.pk, round(h.score, 5)) for h in search(alice, swarm, vectors[7], k=10)]
    assert after == before and after[0][0] == entries[7].pk
    assert entries[0].pk not in [pk for pk, _ in after]


@pytest.mark.django_db
def test_a_process_holding_an_old_cache_notices_a_delete_made_elsewhere(alice, make_swarm):
    swarm = make_swarm()
    entries, vectors = write_random(alice, swarm, 10, seed=4)
    search(alice, swarm, vectors[2], k=1)
    # Another process deletes: only the store's epoch changes here, as the database would show it.
    entries[2].delete()
    MemoryStore.objects.filter(pk=entries[2].store_id).update(epoch=12345)

    assert entries[2].pk not in [h.entry.pk for h in search(alice, swarm, vectors[2], k=10)]


@pytest.mark.django_db
def test_deleting_the_swarm_removes_its_memory(alice, make_swarm):
    swarm = make_swarm()
    _, vectors = write_random(alice, swarm, 5, seed=5)
    search(alice, swarm, vectors[0])
    swarm_id = swarm.pk
    swarm.delete()
    assert not MemoryStore.objects.filter(swarm_id=swarm_id).exists()


def test_snapshot_top_k_matches_brute_force_with_filters():
    rng = np.random.default_rng(7)
    n = 2_000
    vectors = unit_rows(n, seed=8)
    authors = rng.integers(1, 4, n)
    runs = np.where(rng.random(n) < 0.3, -1, rng.integers(10, 13, n))
    tag_rows = {"red": [i for i in range(n) if i % 3 == 0], "blue": [i for i in range(n) if i % 5 == 0]}
    ids = np.arange(1000, 1000 + n, dtype=np.int64)
    snapshot = Snapshot(n, ids, np.arange(1, n + 1), authors, runs, vectors, tag_rows)
    query = unit_rows(1, seed=9)[0]
    scores = vectors @ query
    for author, run, tag in [(None, None, None), (2, None, None), (None, 11, None), (1, 10, "red"), (3, None, "blue")]:
        mask = np.ones(n, dtype=bool)
        if author is not None:
            mask &= authors == author
        if run is not None:
            mask &= runs == run
        if tag is not None:
            mask &= np.isin(np.arange(n), tag_rows[tag])
        expected = ids[np.flatnonzero(mask)[np.argsort(-scores[mask], kind="stable")[:10]]]
        got, got_scores = snapshot.top_k(query, 10, author_id=author, run_id=run, tag=tag)
        assert got.tolist() == expected.tolist()
        assert np.all(np.diff(got_scores) <= 0)


def test_rows_past_the_snapshot_are_invisible_to_it():
    vectors = unit_rows(10, seed=10)
    snapshot = Snapshot(5, np.arange(10), np.arange(10), np.full(10, -1), np.full(10, -1), vectors, {"x": [1, 7]})
    ids, _ = snapshot.top_k(vectors[7], 10)
    assert sorted(ids.tolist()) == [0, 1, 2, 3, 4]
    assert snapshot.top_k(vectors[7], 10, tag="x")[0].tolist() == [1]


@pytest.mark.django_db(transaction=True)
def test_threads_searching_while_another_writes_always_see_whole_consistent_results(alice, make_swarm):
    swarm = make_swarm()
    write_random(alice, swarm, 50, seed=11)
    probe = unit_rows(1, seed=12)[0]
    failures: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                hits = search(alice, swarm, probe, k=10)
                scores = [h.score for h in hits]
                if len(hits) != 10 or scores != sorted(scores, reverse=True):
                    failures.append(f"bad result: {scores}")
                for hit in hits:
                    expected = float(hit.entry.vector @ probe)
                    if abs(expected - hit.score) > 1e-4:
                        failures.append(f"entry {hit.entry.pk}: score {hit.score} != {expected}")
        except Exception as exc:  # surfaced below
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for seed in range(13, 23):
            write_random(alice, swarm, 20, seed=seed)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures[:3]
    total = search(alice, swarm, probe, k=100)
    assert len(total) == 100
    assert shared_cache().snapshot(MemoryStore.objects.get(swarm=swarm).pk).n == 250


@pytest.mark.django_db
def test_pgvector_is_detected_without_breaking_the_transaction(alice, make_swarm):
    from apps.memory import backends

    backends._checked.clear()
    available = backends.pgvector_available()
    if connection.vendor != "postgresql":
        assert available is False
    # Whatever the answer, the connection still works and search falls back to the exact scan.
    swarm = make_swarm()
    _, vectors = write_random(alice, swarm, 3, seed=30)
    assert search(alice, swarm, vectors[1], k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    assert backends.search_backend() == "exact"
