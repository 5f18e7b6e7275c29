"""Model registry: every trained model is a ``ModelVersion``; every training attempt a ``TrainingRun``.

Serving uses the *active* version of each kind (at most one, enforced by the database).
A kind has at most one queued or running ``TrainingRun`` at a time (also enforced by the
database); that row is the training lock. The logic lives in ``ecom_ai.ml.registry``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ModelVersion(models.Model):
    """One trained model of one kind ("fraud", "intent", "recommender"...), numbered per kind."""

    class Status(models.TextChoices):
        TRAINING = "training", _("training")
        READY = "ready", _("ready")
        ACTIVE = "active", _("active")
        RETIRED = "retired", _("retired")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("kind"), max_length=64)
    number = models.PositiveIntegerField(_("number"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.TRAINING)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    data_start = models.DateTimeField(_("data from"), null=True, blank=True)
    data_end = models.DateTimeField(_("data until"), null=True, blank=True)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    artifact = models.CharField(
        _("artifact"),
        max_length=500,
        blank=True,
        default="",
        help_text=_("Name of the artifact in ECOM_AI['ARTIFACT_STORAGE']."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("activated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    error = models.TextField(_("error"), blank=True, default="")
    notes = models.TextField(_("notes"), blank=True, default="")
    validation = models.JSONField(
        _("validated on"),
        default=dict,
        blank=True,
        help_text=_("What the metrics were measured on: method, rows, positives, period, confidence intervals."),
    )
    quality = models.JSONField(
        _("quality floor"),
        default=dict,
        blank=True,
        help_text=_("The evaluation gate's floor checks: enough data, better than the simple method it replaces."),
    )

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ("kind", "-number")
        constraints = [
            models.UniqueConstraint(fields=("kind", "number"), name="ecom_ai_modelversion_kind_number"),
            models.UniqueConstraint(
                fields=("kind",),
                condition=models.Q(status="active"),
                name="ecom_ai_modelversion_one_active",
            ),
        ]
        indexes = [
            # serving: the active version of a kind; rollback: latest retired
            models.Index(fields=("kind", "status"), name="ecom_ai_mv_kind_status"),
        ]

    def __str__(self):
        return f"{self.kind} v{self.number} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class TrainingRun(models.Model):
    """One attempt to train a model of one kind: progress, loss/metric history, outcome.

    A queued or running row is the training lock of its kind: the database refuses a second.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    LOCKING_STATUSES = ("queued", "running")

    version = models.ForeignKey(
        ModelVersion,
        verbose_name=_("version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_runs",
    )
    kind = models.CharField(_("kind"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    percent = models.FloatField(_("percent"), default=0.0)
    epoch = models.PositiveIntegerField(_("epoch"), null=True, blank=True)
    total_epochs = models.PositiveIntegerField(_("epochs"), null=True, blank=True)
    loss = models.FloatField(_("loss"), null=True, blank=True)
    history = models.JSONField(_("history"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True, default="")
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    task_id = models.CharField(_("task id"), max_length=255, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("kind",),
                condition=models.Q(status__in=("queued", "running")),
                name="ecom_ai_trainingrun_one_per_kind",
            ),
        ]
        indexes = [
            models.Index(fields=("kind", "status"), name="ecom_ai_tr_kind_status"),
            models.Index(fields=("status", "heartbeat_at"), name="ecom_ai_tr_status_heartbeat"),
        ]

    def __str__(self):
        return f"{self.kind} training #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def elapsed(self):
        """Time spent so far (or in total once finished), a ``timedelta``; ``None`` before start."""
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return max(end - self.started_at, timedelta(0))
