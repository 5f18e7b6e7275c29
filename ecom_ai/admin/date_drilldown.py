"""Date drill-down (``date_hierarchy``) that stays cheap on tables with millions of rows.

Django's ``date_hierarchy`` lists the years/months/days that have rows with
``queryset.datetimes(field, kind)``: a ``SELECT DISTINCT date_trunc(...)`` over every
matching row, i.e. a full scan of the events table on each page view once it spans more
than one year. ``IndexedDateDrilldownQuerySet.datetimes()`` gives the same answer with a
"skip scan" on the field's index: the first row at or after a moment (``ORDER BY field
LIMIT 1``), then again from the start of the next period — one indexed query per period
that has rows (at most 31 for days, 12 for months, one per year), plus one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone


def _period_bounds(moment: datetime, kind: str) -> tuple[datetime, datetime]:
    """The naive [start, end) of the year/month/day holding naive ``moment``."""
    if kind == "year":
        return datetime(moment.year, 1, 1), datetime(moment.year + 1, 1, 1)
    if kind == "month":
        nxt = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        return datetime(moment.year, moment.month, 1), datetime(*nxt, 1)
    start = datetime(moment.year, moment.month, moment.day)
    return start, start + timedelta(days=1)


class IndexedDateDrilldownQuerySet(QuerySet):
    #: Stop after this many periods and fall back to Django's DISTINCT query.
    max_periods = 40

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if kind not in ("year", "month", "day") or "__" in field_name:
            return super().datetimes(field_name, kind, order, tzinfo)
        tz = (tzinfo or timezone.get_current_timezone()) if settings.USE_TZ else None
        ordered = self.order_by(field_name).values_list(field_name, flat=True)
        found: list[datetime] = []
        cursor = None
        while len(found) <= self.max_periods:
            queryset = ordered.filter(**{f"{field_name}__gte": cursor}) if cursor is not None else ordered
            nxt = queryset.filter(**{f"{field_name}__isnull": False}).first()
            if nxt is None:
                return found[::-1] if order == "DESC" else found
            local = timezone.localtime(nxt, tz).replace(tzinfo=None) if tz is not None else nxt
            start, end = _period_bounds(local, kind)
            if tz is not None:
                start, end = timezone.make_aware(start, tz), timezone.make_aware(end, tz)
            found.append(start)
            cursor = end
        return super().datetimes(field_name, kind, order, tzinfo)


_mixed: dict[type, type] = {}


def with_indexed_drilldown(queryset: QuerySet) -> QuerySet:
    """``queryset`` with the index-friendly ``datetimes()``, keeping its own QuerySet class's methods."""
    cls = queryset.__class__
    if not issubclass(cls, IndexedDateDrilldownQuerySet):
        if cls not in _mixed:
            _mixed[cls] = type(f"IndexedDrilldown{cls.__name__}", (IndexedDateDrilldownQuerySet, cls), {})
        queryset = queryset._chain()
        queryset.__class__ = _mixed[cls]
    return queryset
