"""The fairness report: fraud outcomes and recommendation exposure by shopper segment.

``/admin/ecom_ai/fraudassessment/fairness/`` (link "Fairness report" on the fraud review
queue, and in the app index's dashboards). Needs the *view fraud assessment* permission.
Segments come from ``ECOM_AI["FAIRNESS_SEGMENTS"]``; attributes declared report only in
``FRAUD_EXTRA_FEATURES`` are marked as such (they are never model features).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from ecom_ai.admin.svg_chart import rate_chart
from ecom_ai.fraud.fairness import OUTCOMES as FRAUD_OUTCOMES
from ecom_ai.fraud.fairness import fraud_fairness
from ecom_ai.ml.fairness import MIN_CASES, RATIO_BAND
from ecom_ai.recommend.fairness import OUTCOMES as EXPOSURE_OUTCOMES
from ecom_ai.recommend.fairness import exposure_fairness

PERIODS = (30, 90, 365)


def _table_context(table, outcomes: dict, chart_outcome: str, report_only=()) -> dict:
    overall = table.overall[chart_outcome].rate
    chart_rows = [
        (
            row.segment,
            row.rates[chart_outcome].rate,
            row.rates[chart_outcome].low,
            row.rates[chart_outcome].high,
            row.rates[chart_outcome].disparity,
        )
        for row in table.rows
    ]
    return {
        "dimension": table.dimension,
        "report_only": table.dimension in report_only,
        "outcomes": list(outcomes.values()),
        "overall": [table.overall[name] for name in outcomes],
        "total": table.total,
        "rows": [
            {
                "segment": row.segment,
                "n": row.n,
                "too_few": row.too_few,
                "rates": [row.rates[name] for name in outcomes],
            }
            for row in table.rows
        ],
        "chart": rate_chart(
            chart_rows,
            overall,
            title=_("%(outcome)s rate by %(dimension)s")
            % {"outcome": outcomes[chart_outcome], "dimension": table.dimension},
        ),
        "disparities": table.disparities(),
    }


def fairness_view(model_admin):
    def view(request):
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        try:
            days = int(request.GET.get("days", PERIODS[0]))
        except ValueError:
            days = PERIODS[0]
        days = days if days in PERIODS else PERIODS[0]
        fraud = fraud_fairness(days)
        exposure = exposure_fairness(days)
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": _("Fairness report"),
            "days": days,
            "periods": PERIODS,
            "fraud": fraud,
            "exposure": exposure,
            "fraud_tables": [_table_context(t, FRAUD_OUTCOMES, "flagged", fraud.report_only) for t in fraud.tables],
            "exposure_tables": [_table_context(t, EXPOSURE_OUTCOMES, "personalised") for t in exposure.tables],
            "min_cases": MIN_CASES,
            "ratio_low": RATIO_BAND[0],
            "ratio_high": RATIO_BAND[1],
        }
        return TemplateResponse(request, "ecom_ai/admin/fairness.html", context)

    return view
