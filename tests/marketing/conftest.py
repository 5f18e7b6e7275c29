"""Marketing test helpers: a campaign with offers, identities, a deterministic service."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import pytest

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh():
    from ecom_ai.marketing import conditions, serving

    conditions._CACHE.clear()
    serving.clear_pinned()
    yield
    serving.clear_pinned()


@pytest.fixture
def campaign(db):
    """A running campaign with two offers, no control group, no exploration, fixed policy: 10 % off."""
    from ecom_ai.models.marketing import Campaign, Offer

    n = next(_seq)
    c = Campaign.objects.create(
        name=f"Welcome back {n}",
        slug=f"welcome-{n}",
        channels=["site", "email"],
        control_percent=0.0,
        exploration_rate=0.0,
        frequency_cap=None,
    )
    ten = Offer.objects.create(
        campaign=c,
        key="ten",
        title="10 % off",
        kind="percent_off",
        value=Decimal("10"),
        expected_discount_cost=Decimal("2.00"),
        send_cost=Decimal("0.50"),
        position=1,
    )
    Offer.objects.create(
        campaign=c,
        key="ship",
        title="Free shipping",
        kind="free_shipping",
        expected_discount_cost=Decimal("1.00"),
        position=2,
    )
    c.fixed_offer = ten
    c.save()
    return c


@pytest.fixture
def service():
    from ecom_ai.marketing.service import OfferService

    return OfferService(rng=random.Random(7))


def who(n: int | str):
    from ecom_ai.marketing.state import Identity

    return Identity(user_key=f"user-{n}")
