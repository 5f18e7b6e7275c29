"""The API's documentation served by ecom_ai.urls: schema, Swagger UI, ReDoc; staff only by default."""

import json

import pytest
from django.core import checks
from django.urls import reverse

pytestmark = pytest.mark.django_db

PAGES = ("ecom_ai:api-schema", "ecom_ai:api-docs", "ecom_ai:api-redoc")


@pytest.fixture
def staff_only(settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "API_DOCS_PUBLIC": False}  # the default (tests/settings opens them)


def test_urls_are_under_the_included_prefix():
    assert reverse("ecom_ai:api-schema") == "/ecom-ai/api/schema/"
    assert reverse("ecom_ai:api-docs") == "/ecom-ai/api/docs/"
    assert reverse("ecom_ai:api-redoc") == "/ecom-ai/api/redoc/"


def test_staff_only_by_default(client, django_user_model, staff_only):
    for name in ("ecom_ai:api-docs", "ecom_ai:api-redoc"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next=")
    assert client.get(reverse("ecom_ai:api-schema")).status_code == 403
    shopper = django_user_model.objects.create_user("shopper", password="x")
    client.force_login(shopper)
    for name in PAGES:
        assert client.get(reverse(name)).status_code == 403, name


def test_staff_see_the_pages_with_local_assets(admin_client, staff_only):
    swagger = admin_client.get(reverse("ecom_ai:api-docs"))
    assert swagger.status_code == 200
    html = swagger.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html  # no CDN
    assert swagger.data["schema_url"] == "/ecom-ai/api/schema/"
    redoc = admin_client.get(reverse("ecom_ai:api-redoc")).content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in redoc


def test_a_setting_opens_them(client, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "API_DOCS_PUBLIC": True}
    for name in PAGES:
        assert client.get(reverse(name)).status_code == 200, name


def test_schema_has_ecom_ai_endpoints_only_with_consistent_operation_ids(admin_client, staff_only):
    response = admin_client.get(reverse("ecom_ai:api-schema"), {"format": "json"})
    schema = json.loads(response.content)
    assert schema["info"]["title"] == "ecom_ai API"
    paths = set(schema["paths"])
    assert paths and all(path.startswith("/ecom-ai/api/v1/") for path in paths), paths
    ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert all(op_id.startswith("ecom_ai_") for op_id in ids), ids
    assert len(ids) == len(set(ids))
    assert {"ecom_ai_chat_messages_retrieve", "ecom_ai_chat_messages_create", "ecom_ai_fraud_assessments"} <= set(ids)


def test_check_warns_without_drf_spectacular(settings):
    settings.INSTALLED_APPS = [
        app for app in settings.INSTALLED_APPS if app not in ("drf_spectacular", "drf_spectacular_sidecar")
    ]
    messages = checks.run_checks(tags=[checks.Tags.compatibility])
    assert "ecom_ai.W020" in {m.id for m in messages}
