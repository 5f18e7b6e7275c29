"""The admin's details (issue 17): read-only pages, honest messages, rounded numbers, orderings."""

import re

import pytest
from django.urls import reverse

from ecom_ai.admin.layout import rounded, truncated
from ecom_ai.admin.registry import progress_bar
from ecom_ai.ml.charts import line_chart
from ecom_ai.models import FraudAssessment, FraudRule, Item, ModelVersion, Placement, PlacementRule, TrainingRun

pytestmark = pytest.mark.django_db


def test_training_run_and_model_version_pages_are_read_only(admin_client):
    version = ModelVersion.objects.create(kind="fraud", number=1, status="active", notes="kept")
    running = TrainingRun.objects.create(kind="fraud", status="running", epoch=2, total_epochs=5)
    done = TrainingRun.objects.create(kind="fraud", status="succeeded", version=version)
    for url in (
        reverse("admin:ecom_ai_modelversion_change", args=[version.pk]),
        reverse("admin:ecom_ai_trainingrun_change", args=[running.pk]),
    ):
        html = admin_client.get(url).content.decode()
        assert 'name="_save"' not in html and 'name="_continue"' not in html, url
        assert "deletelink" not in html, url  # the active version, a running run: nothing to delete
    html = admin_client.get(reverse("admin:ecom_ai_trainingrun_change", args=[done.pk])).content.decode()
    assert 'name="_save"' not in html and "deletelink" in html  # a finished run may go
    response = admin_client.post(reverse("admin:ecom_ai_trainingrun_delete", args=[running.pk]), {"post": "yes"})
    assert response.status_code == 403 and TrainingRun.objects.filter(pk=running.pk).exists()
    actions = admin_client.get(reverse("admin:ecom_ai_trainingrun_changelist")).content.decode()
    assert "delete_selected" not in actions


def test_early_stop_reads_as_such():
    run = TrainingRun(kind="recommender", status="succeeded", percent=100, epoch=20, total_epochs=30, loss=0.5)
    assert "stopped early at epoch 20 of 30" in progress_bar(run) and "100%" not in progress_bar(run)
    run.epoch = 30
    assert "100% · epoch 30/30" in progress_bar(run)
    run.status, run.percent, run.epoch = "running", 40, 12
    assert "40% · epoch 12/30" in progress_bar(run)


def test_chart_axis_name_is_under_the_ticks_not_on_the_last_one():
    svg = str(line_chart({"loss": [(1, 1.0), (2, 0.5), (3, 0.25)]}))
    ticks = [float(y) for y in re.findall(r'<text x="[\d.]+" y="([\d.]+)" text-anchor="middle" fill="#666">', svg)]
    label_y = float(re.search(r'y="([\d.]+)" text-anchor="middle" fill="#999">epoch<', svg).group(1))
    assert ticks and label_y > max(ticks) + 10


def test_rounded_numbers():
    assert rounded(0.39973557306193974) == "0.4"
    assert rounded(0.1234567, 4) == "0.1235"
    assert rounded(1234.5678) == "1,234.57"
    assert rounded(3) == "3" and rounded(None) == "–" and rounded(1000.0, 1) == "1,000" and rounded(100.0) == "100"
    assert 'title="a long text"' in truncated("a long text")


def test_assessment_page_shows_no_raw_float(admin_client):
    assessment = FraudAssessment.objects.create(
        order_key="k1",
        order_number="N1",
        score=40,
        level="medium",
        probability=0.39973557306193974,
        recommended_action="review",
        features={"amount": 123.456789012, "ip_country": "DE"},
    )
    html = admin_client.get(reverse("admin:ecom_ai_fraudassessment_change", args=[assessment.pk])).content.decode()
    assert "0.39973557306193974" not in html and "40.0%" in html
    assert "123.456789012" not in html and "123.457" in html


def test_a_wrong_feature_name_shows_the_real_error_only_and_the_help_lists_the_names(admin_client):
    url = reverse("admin:ecom_ai_fraudrule_add")
    page = admin_client.get(url).content.decode()
    assert "Feature names:" in page and "ip_country" in page and "docs/fraud.md" not in page
    response = admin_client.post(
        url, {"name": "typo", "condition": "amout > 500", "action": "review", "priority": 100, "enabled": "on"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "amout" in html
    assert "The condition is empty." not in html
    assert html.count('<ul class="errorlist') == 1  # one error, on the condition
    assert not FraudRule.objects.exists()


def test_threshold_defaults_are_visible_without_a_saved_row(admin_client):
    html = admin_client.get(reverse("admin:ecom_ai_fraudsettings_changelist"), follow=True).content.decode()
    assert "medium ≥ 30 and high ≥ 70" in html


def _rule_form(placement, **rule):
    data = {
        "slug": placement.slug,
        "name": placement.name,
        "title": placement.title,
        "enabled": "on",
        "strategy": placement.strategy,
        "fallback_strategy": placement.fallback_strategy,
        "default_limit": placement.default_limit,
        "exclude_purchased": "on",
        "exclude_out_of_stock": "on",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-weight": "2.0",
        "rules-0-enabled": "on",
    }
    data.update({f"rules-0-{k}": v for k, v in rule.items()})
    return data


def test_pinning_a_sold_out_item_is_an_error_not_a_success(admin_client):
    from ecom_ai.recommend.service import ensure_default_placements

    ensure_default_placements()
    home = Placement.objects.get(slug="home")
    Item.objects.create(key="42", title="Sold out lamp", in_stock=False)
    Item.objects.create(key="43", title="Lamp", in_stock=True)
    url = reverse("admin:ecom_ai_placement_change", args=[home.pk])
    response = admin_client.post(url, _rule_form(home, action="pin", item_key="42", position="1"))
    assert response.status_code == 200 and "Item 42 is out of stock" in response.content.decode()
    assert not PlacementRule.objects.exists()
    response = admin_client.post(url, _rule_form(home, action="pin", item_key="43", position="1"))
    assert response.status_code == 302 and PlacementRule.objects.get().item_key == "43"


def test_items_in_numeric_order(admin_client):
    for key in ("100", "2", "10", "1"):
        Item.objects.create(key=key, title=f"item {key}")
    html = admin_client.get(reverse("admin:ecom_ai_item_changelist")).content.decode()
    keys = re.findall(r'<th class="field-key_display"><a href="[^"]+">(\d+)</a>', html)
    assert keys == ["1", "2", "10", "100"], keys


def test_intent_examples_are_listed_once(admin_client):
    from ecom_ai.models import Intent, IntentExample

    intent = Intent.objects.create(name="greeting")
    IntentExample.objects.create(intent=intent, text="hello there friend")
    html = admin_client.get(reverse("admin:ecom_ai_intent_change", args=[intent.pk])).content.decode()
    # the text input carries it; the row's name repeats it, hidden by layout.css (checked in a browser in
    # tests/admin/test_layout_browser.py)
    assert 'value="hello there friend"' in html
    assert "ecom_ai/admin/layout.css" in html
