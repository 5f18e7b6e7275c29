"""The fairness report: rates by segment with intervals, the admin page, and in a real browser."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ecom_ai.fraud.fairness import fraud_fairness
from ecom_ai.ml.fairness import bin_label, rate_tables, wilson_interval

EXTRAS = {"age": {"type": "numeric", "report_only": True, "bins": [30, 50]}, "loyalty_tier": "categorical"}


def make_assessments(specs):
    """``specs``: (count, country, channel, first_order, level, age, tier)."""
    from ecom_ai.models.fraud import FraudAssessment

    now = timezone.now()
    rows, n = [], 0
    for count, country, channel, first, level, age, tier in specs:
        for _ in range(count):
            n += 1
            rows.append(
                FraudAssessment(
                    order_key=f"fair-{n}",
                    placed_at=now - timedelta(hours=n),
                    level=level,
                    recommended_action={"low": "accept", "medium": "review", "high": "cancel"}[level],
                    features={
                        "shipping_country": country,
                        "channel": channel,
                        "first_order": first,
                        "loyalty_tier": tier,
                    },
                    report_attributes={"age": age},
                    label=True if level == "high" else None,
                    score=0,
                )
            )
    FraudAssessment.objects.bulk_create(rows)


SPECS = [
    (30, "US", "web", 0, "low", 45, "gold"),
    (10, "US", "web", 1, "medium", 25, "none"),
    (10, "DE", "app", 1, "low", 61, "none"),
    (25, "DE", "app", 1, "high", 22, "none"),
    (5, "DE", "web", 0, "medium", 35, "gold"),
    (4, "FR", "web", 1, "low", None, ""),
]


def test_wilson_interval_and_bins():
    low, high = wilson_interval(10, 40)
    assert low == pytest.approx(0.1419, abs=1e-3) and high == pytest.approx(0.4019, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 0.0) and wilson_interval(0, 10)[0] == 0.0
    assert [bin_label(v, [30, 50]) for v in (12, 30, 49.9, 50, "x", None)] == [
        "< 30",
        "30–50",
        "30–50",
        "≥ 50",
        "unknown",
        "unknown",
    ]


def test_rate_tables_flag_disparities_only_with_enough_cases():
    records = (
        [{"g": "a", "hit": 1}] * 30
        + [{"g": "a", "hit": 0}] * 30
        + [{"g": "b", "hit": 0}] * 40
        + [{"g": "c", "hit": 1}] * 5
    )
    (table,) = rate_tables(records, ["g"], ["hit"])
    rows = {row.segment: row for row in table.rows}
    assert table.overall["hit"].rate == pytest.approx(35 / 105)
    assert rows["a"].rates["hit"].ratio == pytest.approx(0.5 / (35 / 105))
    assert rows["a"].rates["hit"].disparity is True and rows["b"].rates["hit"].disparity is True
    assert rows["c"].too_few and rows["c"].rates["hit"].disparity is False


@pytest.mark.django_db
def test_fraud_rates_by_declared_segments(ecom_ai_settings):
    ecom_ai_settings(
        FRAUD_EXTRA_FEATURES=EXTRAS, FAIRNESS_SEGMENTS=["country", "channel", "customer", "age", "loyalty_tier"]
    )
    make_assessments(SPECS)
    report = fraud_fairness(days=30)
    assert report.rows == 84 and report.report_only == ("age",)
    tables = {t.dimension: t for t in report.tables}
    country = {row.segment: row for row in tables["country"].rows}
    assert country["US"].n == 40 and country["US"].rates["flagged"].count == 10
    assert country["DE"].n == 40 and country["DE"].rates["flagged"].count == 30
    assert country["DE"].rates["declined"].count == 25 and country["DE"].rates["fraud"].count == 25
    assert country["FR"].too_few
    assert tables["country"].overall["flagged"].count == 40
    customer = {row.segment: row.n for row in tables["customer"].rows}
    assert customer == {"new": 49, "returning": 35}
    ages = {row.segment: row.n for row in tables["age"].rows}
    assert ages == {"< 30": 35, "30–50": 35, "≥ 50": 10, "unknown": 4}
    tiers = {row.segment: row.n for row in tables["loyalty_tier"].rows}
    assert tiers == {"none": 45, "gold": 35, "unknown": 4}


@pytest.mark.django_db
def test_the_admin_page_shows_the_counts(admin_client, ecom_ai_settings):
    ecom_ai_settings(FRAUD_EXTRA_FEATURES=EXTRAS, FAIRNESS_SEGMENTS=["country", "age"])
    make_assessments(SPECS)
    page = admin_client.get("/admin/ecom_ai/fraudassessment/fairness/?days=90")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Fraud outcomes (84 assessed orders)" in text and "report only" in text
    assert 'data-segment="DE"' in text and "<svg" in text and "Recommendation exposure (0 served lists)" in text
    assert admin_client.get("/admin/ecom_ai/fraudassessment/fairness/?days=nonsense").status_code == 200
    assert "Fairness report" in admin_client.get("/admin/ecom_ai/").content.decode()


@pytest.mark.django_db
def test_the_page_needs_the_view_permission(client, django_user_model):
    user = django_user_model.objects.create_user("clerk", "c@example.com", "pw", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/ecom_ai/fraudassessment/fairness/").status_code == 403


@pytest.mark.django_db
def test_recommendation_exposure_by_segment(db):
    from ecom_ai.models import Event, Placement, RecommendationList
    from ecom_ai.models.fraud import FraudAssessment
    from ecom_ai.recommend.fairness import exposure_fairness

    now = timezone.now()
    placement = Placement.objects.create(slug="home", name="Home")
    Event.objects.create(
        event_type="purchase",
        channel="web",
        visitor_key="v1",
        user_key="u1",
        item_key="i",
        occurred_at=now - timedelta(days=3),
    )
    FraudAssessment.objects.create(
        order_key="o1", user_key="u1", features={"shipping_country": "DE"}, placed_at=now - timedelta(days=3)
    )
    lists = []
    for i in range(6):
        user = "u1" if i < 4 else ""
        row = RecommendationList.objects.create(
            placement=placement,
            user_key=user,
            visitor_key=f"v{i}",
            created_at=now - timedelta(hours=i),
            strategy="for_you+trending" if i % 2 == 0 else "trending",
            items=[{"key": "a"}] if i != 5 else [],
            clicks=1 if i == 0 else 0,
        )
        Event.objects.create(
            event_type="impression",
            channel="app" if i < 3 else "web",
            visitor_key=f"v{i}",
            occurred_at=now - timedelta(hours=i),
            context={"rec_id": str(row.id)},
        )
        lists.append(row)
    report = exposure_fairness(days=30)
    assert report.lists == 6
    tables = {t.dimension: {row.segment: row for row in t.rows} for t in report.tables}
    assert tables["customer"]["returning"].n == 4 and tables["customer"]["new"].n == 2
    assert tables["country"]["DE"].n == 4 and tables["country"]["unknown"].n == 2
    assert tables["channel"]["app"].n == 3 and tables["channel"]["web"].n == 3
    assert tables["channel"]["app"].rates["personalised"].count == 2  # lists 0 and 2
    assert (
        tables["customer"]["new"].rates["empty"].count == 1
        and tables["customer"]["returning"].rates["clicked"].count == 1
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_fairness_page_in_a_browser(staff_page, live_server, settings):
    settings.ECOM_AI = {
        **settings.ECOM_AI,
        "FRAUD_EXTRA_FEATURES": EXTRAS,
        "FAIRNESS_SEGMENTS": ["country", "customer", "age"],
    }
    make_assessments(SPECS)
    page = staff_page
    page.goto(live_server.url + "/admin/ecom_ai/fraudassessment/")
    page.click("text=Fairness report")
    page.wait_for_selector("#fraud-country")
    assert "Fraud outcomes (84 assessed orders)" in page.locator("#content-main").inner_text()
    de = page.locator('#fraud-country tr[data-segment="DE"] td')
    assert de.nth(1).inner_text() == "40"
    assert de.nth(2).inner_text().startswith("30 · 0.750")  # flagged: count · rate, then the interval
    assert "⚠" in de.nth(3).inner_text()  # 0.75 vs 0.476 overall, interval above it
    us = page.locator('#fraud-country tr[data-segment="US"] td')
    assert us.nth(1).inner_text() == "40" and us.nth(2).inner_text().startswith("10 · 0.250")
    assert page.locator("#fraud-country svg rect").count() >= 3
    assert page.locator("#fraud-age .badge").inner_text() == "report only"
    age = page.locator('#fraud-age tr[data-segment="< 30"] td')
    assert age.nth(1).inner_text() == "35"
    box = page.locator("#fraud-country table").bounding_box()
    assert box["width"] <= 1366
    assert page.js_errors == []
