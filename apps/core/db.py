"""Database helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def consistent_reads() -> Iterator[None]:
    """Run the enclosed reads against one snapshot of the database.

    Used where a page shows state *and* the event sequence it corresponds to:
    both must come from the same moment. PostgreSQL needs REPEATABLE READ
    for that; SQLite gives a read snapshot inside any transaction. Inside an
    enclosing transaction (tests) the snapshot is that transaction's.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield
