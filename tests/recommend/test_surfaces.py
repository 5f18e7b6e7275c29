"""Template tags, the sandbox pages, the API (with bad input) and the admin pages."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

import ecom_ai
from ecom_ai.models import ChannelKey, Experiment, Placement, PlacementRule, RecommendationList, Variant
from ecom_ai.recommend.service import ensure_default_placements
from tests.recommend.conftest import key

pytestmark = pytest.mark.django_db
URL = "/ecom-ai/api/v1/recommendations/"


def _request(visitor="tpl-visitor"):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.ecom_ai_visitor = visitor
    request.user = AnonymousUser()
    return request


def test_recommended_products_tag_gives_host_objects_with_reason_and_rec_id(co_bought):
    shop = co_bought
    html = Template(
        '{% load ecom_ai %}{% recommended_products placement="product" item=product limit=3 as recs %}'
        "{% for p in recs %}[{{ p.pk }}|{{ p.title }}|{{ p.ecom_ai_reason }}|{{ p.ecom_ai_rec_id }}|{{ p.ecom_ai_position }}]{% endfor %}"
        "<{{ recs.rec_id }}>"
    ).render(Context({"request": _request(), "product": shop[1]}))
    rows = re.findall(r"\[(.*?)\]", html)
    assert len(rows) == 3
    first = rows[0].split("|")
    assert first[:3] == [key(shop[2]), "Item 2", "Customers who bought Item 1 also bought this"]
    rec_id = re.search(r"<(.*?)>", html).group(1)
    assert first[3] == rec_id and first[4] == "1"
    assert RecommendationList.objects.get(pk=rec_id).visitor_key == "tpl-visitor"


def test_inclusion_tag_renders_links_the_js_collector_attributes(co_bought):
    shop = co_bought
    html = Template('{% load ecom_ai %}{% recommendations placement="product" item=product limit=2 %}').render(
        Context({"request": _request(), "product": shop[1]})
    )
    assert "Customers also bought" in html
    assert f'data-ecom-ai-click="{key(shop[2])}"' in html
    rec_id = RecommendationList.objects.get().pk
    assert f"&quot;rec_id&quot;: &quot;{rec_id}&quot;" in html  # data-ecom-ai-context JSON, escaped
    assert html.count('class="ecom-ai-recommendation"') == 2


def test_inclusion_tag_template_can_be_replaced(shop, tmp_path, settings):
    (tmp_path / "mine.html").write_text("{% for p in products %}<i>{{ p.title }}</i>{% endfor %}|{{ title }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    html = Template(
        '{% load ecom_ai %}{% recommendations placement="home" limit=2 template="mine.html" title="Hi" %}'
    ).render(Context({"request": _request()}))
    assert html.count("<i>") == 2 and html.endswith("|Hi")


def test_tags_never_break_the_page(shop):
    html = Template(
        '{% load ecom_ai %}{% recommended_products placement="nope" as recs %}{{ recs|length }}|'
        '{% recommendations placement="home" limit="abc" %}|ok'
    ).render(Context({"request": _request()}))
    assert html == "0||ok"


def test_sandbox_pages_show_the_three_widgets(co_bought, client):
    shop = co_bought
    page = client.get("/")
    assert page.status_code == 200 and "Recommended for you" in page.content.decode()  # the placement's title
    from ecom_ai.models import Placement

    home = Placement.objects.get(slug="home")
    home.title = "Picked for you today"
    home.save()  # as the admin saves it
    assert "Picked for you today" in client.get("/").content.decode()  # the admin's title, not a fixed heading
    product_page = client.get(shop[1].get_absolute_url()).content.decode()
    assert "Customers also bought" in product_page and "data-rec-id=" in product_page
    client.post(reverse("shop:cart_add", args=[shop[1].pk]), {"quantity": 1})
    cart = client.get(reverse("shop:cart")).content.decode()
    assert "Complete your order" in cart
    strip = cart.split("Complete your order", 1)[1]
    assert f'data-ecom-ai-click="{key(shop[2])}"' in strip  # bought together with the cart's item
    assert f'data-ecom-ai-click="{key(shop[1])}"' not in strip  # not the item already in the cart
    assert set(RecommendationList.objects.values_list("placement__slug", flat=True)) == {"home", "product", "cart"}


# --- API -------------------------------------------------------------------------------------


def test_api_lists_for_the_browser_visitor(co_bought, client):
    shop = co_bought
    client.get("/")  # gets the visitor cookie
    response = client.get(URL, {"placement": "product", "item": key(shop[1]), "limit": 2})
    assert response.status_code == 200, response.content
    data = response.json()
    assert [i["key"] for i in data["items"]] == [key(shop[2]), key(shop[3])]
    assert data["items"][0]["title"] == "Item 2" and data["placement"] == "product"
    assert (
        RecommendationList.objects.get(pk=data["id"]).visitor_key == client.cookies["ecom_ai_vid"].value.split(":")[0]
    )


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "placement"),
        ({"placement": "sidebar"}, "placement"),
        ({"placement": "bad slug!"}, "placement"),
        ({"placement": "home", "limit": "0"}, "limit"),
        ({"placement": "home", "limit": "51"}, "limit"),
        ({"placement": "home", "limit": "ten"}, "limit"),
        ({"placement": "home", "item": "x" * 300}, "item"),
        ({"placement": "home", "user_key": "42"}, "user_key"),
    ],
)
def test_api_bad_input_is_a_clear_400(shop, client, params, field):
    response = client.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_api_unknown_item_gets_a_fallback_list(shop, client):
    response = client.get(URL, {"placement": "product", "item": "no-such-item", "limit": 3})
    assert response.status_code == 200 and len(response.json()["items"]) == 3


def test_api_channel_key_names_the_shopper(shop, client):
    ecom_ai.track("purchase", channel="app", visitor_key="install-1", user_key="77", item_key=key(shop[12]))
    _, raw = ChannelKey.create_with_key(name="app backend", channel="app")
    response = client.get(
        URL, {"placement": "home", "user_key": "77", "limit": 12}, HTTP_AUTHORIZATION=f"Api-Key {raw}"
    )
    assert response.status_code == 200
    assert key(shop[12]) not in [i["key"] for i in response.json()["items"]]  # bought already
    assert RecommendationList.objects.get(pk=response.json()["id"]).user_key == "77"
    assert client.get(URL, {"placement": "home"}, HTTP_AUTHORIZATION="Api-Key eai_wrong").status_code == 401


def test_openapi_schema_documents_the_endpoint(client, django_user_model):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/ecom-ai/api/v1/recommendations/"]["get"]
    assert operation["operationId"] == "ecom_ai_recommendations"
    assert {p["name"] for p in operation["parameters"]} >= {"placement", "item", "limit"}


# --- admin -------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    return client


def test_admin_placements_rules_experiments_and_report(shop, staff_client):
    changelist = staff_client.get(reverse("admin:ecom_ai_placement_changelist"))
    assert changelist.status_code == 200
    assert set(Placement.objects.values_list("slug", flat=True)) >= {"home", "product", "cart", "email"}
    home = Placement.objects.get(slug="home")
    assert staff_client.get(reverse("admin:ecom_ai_placement_change", args=[home.pk])).status_code == 200
    PlacementRule.objects.create(placement=home, action="pin", item_key=key(shop[1]), position=1)
    exp = Experiment.objects.create(placement=home, name="AB", status="running")
    a = Variant.objects.create(experiment=exp, name="A", strategy="trending")
    Variant.objects.create(experiment=exp, name="B", strategy="for_you")
    RecommendationList.objects.create(placement=home, variant=a, visitor_key="x", items=[{"key": "1"}], clicks=1)
    assert staff_client.get(reverse("admin:ecom_ai_experiment_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:ecom_ai_experiment_change", args=[exp.pk])).status_code == 200
    report = staff_client.get(reverse("admin:ecom_ai_experiment_report", args=[exp.pk]))
    html = report.content.decode()
    assert report.status_code == 200
    assert "<svg" in html and 'class="ci"' in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert 'data-variant="A"' in html and 'data-variant="B"' in html
    assert staff_client.get(reverse("admin:ecom_ai_recommendationlist_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:ecom_ai_experiment_report", args=[99999])).status_code == 404


def test_admin_refuses_a_second_running_experiment_with_a_message(shop, staff_client):
    ensure_default_placements()
    home = Placement.objects.get(slug="home")
    Experiment.objects.create(placement=home, name="first", status="running")
    response = staff_client.post(
        reverse("admin:ecom_ai_experiment_add"),
        {
            "placement": home.pk,
            "name": "second",
            "status": "running",
            "created_at_0": "2026-01-01",
            "created_at_1": "10:00:00",
            "variants-TOTAL_FORMS": "0",
            "variants-INITIAL_FORMS": "0",
            "variants-MIN_NUM_FORMS": "0",
            "variants-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    assert "already running" in response.content.decode()


def test_admin_is_staff_only(shop, client):
    response = client.get(reverse("admin:ecom_ai_placement_changelist"))
    assert response.status_code == 302


def test_api_throttle_when_configured(shop, client, rec_settings):
    from django.core.cache import cache

    cache.clear()
    rec_settings(RECOMMEND_THROTTLE_RATE="2/min")
    codes = [client.get(URL, {"placement": "home", "limit": 1}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    cache.clear()


def test_email_template_names_the_user(shop, django_user_model):
    customer = django_user_model.objects.create_user("cust", "c@example.com", "pw")
    ecom_ai.track("purchase", channel="store", visitor_key="card", user_key=str(customer.pk), item_key=key(shop[12]))
    html = Template(
        '{% load ecom_ai %}{% recommended_products placement="email" limit=11 user=customer as recs %}'
        "{% for p in recs %}{{ p.pk }},{% endfor %}"
    ).render(Context({"customer": customer}))
    keys = html.strip(",").split(",")
    assert len(keys) == 6 and key(shop[12]) not in keys  # at most 2 per category (3 categories), not the one bought
    assert RecommendationList.objects.get().user_key == str(customer.pk)


def test_admin_served_list_search_accepts_anything(shop, staff_client):
    url = reverse("admin:ecom_ai_recommendationlist_changelist")
    for q in ("not-a-uuid", "7d0c5a1e-3c1b-4c57-9d39-2f1f7d1b9a10", "v1"):
        assert staff_client.get(url, {"q": q}).status_code == 200


def test_admin_preview_shows_the_list_without_storing_it(co_bought, staff_client):
    from ecom_ai import signals

    shop = co_bought
    ensure_default_placements()
    product = Placement.objects.get(slug="product")
    url = reverse("admin:ecom_ai_placement_preview", args=[product.pk])
    served = []
    receiver = lambda sender, recommendation, **kw: served.append(recommendation)  # noqa: E731
    signals.recommendations_served.connect(receiver)
    try:
        page = staff_client.get(url, {"visitor_key": "v", "item": key(shop[1]), "limit": 2}).content.decode()
    finally:
        signals.recommendations_served.disconnect(receiver)
    assert "Customers who bought Item 1 also bought this" in page and "Item 2" in page
    assert not RecommendationList.objects.exists() and served == []
    assert staff_client.get(url).status_code == 200
    bad = staff_client.get(url, {"limit": "zero"})
    assert bad.status_code == 200 and "Enter a whole number" in bad.content.decode()
    assert "preview" in staff_client.get(reverse("admin:ecom_ai_placement_changelist")).content.decode()


def test_api_for_a_logged_in_shopper_uses_their_user_history(shop, client, django_user_model):
    user = django_user_model.objects.create_user("shopper", "s@example.com", "pw")
    ecom_ai.track("purchase", channel="store", visitor_key="card-9", user_key=str(user.pk), item_key=key(shop[12]))
    client.force_login(user)
    response = client.get(URL, {"placement": "home", "limit": 12})
    assert response.status_code == 200
    assert key(shop[12]) not in [i["key"] for i in response.json()["items"]]
    assert RecommendationList.objects.get(pk=response.json()["id"]).user_key == str(user.pk)


QUERIES = [
    "placement=home",
    "placement=home&limit=5",
    "placement=home&limit=50",
    "placement=home&item=42",
    "placement=home&item=",
    "placement=product&item=a%20b&limit=1",
    "placement=my-slot_2",
    # each of these is left to the serializer by the fast path
    "",
    "limit=3",
    "placement=",
    "placement=a%20b",
    "placement=" + "x" * 65,
    "placement=home&limit=0",
    "placement=home&limit=51",
    "placement=home&limit=-1",
    "placement=home&limit=3.0",
    "placement=home&limit=%2B3",
    "placement=home&limit=%D9%A3",
    "placement=home&limit=abc",
    "placement=home&item=" + "i" * 192,
    "placement=home&item=a%00b",
    "placement=home&placement=cart",
    "placement=home&visitor_key=v1",
    "placement=home&user_key=u1",
    "placement=home&other=1",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_fast_query_parse_agrees_with_the_serializer(query):
    from django.http import QueryDict

    from ecom_ai.api.recommend.views import RecommendationQuerySerializer, plain_query

    params = QueryDict(query)
    serializer = RecommendationQuerySerializer(data=params)
    valid = serializer.is_valid()
    fast = plain_query(params)
    if fast is not None:  # whatever the fast path accepts, the serializer accepts the same way
        assert valid and fast == dict(serializer.validated_data)
    # the usual requests take the fast path; the rest is left to the serializer, which words any error
    assert (fast is not None) == (QUERIES.index(query) < 7)


def test_admin_offers_and_validates_a_strategy_the_shop_added(shop, staff_client, rec_settings, rf):
    """A strategy added in settings can be chosen in the admin without a migration; an unknown
    name is refused with the list of known ones."""
    from django.contrib.admin.sites import site
    from django.core.exceptions import ValidationError
    from django.forms.models import model_to_dict

    rec_settings(RECOMMEND_STRATEGIES={"staff_picks": "ecom_ai.recommend.strategies.strategy_trending"})
    ensure_default_placements()
    home = Placement.objects.get(slug="home")
    page = staff_client.get(reverse("admin:ecom_ai_placement_change", args=[home.pk])).content.decode()
    assert '<option value="staff_picks"' in page and '<option value="for_you" selected' in page

    request = rf.get("/")
    request.user = get_user_model().objects.get(username="boss")
    form_class = site._registry[Placement].get_form(request, home)
    data = {k: v for k, v in model_to_dict(home).items() if v is not None and v is not False}
    form = form_class(data={**data, "strategy": "staff_picks"}, instance=home)
    assert form.is_valid(), form.errors
    form.save()
    assert Placement.objects.get(pk=home.pk).strategy == "staff_picks"
    refused = form_class(data={**data, "strategy": "nope"}, instance=home)
    assert not refused.is_valid() and "strategy" in refused.errors

    home.fallback_strategy = "nope"
    with pytest.raises(ValidationError, match="not a recommendation strategy"):
        home.full_clean()
    exp = Experiment.objects.create(placement=home, name="AB", status="draft")
    variant = Variant(experiment=exp, name="A", strategy="staff_picks")
    variant.full_clean()
    assert staff_client.get(reverse("admin:ecom_ai_experiment_change", args=[exp.pk])).status_code == 200
