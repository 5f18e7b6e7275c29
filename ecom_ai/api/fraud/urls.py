"""Fraud API routes (under ``/ecom-ai/api/v1/``), staff only."""

from django.urls import path

from ecom_ai.api.fraud.views import AssessmentListView, AssessOrderView, DecisionView

urlpatterns = [
    path("fraud/assess/", AssessOrderView.as_view(), name="fraud-assess"),
    path("fraud/assessments/", AssessmentListView.as_view(), name="fraud-assessments"),
    path("fraud/assessments/<int:pk>/decision/", DecisionView.as_view(), name="fraud-decision"),
]
