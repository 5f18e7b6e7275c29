"""Transactional budget accounting of a campaign.

``reserve(campaign_id, cost)`` spends ``cost`` from the campaign's total and daily budget
with one conditional ``UPDATE`` (the condition "still within both budgets" is part of the
statement), so two processes racing for the last budget cannot both spend it: the database
re-checks the condition on the locked row (PostgreSQL) or serializes the writers (SQLite).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from ecom_ai.models.rows import Prepared


def _today() -> date:
    return timezone.now().date()


def _reserve_statement(campaign_id, cost, today):
    from ecom_ai.models.marketing import Campaign

    # a new day starts the day's spending at this cost; both budgets are in the WHERE
    same_day = Q(spent_day=today)
    within_total = Q(total_budget__isnull=True) | Q(total_budget__gte=F("spent_total") + cost)
    within_day = (
        Q(daily_budget__isnull=True)
        | (same_day & Q(daily_budget__gte=F("spent_today") + cost))
        | (~same_day | Q(spent_day__isnull=True)) & Q(daily_budget__gte=cost)
    )
    queryset = Campaign.objects.filter(within_total, within_day, pk=campaign_id)
    return queryset, {
        "spent_total": F("spent_total") + cost,
        "spent_today": Case(When(same_day, then=F("spent_today") + cost), default=Value(cost)),
        "spent_day": today,
    }


# compiled once per connection (the ORM's SQL, bound per call): no query building per decision
_RESERVE = Prepared(
    _reserve_statement,
    {"campaign_id": -7_340_211, "cost": Decimal("0.0173"), "today": date(1901, 2, 3)},
    {"today": "date"},
)


def reserve(campaign_id: int, cost: Decimal) -> bool:
    """Spend ``cost`` from the campaign's budgets; False (nothing spent) when it would exceed one.

    One statement: the conditional ``UPDATE`` (compiled once per connection)."""
    from ecom_ai.models.marketing import Campaign

    cost = Decimal(cost or 0)
    if cost <= 0:
        return True
    return bool(_RESERVE.update(Campaign, campaign_id=int(campaign_id), cost=cost, today=_today()))


def release(campaign_id: int, cost: Decimal) -> None:
    """Give back a reservation (e.g. a decision erased before it was used)."""
    from ecom_ai.models.marketing import Campaign

    cost = Decimal(cost or 0)
    if cost > 0:
        Campaign.objects.filter(pk=campaign_id, spent_total__gte=cost).update(spent_total=F("spent_total") - cost)


def remaining(campaign) -> Decimal | None:
    """What is left of the total budget (None: unlimited)."""
    if campaign.total_budget is None:
        return None
    return max(Decimal("0"), campaign.total_budget - campaign.spent_total)
