"""Fraud test helpers: sandbox orders, staff/shopper clients, synthetic labelled assessments."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.sandbox_orders import new_order, new_product
from django.utils import timezone


@pytest.fixture(autouse=True)
def _fresh_caches():
    from django.core.cache import cache

    from ecom_ai.fraud import rules
    from ecom_ai.ml.registry import clear_loaded_models

    from ecom_ai.fraud.scoring import clear_config_cache

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and the CPUs are shared
    cache.clear()
    clear_config_cache()
    rules._PARSE_CACHE.clear()
    clear_loaded_models()
    yield
    clear_loaded_models()
    clear_config_cache()
    torch.set_num_threads(threads)


@pytest.fixture
def product(db):
    return new_product(stock=1000)


@pytest.fixture
def make_order(db, product):
    """Create a sandbox order (with one line), without sending order_placed."""
    return lambda quantity=1, **fields: new_order(product, quantity, **fields)


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("staff", "staff@example.com", "pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def shopper_client(client, django_user_model):
    user = django_user_model.objects.create_user("shopper", "shopper@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def ecom_ai_settings(settings):
    """Apply ECOM_AI overrides on top of the project's ECOM_AI for the rest of the test."""

    def apply(**overrides):
        settings.ECOM_AI = {**getattr(settings, "ECOM_AI", {}), **overrides}
        return settings.ECOM_AI

    return apply


@pytest.fixture
def low_floor(ecom_ai_settings):
    """A fraud quality floor small synthetic data sets reach (the heuristic must still be beaten)."""
    ecom_ai_settings(QUALITY_FLOORS={"fraud": {"fraud_labels": 10, "labelled_orders": 100}})


def synthetic_assessments(n=160, fraud_rate=0.25, seed=7, fraud_before=1.0, extra=None):
    """Labelled assessments whose features separate fraud from legit (for training tests).

    ``fraud_before``: frauds only among the first share of rows (by time): 0.7 leaves the
    newest 30 % without any. ``extra(fraud, rng)`` adds shop-specific features to a row.
    """
    from ecom_ai.fraud.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
    from ecom_ai.models.fraud import FraudAssessment

    rng = random.Random(seed)
    start = timezone.now() - timedelta(days=30)
    rows = []
    for i in range(n):
        fraud = rng.random() < fraud_rate and i < n * fraud_before
        features = {name: 0 for name in NUMERIC_FEATURES}
        features.update({name: "" for name in CATEGORICAL_FEATURES})
        features.update(
            ip_country_mismatch_billing=None,
            shipping_billing_mismatch=None,
            amount_vs_user_mean=None,
            account_age_days=None,
            first_order=1,
            is_guest=1,
            missing_fields=2,
        )
        features.update(
            amount=rng.uniform(200, 900) if fraud else rng.uniform(10, 120),
            minutes_since_signup=rng.uniform(0, 2) if fraud else rng.uniform(60, 500000),
            accounts_on_device=rng.randint(1, 4) if fraud else rng.choice([0, 0, 0, 1]),
            orders_ip_24h=rng.randint(2, 6) if fraud else rng.randint(0, 1),
            ip_country_mismatch_shipping=1 if fraud and rng.random() < 0.7 else 0,
            channel=rng.choice(["web", "app"]),
            currency="USD",
            ip_country=rng.choice(["NG", "RU"]) if fraud else "US",
            shipping_country="US",
        )
        if extra is not None:
            features.update(extra(fraud, rng))
        rows.append(
            FraudAssessment(
                order_key=f"syn-{seed}-{i}",
                order_number=f"S{i}",
                features=features,
                label=fraud,
                status=FraudAssessment.STATUS_FRAUD if fraud else FraudAssessment.STATUS_APPROVED,
                placed_at=start + timedelta(minutes=10 * i),
                amount=Decimal(str(round(features["amount"], 2))),
                currency="USD",
                score=0,
            )
        )
    FraudAssessment.objects.bulk_create(rows)
    return rows


def heuristic_blind(fraud, rng):
    """Make the heuristic's signals noise (same for both classes): only amount and the IP
    velocity separate the classes, which a model learns and the heuristic cannot."""
    return {
        "minutes_since_signup": rng.uniform(0, 500000),
        "accounts_on_device": rng.choice([0, 0, 1]),
        "ip_country_mismatch_shipping": rng.choice([0, 1]),
        "ip_country": "US",
    }
