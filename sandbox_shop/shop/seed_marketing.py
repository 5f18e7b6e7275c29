"""Demo personal offers for ``sandbox_seed``: a campaign with a randomized history.

The campaign ``welcome-back`` (10 % off, free shipping, or no offer; 10 % control group) has
three past rounds, a month apart, in which every seeded customer got an arm drawn **uniformly
at random** (propensity 1/3, logged as a real decision would be) with the customer state of
that moment (from the seeded events). Outcomes depend on the customer's traits through
``ecom_ai.marketing.simulation`` (10 % off works on discount-sensitive customers, free
shipping on new and app customers), so ``make demo`` can train an offer policy that beats
every fixed arm, and the campaign report has data. The outcomes are recorded on the
decisions only (no extra orders).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ecom_ai.marketing.service import in_control_group
from ecom_ai.marketing.simulation import simulated_outcome
from ecom_ai.marketing.state import customer_state

SLUG = "welcome-back"
ROUNDS = (75, 45, 15)  # days before the end of the history


def seed_campaign_history(seeder) -> int:
    """Create the campaign, its offers and its past decisions; returns the number of decisions."""
    from ecom_ai.models.marketing import Campaign, Offer, OfferDecision

    start = seeder.until - timedelta(days=max(ROUNDS) + 5)
    campaign = Campaign.objects.create(
        name="Welcome back",
        slug=SLUG,
        channels=["site", "cart", "email"],
        starts_at=start,
        ends_at=seeder.until + timedelta(days=90),
        total_budget=Decimal("20000"),
        daily_budget=Decimal("500"),
        frequency_cap=3,
        frequency_window_days=30,
        decision_days=7,
        control_percent=10.0,
        exploration_rate=0.1,
        policy=Campaign.Policy.LEARNED,
        description="Seeded by sandbox_seed: three randomized rounds, then the learned policy (fixed offer "
        "until one is trained and active).",
    )
    ten = Offer.objects.create(
        campaign=campaign,
        key="ten",
        title="10 % off your next order",
        kind="percent_off",
        value=Decimal("10"),
        expected_discount_cost=Decimal("1.50"),
        validity_days=14,
        message="Use the code at checkout.",
        position=1,
    )
    ship = Offer.objects.create(
        campaign=campaign,
        key="ship",
        title="Free shipping on your next order",
        kind="free_shipping",
        expected_discount_cost=Decimal("1.00"),
        validity_days=14,
        message="Use the code at checkout.",
        position=2,
    )
    campaign.fixed_offer = ten
    campaign.save(update_fields=["fixed_offer"])
    arms = {"none": None, "ten": ten, "ship": ship}
    by_user: dict[str, list] = {}
    for e in seeder.events:
        if e.user_key:
            by_user.setdefault(e.user_key, []).append(
                (e.event_type, e.channel, e.occurred_at, e.value, e.context or {})
            )
    rng = seeder.rng
    rows, spent = [], Decimal("0")
    history: dict[str, list] = {}
    for days_before in ROUNDS:
        when = seeder.until - timedelta(days=days_before)
        for user in seeder.users:
            key = str(user.pk)
            events = [e for e in by_user.get(key, ()) if e[2] < when]
            state = customer_state(events, history.get(key, []), now=when, channel="web", logged_in=True)
            subject = f"u:{key}"
            control = in_control_group(campaign, subject)
            arm = "none" if control else rng.choice(list(arms))
            offer = arms[arm]
            converted, value, discount = simulated_outcome(state, arm, rng)
            done = when + timedelta(days=rng.uniform(0.5, 10)) if converted else None
            rows.append(
                OfferDecision(
                    campaign=campaign,
                    offer=offer,
                    subject_key=subject,
                    user_key=key,
                    channel="web",
                    propensity=1.0 if control else 1 / 3,
                    probabilities={"none": 1.0} if control else {a: round(1 / 3, 6) for a in arms},
                    is_control=control,
                    for_learning=not control,
                    policy="control" if control else "randomized",
                    reasons=["seeded: control group"] if control else ["seeded: uniformly random arm"],
                    state=state,
                    cost=offer.expected_cost if offer is not None else Decimal("0"),
                    batch=f"seed-{days_before}",
                    sequence=len(history.get(key, ())) + 1,  # rounds run oldest first: this customer's n-th
                    created_at=when,
                    expires_at=when + timedelta(days=14),
                    redeemed_at=done if offer is not None else None,
                    converted_at=done,
                    order_value=Decimal(str(value)) if converted else None,
                    discount=Decimal(str(discount)),
                )
            )
            if offer is not None:
                spent += offer.expected_cost
            history.setdefault(key, []).append((when, offer is not None, done if offer is not None else None))
    OfferDecision.objects.bulk_create(rows, batch_size=2000)
    Campaign.objects.filter(pk=campaign.pk).update(spent_total=spent)
    return len(rows)
