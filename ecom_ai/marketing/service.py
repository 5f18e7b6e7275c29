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
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ecom_ai.marketing import budget
from ecom_ai.marketing.conditions import is_eligible
from ecom_ai.marketing.exploration import epsilon_greedy, sample, with_floor
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

        previous, given = self._history(campaign, subject, now)
        if previous is not None:
            return previous

        if not campaign.is_running(now):
            return OfferResult(campaign, None, None, 1.0, ["campaign not running (disabled or outside its dates)"])
        if state is None:
            state = load_customer_state(who, now=now, context=context)
        if not is_eligible(campaign.eligibility, state):
            return OfferResult(campaign, None, None, 1.0, ["not eligible"])
        arms = campaign_arms(campaign)
        if in_control_group(campaign, subject):
            decision = self._store(
                campaign,
                who,
                None,
                1.0,
                {NO_OFFER: 1.0},
                ["control group"],
                state,
                now,
                is_control=True,
                for_learning=False,
                policy="control",
                batch=batch,
            )
            return self._result(decision, campaign, None)
        if campaign.frequency_cap is not None and given >= campaign.frequency_cap:
            return OfferResult(campaign, None, None, 1.0, ["frequency cap reached"])

        probs, policy, version, reasons = self.arm_probabilities(campaign, arms, state)
        index = sample(probs, self.rng)
        offer = arms[index]
        propensity = float(probs[index])
        reasons = [*reasons, f"chose {arm_key(offer)} with probability {propensity:.3f}"]
        probabilities = {arm_key(arm): round(float(p), 6) for arm, p in zip(arms, probs)}
        with transaction.atomic():
            for_learning = True
            cost = offer.expected_cost if offer is not None else Decimal("0")
            if offer is not None and not budget.reserve(campaign.pk, cost):
                reasons.append(f"budget exhausted: {offer.key} not given")
                offer, cost, for_learning = None, Decimal("0"), False
            decision = self._store(
                campaign,
                who,
                offer,
                propensity,
                probabilities,
                reasons,
                state,
                now,
                policy=policy,
                version=version,
                cost=cost,
                for_learning=for_learning,
                batch=batch,
            )
        return self._result(decision, campaign, offer)

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
    def _history(self, campaign, subject, now) -> tuple[OfferResult | None, int]:
        """One query: ``(the unexpired decision, if any, as a sticky result; offers given in the
        frequency window)``."""
        from django.db.models import Q

        from ecom_ai.models.marketing import OfferDecision

        since = now - timedelta(days=campaign.frequency_window_days)
        recent = list(
            OfferDecision.objects.filter(
                Q(expires_at__gt=now) | Q(created_at__gte=since, offer__isnull=False),
                campaign=campaign,
                subject_key=subject,
            )
            .select_related("offer")
            .order_by("-created_at")[:200]
        )
        given = sum(1 for d in recent if d.offer_id is not None and d.created_at >= since)
        decision = next((d for d in recent if d.expires_at > now), None)
        if decision is None:
            return None, given
        result = self._result(decision, campaign, decision.offer)
        result.sticky = True
        result.reasons = [*result.reasons, "same decision as before (sticky within the campaign window)"]
        return result, given

    def _store(
        self,
        campaign,
        who: Identity,
        offer,
        propensity,
        probabilities,
        reasons,
        state,
        now,
        *,
        policy,
        version=None,
        cost=Decimal("0"),
        is_control=False,
        for_learning=True,
        batch="",
    ):
        from ecom_ai.adapters import get_adapter
        from ecom_ai.models.marketing import OfferDecision

        days = campaign.decision_days
        if offer is not None:
            days = max(days, offer.validity_days)
        code = ""
        if offer is not None and offer.needs_code:
            code = str(get_adapter().issue_coupon(who, offer) or "")[:64]
        from ecom_ai.models.marketing import normalize_code

        return OfferDecision.objects.create(
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
            reasons=[str(r) for r in reasons],
            state=state,
            cost=cost,
            coupon_code=normalize_code(code) if code else "",
            batch=batch,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )

    def _result(self, decision, campaign, offer) -> OfferResult:
        from ecom_ai.models.marketing import normalize_code

        code = decision.coupon_code
        shown = f"{code[:4]}-{code[4:8]}-{code[8:]}" if len(code) == 12 and code == normalize_code(code) else code
        return OfferResult(
            campaign,
            offer,
            decision.pk,
            decision.propensity,
            list(decision.reasons or []),
            coupon_code=shown,
            is_control=decision.is_control,
            expires_at=decision.expires_at,
        )


def decide(identity, campaign, context: dict | None = None, **kwargs) -> OfferResult:
    """Shortcut for ``OfferService().decide(...)``."""
    return OfferService().decide(identity, campaign, context, **kwargs)
