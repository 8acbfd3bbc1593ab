"""Vector memory: entries of text with a sentence embedding, kept per swarm and per agent.

A ``MemoryStore`` is one memory (a swarm's shared memory, or one agent's
own). Writes to a store take its row lock and number their entries with
``seq``, so sequence numbers commit in order: a reader that has seen
``seq`` N of a store has seen every entry before it. That is what lets a
per-process index (``apps.memory.index``) refresh by reading only entries
after the last ``seq`` it holds. ``epoch`` changes whenever entries are
removed, which tells the same index to reload. Change memory only through
``apps.memory.services``.
"""

from __future__ import annotations

import secrets

import numpy as np
from django.conf import settings
from django.db import models

from apps.engine.embeddings import DIMENSIONS

VECTOR_BYTES = DIMENSIONS * 4  # float32


def new_stamp() -> int:
    """A random positive 63-bit number: identifies one write batch or one epoch of a store."""
    return secrets.randbits(62) + 1


class MemoryScope(models.TextChoices):
    SWARM = "swarm", "Swarm memory"
    AGENT = "agent", "Agent memory"


class MemoryStore(models.Model):
    """One memory: a swarm's shared memory or an agent's own (exactly one of ``swarm`` and ``agent``)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_stores")
    swarm = models.OneToOneField(
        "swarms.Swarm", on_delete=models.CASCADE, null=True, blank=True, related_name="memory_store"
    )
    agent = models.OneToOneField(
        "agents.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="memory_store"
    )
    seq = models.PositiveBigIntegerField(default=0, help_text="The seq of the last entry written (under row lock).")
    stamp = models.BigIntegerField(default=0, help_text="The stamp of the last write batch.")
    epoch = models.BigIntegerField(default=new_stamp, help_text="Changes whenever entries are removed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(swarm__isnull=False, agent__isnull=True)
                | models.Q(swarm__isnull=True, agent__isnull=False),
                name="memory_store_is_a_swarms_or_an_agents",
            ),
        ]

    def __str__(self) -> str:
        return f"memory of {self.scope} {self.swarm or self.agent}"

    @property
    def scope(self) -> MemoryScope:
        return MemoryScope.SWARM if self.swarm_id else MemoryScope.AGENT


class MemoryEntry(models.Model):
    """A remembered text, who wrote it (agent, run), its tags and its unit embedding (float32 bytes)."""

    store = models.ForeignKey(MemoryStore, on_delete=models.CASCADE, related_name="entries")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_entries")
    seq = models.PositiveBigIntegerField(help_text="Order of writing within the store; committed in order.")
    stamp = models.BigIntegerField(help_text="The write batch this entry came in (detects rolled-back writes).")
    text = models.TextField()
    author = models.ForeignKey(
        "agents.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="memories_written"
    )
    run = models.ForeignKey("runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="memories")
    tags = models.CharField(
        max_length=500, blank=True, help_text='Stored as "|a|b|" so one LIKE finds a tag on every database.'
    )
    embedding = models.BinaryField(help_text=f"{DIMENSIONS} float32 values, L2-normalised, little-endian.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "memory entries"
        constraints = [models.UniqueConstraint(fields=["store", "seq"], name="memory_entry_unique_seq_per_store")]
        indexes = [models.Index(fields=["owner", "-id"], name="memory_entry_owner_recent")]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def tag_list(self) -> list[str]:
        return split_tags(self.tags)

    @property
    def vector(self) -> np.ndarray:
        return np.frombuffer(bytes(self.embedding), dtype="<f4")


def join_tags(tags: list[str]) -> str:
    return f"|{'|'.join(tags)}|" if tags else ""


def split_tags(stored: str) -> list[str]:
    return [t for t in stored.split("|") if t]
