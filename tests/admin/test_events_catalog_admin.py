"""Admin pages for events, identities, channel keys, items and the overview, through the test client."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from ecom_ai.models import ChannelKey, Event, Item, VisitorIdentity
from ecom_ai.models.events import hash_api_key

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"admin:ecom_ai_{name}", args=args)


def ev(event_type="view", channel="web", visitor="v1", user="", item="", days_ago=0, value=None):
    return Event(
        event_type=event_type,
        channel=channel,
        visitor_key=visitor,
        user_key=user,
        item_key=item,
        value=value,
        occurred_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def events():
    rows = [
        ev("view", "web", "vis-a", "u1", "item-1"),
        ev("purchase", "app", "vis-b", "u2", "item-2", days_ago=3, value=Decimal("9.99")),
        ev("view", "store", "vis-c", "", "item-1", days_ago=40),
        ev("search", "web", "vis-a", "u1", "", days_ago=1),
    ]
    Event.objects.bulk_create(rows)
    return rows


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("staff", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="ecom_ai", codename__startswith="view_")
    )
    client.force_login(user)
    return client


def test_changelists_and_forms_render(admin_client, events):
    item = Item.objects.create(key="item-1", title="Red Shoe", category="Shoes", price=Decimal("5"))
    identity = VisitorIdentity.objects.create(visitor_key="vis-a", user_key="u1")
    key, _ = ChannelKey.create_with_key(name="pos", channel="store")
    for name in ("event", "visitoridentity", "channelkey", "item"):
        response = admin_client.get(url(f"{name}_changelist"))
        assert response.status_code == 200, name
    for name, obj in (("event", events[0]), ("visitoridentity", identity), ("channelkey", key), ("item", item)):
        assert admin_client.get(url(f"{name}_change", obj.pk)).status_code == 200, name
    assert admin_client.get(url("channelkey_add")).status_code == 200
    assert admin_client.get(reverse("admin:app_list", args=["ecom_ai"])).status_code == 200


def test_event_admin_is_read_only_and_delete_is_for_superusers(admin_client, staff_client, events):
    assert admin_client.get("/admin/ecom_ai/event/add/").status_code == 403
    page = admin_client.get(url("event_change", events[0].pk)).content.decode()
    assert 'name="_save"' not in page
    assert staff_client.get(url("event_changelist")).status_code == 200
    assert staff_client.get(url("event_delete", events[0].pk)).status_code == 403
    response = admin_client.post(url("event_delete", events[0].pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Event.objects.filter(pk=events[0].pk).exists()


def test_event_filters_search_and_date_hierarchy(admin_client, events):
    def listed(params):
        response = admin_client.get(url("event_changelist"), params)
        assert response.status_code == 200
        return {e.pk for e in response.context["cl"].result_list}

    assert listed({}) == {e.pk for e in events}
    assert listed({"event_type": "purchase"}) == {events[1].pk}
    assert listed({"channel": "store"}) == {events[2].pk}
    assert listed({"q": "u1"}) == {events[0].pk, events[3].pk}
    assert listed({"q": "vis-c"}) == {events[2].pk}
    assert listed({"q": "item-2"}) == {events[1].pk}
    assert listed({"q": "U1"}) == set()  # keys match exactly
    when = events[2].occurred_at
    assert events[2].pk in listed(
        {"occurred_at__year": when.year, "occurred_at__month": when.month, "occurred_at__day": when.day}
    )
    page = admin_client.get(url("event_changelist"), {"channel": "web"}).content.decode()
    assert "mini program" in page  # filter choices come from settings
    response = admin_client.get(url("event_changelist"))
    assert response.context["cl"].show_full_result_count is False


def test_event_changelist_does_not_count_the_whole_table(admin_client, events, django_assert_max_num_queries):
    # session, user, min/max for the date hierarchy, the page, its count: no unfiltered COUNT(*)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        admin_client.get(url("event_changelist"), {"channel": "web"})
    counts = [
        q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper() and "ecom_ai_event" in q["sql"]
    ]
    assert counts and all("WHERE" in sql.upper() for sql in counts), counts


def test_overview_page_renders_with_data(admin_client, events):
    VisitorIdentity.objects.create(visitor_key="vis-a", user_key="u1")
    Item.objects.create(key="item-1", title="A")
    Item.objects.create(key="item-2", title="B", is_active=False)
    response = admin_client.get(url("overview"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "</svg>" in page
    assert "<script" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]
    ctx = response.context
    assert ctx["days"] == 30
    assert ctx["window_total"] == 3  # the 40-day-old event is outside the 30-day window
    assert ctx["type_totals"] == {"view": 1, "purchase": 1, "search": 1}
    assert ctx["channel_totals"] == {"web": 2, "app": 1}
    assert (ctx["identities"], ctx["items"], ctx["active_items"], ctx["all_events"]) == (1, 2, 1, 4)
    assert re.search(r"<title>\d\d-\d\d · app: 1</title>", page)

    long = admin_client.get(url("overview"), {"days": "90"}).context
    assert long["window_total"] == 4 and long["channel_totals"]["store"] == 1
    assert admin_client.get(url("overview"), {"days": "abc"}).context["days"] == 30
    # linked from the app index and the events changelist
    assert url("overview") in admin_client.get(reverse("admin:app_list", args=["ecom_ai"])).content.decode()
    assert url("overview") in admin_client.get(url("event_changelist")).content.decode()


def test_overview_page_with_no_events(admin_client):
    response = admin_client.get(url("overview"))
    assert response.status_code == 200
    assert "no events in this period" in response.content.decode()


def test_non_staff_are_redirected_to_login(client, events):
    user = User.objects.create_user("shopper", password="x")
    client.force_login(user)
    for target in (
        url("overview"),
        url("event_changelist"),
        url("item_changelist"),
        url("channelkey_changelist"),
        url("visitoridentity_changelist"),
    ):
        response = client.get(target)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], target
    client.logout()
    assert client.get(url("overview")).status_code == 302


def test_channel_key_is_shown_once_and_hash_never(admin_client):
    response = admin_client.post(
        url("channelkey_add"), {"name": "pos-1", "channel": "store", "is_active": "on"}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    raw = re.search(r'class="ecom-ai-raw-key">(eai_[^<]+)<', page).group(1)
    key = ChannelKey.objects.get(name="pos-1")
    assert key.key_hash == hash_api_key(raw)
    assert ChannelKey.find(raw) == key
    # never again: not on the list, not on the change page, and the hash never
    for target in (url("channelkey_changelist"), url("channelkey_change", key.pk)):
        later = admin_client.get(target).content.decode()
        assert raw not in later
        assert key.key_hash not in later
    assert key.key_hash not in page
    assert f"eai_{key.prefix}" in admin_client.get(url("channelkey_changelist")).content.decode()


def test_channel_key_form_rejects_unknown_channel(admin_client):
    response = admin_client.post(url("channelkey_add"), {"name": "x", "channel": "fax"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ChannelKey.objects.exists()


def test_channel_key_revoke_and_rotate(admin_client):
    key, raw = ChannelKey.create_with_key(name="app", channel="app")
    changelist = url("channelkey_changelist")
    admin_client.post(changelist, {"action": "revoke_keys", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert not key.is_active and ChannelKey.find(raw) is None

    response = admin_client.post(changelist, {"action": "rotate_keys", "_selected_action": [key.pk]}, follow=True)
    new_raw = re.search(r'class="ecom-ai-raw-key">(eai_[^<]+)<', response.content.decode()).group(1)
    key.refresh_from_db()
    assert key.is_active and new_raw != raw
    assert ChannelKey.find(new_raw) == key and ChannelKey.find(raw) is None
    assert new_raw not in admin_client.get(changelist).content.decode()


def test_export_user_data_downloads_json(admin_client, events):
    identity = VisitorIdentity.objects.create(visitor_key="vis-a", user_key="u1")
    response = admin_client.post(
        url("visitoridentity_changelist"), {"action": "export_user_data", "_selected_action": [identity.pk]}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert 'filename="ecom_ai-user-u1.json"' in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["user_key"] == "u1"
    assert sorted(e["event_type"] for e in data["events"]) == ["search", "view"]
    assert all(e["user_key"] in ("u1", "") for e in data["events"])  # never another user's data
    assert data["identities"][0]["visitor_key"] == "vis-a"


def test_export_of_several_users(admin_client, events):
    a = VisitorIdentity.objects.create(visitor_key="vis-a", user_key="u1")
    b = VisitorIdentity.objects.create(visitor_key="vis-b", user_key="u2")
    response = admin_client.post(
        url("visitoridentity_changelist"), {"action": "export_user_data", "_selected_action": [a.pk, b.pk]}
    )
    assert sorted(u["user_key"] for u in json.loads(response.content)["users"]) == ["u1", "u2"]


def test_erase_user_data_asks_for_confirmation_then_erases(admin_client, events):
    identity = VisitorIdentity.objects.create(visitor_key="vis-a", user_key="u1")
    changelist = url("visitoridentity_changelist")
    response = admin_client.post(changelist, {"action": "erase_user_data", "_selected_action": [identity.pk]})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Yes, erase their data" in page and "u1" in page
    assert Event.objects.filter(user_key="u1").count() == 2  # nothing erased yet

    response = admin_client.post(
        changelist, {"action": "erase_user_data", "_selected_action": [identity.pk], "post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "Erased the data of 1 user" in response.content.decode()
    assert not Event.objects.filter(user_key="u1").exists()
    assert not VisitorIdentity.objects.filter(user_key="u1").exists()
    assert Event.objects.filter(user_key="u2").exists()  # other users untouched


def test_staff_without_delete_permission_cannot_erase(staff_client, events):
    identity = VisitorIdentity.objects.create(visitor_key="vis-a", user_key="u1")
    changelist = url("visitoridentity_changelist")
    page = staff_client.get(changelist).content.decode()
    assert "export_user_data" in page and "erase_user_data" not in page
    staff_client.post(changelist, {"action": "erase_user_data", "_selected_action": [identity.pk], "post": "yes"})
    assert Event.objects.filter(user_key="u1").exists()


def test_item_admin_filters_search_and_sync_action(admin_client, make_product):
    from shop.models import Product

    shoe = make_product(title="Red Shoe", category="Shoes")
    hat = make_product(title="Blue Hat", category="Hats", stock=0)
    changelist = url("item_changelist")

    def listed(params):
        return {i.key for i in admin_client.get(changelist, params).context["cl"].result_list}

    assert listed({}) == {str(shoe.pk), str(hat.pk)}
    assert listed({"category": "Hats"}) == {str(hat.pk)}
    assert listed({"in_stock__exact": "0"}) == {str(hat.pk)}
    assert listed({"q": "shoe"}) == {str(shoe.pk)}
    assert listed({"q": str(hat.pk)}) == {str(hat.pk)}

    Product.objects.filter(pk=shoe.pk).update(title="Renamed Shoe")
    Product.objects.filter(pk=hat.pk)._raw_delete(Product.objects.db)
    items = Item.objects.filter(key__in=[str(shoe.pk), str(hat.pk)])
    response = admin_client.post(
        changelist, {"action": "sync_from_shop", "_selected_action": [i.pk for i in items]}, follow=True
    )
    assert "Synced from the shop: 1 updated, 1 deactivated" in response.content.decode()
    assert Item.objects.get(key=str(shoe.pk)).title == "Renamed Shoe"
    assert listed({"is_active__exact": "0"}) == {str(hat.pk)}
    assert admin_client.get("/admin/ecom_ai/item/add/").status_code == 403


def test_item_sync_whole_catalog_button(admin_client, make_product, staff_client):
    product = make_product()
    Item.objects.all().delete()
    page = admin_client.get(url("item_changelist")).content.decode()
    assert url("item_sync_catalog") in page
    assert admin_client.get(url("item_sync_catalog")).status_code == 405
    response = admin_client.post(url("item_sync_catalog"), follow=True)
    assert "Catalog synced: 1 created" in response.content.decode()
    assert Item.objects.filter(key=str(product.pk)).exists()
    # view-only staff see no button and may not sync
    assert url("item_sync_catalog") not in staff_client.get(url("item_changelist")).content.decode()
    assert staff_client.post(url("item_sync_catalog")).status_code == 403


def test_overview_needs_the_view_event_permission(client, events):
    user = User.objects.create_user("clerk", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_item"))
    client.force_login(user)
    assert client.get(url("overview")).status_code == 403
    assert client.get(url("item_changelist")).status_code == 200
