"""Fraud outcomes by segment: flag, review and decline rates for the fairness report.

Segments (``ECOM_AI["FAIRNESS_SEGMENTS"]``): ``country`` (shipping country), ``channel``,
``customer`` (new: no earlier assessed order of the customer; returning; unknown) and any
``FRAUD_EXTRA_FEATURES`` attribute, report-only ones included (numbers are grouped by the
attribute's ``bins``, else by quartiles). Outcomes per assessment: **flagged** (level medium
or high), **sent to review** (recommended action review), **declined** (recommended action
cancel), and **confirmed fraud** (label fraud).

The rows are read with the segment values extracted by the database (JSON key lookups on
``features`` / ``report_attributes``), newest first, at most ``MAX_ROWS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models.fields.json import KT
from django.utils import timezone

from ecom_ai.ml.fairness import UNKNOWN, RateTable, bin_label, quartile_edges, rate_tables

MAX_ROWS = 100_000
OUTCOMES = {
    "flagged": "flagged (medium or high)",
    "review": "sent to review",
    "declined": "declined (cancel)",
    "fraud": "confirmed fraud",
}
BUILTIN = {"country": "features__shipping_country", "channel": "features__channel", "customer": "features__first_order"}


@dataclass
class FraudFairness:
    tables: list  # RateTable per segment dimension
    rows: int
    capped: bool
    since: object
    report_only: tuple  # names of report-only attributes among the dimensions


def _dimension_paths(dimensions) -> dict[str, str]:
    from ecom_ai.fraud.extras import by_name

    paths = {}
    for name in dimensions:
        if name in BUILTIN:
            paths[name] = BUILTIN[name]
            continue
        attribute = by_name(name)
        if attribute is not None:
            paths[name] = f"{'report_attributes' if attribute.report_only else 'features'}__{name}"
    return paths


def _customer(value) -> str:
    text = str(value).strip().lower() if value is not None else ""
    if text in ("1", "true"):
        return "new"
    if text in ("0", "false"):
        return "returning"
    return UNKNOWN


def _numeric_segments(values, attribute) -> list[str]:
    numbers = []
    for value in values:
        try:
            numbers.append(float(value) if value not in (None, "") else None)
        except (TypeError, ValueError):
            numbers.append(None)
    edges = list(attribute.bins) or quartile_edges([n for n in numbers if n is not None])
    return [bin_label(n, edges) if n is not None else UNKNOWN for n in numbers]


def fraud_fairness(days: int = 30, *, dimensions=None, now=None) -> FraudFairness:
    """The fraud rate tables of the assessments placed in the last ``days`` days."""
    from ecom_ai.conf import settings as ecom_settings
    from ecom_ai.fraud.extras import by_name
    from ecom_ai.models.fraud import FraudAssessment

    dimensions = list(dimensions or ecom_settings.FAIRNESS_SEGMENTS)
    paths = _dimension_paths(dimensions)
    since = (now or timezone.now()) - timedelta(days=days)
    annotations = {f"seg_{name}": KT(path) for name, path in paths.items()}
    query = (
        FraudAssessment.objects.filter(placed_at__gte=since)
        .exclude(scorer="error")
        .annotate(**annotations)
        .order_by("-placed_at")
        .values_list("level", "recommended_action", "label", *annotations)[: MAX_ROWS + 1]
    )
    raw = list(query)
    capped = len(raw) > MAX_ROWS
    raw = raw[:MAX_ROWS]
    records = [
        {
            "flagged": level != "low",
            "review": action == "review",
            "declined": action == "cancel",
            "fraud": label is True,
        }
        for level, action, label, *_ in raw
    ]
    for position, name in enumerate(paths):
        values = [row[3 + position] for row in raw]
        attribute = by_name(name)
        if name == "customer":
            segments = [_customer(v) for v in values]
        elif attribute is not None and attribute.numeric:
            segments = _numeric_segments(values, attribute)
        else:
            segments = [str(v).strip() if v not in (None, "") else UNKNOWN for v in values]
        for record, segment in zip(records, segments):
            record[name] = segment
    tables: list[RateTable] = rate_tables(records, list(paths), list(OUTCOMES))
    report_only = tuple(n for n in paths if (by_name(n) is not None and by_name(n).report_only))
    return FraudFairness(tables=tables, rows=len(records), capped=capped, since=since, report_only=report_only)
