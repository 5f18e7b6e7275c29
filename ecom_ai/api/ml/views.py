"""Staff-only JSON about training runs: ``GET /ecom-ai/api/v1/training-runs/<id>/``.

The admin's training-run pages poll it to refresh the progress bar and curves live.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.generics import RetrieveAPIView

from ecom_ai.api.base import ApiDefaultsMixin, StaffOnlyMixin
from ecom_ai.api.errors import DatabaseUnavailableMixin
from ecom_ai.ml.charts import history_charts
from ecom_ai.models import TrainingRun


class TrainingRunSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="queued, running, succeeded or failed")
    version = serializers.SerializerMethodField()
    version_status = serializers.SerializerMethodField()
    elapsed_seconds = serializers.SerializerMethodField()
    finished = serializers.BooleanField(source="is_finished", read_only=True)
    charts = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = (
            "id",
            "kind",
            "status",
            "finished",
            "percent",
            "epoch",
            "total_epochs",
            "loss",
            "message",
            "history",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
            "elapsed_seconds",
            "version",
            "version_status",
            "charts",
        )
        read_only_fields = fields

    def get_version(self, run) -> int | None:
        return run.version.number if run.version_id else None

    def get_version_status(self, run) -> str | None:
        return run.version.status if run.version_id else None

    def get_elapsed_seconds(self, run) -> float | None:
        return round(run.elapsed.total_seconds(), 1) if run.elapsed is not None else None

    def get_charts(self, run) -> dict:
        """Server-drawn SVG of the loss and metric curves (``loss``, ``metrics``)."""
        return {name: str(svg) for name, svg in history_charts(run.history).items()}


@extend_schema_view(
    get=extend_schema(operation_id="ecom_ai_training_run_retrieve", summary="Progress of a training run (staff only)")
)
class TrainingRunView(DatabaseUnavailableMixin, StaffOnlyMixin, ApiDefaultsMixin, RetrieveAPIView):
    serializer_class = TrainingRunSerializer
    queryset = TrainingRun.objects.select_related("version")
