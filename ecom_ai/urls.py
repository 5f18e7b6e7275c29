"""Include in the host's urls: ``path("ecom-ai/", include("ecom_ai.urls"))``."""
from django.urls import include, path

app_name = "ecom_ai"

urlpatterns = [
    path("api/v1/", include("ecom_ai.api.urls")),
]
