"""One-statement row writes for the serving path.

``insert_or_skip(obj, conflict)`` writes a model instance with a single
``INSERT … ON CONFLICT (conflict columns) DO NOTHING RETURNING id`` (PostgreSQL and SQLite ≥ 3.35)
and returns the new primary key, or ``None`` when a row with the same unique key already
exists — the caller then reads the winner instead of failing. No savepoint, no second
statement: ``Model.objects.create`` inside ``transaction.atomic`` costs three round trips
(SAVEPOINT, INSERT, RELEASE) when a collision must be survivable.
"""

from __future__ import annotations

from django.db import connections, models, router

_SQL: dict = {}


def _statement(model, connection, conflict: tuple[str, ...]):
    key = (model, connection.alias, conflict)
    cached = _SQL.get(key)
    if cached is None:
        meta = model._meta
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        target = ", ".join(quote(meta.get_field(name).column) for name in conflict)
        skip = f"ON CONFLICT ({target}) DO NOTHING " if conflict else ""
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
            f"{skip}RETURNING {quote(meta.pk.column)}"
        )
        # plain text / number / boolean / foreign-key values go to the driver as they are; the rest
        # (dates, decimals, JSON) through the field's own preparation
        plain = (models.CharField, models.IntegerField, models.FloatField, models.BooleanField)
        prepared = [
            (
                f,
                isinstance(f, models.ForeignKey)
                or (isinstance(f, plain) and type(f).get_db_prep_save is models.Field.get_db_prep_save),
            )
            for f in fields
        ]
        cached = _SQL[key] = (sql, prepared)
    return cached


def insert_values(obj, connection) -> list:
    """``[(field, database value)]`` of an unsaved instance's non-pk columns, in table order, as
    an ``INSERT`` sends them (for statements built around the row, e.g. one with CTEs)."""
    _sql, fields = _statement(type(obj), connection, ())
    return [(f, _value(obj, f, plain, connection)) for f, plain in fields]


def _value(obj, f, plain: bool, connection):
    return getattr(obj, f.attname) if plain else f.get_db_prep_save(f.pre_save(obj, True), connection=connection)


def insert_or_skip(obj, conflict: tuple[str, ...]) -> int | None:
    """Insert ``obj`` (an unsaved model instance); its new pk, or None when ``conflict`` collides."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    sql, fields = _statement(model, connection, conflict)
    params = [_value(obj, f, plain, connection) for f, plain in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = alias
    return obj.pk


class Prepared:
    """An ORM statement compiled once per database connection; later calls only bind values.

    Building and compiling a Django queryset costs more CPU than the indexed query it runs (a
    few milliseconds per ``filter().values_list()`` / ``update()``). ``build(**values)`` returns
    the queryset — or ``(queryset, update kwargs)`` for an UPDATE — from named values; it is
    compiled once with distinct sentinel values to learn where each value goes in the SQL
    parameters, and the SQL, the parameter recipe and the result converters are reused.
    ``kinds`` says how a value is adapted (``"datetime"``, ``"date"``; others are passed as is).
    Parameters that match no sentinel are constants of the query and are kept.
    """

    def __init__(self, build, sentinels: dict, kinds: dict | None = None):
        self.build = build
        self.sentinels = sentinels
        self.kinds = kinds or {}
        self._compiled: dict = {}

    def _adapt(self, connection, name, value):
        kind = self.kinds.get(name)
        if kind == "datetime":
            return connection.ops.adapt_datetimefield_value(value)
        if kind == "date":
            return connection.ops.adapt_datefield_value(value)
        return value

    def _compile(self, connection):
        from django.db.models.sql import UpdateQuery

        built = self.build(**self.sentinels)
        if isinstance(built, tuple):  # an UPDATE: (queryset, {field: expression})
            queryset, values = built
            query = queryset.query.chain(UpdateQuery)
            query.add_update_values(values)
            compiler = query.get_compiler(connection=connection)
            sql, params = compiler.as_sql()
            converters = None
        else:
            compiler = built.query.get_compiler(connection=connection)
            sql, params = compiler.as_sql()
            fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
            converters = compiler.get_converters(fields)
            converters = (compiler, converters) if converters else None
        adapted = {name: self._adapt(connection, name, value) for name, value in self.sentinels.items()}
        recipe = []
        for param in params:
            names = [n for n, v in adapted.items() if type(v) is type(param) and v == param]
            if len(names) > 1:
                raise ValueError(f"cannot place parameter {param!r} of a prepared statement")
            recipe.append((True, names[0]) if names else (False, param))  # a value, or a constant of the query
        return sql, recipe, converters

    def _get(self, connection):
        key = id(connection)
        entry = self._compiled.get(key)
        if entry is None or entry[0] is not connection:
            if len(self._compiled) > 64:
                self._compiled.clear()
            entry = self._compiled[key] = (connection, *self._compile(connection))
        return entry[1:]

    def statement(self, connection, **values) -> tuple[str, list]:
        """The SQL and its parameters for ``values`` (to embed the statement in a larger one)."""
        sql, recipe, _converters = self._get(connection)
        return sql, [self._adapt(connection, name, values[name]) if bound else name for bound, name in recipe]

    def _execute(self, model, values: dict, fetch: bool):
        alias = router.db_for_write(model) if not fetch else router.db_for_read(model)
        connection = connections[alias]
        sql, recipe, converters = self._get(connection)
        params = [self._adapt(connection, name, values[name]) if bound else name for bound, name in recipe]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if not fetch:
                return cursor.rowcount
            rows = cursor.fetchall()
        if converters is not None:
            compiler, convert = converters
            rows = list(compiler.apply_converters(rows, convert))
        return rows

    def rows(self, model, **values) -> list:
        """The rows (tuples, as ``values_list``) of the prepared SELECT with ``values``."""
        return self._execute(model, values, True)

    def update(self, model, **values) -> int:
        """Run the prepared UPDATE with ``values``; the number of rows changed."""
        return self._execute(model, values, False)


def bulk_insert(model, rows: list[dict], *, chunk: int = 5000) -> int:
    """Insert many rows (dicts of field attnames → values; missing fields take their default)
    in as few round trips as the database allows: ``COPY … FROM STDIN`` on PostgreSQL, one
    ``executemany`` per ``chunk`` elsewhere. No model instances, no per-value ORM preparation:
    what ``bulk_create`` spends most of a 100,000-row batch on. Returns the number of rows;
    assigns no primary keys. Run it inside the caller's transaction."""
    import json

    from django.db import models

    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    adapters = []
    for f in fields:
        memo: dict = {}
        if isinstance(f, models.DateTimeField):

            def adapt(value, memo=memo, ops=connection.ops):
                if value not in memo:
                    memo[value] = ops.adapt_datetimefield_value(value)
                return memo[value]

        elif isinstance(f, models.DateField):

            def adapt(value, ops=connection.ops):
                return ops.adapt_datefield_value(value)

        elif isinstance(f, models.JSONField):

            def adapt(value, memo=memo):  # the same object (shared reasons, probabilities) is encoded once
                key = id(value)
                hit = memo.get(key)
                if hit is None or hit[0] is not value:
                    hit = memo[key] = (value, json.dumps(value))
                return hit[1]

        else:
            adapt = None
        default = f.get_default() if f.has_default() or f.null else None
        adapters.append((f.attname, adapt, default))
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)

    def values(row):
        out = []
        for name, adapt, default in adapters:
            value = row.get(name, default)
            out.append(adapt(value) if adapt is not None and value is not None else value)
        return out

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # the driver's COPY, with its errors raised as Django's (IntegrityError, ...)
            with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(values(row))
        else:
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
            for start in range(0, len(rows), chunk):
                cursor.executemany(sql, [values(row) for row in rows[start : start + chunk]])
    return len(rows)
