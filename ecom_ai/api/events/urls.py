"""Events API routes (under ``/ecom-ai/api/v1/``)."""

from django.urls import path

from ecom_ai.api.events.views import EventBatchView

urlpatterns = [
    path("events/", EventBatchView.as_view(), name="events"),
]
