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
from psycopg.types.json import Jsonb

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
    if _init_receivers(signals.pre_init, model) or _init_receivers(signals.post_init, model):
        return model(**values)
    defaults, relations, names = _row_plan(model)
    if not names.issuperset(values):
        raise TypeError(f"{model.__name__}() got unexpected fields: {', '.join(sorted(set(values) - names))}")
    obj = model.__new__(model)
    obj._state = state = ModelState()
    row = obj.__dict__
    for attname, default, constant in defaults:
        if attname in values:
            row[attname] = values[attname]
        else:
            row[attname] = default() if constant is _CALL else constant
    for name, attname, target in relations:
        if name in values:
            related = values[name]
            row[attname] = None if related is None else getattr(related, target)
            state.fields_cache[name] = related
    return obj


_CALL = object()  # a default that must be made anew for each row (a callable: dict, uuid4, now)


def _init_receivers(signal, model) -> bool:
    # Most processes connect no init receivers at all: then there is no per-sender lookup to do.
    return bool(signal.receivers) and signal.has_listeners(model)


@cache
def _row_plan(model: type[Model]) -> tuple[tuple, tuple, frozenset]:
    fields = model._meta.concrete_fields
    # A default that is not a callable is the same object for every instance (as in Django's
    # own get_default), so it is taken once here instead of through get_default per row.
    defaults = tuple(
        (f.attname, f.get_default, _CALL if f.has_default() and callable(f.default) else f.get_default())
        for f in fields
    )
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
    saved. Other databases, and a handful of rows, use ``bulk_create``. Keys given beforehand
    (``allocate_ids``) are kept.
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
        ids = [obj.pk for obj in objs]
        if None in ids:
            ids = _next_ids(cursor, opts, len(objs))
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


def allocate_ids(objs: Sequence[Model]) -> bool:
    """Give new instances of one model their primary keys before they are inserted, where the
    database can hand out keys ahead of rows; return whether it did.

    ``insert_rows`` then inserts them with these keys. For work that must name rows about to
    be written (a fan-out's agent calls start while their step rows are being inserted).
    PostgreSQL takes them from the table's sequence; SQLite from its ``AUTOINCREMENT``
    counter (``_next_sqlite_ids``). Elsewhere nothing is allocated and the keys come from the
    insert, as usual.
    """
    if not objs:
        return True
    conn = connections[DEFAULT_DB_ALIAS]
    opts = type(objs[0])._meta
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            ids = _next_ids(cursor, opts, len(objs))
        elif conn.vendor == "sqlite":
            ids = _next_sqlite_ids(cursor, opts, len(objs), in_transaction=not conn.get_autocommit())
        else:
            ids = None
    if ids is None:
        return False
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
    return True


def _next_sqlite_ids(cursor, opts, count: int, *, in_transaction: bool) -> list[int] | None:
    """``count`` keys of an ``AUTOINCREMENT`` table (Django's auto fields on SQLite), reserved by
    moving the table's counter in ``sqlite_sequence`` past them: SQLite gives an automatic key
    above both the counter and the largest key, so no insert can take them, and one statement
    moves it, under the database's write lock. A transaction that rolls back gives them back.
    None where the table has no counter yet (no row ever inserted) outside a transaction,
    where creating it could race another writer (inside one, SQLite's write lock is held:
    ``transaction_mode`` IMMEDIATE)."""
    cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq", [count, opts.db_table])
    row = cursor.fetchone()
    if row is not None:
        last = row[0]
    elif in_transaction:
        table, pk = (cursor.db.ops.quote_name(name) for name in (opts.db_table, opts.pk.column))
        cursor.execute(f"SELECT COALESCE(MAX({pk}), 0) FROM {table}")
        last = cursor.fetchone()[0] + count
        cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [opts.db_table, last])
    else:
        return None
    return list(range(last - count + 1, last + 1))


def _next_ids(cursor, opts, count: int) -> list[int]:
    sequence = _sequences.get(opts.db_table)
    if sequence is None:  # looked up once: per row, pg_get_serial_sequence tripled the statement's time
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [opts.db_table, opts.pk.column])
        sequence = _sequences[opts.db_table] = cursor.fetchone()[0]
    cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count])
    return [row[0] for row in cursor.fetchall()]


_sequences: dict[str, str] = {}  # table -> its primary key's sequence (PostgreSQL)


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
    """How a value of ``field`` goes to the database: as it is for plain types, JSON encoded by
    orjson on PostgreSQL (``json_bytes``: a wide workflow's state is tens of kilobytes, written
    at every transition), else the field's own way."""
    plain = _PLAIN_TYPES_POSTGRESQL if conn.vendor == "postgresql" else _PLAIN_TYPES
    kind = field.get_internal_type()
    if kind in plain:
        return _as_is
    if kind == "JSONField" and conn.vendor == "postgresql" and field.encoder is None:
        return _jsonb
    return lambda value: field.get_db_prep_save(value, conn)


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value, dumps=json_bytes)  # None: SQL NULL, as Django saves it


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
    """UPDATE rows of ``model`` by primary key, each with its own values (see ``update_rows_if``).

    ``rows`` holds ``(pk, {field name: value})``. The caller decides which rows may be written
    (e.g. having locked and checked them); this only writes.
    """
    _update_rows(model, [(pk, {}, values) for pk, values in rows], outcome=False)


def update_rows_if(model: type[Model], rows: Sequence[tuple[Any, dict[str, Any], dict[str, Any]]]) -> set[Any]:
    """UPDATE rows of ``model`` by primary key, each with its own values, where the row still
    holds its own ``expected`` values; return the primary keys of the rows written.

    ``rows`` holds ``(pk, {field: expected value}, {field: new value})``: a conditional write
    (a step's result is written only while the step still holds the claim it ran under) that
    decides and writes in one statement, without reading the rows first. On PostgreSQL, rows
    with the same fields go in one ``UPDATE ... FROM unnest(arrays) ... RETURNING``: values
    the same for every row are sent once, the others as one array per column, bound on the
    server (the statement text stays small however many rows). Elsewhere, one UPDATE per row.
    """
    return _update_rows(model, rows, outcome=True)


def _update_rows(model, rows, *, outcome: bool) -> set[Any]:
    """``update_rows_if``; without ``outcome`` the caller needs no answer, so rows with nothing
    to check go in one ``executemany`` where the database cannot say row by row."""
    opts = model._meta
    conn = connections[DEFAULT_DB_ALIAS]
    groups: dict[tuple, list[tuple[Any, dict[str, Any], dict[str, Any]]]] = {}
    for pk, expected, values in rows:
        groups.setdefault((tuple(expected), tuple(values)), []).append((pk, expected, values))
    written: set[Any] = set()
    for (expected_names, value_names), group in groups.items():
        expected_fields = [opts.get_field(name) for name in expected_names]
        value_fields = [opts.get_field(name) for name in value_names]
        if conn.vendor == "postgresql" and len(group) > 1:
            written |= _update_by_arrays(conn, opts, expected_fields, value_fields, group)
        else:
            written |= _update_one_by_one(conn, opts, expected_fields, value_fields, group, outcome=outcome)
    return written


def _update_one_by_one(conn, opts, expected_fields, value_fields, group, *, outcome: bool) -> set[Any]:
    quote = conn.ops.quote_name
    to_db = [(f.name, _db_value(f, conn)) for f in value_fields]
    sets = ", ".join(f"{quote(f.column)} = %s" for f in value_fields)
    written = set()
    with conn.cursor() as cursor:
        if not outcome and not expected_fields and len(group) > 1:
            params = [[to(values[name]) for name, to in to_db] + [pk] for pk, _expected, values in group]
            cursor.executemany(f"UPDATE {quote(opts.db_table)} SET {sets} WHERE {quote(opts.pk.column)} = %s", params)
            return {pk for pk, _expected, _values in group}
        for pk, expected, values in group:
            where, params = [f"{quote(opts.pk.column)} = %s"], [to(values[name]) for name, to in to_db] + [pk]
            for f in expected_fields:
                if expected[f.name] is None:
                    where.append(f"{quote(f.column)} IS NULL")
                else:
                    where.append(f"{quote(f.column)} = %s")
                    params.append(_db_value(f, conn)(expected[f.name]))
            cursor.execute(f"UPDATE {quote(opts.db_table)} SET {sets} WHERE {' AND '.join(where)}", params)
            if cursor.rowcount:
                written.add(pk)
    return written


def _same_for_all(group, index: int, name: str) -> bool:
    first = group[0][index][name]
    return all(type(row[index][name]) is type(first) and row[index][name] == first for row in group)


def _update_by_arrays(conn, opts, expected_fields, value_fields, group) -> set[Any]:
    quote = conn.ops.quote_name
    table = quote(opts.db_table)

    def base_type(field) -> str:  # varchar(20)[] would silently truncate: cast to the bare type
        return field.db_type(conn).split("(")[0]

    sets, set_params = [], []
    where, where_params = [f"{table}.{quote(opts.pk.column)} = v.pk"], []
    arrays = [("pk", base_type(opts.pk), [pk for pk, _e, _v in group])]
    for index, fields in ((2, value_fields), (1, expected_fields)):
        for f in fields:
            to_db = _db_value(f, conn)
            if not _same_for_all(group, index, f.name):
                alias = f"c{len(arrays)}"
                arrays.append((alias, base_type(f), [to_db(row[index][f.name]) for row in group]))
                if index == 2:
                    sets.append(f"{quote(f.column)} = v.{alias}")
                else:
                    where.append(f"{table}.{quote(f.column)} IS NOT DISTINCT FROM v.{alias}")
                continue
            value = group[0][index][f.name]
            if index == 2:
                sets.append(f"{quote(f.column)} = %s")
                set_params.append(to_db(value))
            elif value is None:
                where.append(f"{table}.{quote(f.column)} IS NULL")
            else:
                where.append(f"{table}.{quote(f.column)} = %s")
                where_params.append(to_db(value))
    unnest = ", ".join(f"%s::{db_type}[]" for _alias, db_type, _values in arrays)
    sql = (
        f"UPDATE {table} SET {', '.join(sets)} FROM unnest({unnest}) AS v({', '.join(a for a, *_ in arrays)})"
        f" WHERE {' AND '.join(where)} RETURNING {table}.{quote(opts.pk.column)}"
    )
    params = [*set_params, *[values for _a, _t, values in arrays], *where_params]
    with _server_bound_cursor(conn) as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


@contextmanager
def _server_bound_cursor(conn):
    """A cursor of Django's PostgreSQL connection that binds parameters on the server.

    Django's psycopg cursors bind on the client (parameters are quoted into the SQL text in
    Python, per character); for a few arrays of hundreds of values, sending them apart, in
    binary, is far cheaper. Wrapped as Django wraps its own, so errors map to Django's and
    query logging sees it."""
    import psycopg

    conn.ensure_connection()
    cursor = conn._prepare_cursor(psycopg.Cursor(conn.connection))
    try:
        yield cursor
    finally:
        cursor.close()
