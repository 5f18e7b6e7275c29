"""Include in the host's urls: ``path("ecom-ai/", include("ecom_ai.urls"))``.

``api/v1/`` is the API; ``api/schema/``, ``api/docs/`` (Swagger UI) and ``api/redoc/`` (ReDoc)
document it, staff only unless ``ECOM_AI["API_DOCS_PUBLIC"]`` (docs/api.md).
"""

from django.urls import include, path

from ecom_ai.api.docs import RedocView, SchemaView, SwaggerView

app_name = "ecom_ai"

urlpatterns = [
    path("api/v1/", include("ecom_ai.api.urls")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(), name="api-docs"),
    path("api/redoc/", RedocView.as_view(), name="api-redoc"),
]
