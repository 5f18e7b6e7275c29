"""The campaign report the admin shows: outcomes per arm and for control, incremental revenue,
budget pacing, offer rates by segment, and the off-policy estimates of trained policies.

All from ``OfferDecision`` rows (one scan of the campaign's decisions, in Python: a campaign
report reads at most ``MAX_ROWS`` newest decisions and says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

MAX_ROWS = 200_000
Z95 = 1.959964


@dataclass
class ArmRow:
    arm: str
    title: str
    decisions: int = 0
    shown: int = 0
    clicked: int = 0
    redeemed: int = 0
    converted: int = 0
    revenue: float = 0.0
    discount: float = 0.0
    send_cost: float = 0.0
    values: list = field(default_factory=list, repr=False)

    @property
    def conversion(self) -> float:
        return self.converted / self.decisions if self.decisions else 0.0

    @property
    def net_revenue(self) -> float:
        return self.revenue - self.discount - self.send_cost

    @property
    def net_per_decision(self) -> float:
        return self.net_revenue / self.decisions if self.decisions else 0.0


def _mean_var(values):
    n = len(values)
    if n == 0:
        return 0.0, 0.0, 0
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, var, n


def difference(a: list, b: list) -> tuple[float, float, float] | None:
    """Mean(a) − mean(b) with a 95 % Welch interval; None when a side has fewer than 2 values."""
    ma, va, na = _mean_var(a)
    mb, vb, nb = _mean_var(b)
    if na < 2 or nb < 2:
        return None
    diff = ma - mb
    se = math.sqrt(va / na + vb / nb)
    return diff, diff - Z95 * se, diff + Z95 * se


def campaign_report(campaign, *, now=None) -> dict:
    from ecom_ai.models.marketing import OfferDecision

    now = now or timezone.now()
    rows = list(
        OfferDecision.objects.filter(campaign=campaign)
        .order_by("-created_at")
        .values(
            "offer__key",
            "offer__title",
            "offer__send_cost",
            "is_control",
            "shown_at",
            "clicked_at",
            "redeemed_at",
            "converted_at",
            "order_value",
            "order_margin",
            "discount",
            "state",
            "channel",
        )[:MAX_ROWS]
    )
    arms: dict[str, ArmRow] = {}
    segments: dict[tuple, list] = {}
    by_margin = campaign.objective == "margin"
    for r in rows:
        key = "control" if r["is_control"] else (r["offer__key"] or "none")
        title = "control group" if r["is_control"] else (r["offer__title"] or "no offer")
        row = arms.setdefault(key, ArmRow(key, title))
        row.decisions += 1
        row.shown += r["shown_at"] is not None
        row.clicked += r["clicked_at"] is not None
        row.redeemed += r["redeemed_at"] is not None
        converted = r["converted_at"] is not None
        row.converted += converted
        value = float(r["order_value"] or 0) if converted else 0.0
        if by_margin and converted and r["order_margin"] is not None:
            value = float(r["order_margin"])  # the margin objective: the adapter's margin when known
        discount = float(r["discount"] or 0)
        send = float(r["offer__send_cost"] or 0)
        row.revenue += value
        row.discount += discount
        row.send_cost += send
        row.values.append(value - discount - send)
        if not r["is_control"]:
            state = r["state"] if isinstance(r["state"], dict) else {}
            got = r["offer__key"] is not None
            for name, value_ in (
                ("customer", "new" if state.get("is_new") else "returning"),
                ("channel", r["channel"] or "unknown"),
                ("country", state.get("country") or "unknown"),
            ):
                segments.setdefault((name, value_), []).append(got)
    control = arms.get("control")
    treated_values = [v for key, row in arms.items() if key != "control" for v in row.values]
    incremental = []
    for key, row in arms.items():
        if key == "control" or control is None:
            continue
        diff = difference(row.values, control.values)
        incremental.append(
            {"arm": key, "title": row.title, "diff": diff, "total": diff[0] * row.decisions if diff else None}
        )
    overall = difference(treated_values, control.values) if control is not None else None
    order = sorted(arms.values(), key=lambda r: (r.arm == "control", r.arm != "none", r.arm))
    by_segment: dict[str, list] = {}
    for (name, value_), got in sorted(segments.items()):
        by_segment.setdefault(name, []).append(
            {"segment": value_, "decisions": len(got), "offer_rate": sum(got) / len(got) if got else 0.0}
        )
    return {
        "rows": order,
        "decisions": len(rows),
        "truncated": len(rows) >= MAX_ROWS,
        "incremental": incremental,
        "overall_incremental": overall,
        "overall_incremental_total": overall[0] * len(treated_values) if overall else None,
        "budget": _pacing(campaign, now),
        "by_margin": by_margin,
        "segments": by_segment,
        "policies": policy_estimates(campaign),
        "qini": policy_qini(campaign),
    }


def qini_curve(gain, treated, outcome, points: int = 20) -> list[tuple[float, float]]:
    """The Qini curve: customers ranked by ``gain`` (best first); at each share φ the incremental
    outcome ``R_T(φ) − R_C(φ) · N_T(φ) / N_C(φ)`` per customer of the whole population."""
    import numpy as np

    gain, treated, outcome = (np.asarray(v, dtype=np.float64) for v in (gain, treated, outcome))
    n = len(gain)
    if n == 0:
        return []
    order = np.argsort(-gain, kind="stable")
    t, y = treated[order], outcome[order]
    cum_t, cum_c = np.cumsum(t), np.cumsum(1 - t)
    cum_yt, cum_yc = np.cumsum(y * t), np.cumsum(y * (1 - t))
    curve = [(0.0, 0.0)]
    for k in range(1, points + 1):
        i = max(0, int(round(n * k / points)) - 1)
        control_rate = cum_yc[i] / cum_c[i] if cum_c[i] else 0.0
        curve.append((100.0 * k / points, float((cum_yt[i] - control_rate * cum_t[i]) / n)))
    return curve


def policy_qini(campaign) -> dict | None:
    """Qini curve (net revenue) of the campaign's learned policy on its randomized decisions: customers
    ranked by the policy's predicted gain of its best offer over "no offer"; None without a policy."""
    import numpy as np

    from ecom_ai.marketing.service import arm_key, campaign_arms
    from ecom_ai.marketing.serving import learned_policy
    from ecom_ai.marketing.state import state_matrix
    from ecom_ai.marketing.training import reward_of
    from ecom_ai.models.marketing import OfferDecision

    keys = [arm_key(a) for a in campaign_arms(campaign)]
    try:
        policy, version, _why = learned_policy(campaign, keys)
    except Exception:
        return None
    if policy is None or policy.kind == "fixed":
        return None
    rows = list(
        OfferDecision.objects.filter(campaign=campaign)
        .filter(for_learning=True)
        .values("offer__key", "offer__send_cost", "state", "converted_at", "order_value", "discount")
        .order_by("-created_at")[:50_000]
    )
    rows += list(
        OfferDecision.objects.filter(campaign=campaign, is_control=True)
        .values("offer__key", "offer__send_cost", "state", "converted_at", "order_value", "discount")
        .order_by("-created_at")[:50_000]
    )
    if len(rows) < 50:
        return None
    x = state_matrix([r["state"] or {} for r in rows])
    scores = policy.scores_matrix(x)
    none = policy.arms.index("none") if "none" in policy.arms else 0
    gain = scores.max(axis=1) - scores[:, none]
    treated = np.array([r["offer__key"] is not None for r in rows], dtype=np.float64)
    outcome = np.array([reward_of(campaign, r) for r in rows])
    curve = qini_curve(gain, treated, outcome)
    overall = curve[-1][1] if curve else 0.0
    return {
        "version": version,
        "decisions": len(rows),
        "policy": curve,
        "random": [(phi, overall * phi / 100.0) for phi, _ in curve],
    }


def _pacing(campaign, now) -> dict:
    spent = float(campaign.spent_total or Decimal("0"))
    total = float(campaign.total_budget) if campaign.total_budget is not None else None
    elapsed = None
    if campaign.ends_at:
        span = (campaign.ends_at - campaign.starts_at).total_seconds()
        done = (min(now, campaign.ends_at) - campaign.starts_at).total_seconds()
        elapsed = max(0.0, min(1.0, done / span)) if span > 0 else 1.0
    spent_curve, pacing_line = pacing_series(campaign, now)
    return {
        "spent": spent,
        "total": total,
        "share_spent": spent / total if total else None,
        "share_elapsed": elapsed,
        "daily": float(campaign.daily_budget) if campaign.daily_budget is not None else None,
        "spent_today": float(campaign.spent_today or 0),
        "curve": spent_curve,
        "pacing_line": pacing_line,
    }


def pacing_series(campaign, now) -> tuple[list, list]:
    """``(spent, pacing line)`` as ``(day, amount)`` points, day 0 = the campaign's start.

    Spent: the budget reserved by the campaign's decisions, cumulated by day (one grouped query).
    Pacing line: the even spend of the total budget from start to end; without an end date, the
    daily budget every day; neither: no line."""
    from django.db.models import Sum
    from django.db.models.functions import TruncDate

    from ecom_ai.models.marketing import OfferDecision

    start = campaign.starts_at
    by_day = (
        OfferDecision.objects.filter(campaign=campaign, cost__gt=0)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(amount=Sum("cost"))
        .order_by("day")
    )
    until = max(0.0, (min(now, campaign.ends_at or now) - start).total_seconds() / 86400.0)
    tz = timezone.get_current_timezone()  # the zone TruncDate grouped the days in
    spent, total = [(0.0, 0.0)], 0.0
    for row in by_day:
        # a calendar day's spending is complete at its end (the next midnight, in that zone):
        # plotted there, as days since the start, and never after now or the campaign's end
        end_of_day = datetime.combine(row["day"] + timedelta(days=1), time.min, tzinfo=tz)
        day = min(until, max(0.0, (end_of_day - start).total_seconds() / 86400.0))
        total += float(row["amount"] or 0)
        spent.append((round(day, 2), round(total, 2)))
    if spent[-1][0] < until:
        spent.append((round(until, 2), round(total, 2)))
    line: list = []
    if campaign.total_budget is not None and campaign.ends_at:
        days = max((campaign.ends_at - start).total_seconds() / 86400.0, 1e-9)
        line = [(0.0, 0.0), (round(days, 2), float(campaign.total_budget))]
    elif campaign.daily_budget is not None:
        days = max(until, 1.0)
        cap = float(campaign.total_budget) if campaign.total_budget is not None else None
        amount = float(campaign.daily_budget) * days
        line = [(0.0, 0.0), (round(days, 2), min(amount, cap) if cap is not None else amount)]
    return spent, line


def policy_estimates(campaign) -> list[dict]:
    """Off-policy estimates of the trained ``offers`` versions that cover this campaign (newest first)."""
    from ecom_ai.models import ModelVersion

    out = []
    for version in ModelVersion.objects.filter(kind="offers").exclude(status="failed").order_by("-number")[:5]:
        evaluation = ((version.validation or {}).get("campaigns") or {}).get(campaign.slug)
        if not evaluation:
            continue
        policies = []
        for name, estimates in (evaluation.get("policies") or {}).items():
            policies.append({"name": name, "estimates": [estimates.get(k) for k in ("ips", "snips", "dr")]})
        out.append(
            {
                "version": version,
                "chosen": evaluation.get("chosen"),
                "reason": evaluation.get("reason"),
                "held_out": evaluation.get("held_out_rows"),
                "policies": policies,
                "gain": evaluation.get("dr_gain_over_logging"),
            }
        )
    return out
