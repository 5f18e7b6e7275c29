"""A new offer decision in ONE statement (PostgreSQL): budget, coupon and decision together.

``write(decision, ...)`` stores a new decision with one data-modifying statement::

    WITH budget AS (UPDATE campaign SET spent_… WHERE id = … AND <within both budgets> RETURNING 1),
         g      AS (SELECT EXISTS (SELECT 1 FROM budget) AS given),
         coupon AS (INSERT INTO coupon (…) SELECT … FROM g WHERE g.given)
    INSERT INTO offerdecision (…) SELECT …, CASE WHEN g.given THEN <offer> ELSE NULL END, … FROM g
    RETURNING id, offer_id IS NOT NULL

In autocommit the statement is its own transaction: one round trip instead of BEGIN, the budget
``UPDATE``, the coupon ``INSERT``, the decision ``INSERT`` and COMMIT. It is all or nothing:

* the budget ``UPDATE`` is the same conditional statement as ``budget.reserve`` (the condition
  "still within both budgets" is re-checked on the locked row, so racing requests cannot overspend);
* budget exhausted → the same statement stores the decision as "no offer" (the ``refused``
  values) and inserts no coupon;
* a lost race — another request stored this customer's decision number first — is a unique
  violation of the decision ``INSERT`` (a plain ``INSERT``, not ``ON CONFLICT DO NOTHING``): the
  whole statement fails, nothing is spent, and ``Lost`` tells the caller to read the winner. So is
  a deadlock the server broke by aborting this statement (a batch that wrote this customer's
  decision and then waits for the campaign row this statement locked for its budget).

Inside a transaction of the caller's (``ATOMIC_REQUESTS``, a host's ``atomic`` block) the statement
runs in a savepoint, so a lost race never breaks the caller's transaction.

``MARKETING_DECISION_COMMIT = "async"`` adds ``set_config('synchronous_commit', 'off', true)`` to
the statement: that one transaction commits without waiting for the WAL flush (the setting is
local to it; the connection's other statements keep theirs). Only in autocommit: a decision
inside the caller's transaction commits with it, as the caller's commit decides.

Used only when the coupon (if the offer has one) comes from ecom_ai's own ``Coupon`` store: a shop
adapter that issues its own coupons keeps the transactional path of ``OfferService._store``.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import IntegrityError, OperationalError, connections, router, transaction

#: the decision columns whose value depends on whether the budget gave the offer
VARYING = ("offer", "cost", "for_learning", "reasons", "coupon_code", "expires_at")
DECISION_CONSTRAINT = "ecom_ai_od_sequence"
#: columns that are empty on every new decision / coupon (outcomes, filled in later): written as
#: ``NULL`` in the SQL, which keeps the statement under psycopg's 50 parameters of a cached query
EMPTY = frozenset(("shown_at", "clicked_at", "redeemed_at", "converted_at", "order_value", "order_margin"))

_SQL: dict = {}


class Lost(Exception):
    """Another request stored this decision number first: nothing was written."""


def usable(connection, offer) -> bool:
    """True when a new decision of ``offer`` (None: no offer) can be written by ``write``:
    PostgreSQL (with Django's default ``AUTOCOMMIT``), and the offer's coupon (if it needs one)
    from ecom_ai's own store."""
    if connection.vendor != "postgresql" or not connection.settings_dict.get("AUTOCOMMIT", True):
        return False  # (inside the caller's transaction it runs in a savepoint; not on a connection
        # configured without autocommit, where a failed statement would abort the caller's work)
    if offer is None or not offer.needs_code:
        return True
    from ecom_ai.adapters import DefaultShopAdapter, get_adapter

    return type(get_adapter()).issue_coupon is DefaultShopAdapter.issue_coupon


def asynchronous() -> bool:
    from ecom_ai.conf import settings as ecom_settings

    return ecom_settings.MARKETING_DECISION_COMMIT == "async"


def _cast(field, connection) -> str:
    return f"CAST(%s AS {field.db_type(connection)})"


def _statement(connection, budget_sql: str | None, with_coupon: bool, asynchronous: bool) -> str:
    key = (connection.alias, budget_sql, with_coupon, asynchronous)
    sql = _SQL.get(key)
    if sql is not None:
        return sql
    from ecom_ai.models.marketing import Coupon, OfferDecision

    quote = connection.ops.quote_name
    ctes = []
    if budget_sql is not None:
        ctes.append(f"budget AS ({budget_sql} RETURNING 1)")
        ctes.append("g AS (SELECT EXISTS (SELECT 1 FROM budget) AS given)")
    else:
        ctes.append("g AS (SELECT TRUE AS given)")
    if asynchronous:
        ctes.append("cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS s)")
    if with_coupon:
        fields = [f for f in Coupon._meta.concrete_fields if not f.primary_key]
        ctes.append(
            f"coupon AS (INSERT INTO {quote(Coupon._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"SELECT {', '.join('NULL' if f.name in EMPTY else _cast(f, connection) for f in fields)} "
            "FROM g WHERE g.given)"
        )
    meta = OfferDecision._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = []
    for f in fields:
        if f.name in EMPTY:
            values.append("NULL")
        elif budget_sql is not None and f.name in VARYING:
            values.append(f"CASE WHEN g.given THEN {_cast(f, connection)} ELSE {_cast(f, connection)} END")
        else:
            values.append(_cast(f, connection))
    sql = (
        f"WITH {', '.join(ctes)} "
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT {', '.join(values)} FROM g{', cfg' if asynchronous else ''} "
        f"RETURNING {quote(meta.pk.column)}, {quote(meta.get_field('offer').column)} IS NOT NULL"
    )
    _SQL[key] = sql
    return sql


def deadlock(exc: Exception) -> bool:
    """True for PostgreSQL's "deadlock detected" (SQLSTATE 40P01): the server aborted this
    statement (or transaction) to break a lock cycle; nothing of it was written."""
    cause = exc.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)  # psycopg 3, psycopg2
    return isinstance(exc, OperationalError) and code == "40P01"


def _unique_violation(exc: IntegrityError) -> tuple[str, str]:
    """``(table, constraint)`` of a unique violation (empty strings when unknown)."""
    diag = getattr(exc.__cause__, "diag", None)
    return (getattr(diag, "table_name", "") or "", getattr(diag, "constraint_name", "") or "")


def write(decision, *, cost, today, refused: dict | None = None, coupon=None) -> bool:
    """Store ``decision`` (an unsaved ``OfferDecision`` as it is when the offer is given) in one
    statement, with the budget reservation of ``cost`` (> 0) and ``coupon`` (an unsaved ``Coupon``
    whose code the decision carries; None: no code). ``refused``: the ``VARYING`` fields' values
    when the budget refuses (required with a cost). True: given; False: stored as refused (the
    decision's fields are set so). ``Lost`` when the decision number is taken (nothing written)."""
    from ecom_ai.marketing.budget import _RESERVE
    from ecom_ai.models.marketing import Coupon, OfferDecision, new_coupon_codes
    from ecom_ai.models.rows import insert_values

    alias = router.db_for_write(OfferDecision, instance=decision)
    connection = connections[alias]
    outermost = not connection.in_atomic_block
    budget_sql, budget_params = None, []
    if cost > 0:
        budget_sql, budget_params = _RESERVE.statement(
            connection, campaign_id=int(decision.campaign_id), cost=cost, today=today
        )
        if refused is None:
            raise ValueError("a decision with a cost needs its refused values")
    sql = _statement(connection, budget_sql, coupon is not None, outermost and asynchronous())
    for _attempt in range(5):
        params = list(budget_params)
        if coupon is not None:
            params += _values(coupon, connection)
        for f, value in insert_values(decision, connection):
            if f.name in EMPTY:
                if value is not None:
                    raise ValueError(f"a new decision's {f.name} must be empty")
                continue
            params.append(value)
            if budget_sql is not None and f.name in VARYING:
                params.append(f.get_db_prep_save(refused[f.name], connection=connection))
        try:
            with _cursor(connection, outermost) as cursor:
                cursor.execute(sql, params)
                pk, given = cursor.fetchone()
        except IntegrityError as exc:
            table, constraint = _unique_violation(exc)
            if constraint == DECISION_CONSTRAINT:
                raise Lost from exc
            if coupon is not None and table == Coupon._meta.db_table:
                # a code that exists already: astronomically rare, draw again
                coupon.code = decision.coupon_code = new_coupon_codes(1)[0]
                continue
            raise
        except OperationalError as exc:
            if deadlock(exc):
                # e.g. a batch wrote this customer's decision and waits for the campaign row this
                # statement had locked: PostgreSQL aborted this one; the caller reads the winner
                raise Lost from exc
            raise
        break
    else:
        raise RuntimeError("could not create a unique coupon code")
    decision.pk = pk
    decision._state.adding = False
    decision._state.db = alias
    if not given:
        for name, value in (refused or {}).items():
            setattr(decision, name, value)
    return bool(given)


def _values(obj, connection) -> list:
    from ecom_ai.models.rows import insert_values

    out = []
    for f, value in insert_values(obj, connection):
        if f.name in EMPTY:
            if value is not None:
                raise ValueError(f"a new {type(obj).__name__}'s {f.name} must be empty")
        else:
            out.append(value)
    return out


@contextmanager
def _cursor(connection, outermost: bool):
    """A cursor; inside the caller's transaction, within a savepoint (a failure rolls back to it)."""
    if outermost:
        with connection.cursor() as cursor:
            yield cursor
    else:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            yield cursor
