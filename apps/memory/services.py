"""Memory services: the only code that writes, searches or deletes memory entries.

A memory is a swarm's (shared by its agents: the swarm's communication
layer) or one agent's own. Every function takes the ``owner`` (a user) and
sees only that user's swarms, agents, runs and entries; references to
anything else are reported as unknown, and nothing is written.

    write_memory(owner=..., text=..., swarm=... | agent=..., author=..., run=..., tags=[...]) -> MemoryEntry
    write_memories(owner=..., items=[NewMemory(...)], swarm=... | agent=..., vectors=None) -> list[MemoryEntry]
    search_memory(owner=..., query=..., swarm=... | agent=..., k=5, author=..., run=..., tag=..., min_score=...)
        -> list[MemoryHit]  (best first)
    recent_memory(owner=..., swarm=... | agent=..., author=..., run=..., tag=..., limit=50) -> list[MemoryEntry]
    delete_memory(owner=..., entry=...) -> None

Swarms, agents and runs may be given as instances or ids. Invalid input
raises ``FieldsError`` (``code`` "invalid", "unknown_agent" or "not_found";
``fields`` keyed by argument name, ``scope`` for the swarm/agent choice).
Embedding a text takes milliseconds (seconds on the first call of a
process, while the model loads), and happens before any lock is taken.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction

from apps.agents.models import Agent
from apps.core.errors import FieldsError
from apps.engine.embeddings import DIMENSIONS, shared_embedder
from apps.engine.errors import ErrorCode
from apps.runs.models import Run
from apps.swarms.models import Swarm

from .index import shared_cache
from .models import MemoryEntry, MemoryStore, join_tags, new_stamp

MAX_TEXT = 10_000
MAX_QUERY = 2_000
MAX_TAGS = 10
MAX_K = 100
TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")
TAG_RULE = "Tags are 1-40 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."


@dataclass(frozen=True)
class NewMemory:
    """One entry to write with ``write_memories``."""

    text: str
    author: Agent | int | None = None
    run: Run | int | None = None
    tags: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class MemoryHit:
    """A search result: the entry (author and run loaded) and its cosine similarity to the query (-1..1)."""

    entry: MemoryEntry
    score: float


# ---- checks -------------------------------------------------------------------


class _Errors:
    """Collects every problem so a client sees them all in one response."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.code = ErrorCode.INVALID

    def add(self, name: str, message: str, code: ErrorCode | None = None) -> None:
        self.fields.setdefault(name, []).append(message)
        if code is not None and self.code == ErrorCode.INVALID:
            self.code = code

    def raise_if_any(self, message: str) -> None:
        if self.fields:
            raise FieldsError(message, fields=self.fields, code=self.code)


def _owned(model, owner, ref, name: str, errors: _Errors, code: ErrorCode = ErrorCode.INVALID):
    """The owner's instance for ``ref`` (instance or id), or None after noting that it is unknown."""
    if ref is None:
        return None
    label = model._meta.verbose_name
    if isinstance(ref, model):
        if ref.owner_id == owner.pk:
            return ref
    elif isinstance(ref, int) and not isinstance(ref, bool):
        found = model.objects.filter(owner=owner, pk=ref).first()
        if found is not None:
            return found
    else:
        errors.add(name, f"Give a {label} id.")
        return None
    errors.add(name, f"No {label} of yours has this id.", code)
    return None


def _scope(owner, swarm, agent, errors: _Errors) -> tuple[Swarm | None, Agent | None]:
    if (swarm is None) == (agent is None):
        errors.add("scope", "Give either a swarm (its shared memory) or an agent (its own memory).")
        return None, None
    return (
        _owned(Swarm, owner, swarm, "swarm", errors),
        _owned(Agent, owner, agent, "agent", errors, ErrorCode.UNKNOWN_AGENT),
    )


def _check_text(value, name: str, limit: int, errors: _Errors) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.add(name, "This field may not be blank.")
        return ""
    if len(value) > limit:
        errors.add(name, f"At most {limit} characters.")
    return value.strip()


def _check_tags(tags, name: str, errors: _Errors) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        errors.add(name, "Give a list of tags.")
        return []
    clean = list(dict.fromkeys(tags))
    if len(clean) > MAX_TAGS:
        errors.add(name, f"At most {MAX_TAGS} tags.")
    for tag in clean:
        if not isinstance(tag, str) or not TAG_PATTERN.match(tag):
            errors.add(name, f"{tag!r}: {TAG_RULE}")
    return clean


def _check_vectors(vectors, n: int, errors: _Errors) -> np.ndarray | None:
    array = np.asarray(vectors, dtype=np.float32)
    if array.shape != (n, DIMENSIONS):
        errors.add("vectors", f"Expected shape ({n}, {DIMENSIONS}), got {array.shape}.")
        return None
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if not np.all(np.isfinite(array)) or np.any(norms == 0):
        errors.add("vectors", "Vectors must be finite and non-zero.")
        return None
    return array / norms


# ---- write ----------------------------------------------------------------------


def write_memory(
    *,
    owner,
    text: str,
    swarm: Swarm | int | None = None,
    agent: Agent | int | None = None,
    author: Agent | int | None = None,
    run: Run | int | None = None,
    tags: Sequence[str] = (),
) -> MemoryEntry:
    """Remember ``text`` in the swarm's shared memory or in the agent's own memory.

    ``author`` is the agent that wrote it (any agent of the owner, not only the
    scope's), ``run`` the run it came from. Raises ``FieldsError``; writes nothing then.
    """
    return write_memories(
        owner=owner, swarm=swarm, agent=agent, items=[NewMemory(text=text, author=author, run=run, tags=tags)]
    )[0]


def write_memories(
    *,
    owner,
    items: Sequence[NewMemory],
    swarm: Swarm | int | None = None,
    agent: Agent | int | None = None,
    vectors: np.ndarray | None = None,
) -> list[MemoryEntry]:
    """Write several entries to one memory in one transaction (all or nothing), in order.

    ``vectors`` (``(len(items), 384)`` float32, normalised here) replaces the
    model's embeddings, for imports of already-embedded texts; by default the
    texts are embedded with the packaged model. Field errors of item ``i`` are
    keyed ``items[i].text`` and so on, except for a single item (keyed ``text``).
    """
    errors = _Errors()
    swarm, agent = _scope(owner, swarm, agent, errors)
    if not items:
        errors.add("items", "Nothing to write.")
    single = len(items) == 1
    texts: list[str] = []
    prepared: list[tuple[Agent | None, Run | None, list[str]]] = []
    known: dict[tuple, object] = {}
    for i, item in enumerate(items):
        prefix = "" if single else f"items[{i}]."
        texts.append(_check_text(item.text, f"{prefix}text", MAX_TEXT, errors))
        key_author, key_run = ("agent", _ref_key(item.author)), ("run", _ref_key(item.run))
        if key_author not in known:
            known[key_author] = _owned(Agent, owner, item.author, f"{prefix}author", errors, ErrorCode.UNKNOWN_AGENT)
        if key_run not in known:
            known[key_run] = _owned(Run, owner, item.run, f"{prefix}run", errors)
        prepared.append((known[key_author], known[key_run], _check_tags(item.tags, f"{prefix}tags", errors)))
    array = _check_vectors(vectors, len(items), errors) if vectors is not None else None
    errors.raise_if_any("The memory entry is not valid." if single else "The memory entries are not valid.")

    if array is None:
        array = shared_embedder().embed(texts)  # before the lock: the model is the slow part
    blobs = [np.ascontiguousarray(row, dtype="<f4").tobytes() for row in array]
    with transaction.atomic():
        store = _lock_store(owner, swarm=swarm, agent=agent)
        stamp = new_stamp()
        entries = [
            MemoryEntry(
                store=store,
                owner=owner,
                seq=store.seq + i + 1,
                stamp=stamp,
                text=text,
                author=author,
                run=run,
                tags=join_tags(tags),
                embedding=blob,
            )
            for i, (text, (author, run, tags), blob) in enumerate(zip(texts, prepared, blobs, strict=True))
        ]
        MemoryEntry.objects.bulk_create(entries, batch_size=2000)
        store.seq += len(entries)
        store.stamp = stamp
        store.save(update_fields=["seq", "stamp"])
    return entries


def _ref_key(ref) -> object:
    return ref.pk if hasattr(ref, "pk") else ref


def _lock_store(owner, *, swarm: Swarm | None, agent: Agent | None) -> MemoryStore:
    """The store of this swarm or agent, created if needed, locked to the end of the transaction."""
    scope = {"swarm": swarm} if swarm is not None else {"agent": agent}
    store, _ = MemoryStore.objects.get_or_create(owner=owner, **scope)
    return MemoryStore.objects.select_for_update().get(pk=store.pk)


# ---- search ---------------------------------------------------------------------


def search_memory(
    *,
    owner,
    query: str,
    swarm: Swarm | int | None = None,
    agent: Agent | int | None = None,
    k: int = 5,
    author: Agent | int | None = None,
    run: Run | int | None = None,
    tag: str | None = None,
    min_score: float | None = None,
) -> list[MemoryHit]:
    """The ``k`` entries of the swarm's or agent's memory most similar to ``query``, best first.

    Filters narrow the candidates before ranking: ``author`` (the agent that
    wrote the entry), ``run``, ``tag``; ``min_score`` drops weaker hits. The
    search is exact (cosine similarity over every candidate).
    """
    errors = _Errors()
    swarm, agent = _scope(owner, swarm, agent, errors)
    query = _check_text(query, "query", MAX_QUERY, errors)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        errors.add("k", f"A whole number from 1 to {MAX_K}.")
    author = _owned(Agent, owner, author, "author", errors, ErrorCode.UNKNOWN_AGENT)
    run = _owned(Run, owner, run, "run", errors)
    if tag is not None and (not isinstance(tag, str) or not TAG_PATTERN.match(tag)):
        errors.add("tag", TAG_RULE)
    if min_score is not None and (
        isinstance(min_score, bool) or not isinstance(min_score, int | float) or not math.isfinite(min_score)
    ):
        errors.add("min_score", "A number from -1 to 1.")
    errors.raise_if_any("The memory search is not valid.")

    vector = shared_embedder().embed_one(query)
    return search_vector(
        owner=owner, vector=vector, swarm=swarm, agent=agent, k=k, author=author, run=run, tag=tag, min_score=min_score
    )


def search_vector(
    *,
    owner,
    vector: np.ndarray,
    swarm: Swarm | None = None,
    agent: Agent | None = None,
    k: int = 5,
    author: Agent | None = None,
    run: Run | None = None,
    tag: str | None = None,
    min_score: float | None = None,
) -> list[MemoryHit]:
    """``search_memory`` for an already-embedded unit query vector and checked arguments (instances)."""
    snapshot = _snapshot(owner, swarm=swarm, agent=agent)
    if snapshot is None:
        return []
    ids, scores = snapshot.top_k(
        np.asarray(vector, dtype=np.float32),
        k,
        author_id=author.pk if author is not None else None,
        run_id=run.pk if run is not None else None,
        tag=tag,
    )
    if min_score is not None:
        keep = scores >= min_score
        ids, scores = ids[keep], scores[keep]
    entries = MemoryEntry.objects.defer("embedding").select_related("store", "author").order_by().in_bulk(ids.tolist())
    # An entry deleted since the snapshot was taken is simply left out.
    return [
        MemoryHit(entry=entries[i], score=float(s)) for i, s in zip(ids.tolist(), scores, strict=True) if i in entries
    ]


def recent_memory(
    *,
    owner,
    swarm: Swarm | int | None = None,
    agent: Agent | int | None = None,
    author: Agent | int | None = None,
    run: Run | int | None = None,
    tag: str | None = None,
    limit: int = 50,
) -> list[MemoryEntry]:
    """The latest ``limit`` entries of the swarm's or agent's memory (newest first), with the same filters."""
    errors = _Errors()
    swarm, agent = _scope(owner, swarm, agent, errors)
    author = _owned(Agent, owner, author, "author", errors, ErrorCode.UNKNOWN_AGENT)
    run = _owned(Run, owner, run, "run", errors)
    if tag is not None and (not isinstance(tag, str) or not TAG_PATTERN.match(tag)):
        errors.add("tag", TAG_RULE)
    errors.raise_if_any("The memory listing is not valid.")
    entries = MemoryEntry.objects.filter(owner=owner).defer("embedding").select_related("store", "author", "run")
    entries = entries.filter(store__swarm=swarm) if swarm is not None else entries.filter(store__agent=agent)
    if author is not None:
        entries = entries.filter(author=author)
    if run is not None:
        entries = entries.filter(run=run)
    if tag is not None:
        entries = entries.filter(tags__contains=f"|{tag}|")
    return list(entries.order_by("-seq")[:limit])


def _snapshot(owner, *, swarm: Swarm | None, agent: Agent | None):
    """The cached vectors of this swarm's or agent's store (one query when the store id is known)."""
    cache = shared_cache()
    key = ("swarm", swarm.pk) if swarm is not None else ("agent", agent.pk)
    expect = {"owner_id": owner.pk, f"{key[0]}_id": key[1]}
    store_id = cache.store_ids.get(key)
    if store_id is not None:
        snapshot = cache.snapshot(store_id, **expect)
        if snapshot is not None:
            return snapshot
    store_id = MemoryStore.objects.filter(**expect).values_list("pk", flat=True).first()
    if store_id is None:
        return None
    cache.store_ids[key] = store_id
    return cache.snapshot(store_id, **expect)


# ---- delete ---------------------------------------------------------------------


def delete_memory(*, owner, entry: MemoryEntry | int) -> None:
    """Forget one entry of the owner's. Raises ``FieldsError`` (code ``not_found``) if there is none."""
    entry_id = entry.pk if isinstance(entry, MemoryEntry) else entry
    found = (
        MemoryEntry.objects.filter(owner=owner, pk=entry_id).values_list("store_id", flat=True).first()
        if isinstance(entry_id, int) and not isinstance(entry_id, bool)
        else None
    )
    if found is None:
        raise FieldsError(
            "No such memory entry.", fields={"entry": ["No entry of yours has this id."]}, code=ErrorCode.NOT_FOUND
        )
    with transaction.atomic():
        store = MemoryStore.objects.select_for_update().get(pk=found)
        MemoryEntry.objects.filter(pk=entry_id, store=store).delete()
        # A new epoch tells every process's cache to reload this store.
        store.epoch = new_stamp()
        store.save(update_fields=["epoch"])
