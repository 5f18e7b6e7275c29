"""Inserting many rows with PostgreSQL's ``COPY`` (``bulk_create`` elsewhere).

``bulk_create`` on PostgreSQL sends one ``INSERT`` whose parameters psycopg quotes one by
one on the client (Django's default client-side binding): for the served lists and their
impression events, written in batches of up to ``RECOMMEND_LOG_BATCH_SIZE`` by the
serving log writer, that was most of the client CPU of storing a list. ``COPY ... FROM
STDIN`` streams the rows through psycopg's C adapters instead (the measured effect is in
docs/benchmarks.md, Serving).

``copy_insert(model, objs)`` behaves like ``bulk_create`` for what the callers need: the
objects get their primary keys (auto keys are taken from the table's sequence first, in
one query), field defaults and ``pre_save`` (``auto_now_add``...) apply, database errors
come out as Django's (``IntegrityError``...), and it must run inside the caller's
transaction (all or nothing). Other databases, or a psycopg without ``copy``, use
``bulk_create``.
"""

from __future__ import annotations

import datetime
import time
import uuid

from django.db import connections, models, router

#: field classes (exactly these, not subclasses that may prepare values their own way) whose
#: ``get_db_prep_save`` on PostgreSQL returns a value of these types unchanged: such values
#: skip Django's per-field preparation (most of the client CPU of a row), others take it
_UNCHANGED = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.SlugField: (str,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
    models.SmallIntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.PositiveBigIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.AutoField: (int,),
    models.BigAutoField: (int,),
    models.BooleanField: (bool,),
    models.FloatField: (float,),
    models.UUIDField: (uuid.UUID,),
    models.DateTimeField: (datetime.datetime,),  # aware ones only (a naive one is made aware, with a warning)
}


def _unchanged_types(field) -> tuple:
    """The value types ``field`` stores as they are (empty: always prepare)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return ()  # pre_save sets the value
    if isinstance(field, models.ForeignKey) and type(field) is models.ForeignKey:
        return _unchanged_types(field.target_field)
    return _UNCHANGED.get(type(field), ())


def _row(obj, plan, connection) -> list:
    row = []
    for field, attname, types in plan:
        value = getattr(obj, attname)
        if types and (
            value is None or type(value) in types and (type(value) is not datetime.datetime or value.tzinfo is not None)
        ):
            row.append(value)
        else:
            row.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    return row


def copy_insert(model, objs: list, using: str | None = None) -> list:
    """Insert ``objs`` (unsaved instances of ``model``); returns them, primary keys set."""
    objs = list(objs)
    if not objs:
        return objs
    using = using or router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        return model.objects.using(using).bulk_create(objs)
    opts = model._meta
    pk = opts.pk
    auto_pk = pk.db_returning  # AutoField / BigAutoField: the database numbers the rows
    fields = [f for f in opts.concrete_fields if f is not pk or not auto_pk]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        if not hasattr(raw, "copy"):  # pragma: no cover - psycopg2
            return model.objects.using(using).bulk_create(objs)
        if auto_pk:
            raw.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [opts.db_table, pk.column, len(objs)],
            )
            for obj, (value,) in zip(objs, raw.fetchall()):
                setattr(obj, pk.attname, value)
            fields = [pk] + fields
        quote = connection.ops.quote_name
        sql = f"COPY {quote(opts.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
        plan = [(f, f.attname, _unchanged_types(f)) for f in fields]
        started = time.monotonic()
        with raw.copy(sql) as copy:
            for obj in objs:
                copy.write_row(_row(obj, plan, connection))
        if connection.queries_logged:  # shown like any query (DEBUG, CaptureQueriesContext, debug toolbar)
            connection.queries_log.append(
                {"sql": f"{sql} -- {len(objs)} rows", "time": f"{time.monotonic() - started:.3f}"}
            )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    return objs
