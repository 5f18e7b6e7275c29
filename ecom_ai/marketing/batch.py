"""Batch decisions for e-mail / SMS campaigns: every eligible customer at once, under the budget.

``decide_batch(campaign, customers)`` — ``customers`` is an iterable of ``(Identity, state)``
(``load_states`` builds them from the event log for every known user):

1. customers with an unexpired decision in the campaign keep it (sticky); the control group
   (hashing) gets "no offer" (logged, not for learning); ineligible customers are skipped;
2. the policy's arm probabilities for everyone in one vectorized call (learned policy: its
   scores, ε-greedy with the floor; fixed: ε-greedy around the fixed offer), one draw each —
   the propensities are logged exactly as ``decide`` logs them;
3. **budget**: customers who drew an offer are ranked by predicted incremental value per unit
   of cost (learned Q-values: ``(Q[arm] − Q[none]) / cost``; fixed policy: stable hash order)
   and taken greedily while the remaining total and daily budget allow (a knapsack by greedy
   ratio); the rest get "no offer", logged with ``for_learning = False``. The sum is reserved
   with the same conditional ``UPDATE`` as single decisions;
4. decisions (and coupons: bulk-created in ecom_ai's store, or the adapter's ``issue_coupon``
   when the shop overrides it) are written in one transaction; ``ecom_ai.signals.offers_decided``
   is sent after commit with the campaign and the decisions that carry an offer.
"""

from __future__ import annotations

import csv
import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Max
from django.utils import timezone

from ecom_ai.marketing import store
from ecom_ai.marketing.conditions import is_eligible
from ecom_ai.marketing.exploration import epsilon_greedy, with_floor
from ecom_ai.models.rows import bulk_insert
from ecom_ai.marketing.service import OfferError, arm_key, campaign_arms, floor_share, in_control_group
from ecom_ai.marketing.state import state_matrix

CHUNK = 5000
BUDGET_ATTEMPTS = 3


@dataclass
class BatchResult:
    batch: str
    decided: int = 0
    offers: int = 0
    control: int = 0
    sticky: int = 0
    ineligible: int = 0
    over_budget: int = 0
    spent: Decimal = Decimal("0")
    decision_ids: list = field(default_factory=list)


def _policy_matrix(campaign, keys, states, x):
    """``(probabilities (n, K), priorities (n, K) or None, policy name, version)``."""
    from ecom_ai.marketing.serving import learned_policy

    n, arms = len(states), len(keys)
    fixed_key = next(
        (
            k
            for k, offer in zip(keys, campaign_arms(campaign))
            if offer is not None and offer.pk == campaign.fixed_offer_id
        ),
        "none",
    )
    fixed = np.tile(epsilon_greedy(keys.index(fixed_key), arms, campaign.exploration_rate), (n, 1))
    if campaign.policy == type(campaign).Policy.FIXED:
        return fixed, None, "fixed", None
    policy, version, _why = learned_policy(campaign, keys)
    if policy is None:
        return fixed, None, "fixed", None
    position = {key: i for i, key in enumerate(policy.arms)}
    scores = policy.scores_matrix(x)[:, [position[k] for k in keys]]
    best = scores.argmax(axis=1)
    floor = floor_share() / arms
    # every row is the same ε-greedy vector around its best arm: compute it once and place it
    row = with_floor(epsilon_greedy(0, arms, campaign.exploration_rate), floor)
    learned = np.full((n, arms), row[1] if arms > 1 else 1.0)
    learned[np.arange(n), best] = row[0]
    if campaign.policy == type(campaign).Policy.EXPERIMENT:
        share = float(campaign.experiment_share)
        return share * learned + (1 - share) * fixed, scores, "experiment", version
    return learned, scores, "learned", version


def decide_batch(
    campaign, customers, *, rng: random.Random | None = None, now=None, send_signal: bool = True, _attempt: int = 0
):
    from ecom_ai.models.marketing import OfferDecision

    rng = rng or random.SystemRandom()
    now = now or timezone.now()
    result = BatchResult(batch=uuid.uuid4().hex[:16])
    arms = campaign_arms(campaign)
    keys = [arm_key(a) for a in arms]
    customers = [(who, state) for who, state in customers if who]
    # per customer: the last decision number and whether a decision is still live (sticky)
    numbers, existing = {}, set()
    for subject, number, until in (
        OfferDecision.objects.filter(campaign=campaign)
        .values("subject_key")
        .annotate(number=Max("sequence"), until=Max("expires_at"))
        .values_list("subject_key", "number", "until")
    ):
        numbers[subject] = number or 0
        if until > now:
            existing.add(subject)
    todo, control = [], []
    for who, state in customers:
        if who.subject_key in existing:
            result.sticky += 1
        elif not is_eligible(campaign.eligibility, state):
            result.ineligible += 1
        elif in_control_group(campaign, who.subject_key):
            control.append((who, state))
        else:
            todo.append((who, state))
        existing.add(who.subject_key)
    states = [s for _, s in todo]
    x = state_matrix(states)
    probs, scores, policy_name, version = _policy_matrix(campaign, keys, states, x)
    if len(todo):  # one uniform draw per customer against the cumulative probabilities
        u = np.array([rng.random() for _ in range(len(todo))])
        drawn = np.minimum((probs.cumsum(axis=1) <= u[:, None]).sum(axis=1), len(keys) - 1).astype(np.int64)
    else:
        drawn = np.zeros(0, np.int64)
    costs = np.array([float(a.expected_cost) if a is not None else 0.0 for a in arms])
    given = np.flatnonzero(drawn != 0)
    if scores is not None:
        gain = scores[given, drawn[given]] - scores[given, 0]
    else:
        gain = np.array([-hash((campaign.slug, todo[i][0].subject_key)) % 1000 for i in given], dtype=np.float64)
    ratio = gain / np.maximum(costs[drawn[given]], 1e-9)
    ranked = given[np.argsort(-ratio, kind="stable")]
    try:
        _write_batch(
            campaign,
            result,
            _Draws(todo, control, arms, keys, probs, drawn, costs, ranked, numbers, now, policy_name, version),
            send_signal,
        )
    except _BudgetMoved:
        if _attempt + 1 >= BUDGET_ATTEMPTS:
            raise OfferError(
                "The campaign's budget kept changing while the batch was written (live decisions spending it); "
                "nothing was written. Run the batch again."
            ) from None
        # nothing was written: start over from fresh reads (who is decided now, what budget is left)
        return decide_batch(campaign, customers, rng=rng, now=now, send_signal=send_signal, _attempt=_attempt + 1)
    return result


class _BudgetMoved(Exception):
    """The budget read at the start of the batch's write was spent by live decisions meanwhile."""


@dataclass
class _Draws:
    """What the policy drew for the batch's customers (before the budget)."""

    todo: list
    control: list
    arms: list
    keys: list
    probs: np.ndarray
    drawn: np.ndarray
    costs: np.ndarray
    ranked: np.ndarray
    numbers: dict
    now: object
    policy_name: str
    version: object


def _write_batch(campaign, result: BatchResult, draws: _Draws, send_signal: bool) -> None:
    """One transaction: allocate the budget (read without a lock), write coupons and decisions,
    then reserve what was allocated with the conditional ``UPDATE``. The campaign row is locked
    only from that ``UPDATE`` to the commit, so live decisions are not held up by a long write;
    when they spent the budget meanwhile the reservation fails and everything is rolled back
    (``_BudgetMoved``: the caller allocates again)."""
    from ecom_ai import signals
    from ecom_ai.adapters import DefaultShopAdapter, get_adapter
    from ecom_ai.marketing import budget
    from ecom_ai.models.marketing import Campaign, OfferDecision, new_coupon_codes, normalize_code

    todo, control, arms, keys, probs, drawn = (
        draws.todo,
        draws.control,
        draws.arms,
        draws.keys,
        draws.probs,
        draws.drawn,
    )
    costs, ranked, numbers, now = draws.costs, draws.ranked, draws.numbers, draws.now
    policy_name, version = draws.policy_name, draws.version
    keep = np.zeros(len(todo), dtype=bool)
    with transaction.atomic():
        fresh = Campaign.objects.get(pk=campaign.pk)
        left_total = float(fresh.total_budget - fresh.spent_total) if fresh.total_budget is not None else float("inf")
        spent_today = float(fresh.spent_today) if fresh.spent_day == now.date() else 0.0
        left_day = float(fresh.daily_budget) - spent_today if fresh.daily_budget is not None else float("inf")
        room = min(left_total, left_day)
        total = 0.0
        for i in ranked:
            cost = costs[drawn[i]]
            if total + cost <= room + 1e-9:
                keep[i] = True
                total += cost
        default_coupons = type(get_adapter()).issue_coupon is DefaultShopAdapter.issue_coupon
        rows, coupons = [], []
        shared: dict = {}  # identical reasons / probabilities / costs / expiries: one object each

        def once(key, make, *args):
            value = shared.get(key)
            if value is None:
                value = shared[key] = make(*args)
            return value

        def reasons_of(chosen, forced, propensity):
            return [
                f"batch {result.batch}: {policy_name} policy",
                f"chose {keys[chosen]} with probability {propensity:.3f}",
                *([f"budget exhausted: {keys[chosen]} not given"] if forced else []),
            ]

        def expiry(offer, days=0):
            return now + timedelta(days=max(days, offer.validity_days if offer is not None else 0))

        def probabilities_of(row):
            return {k: round(float(p), 6) for k, p in zip(keys, row)}

        def cost_of(arm):
            return Decimal(str(costs[arm])) if arm else Decimal("0")

        needs_code = [a is not None and a.needs_code for a in arms]
        final = np.where((drawn == 0) | keep, drawn, 0)
        code_count = int(sum(needs_code[a] for a in final)) if default_coupons else 0
        fresh_codes = iter(new_coupon_codes(code_count))
        base = {"campaign_id": campaign.pk, "batch": result.batch, "created_at": now}
        for i, (who, state) in enumerate(todo):
            chosen, arm = int(drawn[i]), int(final[i])
            offer = arms[arm]
            forced = chosen != arm
            propensity = float(probs[i, chosen])
            reasons = once(("reasons", chosen, forced, round(propensity, 3)), reasons_of, chosen, forced, propensity)
            result.over_budget += forced
            row_probs = probs[i]
            probabilities = once(("probs", row_probs.tobytes()), probabilities_of, row_probs)
            code = ""
            if offer is not None and offer.needs_code:
                if default_coupons:
                    code = next(fresh_codes)
                    coupons.append(
                        {
                            "code": code,
                            "campaign_id": campaign.pk,
                            "offer_id": offer.pk,
                            "user_key": who.user_key[:64],
                            "visitor_key": who.visitor_key[:64],
                            "created_at": now,
                            "expires_at": once(("valid", arm), expiry, offer),
                        }
                    )
                else:
                    code = normalize_code(get_adapter().issue_coupon(who, offer))
            rows.append(
                {
                    **base,
                    "offer_id": offer.pk if offer is not None else None,
                    "subject_key": who.subject_key,
                    "user_key": who.user_key[:64],
                    "visitor_key": who.visitor_key[:64],
                    "channel": (who.channel or "email")[:32],
                    "propensity": propensity,
                    "probabilities": probabilities,
                    "for_learning": not forced,
                    "policy": policy_name,
                    "model_version_id": version.pk if version is not None else None,
                    "reasons": reasons,
                    "state": state,
                    "cost": once(("cost", arm), cost_of, arm),
                    "coupon_code": code,
                    "sequence": numbers.get(who.subject_key, 0) + 1,
                    "expires_at": once(("expires", arm), expiry, offer, campaign.decision_days),
                }
            )
            result.offers += offer is not None
        control_reasons = [f"batch {result.batch}: control group"]
        control_expires = now + timedelta(days=campaign.decision_days)
        for who, state in control:
            rows.append(
                {
                    **base,
                    "offer_id": None,
                    "subject_key": who.subject_key,
                    "user_key": who.user_key[:64],
                    "visitor_key": who.visitor_key[:64],
                    "channel": (who.channel or "email")[:32],
                    "propensity": 1.0,
                    "probabilities": {"none": 1.0},
                    "is_control": True,
                    "for_learning": False,
                    "policy": "control",
                    "reasons": control_reasons,
                    "state": state,
                    "sequence": numbers.get(who.subject_key, 0) + 1,
                    "expires_at": control_expires,
                }
            )
            result.control += 1
        rows, coupons = _insert_yielding_to_live_decisions(campaign, numbers, rows, coupons, result)
        spend = sum((row.get("cost") or Decimal("0") for row in rows), Decimal("0")).quantize(Decimal("0.01"))
        try:
            reserved = spend <= 0 or budget.reserve(campaign.pk, spend)
        except OperationalError as exc:
            # a live decide locked the campaign row for its budget and waits on one of our rows:
            # PostgreSQL broke the deadlock by aborting us. Start over (the live decision is
            # then sticky), as when live decisions spent the budget meanwhile
            if not store.deadlock(exc):
                raise
            reserved = False
        if not reserved:
            raise _BudgetMoved
        result.spent = spend
        result.decided = len(rows)
        if send_signal:
            batch_id = result.batch

            def announce():
                decisions = OfferDecision.objects.filter(campaign=campaign, batch=batch_id, offer__isnull=False)
                signals.offers_decided.send(sender=Campaign, campaign=campaign, decisions=decisions)

            transaction.on_commit(announce)
    return result


def _decision_numbers(campaign) -> dict:
    """Per customer of the campaign: the highest decision number stored."""
    from ecom_ai.models.marketing import OfferDecision

    return dict(
        OfferDecision.objects.filter(campaign=campaign)
        .values("subject_key")
        .annotate(number=Max("sequence"))
        .values_list("subject_key", "number")
    )


def _insert_yielding_to_live_decisions(campaign, numbers, rows, coupons, result, attempts: int = 5):
    """Write the batch's coupons and decisions (inside the caller's transaction).

    A live ``decide`` may store a customer's decision between the batch's read of the decision
    numbers and this write: the batch's row then breaks the unique (campaign, customer, number)
    constraint. Instead of failing the whole batch, the write is rolled back to a savepoint, the
    customers who were decided meanwhile keep that decision (counted as sticky; their coupon is not
    written, and the budget is reserved afterwards for the rows written) and the rest is written
    again."""
    from ecom_ai.models.marketing import Coupon, OfferDecision

    for attempt in range(attempts):
        try:
            with transaction.atomic():  # a savepoint: a failed write leaves the batch's transaction usable
                bulk_insert(Coupon, coupons, chunk=CHUNK)
                bulk_insert(OfferDecision, rows, chunk=CHUNK)
            return rows, coupons
        except IntegrityError:
            now_numbers = _decision_numbers(campaign)
            raced = {s for s, n in now_numbers.items() if (n or 0) > (numbers.get(s) or 0)}
            mine = {row["subject_key"] for row in rows}
            if not raced & mine or attempt == attempts - 1:
                raise
            numbers.update(now_numbers)
            gone = [row for row in rows if row["subject_key"] in raced]
            codes = {row["coupon_code"] for row in gone if row.get("coupon_code")}
            rows = [row for row in rows if row["subject_key"] not in raced]
            coupons = [c for c in coupons if c["code"] not in codes]
            result.sticky += len(gone)
            result.offers -= sum(row["offer_id"] is not None for row in gone)
            result.control -= sum(bool(row.get("is_control")) for row in gone)
    raise AssertionError("unreachable")  # pragma: no cover


def load_states(campaign, *, now=None, limit: int | None = None):
    """``(Identity, state)`` for every user with events in the last year (bulk: two scans, no per-user query)."""
    from ecom_ai.marketing.state import HISTORY_DAYS, Identity, customer_state
    from ecom_ai.models import Event
    from ecom_ai.models.marketing import OfferDecision

    now = now or timezone.now()
    since = now - timedelta(days=HISTORY_DAYS)
    events: dict[str, list] = {}
    rows = (
        Event.objects.filter(occurred_at__gte=since)
        .exclude(user_key="")
        .values_list("user_key", "event_type", "channel", "occurred_at", "value", "context")
        .iterator(chunk_size=5000)
    )
    for user_key, *rest in rows:
        events.setdefault(user_key, []).append(tuple(rest))
    decisions: dict[str, list] = {}
    for user_key, created, offer_id, redeemed in (
        OfferDecision.objects.filter(created_at__gte=since)
        .exclude(user_key="")
        .values_list("user_key", "created_at", "offer_id", "redeemed_at")
        .iterator(chunk_size=5000)
    ):
        decisions.setdefault(user_key, []).append((created, offer_id is not None, redeemed))
    users = sorted(events)[:limit] if limit else sorted(events)
    channel = "email" if "email" in (campaign.channels or []) else (campaign.channels or ["email"])[0]
    for user_key in users:
        yield (
            Identity(user_key=user_key, channel=channel),
            customer_state(events[user_key], decisions.get(user_key, []), now=now, channel=channel, logged_in=True),
        )


def export_csv(campaign, handle, *, batch: str | None = None) -> int:
    """Write the campaign's offer decisions (with codes) as CSV to ``handle``; returns the row count."""
    from ecom_ai.models.marketing import OfferDecision

    rows = (
        OfferDecision.objects.filter(campaign=campaign, offer__isnull=False)
        .select_related("offer")
        .order_by("created_at", "pk")
    )
    if batch:
        rows = rows.filter(batch=batch)
    writer = csv.writer(handle)
    writer.writerow(
        ["decision", "user_key", "visitor_key", "offer", "title", "coupon_code", "propensity", "expires_at", "batch"]
    )
    count = 0
    for d in rows.iterator(chunk_size=2000):
        code = d.coupon_code
        shown = f"{code[:4]}-{code[4:8]}-{code[8:]}" if len(code) == 12 else code
        writer.writerow(
            [
                d.pk,
                d.user_key,
                d.visitor_key,
                d.offer.key,
                d.offer.title,
                shown,
                f"{d.propensity:.6f}",
                d.expires_at.isoformat(),
                d.batch,
            ]
        )
        count += 1
    return count
