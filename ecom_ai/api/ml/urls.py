from django.urls import path

from ecom_ai.api.ml.views import TrainingRunView

urlpatterns = [
    path("training-runs/<int:pk>/", TrainingRunView.as_view(), name="training-run-detail"),
]
