"""Date drill-down (``date_hierarchy``) that stays cheap on tables with millions of rows.

Django's ``date_hierarchy`` lists the years/months/days that have rows with
``queryset.datetimes(field, kind)``: a ``SELECT DISTINCT date_trunc(...)`` over every
matching row, i.e. a full scan of the events table on each page view once it spans more
than one year. ``IndexedDateDrilldownQuerySet.datetimes()`` gives the same answer with
index probes instead: the min/max of the field, then one ``EXISTS`` (``LIMIT 1`` on the
index) per candidate period — at most 31 for days, 12 for months, one per year.
"""
from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.db.models import Max, Min, QuerySet
from django.utils import timezone


def _periods(first: datetime, last: datetime, kind: str) -> list[tuple[datetime, datetime]]:
    """Naive local [start, end) periods of ``kind`` from ``first`` to ``last``."""
    periods = []
    if kind == "year":
        for year in range(first.year, last.year + 1):
            periods.append((datetime(year, 1, 1), datetime(year + 1, 1, 1)))
    elif kind == "month":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            nxt = (year + 1, 1) if month == 12 else (year, month + 1)
            periods.append((datetime(year, month, 1), datetime(*nxt, 1)))
            year, month = nxt
    else:  # day
        day = first.date()
        while day <= last.date():
            start = datetime.combine(day, datetime.min.time())
            day = date.fromordinal(day.toordinal() + 1)
            periods.append((start, datetime.combine(day, datetime.min.time())))
    return periods


class IndexedDateDrilldownQuerySet(QuerySet):
    #: Above this many candidate periods fall back to Django's DISTINCT query.
    max_probes = 40

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if kind not in ("year", "month", "day") or "__" in field_name:
            return super().datetimes(field_name, kind, order, tzinfo)
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        tz = (tzinfo or timezone.get_current_timezone()) if settings.USE_TZ else None
        first, last = bounds["first"], bounds["last"]
        if tz is not None:
            first, last = timezone.localtime(first, tz).replace(tzinfo=None), timezone.localtime(last, tz).replace(tzinfo=None)
        periods = _periods(first, last, kind)
        if len(periods) > self.max_probes:
            return super().datetimes(field_name, kind, order, tzinfo)
        found = []
        for start, end in periods:
            if tz is not None:
                start, end = timezone.make_aware(start, tz), timezone.make_aware(end, tz)
            if self.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end}).exists():
                found.append(start)
        return found[::-1] if order == "DESC" else found


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
