"""``{% ecom_ai_tracker %}`` and ``{% ecom_ai_item_attrs %}`` render what the collector reads."""

import json
import re

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory


def render(source, **context):
    return Template("{% load ecom_ai %}" + source).render(Context(context))


def test_tracker_renders_config_and_script():
    request = RequestFactory().get("/")
    html = render("{% ecom_ai_tracker batch_size=5 flush_interval=1000 %}", request=request)
    config = json.loads(re.search(r'<script id="ecom-ai-config" type="application/json">(.*?)</script>', html).group(1))
    assert config["endpoint"] == "/ecom-ai/api/v1/events/"
    assert (config["channel"], config["batchSize"], config["flushInterval"]) == ("web", 5, 1000)
    assert config["csrfToken"] and config["serverTime"] and config["autoPageView"] is True
    assert '<script src="/static/ecom_ai/tracker.js" defer></script>' in html


def test_tracker_without_a_request_still_renders():
    html = render("{% ecom_ai_tracker %}")
    assert '"csrfToken": ""' in html


@pytest.mark.django_db
def test_item_attrs_use_the_adapter_key_and_escape():
    from shop.models import Category, Product

    product = Product.objects.create(category=Category.objects.create(name="A", slug="a"), title="T", slug="t", price=1)
    assert render('{% ecom_ai_item_attrs p "view" %}', p=product) == f'data-ecom-ai-view="{product.pk}"'
    assert render("{% ecom_ai_item_attrs p %}", p=product) == f'data-ecom-ai-item="{product.pk}"'
    assert (
        render('{% ecom_ai_item_attrs k "click" %}', k='x"><script>')
        == 'data-ecom-ai-click="x&quot;&gt;&lt;script&gt;"'
    )
    assert render("{% ecom_ai_item_attrs None %}") == ""
    with pytest.raises(TemplateSyntaxError, match="kind must be one of"):
        render('{% ecom_ai_item_attrs p "hover" %}', p=product)
