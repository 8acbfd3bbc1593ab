"""Database helpers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Model, signals
from django.db.models.base import ModelState
from django.utils import timezone

M = TypeVar("M", bound=Model)


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


def new_row(model: type[M], /, **values: Any) -> M:
    """A new unsaved instance of ``model``, as ``model(**values)`` gives, for the hot path.

    ``Model.__init__`` sorts keyword arguments field by field through descriptors; for a
    run's step rows that is about 65 microseconds each, a seventh of that here. ``values``
    are field attnames (``run_id``) or relation names with an instance (``run=run``, whose
    instance is cached as ``model(run=run)`` caches it); fields not given take their
    defaults. Models with ``pre_init`` or ``post_init`` receivers go through ``__init__``
    so that those receivers still run.
    """
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return model(**values)
    defaults, relations, names = _row_plan(model)
    if not names.issuperset(values):
        raise TypeError(f"{model.__name__}() got unexpected fields: {', '.join(sorted(set(values) - names))}")
    obj = model.__new__(model)
    obj._state = state = ModelState()
    row = obj.__dict__
    for attname, default in defaults:
        row[attname] = values[attname] if attname in values else default()
    for name, attname, target in relations:
        if name in values:
            related = values[name]
            row[attname] = None if related is None else getattr(related, target)
            state.fields_cache[name] = related
    return obj


@cache
def _row_plan(model: type[Model]) -> tuple[tuple, tuple, frozenset]:
    fields = model._meta.concrete_fields
    defaults = tuple((f.attname, f.get_default) for f in fields)
    relations = tuple((f.name, f.attname, f.target_field.attname) for f in fields if f.is_relation)
    return defaults, relations, frozenset([f.attname for f in fields] + [name for name, *_ in relations])


COPY_FROM_ROWS = 8  # from this many rows on, COPY (two round trips) beats one INSERT


def insert_rows(objs: Sequence[Model]) -> None:
    """Insert new instances of one model, setting their primary keys, as fast as the database allows.

    ``QuerySet.bulk_create`` does the same, but on PostgreSQL it sends the rows
    as arrays (``UNNEST``), and quoting JSON and text into array literals costs
    Python time per character. For the run engine's hot path (hundreds of
    steps, messages and events a second) this uses ``COPY``, four times faster
    for a few hundred rows: the ids are taken from the table's sequence first
    (one round trip), then the rows are streamed with them. Instances are
    prepared as ``save`` would (``pre_save``: auto timestamps) and come back
    saved. Other databases, and a handful of rows, use ``bulk_create``.
    """
    if not objs:
        return
    model = type(objs[0])
    conn = connections[DEFAULT_DB_ALIAS]  # not the thread-local proxy: it is read per value below
    if conn.vendor != "postgresql" or len(objs) < COPY_FROM_ROWS:
        model._default_manager.bulk_create(objs)  # a few rows: one INSERT beats two round trips
        return
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    quote = conn.ops.quote_name
    table = quote(opts.db_table)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [opts.db_table, opts.pk.column, len(objs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        now = timezone.now()
        for f in fields:  # what pre_save does for new rows, with one timestamp for the batch
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                for obj in objs:
                    setattr(obj, f.attname, now)
        converters = {f: _db_value(f, conn) for f in fields}
        plain = [f for f in fields if converters[f] is _as_is]  # taken as they are, no call per value
        other = [f for f in fields if converters[f] is not _as_is]
        columns = ", ".join(quote(f.column) for f in [opts.pk, *plain, *other])
        plain = [f.attname for f in plain]
        other = [(f.attname, converters[f]) for f in other]
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj, pk in zip(objs, ids, strict=True):
                values = obj.__dict__
                copy.write_row([pk, *[values[a] for a in plain], *[to_db(values[a]) for a, to_db in other]])
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = conn.alias


# Field types whose Python values the driver takes as they are (Field.get_db_prep_save would
# only re-check their type, at a few microseconds a value).
_PLAIN_TYPES = {
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SlugField",
    "SmallIntegerField",
    "TextField",
}


# ...and on PostgreSQL also these: its backend adapts them as they are (psycopg sends datetimes,
# decimals, floats and UUIDs natively).
_PLAIN_TYPES_POSTGRESQL = _PLAIN_TYPES | {"DateTimeField", "DecimalField", "FloatField", "UUIDField"}


def _db_value(field, conn) -> Callable[[Any], Any]:
    """How a value of ``field`` goes to the database: as it is for plain types, else the field's own way."""
    plain = _PLAIN_TYPES_POSTGRESQL if conn.vendor == "postgresql" else _PLAIN_TYPES
    if field.get_internal_type() in plain:
        return _as_is
    return lambda value: field.get_db_prep_save(value, conn)


def _as_is(value: Any) -> Any:
    return value


def json_bytes(value: Any) -> bytes | str:
    """JSON for a ``psycopg`` ``Jsonb`` value (``Jsonb(value, dumps=json_bytes)``), ten times
    faster than ``json.dumps`` for the event payloads a wide run writes by the hundred.

    Whatever orjson declines (an integer beyond 64 bits, a subclass it does not know) goes
    through ``json.dumps`` as before, so it accepts at least what ``json.dumps`` accepts.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value)


def copy_rows(model: type[Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Append rows whose keys nobody needs back (an event log) with one ``COPY`` on PostgreSQL.

    ``columns`` are field attnames, and the values must be what the driver takes as they are
    (JSON as ``psycopg.types.json.Jsonb``). Only for PostgreSQL: callers use ``bulk_create``
    elsewhere.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    opts = model._meta
    quote = conn.ops.quote_name
    names = ", ".join(quote(opts.get_field(c.removesuffix("_id")).column) for c in columns)
    with conn.cursor() as cursor, cursor.copy(f"COPY {quote(opts.db_table)} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def update_rows(model: type[Model], rows: Sequence[tuple[Any, dict[str, Any]]]) -> None:
    """UPDATE rows of ``model`` by primary key, each with its own values, in one statement per set
    of columns: ``UPDATE ... FROM (VALUES ...)`` on PostgreSQL, ``executemany`` elsewhere.

    ``rows`` holds ``(pk, {field name: value})``. The caller decides which rows may be written
    (e.g. having locked and checked them); this only writes.
    """
    opts = model._meta
    conn = connections[DEFAULT_DB_ALIAS]
    quote = conn.ops.quote_name
    table, pk_column = quote(opts.db_table), quote(opts.pk.column)
    groups: dict[tuple[str, ...], list[tuple[Any, dict[str, Any]]]] = {}
    for pk, values in rows:
        groups.setdefault(tuple(values), []).append((pk, values))
    with conn.cursor() as cursor:
        for names, group in groups.items():
            fields = [opts.get_field(name) for name in names]
            if conn.vendor == "postgresql" and len(group) > 1:
                _update_from_values(cursor, conn, table, pk_column, opts, fields, group)
                continue
            prepare = [(f.name, _db_value(f, conn)) for f in fields]
            params = [[to_db(values[name]) for name, to_db in prepare] + [pk] for pk, values in group]
            sql = f"UPDATE {table} SET {', '.join(f'{quote(f.column)} = %s' for f in fields)} WHERE {pk_column} = %s"
            if len(params) == 1:
                cursor.execute(sql, params[0])
            else:
                cursor.executemany(sql, params)


def _update_from_values(cursor, conn, table, pk_column, opts, fields, group) -> None:
    """One ``UPDATE ... FROM (VALUES ...)``: columns with one value for every row are set once,
    only the others travel per row (a batch of step results shares most of its columns)."""
    quote = conn.ops.quote_name
    shared, varying = [], []
    for f in fields:
        first = group[0][1][f.name]
        same = all(type(v[f.name]) is type(first) and v[f.name] == first for _pk, v in group)
        (shared if same else varying).append(f)
    assignments = [f"{quote(f.column)} = %s" for f in shared]
    params: list[Any] = [_db_value(f, conn)(group[0][1][f.name]) for f in shared]
    # cast to the bare type: varchar(20) would silently truncate
    assignments += [f"{quote(f.column)} = v.c{i}::{f.db_type(conn).split('(')[0]}" for i, f in enumerate(varying)]
    prepare = [(f.name, _db_value(f, conn)) for f in varying]
    row_sql = "(" + ", ".join(["%s"] * (len(varying) + 1)) + ")"
    for pk, values in group:
        params += [to_db(values[name]) for name, to_db in prepare] + [pk]
    aliases = ", ".join([*(f"c{i}" for i in range(len(varying))), "pk"])
    cursor.execute(
        f"UPDATE {table} SET {', '.join(assignments)} FROM (VALUES {', '.join([row_sql] * len(group))})"
        f" AS v({aliases}) WHERE {table}.{pk_column} = v.pk::{opts.pk.db_type(conn)}",
        params,
    )
