"""The API's own documentation, served by ``ecom_ai.urls``: the OpenAPI schema, Swagger UI, ReDoc.

``/ecom-ai/api/schema/`` (YAML; ``?format=json`` for JSON), ``/ecom-ai/api/docs/`` (Swagger UI)
and ``/ecom-ai/api/redoc/`` (ReDoc) describe ecom_ai's endpoints only (not the host's other
APIs), under their real paths. Staff only unless ``ECOM_AI["API_DOCS_PUBLIC"]``; an anonymous
visitor of the two pages is sent to the admin login. The pages load Swagger UI and ReDoc from
``drf-spectacular-sidecar`` when it is installed (``pip install "ecom-ai[apidocs]"`` and
``"drf_spectacular_sidecar"`` in ``INSTALLED_APPS``: no CDN), otherwise from drf-spectacular's
default CDN.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.apps import apps
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
    _get_sidecar_url,
)
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission

import ecom_ai
from ecom_ai.conf import settings as ecom_settings

TITLE = "ecom_ai API"
DESCRIPTION = (
    "Recommendations, events, chat, fraud and training runs of ecom_ai. Staff endpoints need a staff "
    "session (log in to the Django admin first); see docs/api.md."
)


class DocsPermission(BasePermission):
    """Staff only, unless ``ECOM_AI["API_DOCS_PUBLIC"]`` (read at each request)."""

    def has_permission(self, request, view):
        if ecom_settings.API_DOCS_PUBLIC:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


def only_ecom_ai_endpoints(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: keep ecom_ai's API views, drop the host's and these docs views."""
    kept = []
    for path, path_regex, method, callback in endpoints:
        module = getattr(getattr(callback, "cls", None), "__module__", "")
        if module.startswith("ecom_ai.api.") and module != __name__:
            kept.append((path, path_regex, method, callback))
    return kept


SCHEMA_SETTINGS = {
    "TITLE": TITLE,
    "DESCRIPTION": DESCRIPTION,
    "VERSION": ecom_ai.__version__,
    "PREPROCESSING_HOOKS": ["ecom_ai.api.docs.only_ecom_ai_endpoints"],
}


def _sidecar() -> bool:
    return apps.is_installed("drf_spectacular_sidecar")


class _StaffPage:
    """An HTML page: an anonymous visitor is sent to the admin login, other refusals are a 403."""

    permission_classes = [DocsPermission]
    authentication_classes = [SessionAuthentication]
    url_name = "ecom_ai:api-schema"
    title = TITLE

    def handle_exception(self, exc):
        request = self.request
        if isinstance(exc, (NotAuthenticated, PermissionDenied)) and not request.user.is_authenticated:
            try:
                login = reverse("admin:login")
            except NoReverseMatch:
                login = ""
            if login:
                return HttpResponseRedirect(f"{login}?{urlencode({'next': request.get_full_path()})}")
        return super().handle_exception(exc)


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema of ecom_ai's endpoints."""

    permission_classes = [DocsPermission]
    authentication_classes = [SessionAuthentication]
    custom_settings = SCHEMA_SETTINGS

    @extend_schema(exclude=True)  # not an endpoint of the API it describes (also in a project-wide schema)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SwaggerView(_StaffPage, SpectacularSwaggerView):
    """Swagger UI: browse and try the endpoints (with the staff session's CSRF token)."""

    @staticmethod
    def _swagger_ui_resource(filename):
        if _sidecar():
            return _get_sidecar_url(f"swagger-ui-dist/{filename}")
        return SpectacularSwaggerView._swagger_ui_resource(filename)

    @staticmethod
    def _swagger_ui_favicon():
        if _sidecar():
            return _get_sidecar_url("swagger-ui-dist/favicon-32x32.png")
        return SpectacularSwaggerView._swagger_ui_favicon()


class RedocView(_StaffPage, SpectacularRedocView):
    """ReDoc: the same schema as a readable reference page."""

    @staticmethod
    def _redoc_standalone():
        if _sidecar():
            return _get_sidecar_url("redoc/bundles/redoc.standalone.js")
        return SpectacularRedocView._redoc_standalone()
