"""A paginator for admin changelists over very large tables.

``SELECT COUNT(*)`` over millions of rows takes seconds on PostgreSQL (a full scan). On
PostgreSQL, ``LargeTablePaginator`` first asks the planner for its row estimate
(``EXPLAIN``, which costs nothing); when the estimate is above ``exact_count_limit`` the
estimate is used as the count, otherwise it counts exactly. Other databases count exactly.
Use it with ``show_full_result_count = False`` so the admin skips its second, unfiltered count.
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.core.paginator import Paginator
from django.db import DatabaseError, connections, transaction
from django.db.models import QuerySet
from django.utils.functional import cached_property

logger = logging.getLogger(__name__)


def planner_row_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows ``queryset`` returns, or None elsewhere / on error."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    try:
        sql, params = queryset.order_by().query.sql_with_params()
        with transaction.atomic(using=queryset.db), connection.cursor() as cursor:  # savepoint: a failed
            # EXPLAIN must not abort the request's transaction
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
    except (DatabaseError, EmptyResultSet, FullResultSet, TypeError, ValueError):
        logger.debug("ecom_ai: no planner estimate, counting exactly", exc_info=True)
        return None
    if isinstance(plan, str):
        plan = json.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


class LargeTablePaginator(Paginator):
    #: Above this planner estimate the estimate is shown instead of an exact count.
    exact_count_limit = 100_000

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            estimate = planner_row_estimate(self.object_list)
            if estimate is not None and estimate > self.exact_count_limit:
                self.is_estimate = True
                return estimate
        self.is_estimate = False
        return super().count


def approximate_count(queryset: QuerySet, exact_count_limit: int = LargeTablePaginator.exact_count_limit):
    """``(count, is_estimate)``: the planner's estimate when above the limit (PostgreSQL), else exact."""
    estimate = planner_row_estimate(queryset)
    if estimate is not None and estimate > exact_count_limit:
        return estimate, True
    return queryset.count(), False
