"""Personal offers API routes (under ``/ecom-ai/api/v1/``)."""

from django.urls import path

from ecom_ai.api.marketing.views import OffersView

urlpatterns = [
    path("offers/", OffersView.as_view(), name="offers"),
]
