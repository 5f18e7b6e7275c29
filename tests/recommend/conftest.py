"""Fixtures of the recommendation tests: a small shop, events, a fake recommender model."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.text import slugify

from ecom_ai.ml.registry import clear_loaded_models
from ecom_ai.models import Event
from ecom_ai.recommend import cooccurrence, facts, popularity, service
from shop.models import Category, Product


def _clear_caches():
    popularity.clear_trending_cache()
    cooccurrence.clear_live_cache()
    service.clear_placement_cache()
    service.clear_version_cache()
    facts.clear_cache()
    clear_loaded_models()


@pytest.fixture(autouse=True)
def fresh_caches():
    _clear_caches()
    yield
    _clear_caches()


@pytest.fixture
def rec_settings(settings, tmp_path):
    """ECOM_AI overrides for the test (merged on the project's), artifacts in a temp folder.

    Changes go through pytest-django's ``settings`` fixture, which undoes them in order.
    """
    settings.MEDIA_ROOT = str(tmp_path)

    def apply(**overrides):
        merged = {**getattr(settings, "ECOM_AI", {}), "ACTIVE_MODEL_CHECK_SECONDS": 0, **overrides}
        settings.ECOM_AI = merged
        _clear_caches()
        return merged

    return apply


@pytest.fixture
def shop(db):
    """12 products in 3 categories (A: 1-4, B: 5-8, C: 9-12); product 4 is out of stock."""
    products = {}
    for n in range(1, 13):
        name = "ABC"[(n - 1) // 4]
        cat, _ = Category.objects.get_or_create(name=f"Cat {name}", defaults={"slug": f"cat-{name.lower()}"})
        products[n] = Product.objects.create(
            category=cat,
            title=f"Item {n}",
            slug=slugify(f"item-{n}"),
            description=f"About item {n}",
            price=Decimal("10.00") + n,
            stock=0 if n == 4 else 10,
        )
    return products


def key(product) -> str:
    return str(product.pk)


@pytest.fixture
def add_events(db):
    """add_events([(visitor, type, product, minutes_ago), ...]) writes events directly."""

    def add(rows, user_key=""):
        now = timezone.now()
        Event.objects.bulk_create(
            [
                Event(
                    event_type=t,
                    channel="web",
                    visitor_key=v,
                    user_key=user_key,
                    item_key=key(p) if p else "",
                    occurred_at=now - timedelta(minutes=ago),
                    received_at=now,
                    source="test",
                )
                for v, t, p, ago in rows
            ]
        )
        popularity.clear_trending_cache()
        cooccurrence.clear_live_cache()

    return add


def seed_trending(shop, add_events):
    """Home lists become plain trending lists in the order 12, 11, ..., 1 (more views for higher numbers)."""
    from ecom_ai.recommend.service import ensure_default_placements

    rows = []
    for n, product in shop.items():
        rows += [(f"t{n}-{i}", "view", product, 30) for i in range(n)]
    add_events(rows)
    ensure_default_placements()
    update_home(strategy="trending", fallback_strategy="trending", max_per_category=None)
    return shop


def update_home(**fields):
    from ecom_ai.models import Placement

    placement = Placement.objects.get(slug="home")
    for name, value in fields.items():
        setattr(placement, name, value)
    placement.save()  # post_save drops this process's placement cache


@pytest.fixture
def co_bought(shop, add_events):
    """Many shoppers bought 1 with 2 (and fewer 1 with 3); 9 is the most viewed item overall."""
    rows = []
    for i in range(6):
        rows += [(f"b{i}", "purchase", shop[1], 600), (f"b{i}", "purchase", shop[2], 590)]
    for i in range(2):
        rows += [(f"c{i}", "purchase", shop[1], 600), (f"c{i}", "purchase", shop[3], 590)]
    for i in range(10):
        rows += [(f"w{i}", "view", shop[9], 500)]
    add_events(rows)
    return shop


class FakeRecommender:
    """What load_active("recommender") returns, per the agreed interface: scores by a fixed order."""

    def __init__(self, item_keys, order=None):
        self.item_keys = list(item_keys)
        self.order = list(order or reversed(self.item_keys))
        self.calls = []

    def recommend(self, history, k, exclude=()):
        self.calls.append(list(history))
        known = [h for h in history if h[0] in self.item_keys]
        if not known:
            return []
        return [(key, 1.0 / (i + 1)) for i, key in enumerate(k_ for k_ in self.order if k_ not in exclude)][:k]

    def similar_items(self, item_key, k, exclude=()):
        if item_key not in self.item_keys:
            return []
        return [(key, 0.5) for key in self.order if key != item_key and key not in exclude][:k]


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ecom_ai.track(...)``: the block's ``on_commit`` callbacks run at its end,
    as when its transaction commits (attribution runs after the events' commit, off the request)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


class FakeAttributionWorker:
    """Stands in for a Celery worker and its broker for ``ecom_ai.tasks.attribute_events``: the
    tasks sent (with their countdowns) wait here; ``run(after=s)`` lets ``s`` seconds pass and
    runs the tasks due by then, returning how many ran."""

    def __init__(self, task):
        self.task = task
        self.clock = 0.0
        self.sent: list[tuple[float, tuple, dict]] = []

    def apply_async(self, args=(), kwargs=None, countdown=None, **options):
        self.sent.append((self.clock + float(countdown or 0), tuple(args), dict(kwargs or {})))

    def run(self, after: float = 0.0) -> int:
        self.clock += after
        due = [entry for entry in self.sent if entry[0] <= self.clock]
        self.sent = [entry for entry in self.sent if entry[0] > self.clock]
        for _, args, kwargs in due:
            self.task(*args, **kwargs)
        return len(due)


@pytest.fixture
def attribution_worker(monkeypatch):
    """Attribution tasks go to a ``FakeAttributionWorker`` (as with a broker configured)."""
    from ecom_ai.tasks import recommend as recommend_tasks

    worker = FakeAttributionWorker(recommend_tasks.attribute_events)
    monkeypatch.setattr(recommend_tasks, "celery_enabled", lambda: True)
    monkeypatch.setattr(recommend_tasks.attribute_events, "apply_async", worker.apply_async)
    return worker
