"""``OfferService.decide()``: which offer (or none) one customer gets in one campaign.

A pipeline of named stages with one exit::

    resolve   campaign (by slug or object) and identity         → UnknownCampaign / BadRequest (4xx)
    sticky    an unexpired decision of this customer here?      → returned as it was (no re-roll)
    gate      running? eligible? control group (hashing)? cap?  → "no offer" with the reason
    policy    arm probabilities (fixed / learned / experiment), ε-exploration and a floor; one draw
    budget    reserve the arm's expected cost (conditional UPDATE) → "no offer" when it would overspend
    store     the decision row (+ a coupon from the adapter), in one transaction

Every decision that a policy drew is logged with the **propensity** of its arm and all arm
probabilities, so any later policy can be evaluated off-line. Forced outcomes (control
group, budget exhausted) are logged with ``for_learning = False``. A corrupt or missing
policy artifact falls back to the fixed offer, with the reason — never an error.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.db import OperationalError, transaction
from django.utils import timezone

from ecom_ai.marketing import budget
from ecom_ai.marketing.conditions import is_eligible
from ecom_ai.marketing.exploration import epsilon_greedy, sample, with_floor
from ecom_ai.models.rows import Prepared
from ecom_ai.marketing.state import Identity, load_customer_state, resolve_identity

logger = logging.getLogger("ecom_ai.marketing")

NO_OFFER = "none"


class OfferError(Exception):
    """Bad input to ``decide`` (the API answers 4xx with the message)."""

    status = 400


class UnknownCampaign(OfferError):
    status = 404


@dataclass
class OfferResult:
    """What ``decide`` returns. ``offer`` is None for "no offer"."""

    campaign: object
    offer: object | None
    decision_id: int | None
    propensity: float
    reasons: list = field(default_factory=list)
    coupon_code: str = ""
    is_control: bool = False
    sticky: bool = False
    expires_at: object | None = None

    @property
    def arm(self) -> str:
        return self.offer.key if self.offer is not None else NO_OFFER

    def __bool__(self):
        return self.offer is not None


def hash_share(*parts: str) -> float:
    """A stable number in [0, 1) from ``parts`` (control membership, experiment buckets)."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_control_group(campaign, subject_key: str) -> bool:
    return hash_share("control", campaign.slug, subject_key) * 100.0 < float(campaign.control_percent or 0)


_cache: dict = {}  # slug -> (monotonic deadline, campaign, arms)
_cache_lock = threading.Lock()


def clear_campaign_cache(**kwargs) -> None:
    with _cache_lock:
        _cache.clear()


def floor_share() -> float:
    from ecom_ai.conf import settings as ecom_settings

    return float(ecom_settings.MARKETING_FLOOR_SHARE)


def get_campaign(campaign):
    """The ``Campaign`` for a slug, a pk or a Campaign; ``UnknownCampaign`` otherwise.

    By slug, campaigns (with their arms) are kept per process ``MARKETING_CACHE_SECONDS``."""
    from ecom_ai.conf import settings as ecom_settings
    from ecom_ai.models.marketing import Campaign

    if isinstance(campaign, Campaign):
        return campaign
    if isinstance(campaign, str) and campaign and len(campaign) <= 64:
        ttl = float(ecom_settings.MARKETING_CACHE_SECONDS)
        hit = _cache.get(campaign)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = Campaign.objects.select_related("fixed_offer", "policy_version").filter(slug=campaign).first()
        if found is not None:
            if ttl > 0:
                found._ecom_arms = _load_arms(found)
                with _cache_lock:
                    if len(_cache) > 1000:
                        _cache.clear()
                    _cache[campaign] = (time.monotonic() + ttl, found)
            return found
    elif isinstance(campaign, int) and not isinstance(campaign, bool):
        found = Campaign.objects.filter(pk=campaign).first()
        if found is not None:
            return found
    raise UnknownCampaign(f"Unknown campaign {campaign!r}.")


def _load_arms(campaign) -> list:
    return [None, *campaign.offers.filter(enabled=True).order_by("position", "pk")]


def campaign_arms(campaign) -> list:
    """``[None, offer, offer...]``: "no offer" first, then the enabled offers in order."""
    arms = getattr(campaign, "_ecom_arms", None)
    return list(arms) if arms is not None else _load_arms(campaign)


def arm_key(offer) -> str:
    return offer.key if offer is not None else NO_OFFER


def shown_code(code: str) -> str:
    """A stored code as shown to the shopper: ``XXXX-XXXX-XXXX`` for ecom_ai's own 12-character codes."""
    from ecom_ai.models.marketing import normalize_code

    code = code or ""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}" if len(code) == 12 and code == normalize_code(code) else code


#: the columns the history query reads (``OfferService._history``), in this order
_HISTORY_FIELDS = (
    "pk",
    "campaign_id",
    "subject_key",
    "offer_id",
    "created_at",
    "expires_at",
    "redeemed_at",
    "sequence",
    "propensity",
    "is_control",
    "coupon_code",
    "reasons",
)


def _history_query(field):
    def build(key, since, campaign_id):
        from django.db.models import Q

        from ecom_ai.marketing.state import MAX_EVENTS
        from ecom_ai.models.marketing import OfferDecision

        who = {"user_key": key} if field == "user_key" else {"visitor_key": key, "user_key": ""}
        return (
            OfferDecision.objects.filter(**who)
            .filter(Q(created_at__gte=since) | Q(campaign_id=campaign_id))
            .order_by("-created_at", "-pk")
            .values_list(*_HISTORY_FIELDS)[:MAX_EVENTS]
        )

    return Prepared(
        build,
        {
            "key": "\x01sentinel-key",
            "since": datetime(1901, 2, 3, 4, 5, 6, 7, tzinfo=dt_timezone.utc),
            "campaign_id": -7_340_211,
        },
        {"since": "datetime"},
    )


#: the customer's decisions (compiled once per connection): by user key, or by anonymous visitor key
_HISTORY_BY_USER = _history_query("user_key")
_HISTORY_BY_VISITOR = _history_query("visitor_key")


class _Lost(Exception):
    """Another request stored this customer's decision number first."""


@dataclass
class _History:
    decisions: list
    given: int
    sequence: int
    sticky: OfferResult | None = None


class OfferService:
    """Decides offers. ``rng`` (a ``random.Random``) makes draws reproducible in tests."""

    def __init__(self, rng: random.Random | None = None):
        self.rng = rng or random.SystemRandom()

    # --- public --------------------------------------------------------------------------
    def decide(
        self, identity, campaign, context: dict | None = None, *, now=None, state: dict | None = None, batch: str = ""
    ) -> OfferResult:
        context = dict(context or {})
        now = now or timezone.now()
        campaign = get_campaign(campaign)
        who = resolve_identity(identity, channel=context.get("channel"))
        if not who:
            raise OfferError("A user key or a visitor key is required.")
        subject = who.subject_key

        history = self._history(campaign, who, now)
        if history.sticky is not None:
            return history.sticky

        if not campaign.is_running(now):
            return OfferResult(campaign, None, None, 1.0, ["campaign not running (disabled or outside its dates)"])
        if state is None:
            state = load_customer_state(who, now=now, context=context, decisions=history.decisions)
        if not is_eligible(campaign.eligibility, state):
            return OfferResult(campaign, None, None, 1.0, ["not eligible"])
        arms = campaign_arms(campaign)
        new = {"campaign": campaign, "who": who, "state": state, "now": now, "batch": batch}
        if in_control_group(campaign, subject):
            return self._commit(
                history.sequence,
                None,
                1.0,
                {NO_OFFER: 1.0},
                ["control group"],
                is_control=True,
                for_learning=False,
                policy="control",
                **new,
            )
        if campaign.frequency_cap is not None and history.given >= campaign.frequency_cap:
            return OfferResult(campaign, None, None, 1.0, ["frequency cap reached"])

        probs, policy, version, reasons = self.arm_probabilities(campaign, arms, state)
        index = sample(probs, self.rng)
        offer = arms[index]
        propensity = float(probs[index])
        reasons = [*reasons, f"chose {arm_key(offer)} with probability {propensity:.3f}"]
        probabilities = {arm_key(arm): round(float(p), 6) for arm, p in zip(arms, probs)}
        return self._commit(
            history.sequence, offer, propensity, probabilities, reasons, policy=policy, version=version, **new
        )

    def arm_probabilities(self, campaign, arms, state) -> tuple:
        """``(probabilities, policy name, model version, reasons)`` of the campaign's policy."""
        from ecom_ai.marketing.serving import learned_scores

        keys = [arm_key(arm) for arm in arms]
        fixed_key = arm_key(next((a for a in arms if a is not None and a.pk == campaign.fixed_offer_id), None))
        fixed = epsilon_greedy(keys.index(fixed_key), len(arms), campaign.exploration_rate)
        Policy = type(campaign).Policy
        if campaign.policy == Policy.FIXED:
            return fixed, "fixed", None, [f"fixed policy: {fixed_key}"]
        scores, version, why = learned_scores(campaign, keys, state)
        if scores is None:
            return fixed, "fixed", None, [f"learned policy unavailable ({why}): fixed policy {fixed_key}"]
        best = int(scores.argmax())
        floor = floor_share() / len(arms)
        learned = with_floor(epsilon_greedy(best, len(arms), campaign.exploration_rate), floor)
        reason = f"learned policy v{version.number if version else '?'}: {keys[best]} ({why})"
        if campaign.policy == Policy.EXPERIMENT:
            share = float(campaign.experiment_share)
            return (
                share * learned + (1 - share) * fixed,
                "experiment",
                version,
                [f"experiment: {share:.0%} learned, {1 - share:.0%} fixed", reason],
            )
        return learned, "learned", version, [reason]

    # --- stages --------------------------------------------------------------------------
    def _history(self, campaign, who: Identity, now) -> _History:
        """One indexed query for everything before the policy: this customer's decisions of the
        last year in every campaign (the state's offer history) and all of theirs in this campaign
        (the sticky decision, the frequency cap, the next decision number)."""
        from ecom_ai.marketing.state import HISTORY_DAYS
        from ecom_ai.models.marketing import OfferDecision

        year = now - timedelta(days=HISTORY_DAYS)
        if who.user_key:
            rows = _HISTORY_BY_USER.rows(OfferDecision, key=who.user_key[:64], since=year, campaign_id=campaign.pk)
        else:
            rows = _HISTORY_BY_VISITOR.rows(
                OfferDecision, key=who.visitor_key[:64], since=year, campaign_id=campaign.pk
            )
        subject, since = who.subject_key, now - timedelta(days=campaign.frequency_window_days)
        mine = [r for r in rows if r[1] == campaign.pk and r[2] == subject]
        history = _History(
            decisions=[(r[4], r[3] is not None, r[6]) for r in rows if r[4] >= year],
            given=sum(1 for r in mine if r[3] is not None and r[4] >= since),
            sequence=max((r[7] or 0 for r in mine), default=0) + 1,
        )
        live = next((r for r in mine if r[5] > now), None)
        if live is not None:
            history.sticky = self._sticky(campaign, live)
        return history

    def _sticky(self, campaign, row) -> OfferResult:
        pk, _campaign, _subject, offer_id, _created, expires, _redeemed, _seq, propensity, control, code, reasons = row
        offer = None
        if offer_id is not None:
            offer = next((a for a in campaign_arms(campaign) if a is not None and a.pk == offer_id), None)
            if offer is None:  # disabled since: still this customer's offer
                from ecom_ai.models.marketing import Offer

                offer = Offer.objects.filter(pk=offer_id).first()
        return OfferResult(
            campaign,
            offer,
            pk,
            propensity,
            [*(reasons or []), "same decision as before (sticky within the campaign window)"],
            coupon_code=shown_code(code),
            is_control=control,
            sticky=True,
            expires_at=expires,
        )

    def _commit(self, sequence, offer, propensity, probabilities, reasons, *, campaign, who, now, **kwargs):
        """Store decision number ``sequence`` (budget, coupon, row: one transaction). When another
        request stored that number first (two simultaneous first requests), this one rolls back
        and returns the winner's decision."""
        from ecom_ai.models.marketing import OfferDecision

        for _attempt in range(3):
            try:
                return self._store(sequence, offer, propensity, probabilities, reasons, campaign, who, now, **kwargs)
            except _Lost:
                pass
            # one read (one snapshot): the winner — committed, since a unique violation waits for
            # it — or another live decision; else the next free number
            mine = list(
                OfferDecision.objects.filter(campaign_id=campaign.pk, subject_key=who.subject_key)
                .order_by("-created_at", "-pk")
                .values_list(*_HISTORY_FIELDS)
            )
            live = next((r for r in mine if r[5] > now), None)
            if live is not None:
                return self._sticky(campaign, live)
            # an old decision already had that number (beyond the history read), or the winner has
            # not committed yet (a deadlock the server broke by aborting us): the next number, and
            # try again — the write then waits for the winner and loses to it
            sequence = 1 + max((r[7] or 0 for r in mine), default=0)
        raise OfferError("Could not store the decision; try again.")

    def _store(
        self,
        sequence,
        offer,
        propensity,
        probabilities,
        reasons,
        campaign,
        who: Identity,
        now,
        *,
        state,
        policy,
        version=None,
        is_control=False,
        for_learning=True,
        batch="",
    ) -> OfferResult:
        from django.db import connections, router

        from ecom_ai.marketing import store
        from ecom_ai.models.marketing import Coupon, OfferDecision, new_coupon_codes

        reasons = [str(r) for r in reasons]
        cost = offer.expected_cost if offer is not None else Decimal("0")
        days = campaign.decision_days
        decision = OfferDecision(
            campaign=campaign,
            offer=offer,
            subject_key=who.subject_key,
            user_key=who.user_key[:64],
            visitor_key=who.visitor_key[:64],
            channel=who.channel[:32],
            propensity=float(propensity),
            probabilities=probabilities,
            is_control=is_control,
            for_learning=for_learning,
            policy=policy,
            model_version=version,
            reasons=reasons,
            state=state,
            cost=cost,
            coupon_code="",
            batch=batch,
            sequence=sequence,
            created_at=now,
            expires_at=now + timedelta(days=max(days, offer.validity_days) if offer is not None else days),
        )
        # what the decision is when the budget refuses the offer
        refused = {
            "offer": None,
            "cost": Decimal("0"),
            "for_learning": False,
            "reasons": [*reasons, f"budget exhausted: {arm_key(offer)} not given"],
            "coupon_code": "",
            "expires_at": now + timedelta(days=days),
        }
        connection = connections[router.db_for_write(OfferDecision)]
        writes = offer is not None and (offer.expected_cost > 0 or offer.needs_code)
        # (inside the caller's transaction a decision without budget or coupon stays one INSERT …
        # ON CONFLICT DO NOTHING: no savepoint round trips around it)
        if store.usable(connection, offer) and (writes or not connection.in_atomic_block):
            # PostgreSQL: budget, coupon and decision in one statement (ecom_ai.marketing.store)
            coupon = None
            if offer is not None and offer.needs_code:
                decision.coupon_code = new_coupon_codes(1)[0]
                coupon = Coupon(
                    code=decision.coupon_code,
                    campaign_id=offer.campaign_id,
                    offer=offer,
                    user_key=who.user_key[:64],
                    visitor_key=who.visitor_key[:64],
                    created_at=now,
                    expires_at=now + timedelta(days=offer.validity_days),
                )
            try:
                store.write(decision, cost=cost, today=budget._today(), refused=refused, coupon=coupon)
            except store.Lost:
                raise _Lost from None
            return self._result(decision, campaign, decision.offer)

        return self._store_in_transaction(decision, offer, refused, connection, campaign, who, cost, writes)

    def _store_in_transaction(
        self, decision, offer, refused, connection, campaign, who, cost, writes: bool
    ) -> OfferResult:
        """The budget ``UPDATE``, the adapter's coupon and the decision ``INSERT`` in one transaction."""
        from ecom_ai.adapters import get_adapter
        from ecom_ai.marketing import store
        from ecom_ai.models.marketing import normalize_code
        from ecom_ai.models.rows import insert_or_skip

        # a decision without budget or coupon (not ``writes``) is one INSERT: no transaction round trips around it
        outermost = not connection.in_atomic_block
        try:
            with transaction.atomic() if writes else nullcontext():
                if writes and outermost and store.asynchronous() and connection.vendor == "postgresql":
                    with connection.cursor() as cursor:  # this transaction only (MARKETING_DECISION_COMMIT)
                        cursor.execute("SELECT set_config('synchronous_commit', 'off', true)")
                if offer is not None and not budget.reserve(campaign.pk, cost):
                    for name, value in refused.items():
                        setattr(decision, name, value)
                    offer = None
                if offer is not None and offer.needs_code:
                    decision.coupon_code = normalize_code(str(get_adapter().issue_coupon(who, offer) or "")[:64])
                if insert_or_skip(decision, ("campaign", "subject_key", "sequence")) is None:
                    raise _Lost  # rolls back the budget and the coupon
        except OperationalError as exc:
            # a deadlock the server broke by aborting our own transaction (or savepoint, or the
            # autocommit INSERT): nothing was written, read the winner. Inside the caller's
            # transaction without a savepoint of ours, the caller's transaction is the one aborted.
            if store.deadlock(exc) and (writes or outermost):
                raise _Lost from exc
            raise
        return self._result(decision, campaign, offer)

    def _result(self, decision, campaign, offer) -> OfferResult:
        return OfferResult(
            campaign,
            offer,
            decision.pk,
            decision.propensity,
            list(decision.reasons or []),
            coupon_code=shown_code(decision.coupon_code),
            is_control=decision.is_control,
            expires_at=decision.expires_at,
        )


def decide(identity, campaign, context: dict | None = None, **kwargs) -> OfferResult:
    """Shortcut for ``OfferService().decide(...)``."""
    return OfferService().decide(identity, campaign, context, **kwargs)
