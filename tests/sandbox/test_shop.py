"""The sandbox shop's flows with the Django test client: catalog, cart, checkout, accounts."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from ecom_ai.models import Event
from ecom_ai.signals import order_placed
from shop.models import Order, OrderLine, Product

ADDRESS = {
    "name": "Alice Example",
    "email": "alice@example.com",
    "address": "1 High Street\nBristol",
    "country": "GB",
    "billing_country": "GB",
    "card_number": "4242 4242 4242 4242",
}


def visitor_key(client):
    """The visitor key in the client's signed ecom_ai cookie ("<key>:<timestamp>:<signature>")."""
    from ecom_ai.conf import settings as ecom_settings

    return client.cookies[ecom_settings.VISITOR_COOKIE_NAME].value.split(":")[0]


def add(client, product, quantity=1):
    return client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": quantity})


def checkout_token(client):
    response = client.get(reverse("shop:checkout"))
    assert response.status_code == 200
    return re.search(r'name="token" value="([0-9a-f]{32})"', response.content.decode()).group(1)


def place(client, **overrides):
    data = {**ADDRESS, "token": checkout_token(client), **overrides}
    return client.post(reverse("shop:checkout"), data), data


# --- catalog -------------------------------------------------------------------------------------


def test_catalog_pages_render_with_tracker_and_blocks(client, catalog):
    home = client.get("/")
    assert home.status_code == 200
    html = home.content.decode()
    assert "Sonora Wireless Headphones" in html and 'href="/c/audio/"' in html
    assert 'id="ecom-ai-config"' in html and "ecom_ai/tracker.js" in html
    assert f'data-ecom-ai-click="{catalog["headphones"].pk}"' in html

    page = client.get(catalog["headphones"].get_absolute_url())
    assert page.status_code == 200
    assert f'data-ecom-ai-view="{catalog["headphones"].pk}"' in page.content.decode()

    category = client.get(reverse("shop:category", args=["audio"]))
    assert category.status_code == 200
    assert "Auralis Portable Speaker" in category.content.decode()
    assert "Foxglove" not in category.content.decode()
    assert client.get(reverse("shop:category", args=["nope"])).status_code == 404
    assert client.get("/p/no-such-product/").status_code == 404
    assert client.get("/?page=abc").status_code == 200


def test_search_finds_products_and_records_a_search_event(client, catalog):
    response = client.get(reverse("shop:search"), {"q": "wireless headphones"})
    assert response.status_code == 200
    assert "Sonora Wireless Headphones" in response.content.decode()
    assert "Auralis" not in response.content.decode()
    event = Event.objects.get(event_type="search")
    assert event.context == {"query": "wireless headphones", "results": 1}
    assert event.visitor_key == visitor_key(client)

    assert client.get(reverse("shop:search"), {"q": ""}).status_code == 200
    assert client.get(reverse("shop:search"), {"q": "x" * 5000}).status_code == 200
    assert Event.objects.filter(event_type="search").count() == 2  # the empty query is not an event


# --- cart ------------------------------------------------------------------------------------------


def test_cart_add_update_remove_and_events(client, catalog):
    headphones = catalog["headphones"]
    client.get("/")
    response = add(client, headphones, 2)
    assert response.status_code == 302
    assert client.session["cart"] == {str(headphones.pk): 2}
    added = Event.objects.get(event_type="add_to_cart")
    assert (added.item_key, added.quantity, added.value) == (str(headphones.pk), 2, Decimal("159.80"))
    assert added.visitor_key == visitor_key(client)

    cart_page = client.get(reverse("shop:cart"))
    assert "$159.80" in cart_page.content.decode()
    assert cart_page.context["cart_count"] == 2

    client.post(reverse("shop:cart_update", args=[headphones.pk]), {"quantity": 3})
    assert client.session["cart"] == {str(headphones.pk): 3}
    client.post(reverse("shop:cart_update", args=[headphones.pk]), {"quantity": 1})
    assert client.session["cart"] == {str(headphones.pk): 1}
    removed = Event.objects.get(event_type="remove_from_cart")
    assert (removed.quantity, removed.value) == (2, Decimal("159.80"))

    client.post(reverse("shop:cart_remove", args=[headphones.pk]))
    assert client.session["cart"] == {}
    assert Event.objects.filter(event_type="remove_from_cart").count() == 2
    assert Event.objects.filter(event_type="add_to_cart").count() == 2  # the first add and the +1


def test_cart_refuses_bad_quantities_and_more_than_the_stock(client, catalog):
    speaker, novel = catalog["speaker"], catalog["novel"]
    for bad in ("abc", "-1", "0", "1000", ""):
        response = add(client, speaker, bad)
        assert response.status_code == 302
    assert client.session.get("cart", {}) == {}
    add(client, speaker, 3)  # only 2 in stock
    add(client, novel, 1)  # sold out
    assert client.session.get("cart", {}) == {}
    assert not Event.objects.filter(event_type="add_to_cart").exists()
    assert client.post(reverse("shop:cart_add", args=[999999]), {"quantity": 1}).status_code == 404
    assert client.get(reverse("shop:cart_add", args=[speaker.pk])).status_code == 405
    response = client.post(reverse("shop:cart_update", args=[speaker.pk]), {"quantity": "lots"})
    assert response.status_code == 302


def test_a_tampered_session_cart_is_ignored(client, catalog):
    session = client.session
    session["cart"] = {"abc": 3, str(catalog["speaker"].pk): "x", "999999": 1, str(catalog["headphones"].pk): 1}
    session.save()
    response = client.get(reverse("shop:cart"))
    assert response.status_code == 200
    assert [line.product for line in response.context["lines"]] == [catalog["headphones"]]


# --- checkout --------------------------------------------------------------------------------------


def test_checkout_places_order_with_lines_stock_signal_and_purchase_events(
    client, catalog, django_capture_on_commit_callbacks
):
    headphones, speaker = catalog["headphones"], catalog["speaker"]
    received = []

    def listener(sender, order, request, **kwargs):
        # sent inside the transaction, after the lines are saved
        received.append((sender, order.number, order.lines.count(), request is not None))

    order_placed.connect(listener)
    try:
        client.get("/")
        add(client, headphones, 2)
        add(client, speaker, 1)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response, data = place(client)
            assert not Event.objects.filter(event_type="purchase").exists()  # recorded when the order commits
    finally:
        order_placed.disconnect(listener)
    assert callbacks

    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("shop:order", args=[order.number])
    assert received == [(Order, order.number, 2, True)]
    assert order.total == Decimal("204.80")
    assert (order.email, order.shipping_name, order.shipping_country, order.billing_country) == (
        "alice@example.com",
        "Alice Example",
        "GB",
        "GB",
    )
    assert order.ip_address == "127.0.0.1"
    assert order.device_id == visitor_key(client)
    assert len(order.payment_fingerprint) == 32 and "4242" not in order.payment_fingerprint
    assert order.checkout_token == data["token"]
    lines = {line.product_id: (line.quantity, line.price) for line in OrderLine.objects.filter(order=order)}
    assert lines == {headphones.pk: (2, Decimal("79.90")), speaker.pk: (1, Decimal("45.00"))}
    headphones.refresh_from_db(), speaker.refresh_from_db()
    assert (headphones.stock, speaker.stock) == (3, 1)

    # ecom_ai's order bridge: one purchase per line, keyed by order and line
    purchases = {e.item_key: e for e in Event.objects.filter(event_type="purchase")}
    assert set(purchases) == {str(headphones.pk), str(speaker.pk)}
    assert purchases[str(headphones.pk)].value == Decimal("159.80")
    assert purchases[str(headphones.pk)].quantity == 2
    speaker_line = OrderLine.objects.get(order=order, product=speaker)
    assert purchases[str(speaker.pk)].client_event_id == f"order:{order.pk}:{speaker_line.pk}"
    assert all(e.context == {"order": order.number, "order_key": str(order.pk)} for e in purchases.values())
    assert all(e.visitor_key == visitor_key(client) and e.source == "order" for e in purchases.values())

    assert client.session["cart"] == {}
    confirmation = client.get(response["Location"])
    assert confirmation.status_code == 200
    assert "Thank you" in confirmation.content.decode() and "$204.80" in confirmation.content.decode()


def test_double_submit_places_one_order_and_counts_purchases_once(client, catalog, django_capture_on_commit_callbacks):
    client.get("/")
    add(client, catalog["headphones"], 1)
    with django_capture_on_commit_callbacks(execute=True):
        first, data = place(client)
    # the same form again (double click, back button + resubmit)
    second = client.post(reverse("shop:checkout"), data)
    assert second.status_code == 302 and second["Location"] == first["Location"]
    # even a session that forgot the token gets the first order back
    session = client.session
    session["checkout_tokens"] = {}
    session["cart"] = {str(catalog["speaker"].pk): 1}
    session.save()
    third = client.post(reverse("shop:checkout"), data)
    assert third["Location"] == first["Location"]
    assert Order.objects.count() == 1
    assert Event.objects.filter(event_type="purchase").count() == 1
    catalog["headphones"].refresh_from_db()
    assert catalog["headphones"].stock == 4


def test_checkout_fails_cleanly_when_stock_ran_out(client, catalog):
    speaker = catalog["speaker"]
    add(client, speaker, 2)
    Product.objects.filter(pk=speaker.pk).update(stock=1)  # someone else bought one meanwhile
    response, _ = place(client)
    assert response.status_code == 302 and response["Location"] == reverse("shop:cart")
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    speaker.refresh_from_db()
    assert speaker.stock == 1
    assert not Event.objects.filter(event_type="purchase").exists()
    assert client.session["cart"] == {str(speaker.pk): 2}


def test_checkout_validates_the_form(client, catalog):
    add(client, catalog["headphones"], 1)
    response, _ = place(client, email="not-an-email", country="XX", card_number="12ab")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"email", "country", "card_number"}
    response = client.post(reverse("shop:checkout"), {**ADDRESS, "token": "../../etc"})
    assert response.status_code == 200 and "token" in response.context["form"].errors
    assert not Order.objects.exists()


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client, catalog):
    assert client.get(reverse("shop:checkout"))["Location"] == reverse("shop:cart")
    response = client.post(reverse("shop:checkout"), {**ADDRESS, "token": "a" * 32})
    assert response["Location"] == reverse("shop:cart")
    assert not Order.objects.exists()


# --- accounts and privacy ---------------------------------------------------------------------------


def test_my_orders_lists_only_my_orders_and_orders_are_private(client, catalog, shopper, other_shopper):
    client.force_login(other_shopper)
    add(client, catalog["speaker"], 1)
    place(client, email="bob@example.com")
    bobs = Order.objects.get(user=other_shopper)
    client.logout()

    assert client.get(reverse("shop:my_orders"))["Location"].startswith(reverse("shop:login"))
    client.force_login(shopper)
    add(client, catalog["headphones"], 1)
    place(client)
    mine = Order.objects.get(user=shopper)

    page = client.get(reverse("shop:my_orders")).content.decode()
    assert mine.number in page and bobs.number not in page
    assert client.get(reverse("shop:order", args=[mine.number])).status_code == 200
    assert client.get(reverse("shop:order", args=[bobs.number])).status_code == 404
    # a guest doesn't see an order just because it knows the number
    client.logout()
    assert client.get(reverse("shop:order", args=[mine.number])).status_code == 404


def test_logged_in_purchase_events_carry_the_user(client, catalog, shopper, django_capture_on_commit_callbacks):
    client.force_login(shopper)
    add(client, catalog["headphones"], 1)
    with django_capture_on_commit_callbacks(execute=True):
        place(client)
    assert Event.objects.get(event_type="purchase").user_key == str(shopper.pk)
    assert Order.objects.get().user == shopper


def test_staff_order_list_needs_staff(client, catalog, shopper, staff):
    add(client, catalog["headphones"], 1)
    place(client)
    order = Order.objects.get()
    url = reverse("shop:staff_orders")
    assert client.get(url)["Location"].startswith(reverse("shop:login"))
    client.force_login(shopper)
    assert client.get(url).status_code == 302
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert order.number in html and "<th>Risk</th>" in html and "127.0.0.1" in html
    assert client.get(url, {"status": "shipped"}).context["page"].paginator.count == 0
    assert client.get(url, {"status": "bogus"}).context["page"].paginator.count == 1
    # staff may open any order
    assert client.get(reverse("shop:order", args=[order.number])).status_code == 200


def test_signup_login_logout(client, db, django_user_model):
    response = client.post(
        reverse("shop:signup"),
        {"username": "carol", "email": "carol@example.com", "password1": "s3cret-pass!", "password2": "s3cret-pass!"},
    )
    assert response.status_code == 302
    user = django_user_model.objects.get(username="carol")
    assert user.email == "carol@example.com"
    assert client.get("/").context["user"] == user
    client.post(reverse("shop:logout"))
    assert not client.get("/").context["user"].is_authenticated
    response = client.post(reverse("shop:login"), {"username": "carol", "password": "s3cret-pass!"})
    assert response.status_code == 302 and response["Location"] == reverse("shop:home")
    # logging in stitched this browser's visitor key to the user
    from ecom_ai.models import VisitorIdentity

    assert VisitorIdentity.objects.filter(visitor_key=visitor_key(client), user_key=str(user.pk)).exists()
    client.post(reverse("shop:logout"))
    bad = client.post(reverse("shop:signup"), {"username": "carol", "email": "x", "password1": "a", "password2": "b"})
    assert bad.status_code == 200
    assert {"username", "email", "password2"} <= set(bad.context["form"].errors)
    assert django_user_model.objects.filter(username="carol").count() == 1


@pytest.mark.parametrize("path", ["/", "/cart/", "/search/?q=a", "/account/login/", "/account/signup/"])
def test_pages_render_for_anonymous_visitors(client, catalog, path):
    assert client.get(path).status_code == 200


def test_the_card_fingerprint_is_keyed_not_a_plain_hash(settings):
    import hashlib

    from shop.views import card_fingerprint

    pan = "4242424242424242"
    first = card_fingerprint(pan)
    assert len(first) == 32 and first == card_fingerprint(pan)  # stable: links orders paid with one card
    assert first != hashlib.sha256(pan.encode()).hexdigest()[:32]  # not reversible by hashing every PAN
    settings.CARD_FINGERPRINT_KEY = "another-key"
    assert card_fingerprint(pan) != first
    assert card_fingerprint("") == ""
