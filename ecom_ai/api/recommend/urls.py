"""Recommendation API routes (under ``/ecom-ai/api/v1/``)."""

from django.urls import path

from ecom_ai.api.recommend.views import RecommendationsView

urlpatterns = [
    path("recommendations/", RecommendationsView.as_view(), name="recommendations"),
]
