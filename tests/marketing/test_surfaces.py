"""Surfaces: the offers API, the template tags, offer events, the admin pages, the batch command."""

import csv
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.template import Context, Template
from django.test import RequestFactory

import ecom_ai
from ecom_ai.models import ChannelKey
from ecom_ai.models.marketing import OfferDecision

pytestmark = pytest.mark.django_db
URL = "/ecom-ai/api/v1/offers/"


def test_api_gives_the_browser_its_sticky_offer(campaign, client):
    first = client.get(URL, {"campaign": campaign.slug})
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["offer"]["key"] == "ten" and len(body["offer"]["coupon_code"]) == 14
    again = client.get(URL, {"campaign": campaign.slug}).json()
    assert again["decision"] == body["decision"] and again["offer"]["coupon_code"] == body["offer"]["coupon_code"]
    decision = OfferDecision.objects.get(pk=body["decision"])
    assert decision.visitor_key and decision.channel == "web"


@pytest.mark.parametrize(
    "params, status, field",
    [
        ({"campaign": "no-such-campaign"}, 404, "campaign"),
        ({}, 400, "campaign"),
        ({"campaign": "x" * 100}, 400, "campaign"),
        ({"campaign": "bad slug!"}, 400, "campaign"),
    ],
)
def test_api_bad_input_is_a_clear_4xx(campaign, client, params, status, field):
    response = client.get(URL, params)
    assert response.status_code == status and field in response.json()


def test_api_browsers_cannot_name_a_shopper_but_channels_can(campaign, client):
    response = client.get(URL, {"campaign": campaign.slug, "user_key": "77"})
    assert response.status_code == 400 and "user_key" in response.json()
    _, raw = ChannelKey.create_with_key(name="mailer", channel="email")
    response = client.get(URL, {"campaign": campaign.slug, "user_key": "77"}, HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert response.status_code == 200
    decision = OfferDecision.objects.get(pk=response.json()["decision"])
    assert (decision.user_key, decision.channel) == ("77", "email")
    assert client.get(URL, {"campaign": campaign.slug}, HTTP_AUTHORIZATION=f"Api-Key {raw}").status_code == 400


def test_template_tags_show_the_offer_and_never_break_the_page(campaign, django_user_model):
    user = django_user_model.objects.create_user("ann")
    request = RequestFactory().get("/")
    request.user = user
    request.COOKIES = {}
    html = Template(
        '{% load ecom_ai %}{% personal_offer campaign="' + campaign.slug + '" as offer %}'
        "{% if offer %}{{ offer.offer.title }} {{ offer.coupon_code }}{% endif %}|"
        '{% personal_offer_banner campaign="' + campaign.slug + '" %}'
    ).render(Context({"request": request}))
    code = OfferDecision.objects.get(user_key=str(user.pk)).coupon_code
    assert "10 % off" in html and f"{code[:4]}-{code[4:8]}-{code[8:]}" in html
    assert 'send("offer_shown")' in html and "ecom-ai-offer" in html
    broken = Template(
        '{% load ecom_ai %}[{% personal_offer campaign="nope" as offer %}{{ offer }}]'
        '{% personal_offer_banner campaign="nope" %}'
    ).render(Context({"request": request}))
    assert broken == "[None]"


def test_offer_events_are_accepted_and_stamp_the_decision(campaign, service):
    from tests.marketing.conftest import who

    result = service.decide(who(1), campaign)
    ecom_ai.track("offer_shown", user_key="user-1", context={"decision": result.decision_id})
    ecom_ai.track("offer_clicked", user_key="user-1", context={"decision": result.decision_id})
    ecom_ai.track("offer_clicked", user_key="user-2", context={"decision": result.decision_id})  # not theirs
    decision = OfferDecision.objects.get(pk=result.decision_id)
    assert decision.shown_at and decision.clicked_at
    ecom_ai.track("offer_redeemed", user_key="user-1", context={"decision": result.decision_id})


def test_admin_pages(campaign, service, admin_client):
    from tests.marketing.conftest import who

    campaign.control_percent = 30.0
    campaign.save()
    for n in range(30):
        service.decide(who(n), campaign)
    for url in (
        "/admin/ecom_ai/campaign/",
        f"/admin/ecom_ai/campaign/{campaign.pk}/change/",
        "/admin/ecom_ai/offerdecision/",
        "/admin/ecom_ai/coupon/",
        "/admin/ecom_ai/campaign/add/",
    ):
        assert admin_client.get(url).status_code == 200, url
    report = admin_client.get(f"/admin/ecom_ai/campaign/{campaign.pk}/report/")
    assert report.status_code == 200
    text = report.content.decode()
    assert "control group" in text and "Incremental net revenue" in text
    assert admin_client.get("/admin/ecom_ai/campaign/999999/report/").status_code == 404
    export = admin_client.get(f"/admin/ecom_ai/campaign/{campaign.pk}/export.csv")
    rows = list(csv.reader(export.content.decode().splitlines()))
    assert rows[0][0] == "decision" and len(rows) == 1 + OfferDecision.objects.filter(offer__isnull=False).count()


def test_admin_refuses_a_bad_eligibility_condition(campaign, admin_client):
    response = admin_client.post(
        "/admin/ecom_ai/campaign/add/",
        {
            "name": "X",
            "slug": "x",
            "channels": '["site"]',
            "starts_at_0": "2026-01-01",
            "starts_at_1": "00:00:00",
            "objective": "net_revenue",
            "frequency_window_days": 30,
            "decision_days": 7,
            "eligibility": "orderz > 1",
            "control_percent": 10,
            "exploration_rate": 0.1,
            "policy": "fixed",
            "experiment_share": 0.5,
            "offers-TOTAL_FORMS": 0,
            "offers-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200 and "orderz" in response.content.decode()


def test_decide_campaign_command_and_task(campaign, tmp_path):
    from ecom_ai.tasks.marketing import decide_campaign_task

    for n in range(5):
        ecom_ai.track("view", user_key=f"mail-{n}", item_key="i1")
    campaign.total_budget = Decimal("5.00")
    campaign.save()
    out = tmp_path / "offers.csv"
    call_command("ecom_ai_decide_campaign", campaign.slug, "--csv", str(out))
    rows = list(csv.reader(out.read_text().splitlines()))
    assert len(rows) == 3  # header + two offers of 2.50
    with pytest.raises(CommandError):
        call_command("ecom_ai_decide_campaign", "no-such")
    assert decide_campaign_task.apply(args=["no-such"]).get()["status"] == "unknown campaign"
    assert decide_campaign_task.apply(args=[campaign.slug]).get()["decided"] == 0  # everyone decided already


def test_deleting_a_campaign_removes_its_decisions_and_an_offer_in_use_is_protected(campaign, service, admin_client):
    from ecom_ai.models.marketing import Campaign, Offer
    from tests.marketing.conftest import who

    service.decide(who(1), campaign)
    offer = Offer.objects.get(campaign=campaign, key="ten")
    response = admin_client.post(f"/admin/ecom_ai/offer/{offer.pk}/delete/", {"post": "yes"})
    assert response.status_code in (200, 404)  # offers are edited inline; the model has no own admin
    assert Offer.objects.filter(pk=offer.pk).exists()
    response = admin_client.post(f"/admin/ecom_ai/campaign/{campaign.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Campaign.objects.filter(pk=campaign.pk).exists() and not OfferDecision.objects.exists()


def test_report_draws_budget_spent_against_the_pacing_line(campaign, service, admin_client):
    from datetime import timedelta

    from django.utils import timezone

    from ecom_ai.marketing.report import pacing_series
    from tests.marketing.conftest import who

    campaign.total_budget = Decimal("100.00")
    campaign.starts_at = timezone.now() - timedelta(days=5)
    campaign.ends_at = campaign.starts_at + timedelta(days=10)
    campaign.save()
    for n in range(4):
        service.decide(who(f"pace-{n}"), campaign)  # 4 offers of 2.50 today
    spent, line = pacing_series(campaign, timezone.now())
    assert spent[0] == (0.0, 0.0) and spent[-1][1] == 10.0 and 5.0 <= spent[-1][0] <= 6.0
    assert line == [(0.0, 0.0), (10.0, 100.0)]
    page = admin_client.get(f"/admin/ecom_ai/campaign/{campaign.pk}/report/").content.decode()
    assert "Budget spent vs pacing" in page and "<polyline" in page and "pacing line" in page
    campaign.ends_at = None  # no end: the daily budget is the pace; neither: no line
    campaign.daily_budget = Decimal("20.00")
    campaign.save()
    assert pacing_series(campaign, timezone.now())[1][-1][1] == 100.0  # 5+ days x 20, capped by the total
    campaign.daily_budget = None
    campaign.save()
    assert pacing_series(campaign, timezone.now())[1] == []


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai"])
def test_pacing_puts_each_days_spending_at_that_days_end_never_after_now(campaign, service, settings, zone):
    """A day's spending is plotted at its midnight (in the zone the days are grouped in), as days
    since the campaign's start: not one day late, and never beyond now."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from ecom_ai.marketing.report import pacing_series
    from tests.marketing.conftest import who

    settings.TIME_ZONE = zone
    tz = ZoneInfo(zone)
    start = datetime(2026, 3, 1, 18, 0, tzinfo=tz)
    campaign.starts_at, campaign.ends_at, campaign.total_budget = start, start + timedelta(days=10), Decimal("100")
    campaign.save()
    service.decide(who("early"), campaign, now=start + timedelta(hours=2))  # day 1 of the calendar: 2.50
    service.decide(who("later"), campaign, now=start + timedelta(days=1, hours=16))  # 3 March, 10:00: 2.50
    spent, _line = pacing_series(campaign, now=start + timedelta(days=2, hours=18))  # 4 March, 12:00
    assert spent == [(0.0, 0.0), (0.25, 2.5), (2.25, 5.0), (2.75, 5.0)]
    # today's spending so far is plotted at now, not at tonight's midnight
    spent, _line = pacing_series(campaign, now=start + timedelta(days=1, hours=17))  # 3 March, 11:00
    assert spent == [(0.0, 0.0), (0.25, 2.5), (1.71, 5.0)]


def test_a_batch_whose_budget_keeps_moving_is_a_clear_error_with_nothing_written(campaign, monkeypatch):
    """Live decisions spending the budget during every attempt (here: the reservation always
    refused): the command fails with the reason, the task reports it, no decision is stored."""
    from ecom_ai.marketing import budget
    from ecom_ai.models.marketing import Coupon, OfferDecision
    from ecom_ai.tasks.marketing import decide_campaign_task

    for n in range(3):
        ecom_ai.track("view", user_key=f"moving-{n}", item_key="i1")
    campaign.total_budget = Decimal("5.00")
    campaign.save()
    monkeypatch.setattr(budget, "reserve", lambda campaign_id, cost: False)
    with pytest.raises(CommandError, match="budget kept changing"):
        call_command("ecom_ai_decide_campaign", campaign.slug)
    report = decide_campaign_task.apply(args=[campaign.slug]).get()
    assert report["status"] == "not written" and "Run the batch again" in report["reason"]
    assert not OfferDecision.objects.filter(campaign=campaign).exists() and not Coupon.objects.exists()
