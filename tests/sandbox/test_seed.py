"""``manage.py sandbox_seed`` on a tiny size: valid, deterministic, idempotent."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import Event, Item, VisitorIdentity
from shop.models import Category, Order, Product

TINY = ["--products", "60", "--customers", "12", "--days", "20", "--until", "2026-06-30"]


def seed(*args):
    out = StringIO()
    call_command("sandbox_seed", *args, stdout=out)
    return out.getvalue()


def snapshot():
    """Everything the seed wrote, with database ids replaced by stable names."""
    User = get_user_model()
    slug_of = {str(pk): slug for pk, slug in Product.objects.values_list("pk", "slug")}
    name_of = {str(pk): name for pk, name in User.objects.values_list("pk", "username")}
    products = sorted(
        Product.objects.values_list("slug", "title", "description", "price", "stock", "category__name", "created_at")
    )
    users = sorted(User.objects.values_list("username", "email", "first_name", "last_name", "date_joined", "password"))
    orders = sorted(
        (
            o.number,
            o.user.username if o.user else "",
            o.email,
            o.total,
            o.status,
            o.shipping_country,
            o.billing_country,
            o.ip_address,
            o.device_id,
            o.payment_fingerprint,
            o.channel,
            o.created_at,
            tuple(sorted((line.product.slug, line.quantity, line.price) for line in o.lines.all())),
        )
        for o in Order.objects.select_related("user").prefetch_related("lines__product")
    )
    events = sorted(
        (
            e.event_type,
            e.channel,
            e.visitor_key,
            name_of.get(e.user_key, e.user_key),
            slug_of.get(e.item_key, e.item_key),
            e.quantity,
            e.value,
            repr(sorted(e.context.items())),
            e.occurred_at,
        )
        for e in Event.objects.all()
    )
    identities = sorted(
        (i.visitor_key, name_of[i.user_key], i.channel, i.first_seen, i.last_seen)
        for i in VisitorIdentity.objects.all()
    )
    return {"products": products, "users": users, "orders": orders, "events": events, "identities": identities}


@pytest.mark.django_db
def test_tiny_seed_is_valid_and_complete():
    output = seed(*TINY)
    assert "Seeded 60 products" in output
    assert Category.objects.count() >= 15
    assert Product.objects.count() == 60
    User = get_user_model()
    customers = User.objects.filter(username__startswith="customer")
    assert customers.count() == 12
    assert customers.first().check_password("demo")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("admin")

    events = Event.objects.all()
    assert events.count() > 300
    assert set(events.values_list("event_type", flat=True)) <= set(ecom_settings.all_event_types)
    assert {"view", "click", "search", "add_to_cart", "purchase", "page_view"} <= set(
        events.values_list("event_type", flat=True)
    )
    assert set(events.values_list("channel", flat=True)) <= set(ecom_settings.all_channels)
    assert len(set(events.values_list("channel", flat=True))) >= 3
    product_keys = {str(pk) for pk in Product.objects.values_list("pk", flat=True)}
    assert set(events.exclude(item_key="").values_list("item_key", flat=True)) <= product_keys
    assert not events.filter(visitor_key="").exists()
    # logged-in sessions: visitors stitched to users
    assert VisitorIdentity.objects.exists()
    assert events.exclude(user_key="").exists() and events.filter(user_key="").exists()

    orders = Order.objects.all()
    assert orders.exists()
    for order in orders.prefetch_related("lines"):
        lines = list(order.lines.all())
        assert lines and order.total == sum(line.price * line.quantity for line in lines)
    purchases = events.filter(event_type="purchase")
    assert purchases.count() == sum(o.lines.count() for o in orders)
    # fraud-like orders: brand-new accounts sharing a device (quick sign-ups are legitimate look-alikes)
    fraud = orders.filter(user__username__startswith="newuser").exclude(user__username__endswith="_quick")
    assert fraud.count() >= 3
    assert fraud.values("device_id").distinct().count() < fraud.count()
    assert any(o.shipping_country != o.billing_country for o in fraud)
    # the catalog mirror was synced
    assert Item.objects.count() == 60
    # every order was assessed for fraud, and the refunded fraud-like ones are chargebacks
    from ecom_ai.models.fraud import FraudAssessment

    assert FraudAssessment.objects.count() == orders.count()
    refunded = set(fraud.filter(status="refunded").values_list("number", flat=True))
    assert refunded
    labelled_fraud = FraudAssessment.objects.filter(label=True)
    assert refunded <= set(labelled_fraud.values_list("order_number", flat=True))
    # the demo's reviewers decided every order sent to review: fraud labels and approvals
    assert not FraudAssessment.objects.filter(status="pending_review").exists()
    assert set(labelled_fraud.values_list("decided_by", flat=True)) <= {"chargeback", "demo reviewer"}
    approved = FraudAssessment.objects.filter(label=False)
    assert set(approved.values_list("decided_by", flat=True)) <= {"demo reviewer"}
    assert not set(approved.values_list("order_number", flat=True)) & refunded


@pytest.mark.django_db
def test_seed_is_deterministic_and_idempotent():
    seed(*TINY)
    first = snapshot()
    again = seed(*TINY)
    assert "already seeded" in again
    assert snapshot() == first  # nothing changed

    output = seed(*TINY, "--reset")
    assert "Reset" in output
    assert snapshot() == first  # same seed, same data

    seed(*TINY[:-2], "--until", "2026-06-30", "--seed", "7", "--reset")
    assert snapshot()["products"] != first["products"]


@pytest.mark.django_db
def test_seed_rejects_bad_options():
    with pytest.raises(CommandError, match="--until"):
        seed("--until", "yesterday")
    with pytest.raises(CommandError, match="at least 1"):
        seed("--products", "0")
    assert not Product.objects.exists()
