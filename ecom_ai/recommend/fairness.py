"""Recommendation exposure by shopper segment, for the fairness report.

For every list served in the period (newest first, at most ``MAX_LISTS``): was it
**personalised** (a strategy other than trending filled it), was it **empty**, was it
**clicked**. Segments: ``channel`` (of the list's impression event), ``customer`` (returning:
the shopper bought something before the list was served; new: not yet; anonymous lists of
visitors without any purchase count as new) and ``country`` (the shipping country of the
shopper's latest assessed order; unknown without one). Other declared segments are order
attributes and do not apply to lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Min
from django.db.models.fields.json import KT
from django.utils import timezone

from ecom_ai.ml.fairness import UNKNOWN, rate_tables

MAX_LISTS = 100_000
CHUNK = 500
OUTCOMES = {"personalised": "personalised", "empty": "empty", "clicked": "clicked"}
DIMENSIONS = ("country", "channel", "customer")
NOT_PERSONAL = {"", "trending", "trending_category", "disabled"}


@dataclass
class ExposureFairness:
    tables: list
    lists: int
    capped: bool
    since: object


def _chunks(keys):
    keys = sorted(k for k in keys if k)
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


def _first_purchases(field: str, keys) -> dict:
    from ecom_ai.models import Event

    out = {}
    for chunk in _chunks(keys):
        for key, first in (
            Event.objects.filter(event_type="purchase", **{f"{field}__in": chunk})
            .values(field)
            .annotate(first=Min("occurred_at"))
            .values_list(field, "first")
        ):
            out[key] = first
    return out


def _countries(user_keys) -> dict:
    from ecom_ai.models.fraud import FraudAssessment

    out = {}
    for chunk in _chunks(user_keys):
        rows = (
            FraudAssessment.objects.filter(user_key__in=chunk)
            .annotate(country=KT("features__shipping_country"))
            .order_by("user_key", "placed_at")
            .values_list("user_key", "country")
        )
        for key, country in rows:
            if country:
                out[key] = str(country)  # the latest order wins
    return out


def _channels(since, list_ids) -> dict:
    from ecom_ai.models import Event

    wanted = set(list_ids)
    out = {}
    rows = (
        Event.objects.filter(event_type="impression", occurred_at__gte=since - timedelta(minutes=5))
        .annotate(rec=KT("context__rec_id"))
        .values_list("rec", "channel")[: MAX_LISTS * 2]
    )
    for rec, channel in rows:
        if rec in wanted:
            out[rec] = channel
    return out


def _personalised(strategy: str) -> bool:
    return any(part not in NOT_PERSONAL for part in (strategy or "").split("+"))


def exposure_fairness(days: int = 30, *, now=None) -> ExposureFairness:
    from ecom_ai.models import RecommendationList

    since = (now or timezone.now()) - timedelta(days=days)
    rows = list(
        RecommendationList.objects.filter(created_at__gte=since)
        .order_by("-created_at")
        .values_list("id", "user_key", "visitor_key", "strategy", "items", "clicks", "created_at")[: MAX_LISTS + 1]
    )
    capped = len(rows) > MAX_LISTS
    rows = rows[:MAX_LISTS]
    users = {r[1] for r in rows}
    visitors = {r[2] for r in rows if not r[1]}
    by_user, by_visitor = _first_purchases("user_key", users), _first_purchases("visitor_key", visitors)
    countries = _countries(users)
    channels = _channels(since, [str(r[0]) for r in rows])
    records = []
    for list_id, user, visitor, strategy, items, clicks, created in rows:
        first = by_user.get(user) if user else by_visitor.get(visitor)
        records.append(
            {
                "personalised": bool(items) and _personalised(strategy),
                "empty": not items,
                "clicked": clicks > 0,
                "customer": "returning" if first is not None and first < created else "new",
                "country": countries.get(user, UNKNOWN) if user else UNKNOWN,
                "channel": channels.get(str(list_id), UNKNOWN),
            }
        )
    return ExposureFairness(rate_tables(records, list(DIMENSIONS), list(OUTCOMES)), len(records), capped, since)
