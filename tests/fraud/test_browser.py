"""Fraud review in a real browser: the staff order list badge and the admin bulk decision."""

import pytest

from ecom_ai.fraud.features import OrderFacts
from ecom_ai.fraud.scoring import assess_facts, assess_order
from ecom_ai.models.fraud import FraudAssessment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(staff_page):
    return staff_page


def test_badge_on_staff_orders_and_bulk_mark_as_fraud(page, live_server, make_order):
    order = make_order(ip_address="203.0.113.40")
    assess_order(order, sync=True)
    flagged = [
        assess_facts(OrderFacts(order_key=f"b{i}", number=f"B-{i}", ip="bogus", amount="x", currency="QQQ"))
        for i in range(2)
    ]
    page.goto(live_server.url + "/staff/orders/")
    badge = page.locator("td.risk .ecom-ai-fraud-badge").first
    assert badge.get_attribute("data-level") in ("low", "medium", "high")
    badge.click()
    page.wait_for_url("**/admin/ecom_ai/fraudassessment/*/change/")
    assert order.number in page.content()

    page.goto(live_server.url + "/admin/ecom_ai/fraudassessment/?status__exact=pending_review")
    assert page.locator("#result_list tbody tr").count() == 2
    assert "malformed" in page.locator("#result_list").inner_text()
    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", "mark_selected_as_fraud")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    assert set(FraudAssessment.objects.filter(pk__in=[a.pk for a in flagged]).values_list("label", flat=True)) == {True}
