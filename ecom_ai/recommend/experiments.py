"""A/B experiments: deterministic bucketing and the per-variant report.

A visitor's variant is a pure function of ``sha256("<experiment id>:<visitor key>")``
(the user key when there is no visitor key), so every web process, and every page of
the same visitor, agrees without storing assignments; a new experiment reshuffles
visitors independently of earlier ones.

The report counts served lists (impressions) per variant and the lists whose items were
clicked / bought afterwards (see ``attribution``): CTR and conversion with Wilson score
intervals, revenue per impression with a normal-approximation interval, and for every
variant after the first (the control) the relative lift of CTR and conversion with the
two-sided p-value of a pooled two-proportion z-test.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from django.db.models import Count, FloatField, Q, Sum
from django.db.models.functions import Cast

Z95 = 1.959963984540054


def bucket(experiment_id, identity_key: str) -> float:
    """A number in [0, 1) fixed for this experiment and visitor."""
    digest = hashlib.sha256(f"{experiment_id}:{identity_key}".encode()).hexdigest()
    return int(digest[:15], 16) / 16**15


def choose_variant(experiment_id, variants, identity_key: str):
    """The variant of ``variants`` (ordered, with ``weight``) this visitor falls into, or None."""
    live = [v for v in variants if v.weight > 0]
    total = sum(v.weight for v in live)
    if not live or not identity_key:
        return None
    point = bucket(experiment_id, identity_key) * total
    upto = 0
    for variant in live:
        upto += variant.weight
        if point < upto:
            return variant
    return live[-1]


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 0.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(total: float, total_sq: float, n: int, z: float = Z95) -> tuple[float, float, float]:
    """Mean and normal-approximation interval from a sum and a sum of squares."""
    if n <= 0:
        return 0.0, 0.0, 0.0
    mean = total / n
    var = max(total_sq / n - mean * mean, 0.0) * (n / (n - 1) if n > 1 else 0.0)
    half = z * math.sqrt(var / n) if n > 1 else 0.0
    return mean, mean - half, mean + half


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of a pooled two-proportion z-test; None when undefined."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (x2 / n2 - x1 / n1) / se
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass
class VariantReport:
    variant_id: int
    name: str
    weight: int
    impressions: int
    clicked: int
    converted: int
    revenue: float
    ctr: float
    ctr_ci: tuple[float, float]
    conversion: float
    conversion_ci: tuple[float, float]
    revenue_per_impression: float
    revenue_ci: tuple[float, float]
    # against the first variant (the control); None for the control itself or without data
    ctr_lift: float | None = None
    ctr_p_value: float | None = None
    conversion_lift: float | None = None
    conversion_p_value: float | None = None


def experiment_report(experiment, *, since=None, until=None) -> list[VariantReport]:
    """One row per variant of ``experiment`` (lists served between ``since`` and ``until``)."""
    from ecom_ai.models import RecommendationList

    revenue = Cast("revenue", FloatField())
    lists = RecommendationList.objects.filter(variant__experiment=experiment)
    if since is not None:
        lists = lists.filter(created_at__gte=since)
    if until is not None:
        lists = lists.filter(created_at__lt=until)
    stats = {
        row["variant"]: row
        for row in lists.values("variant")
        .annotate(
            n=Count("pk"),
            clicked=Count("pk", filter=Q(clicks__gt=0)),
            converted=Count("pk", filter=Q(purchases__gt=0)),
            revenue_sum=Sum(revenue),
            revenue_sq=Sum(revenue * revenue),
        )
        .order_by()
    }
    reports = []
    for variant in experiment.variants.all():
        row = stats.get(variant.pk, {})
        n = row.get("n", 0) or 0
        clicked, converted = row.get("clicked", 0) or 0, row.get("converted", 0) or 0
        total, total_sq = float(row.get("revenue_sum") or 0.0), float(row.get("revenue_sq") or 0.0)
        mean, low, high = mean_interval(total, total_sq, n)
        reports.append(
            VariantReport(
                variant_id=variant.pk,
                name=variant.name,
                weight=variant.weight,
                impressions=n,
                clicked=clicked,
                converted=converted,
                revenue=total,
                ctr=clicked / n if n else 0.0,
                ctr_ci=wilson_interval(clicked, n),
                conversion=converted / n if n else 0.0,
                conversion_ci=wilson_interval(converted, n),
                revenue_per_impression=mean,
                revenue_ci=(low, high),
            )
        )
    if reports:
        control = reports[0]
        for row in reports[1:]:
            if control.ctr:
                row.ctr_lift = row.ctr / control.ctr - 1
            if control.conversion:
                row.conversion_lift = row.conversion / control.conversion - 1
            row.ctr_p_value = two_proportion_p_value(control.clicked, control.impressions, row.clicked, row.impressions)
            row.conversion_p_value = two_proportion_p_value(
                control.converted, control.impressions, row.converted, row.impressions
            )
    return reports


__all__ = [
    "bucket",
    "choose_variant",
    "wilson_interval",
    "mean_interval",
    "two_proportion_p_value",
    "VariantReport",
    "experiment_report",
]
