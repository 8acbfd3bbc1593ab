"""Which search backend a database offers.

Search is exact everywhere today: a numpy scan of the per-process matrix
cache (``apps.memory.index``), recall 1.0 by construction, about 7 ms for
100,000 vectors on an idle 2-core machine. On PostgreSQL the pgvector
extension would allow an approximate HNSW index in the database instead;
``pgvector_available()`` says whether it can be used (installed, or created
now). Where it cannot (not packaged on the server, or no privilege to
create it) the exact path is used, which is also the only path on SQLite.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection, transaction

logger = logging.getLogger(__name__)

_checked: dict[str, bool] = {}


def pgvector_available(*, create: bool = True) -> bool:
    """Whether the ``vector`` extension is usable on the default database (checked once per process).

    With ``create``, try ``CREATE EXTENSION IF NOT EXISTS vector`` inside a
    savepoint, so a refusal leaves the caller's transaction usable.
    """
    if connection.vendor != "postgresql":
        return False
    key = connection.settings_dict.get("NAME") or ""
    if key in _checked:
        return _checked[key]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        installed = cursor.fetchone() is not None
        if not installed and create:
            cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            if cursor.fetchone() is not None:
                try:
                    with transaction.atomic():
                        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    installed = True
                except DatabaseError as exc:
                    logger.info("pgvector is packaged but cannot be created (%s); using exact search", exc)
    _checked[key] = installed
    return installed


def search_backend() -> str:
    """The backend searches use: always ``"exact"`` for now (see the module docstring)."""
    return "exact"
