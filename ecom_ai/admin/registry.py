"""Admin for the model registry: model versions (activate, roll back, train) and training runs.

Training runs show a progress bar and loss/metric curves (server-drawn SVG) that refresh
live while the run is in progress: ``ecom_ai/ml/training_progress.js`` polls the staff-only
``GET /ecom-ai/api/v1/training-runs/<id>/`` endpoint every two seconds.
"""

from __future__ import annotations

import json
import logging

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from ecom_ai.admin.layout import EcomAiModelAdmin, ReadOnlyPageMixin, short_datetime
from ecom_ai.admin import model_quality
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.ml.charts import history_charts
from ecom_ai.ml.registry import TrainingLocked, activate, cancel_run, primary_metric_value, rollback
from ecom_ai.models import ModelVersion, TrainingRun

logger = logging.getLogger("ecom_ai.admin")

STATUS_COLOURS = {
    "training": "#0072B2",
    "ready": "#E69F00",
    "active": "#009E73",
    "retired": "#777",
    "failed": "#D55E00",
    "queued": "#777",
    "running": "#0072B2",
    "succeeded": "#009E73",
}


def status_badge(status: str, label) -> str:
    return format_html(
        '<span style="color:#fff;background:{};padding:1px 7px;border-radius:8px;white-space:nowrap">{}</span>',
        STATUS_COLOURS.get(status, "#777"),
        label,
    )


def health_badge(version) -> str:
    """ "loadable", or "fallback in use since ..." with the error (``ecom_ai.ml.health``)."""
    from ecom_ai.ml.health import check_version

    health = check_version(version)
    if health.ok:
        return format_html('<span class="ecom-ai-health-ok" style="color:#009E73">&#10003; {}</span>', _("loadable"))
    since = format_html(" {} {}", _("since"), f"{health.since:%Y-%m-%d %H:%M:%S %Z}") if health.since else ""
    return format_html(
        '<span class="ecom-ai-health-bad" style="color:#D55E00;font-weight:bold">&#9888; {}{}</span>'
        "<br><small>{}</small>",
        _("unusable: fallback in use"),
        since,
        health.error,
    )


def fmt_number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def fmt_elapsed(delta) -> str:
    if delta is None:
        return "–"
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def run_api_url(run) -> str:
    try:
        return reverse("ecom_ai:training-run-detail", args=[run.pk])
    except NoReverseMatch:  # the host did not include ecom_ai.urls: no live refresh
        return ""


def stopped_early(run) -> bool:
    """A run that succeeded before its last epoch (early stopping)."""
    return (
        run.status == TrainingRun.Status.SUCCEEDED
        and run.epoch is not None
        and bool(run.total_epochs)
        and run.epoch < run.total_epochs
    )


def progress_bar(run) -> str:
    """The progress bar of a run; live (``data-run-url``) while queued or running."""
    if stopped_early(run):
        parts = [f"stopped early at epoch {run.epoch} of {run.total_epochs}"]
    else:
        parts = [f"{run.percent:.0f}%"]
        if run.epoch is not None:
            parts.append(f"epoch {run.epoch}" + (f"/{run.total_epochs}" if run.total_epochs else ""))
    if run.loss is not None:
        parts.append(f"loss {run.loss:.4g}")
    parts.append(fmt_elapsed(run.elapsed))
    live = "" if run.is_finished else run_api_url(run)
    colour = STATUS_COLOURS.get(run.status, "#777")
    return format_html(
        '<div class="ecom-ai-progress" data-run-url="{}" data-status="{}" title="{}">'
        '<div class="ecom-ai-progress-bar" style="width:{}%;background:{}"></div>'
        '<span class="ecom-ai-progress-text">{}</span></div>',
        live,
        run.status,
        run.message[:300],
        f"{max(0.0, min(100.0, run.percent)):.1f}",
        colour,
        " · ".join(parts),
    )


# --------------------------------------------------------------------------- model versions


class TrainForm(forms.Form):
    kind = forms.ChoiceField(label=_("Model kind"))
    params = forms.CharField(
        label=_("Parameters (JSON object)"),
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind, kind) for kind in ecom_settings.TRAINERS]

    def clean_params(self):
        raw = (self.cleaned_data.get("params") or "").strip() or "{}"
        try:
            params = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s"), params={"error": exc}) from None
        if not isinstance(params, dict):
            raise forms.ValidationError(_('Give a JSON object, e.g. {"epochs": 10}.'))
        return params


class TrainingRunInline(admin.TabularInline):
    model = TrainingRun
    fk_name = "version"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("status", "progress", "created_at", "finished_at", "requested_by", "message")
    readonly_fields = fields
    verbose_name_plural = _("training runs")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("progress"))
    def progress(self, run):
        return progress_bar(run)


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyPageMixin, EcomAiModelAdmin):
    list_display = (
        "kind",
        "version_label",
        "status_display",
        "health",
        "primary_metric",
        "warnings",
        "created_short",
        "activated_short",
    )
    list_display_links = ("kind", "version_label")
    list_filter = ("kind", "status")
    list_select_related = ("activated_by",)
    search_fields = ("kind", "notes")
    ordering = ("kind", "-number")
    date_hierarchy = "created_at"
    actions = ("activate_selected", "roll_back_selected", "train_new_version")
    change_list_template = "ecom_ai/admin/ml/modelversion_change_list.html"
    inlines = (TrainingRunInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "kind",
                    "number",
                    "status_display",
                    "health_detail",
                    "primary_metric",
                    "metrics_table",
                    "notes",
                )
            },
        ),
        (_("Quality"), {"fields": ("quality_panel", "validation_display", "metric_history")}),
        (_("Training"), {"fields": ("params_display", "data_start", "data_end", "artifact", "error")}),
        (_("Activation"), {"fields": ("created_at", "activated_at", "activated_by")}),
    )
    readonly_fields = (
        "kind",
        "number",
        "status_display",
        "primary_metric",
        "metrics_table",
        "notes",
        "params_display",
        "data_start",
        "data_end",
        "artifact",
        "error",
        "created_at",
        "activated_at",
        "activated_by",
        "quality_panel",
        "validation_display",
        "metric_history",
        "health_detail",
    )

    class Media:
        css = {"all": ("ecom_ai/ml/admin.css",)}
        js = ("ecom_ai/ml/training_progress.js",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status in (ModelVersion.Status.ACTIVE, ModelVersion.Status.TRAINING):
            return False  # roll back or activate another version first; a training version is its run's
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # never bulk-delete history (or the active version)
        return actions

    @admin.display(description=_("version"), ordering="number")
    def version_label(self, version):
        return f"v{version.number}"

    @admin.display(description=_("created"), ordering="created_at")
    def created_short(self, version):
        return short_datetime(version.created_at)

    @admin.display(description=_("activated"), ordering="activated_at")
    def activated_short(self, version):
        return short_datetime(version.activated_at)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, version):
        return status_badge(version.status, version.get_status_display())

    # ----- health: can the artifact be loaded, or does serving use the fallback (ecom_ai.ml.health)
    @admin.display(description=_("health"))
    def health(self, version):
        """Active versions only (what serves): loadable, or the fallback serves since when."""
        if not version.is_active:
            return "–"
        return health_badge(version)

    @admin.display(description=_("health"))
    def health_detail(self, version):
        if not version.artifact:
            return "–"
        badge = health_badge(version)
        if version.is_active:
            return badge
        return format_html("{} <small>({})</small>", badge, _("not active: checked for when it is activated"))

    @admin.display(description=_("primary metric"))
    def primary_metric(self, version):
        name, value = primary_metric_value(version)
        if not name:
            return "–"
        return f"{name} {fmt_number(value)}"

    @admin.display(description=_("metrics"))
    def metrics_table(self, version):
        metrics = version.metrics or {}
        if not metrics:
            return "–"
        active = (
            ModelVersion.objects.filter(kind=version.kind, status=ModelVersion.Status.ACTIVE)
            .exclude(pk=version.pk)
            .first()
        )
        primary, _value = primary_metric_value(version)
        header = format_html(
            "<tr><th>{}</th><th>{}</th>{}</tr>",
            _("metric"),
            f"v{version.number}",
            format_html("<th>{} (v{})</th>", _("active"), active.number) if active else "",
        )
        rows = format_html_join(
            "",
            "<tr{}><td>{}</td><td>{}</td>{}</tr>",
            (
                (
                    mark_safe(' style="font-weight:bold"') if name == primary else "",
                    name,
                    fmt_number(value),
                    format_html("<td>{}</td>", fmt_number((active.metrics or {}).get(name))) if active else "",
                )
                for name, value in sorted(metrics.items())
            ),
        )
        return format_html('<table class="ecom-ai-metrics">{}{}</table>', header, rows)

    # ----- quality: floor checks, data warnings, what it was validated on, history (admin/model_quality.py)
    @admin.display(description=_("warnings"))
    def warnings(self, version):
        return model_quality.warnings_cell(version)

    @admin.display(description=_("floor and warnings"))
    def quality_panel(self, version):
        return model_quality.warnings_panel(version)

    @admin.display(description=_("validated on"))
    def validation_display(self, version):
        return model_quality.validation_panel(version)

    @admin.display(description=_("metric history"))
    def metric_history(self, version):
        trainer = _trainer_or_none(version.kind)
        if trainer is None or not trainer.primary_metric:
            return "–"
        return model_quality.metric_history_chart(version.kind, trainer.primary_metric, trainer.floor_baselines)

    @admin.display(description=_("parameters"))
    def params_display(self, version):
        return format_html("<pre>{}</pre>", json.dumps(version.params, indent=2, sort_keys=True, default=str))

    # ----- actions
    @admin.action(description=_("Activate the selected version"), permissions=["change"])
    def activate_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to activate."), messages.ERROR)
            return
        version = queryset.get()
        try:
            activate(version, user=request.user)
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            _("%(kind)s v%(number)s is now active.") % {"kind": version.kind, "number": version.number},
            messages.SUCCESS,
        )
        failed = [c.get("message") for c in (version.quality or {}).get("checks", []) if not c.get("passed", True)]
        if failed:
            self.message_user(
                request,
                _("It was activated by hand below its quality floor: %(why)s.") % {"why": "; ".join(failed)},
                messages.WARNING,
            )

    @admin.action(
        description=_("Roll back (re-activate the previous version of each selected kind)"), permissions=["change"]
    )
    def roll_back_selected(self, request, queryset):
        for kind in sorted(set(queryset.values_list("kind", flat=True))):
            try:
                version = rollback(kind, user=request.user)
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(kind)s rolled back to v%(number)s.") % {"kind": kind, "number": version.number},
                    messages.SUCCESS,
                )

    @admin.action(description=_("Train a new version now (of each selected kind)"), permissions=["change"])
    def train_new_version(self, request, queryset):
        for kind in sorted(set(queryset.values_list("kind", flat=True))):
            self._request_training(request, kind, {})

    def _request_training(self, request, kind, params):
        from ecom_ai.tasks.ml import request_training, where_training_runs

        where = where_training_runs()  # before: an inline training runs inside request_training
        try:
            run = request_training(kind, params, user=request.user)
        except (TrainingLocked, ImproperlyConfigured) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        link = reverse("admin:ecom_ai_trainingrun_change", args=[run.pk])
        self.message_user(
            request,
            format_html('Training of {} requested: <a href="{}">follow run #{}</a>. {}', kind, link, run.pk, where),
            messages.SUCCESS,
        )
        return run

    # ----- "train a new version" page (works with an empty registry too)
    def get_urls(self):
        view = self.admin_site.admin_view(self.train_view)
        return [path("train/", view, name="ecom_ai_modelversion_train"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_train": self.has_change_permission(request) and bool(ecom_settings.TRAINERS),
            "metric_history_charts": self._history_charts(request),
        }
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _history_charts(request) -> list:
        """One metric-history chart per trained kind (only the filtered kind when filtered)."""
        wanted = request.GET.get("kind__exact") or request.GET.get("kind")
        kinds = sorted(
            set(
                ModelVersion.objects.exclude(status__in=("training", "failed"))
                .values_list("kind", flat=True)
                .distinct()
            )
        )
        charts = []
        for kind in kinds:
            if wanted and kind != wanted:
                continue
            trainer = _trainer_or_none(kind)
            if trainer is not None and trainer.primary_metric:
                charts.append(model_quality.metric_history_chart(kind, trainer.primary_metric, trainer.floor_baselines))
        return charts

    def train_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = TrainForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            run = self._request_training(request, form.cleaned_data["kind"], form.cleaned_data["params"])
            if run is not None:
                return HttpResponseRedirect(reverse("admin:ecom_ai_trainingrun_change", args=[run.pk]))
            return HttpResponseRedirect(reverse("admin:ecom_ai_modelversion_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Train a new model version"),
            "form": form,
            "queue": ecom_settings.TRAINING_QUEUE,
            "where": where_training_runs(),
        }
        return TemplateResponse(request, "ecom_ai/admin/ml/train.html", context)


def where_training_runs() -> str:
    from ecom_ai.tasks.ml import where_training_runs as where

    return where()


def _trainer_or_none(kind):
    from ecom_ai.ml.registry import get_trainer

    try:
        return get_trainer(kind)
    except ImproperlyConfigured:
        return None


# --------------------------------------------------------------------------- training runs


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyPageMixin, EcomAiModelAdmin):
    list_display = (
        "run_label",
        "kind",
        "status_display",
        "progress",
        "version_link",
        "requested_by",
        "created_short",
        "elapsed_display",
    )
    list_filter = ("kind", "status")
    list_select_related = ("version", "requested_by")
    search_fields = ("kind", "message", "task_id")
    date_hierarchy = "created_at"
    actions = ("cancel_selected",)
    fieldsets = (
        (None, {"fields": ("kind", "status_display", "version_link", "progress", "message")}),
        (_("Curves"), {"fields": ("charts",)}),
        (
            _("Details"),
            {
                "fields": (
                    "params",
                    "created_at",
                    "started_at",
                    "heartbeat_at",
                    "finished_at",
                    "elapsed_display",
                    "task_id",
                    "requested_by",
                )
            },
        ),
    )
    readonly_fields = (
        "kind",
        "status_display",
        "version_link",
        "progress",
        "message",
        "charts",
        "params",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "elapsed_display",
        "task_id",
        "requested_by",
    )

    class Media:
        css = {"all": ("ecom_ai/ml/admin.css",)}
        js = ("ecom_ai/ml/training_progress.js",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.is_finished:
            return False  # cancel it first
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would delete running runs too
        return actions

    @admin.action(description=_("Cancel the selected queued or running runs"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        cancelled = [run for run in queryset if cancel_run(run, user=request.user)]
        if cancelled:
            self.message_user(
                request,
                _("Cancelled: %(runs)s. A running training stops at its next progress update.")
                % {"runs": ", ".join(f"#{run.pk}" for run in cancelled)},
                messages.SUCCESS,
            )
        if len(cancelled) < len(queryset):
            self.message_user(request, _("Runs that had already finished were left as they were."), messages.WARNING)

    @admin.display(description=_("run"), ordering="id")
    def run_label(self, run):
        return f"#{run.pk}"

    @admin.display(description=_("created"), ordering="created_at")
    def created_short(self, run):
        return short_datetime(run.created_at)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, run):
        return status_badge(run.status, run.get_status_display())

    @admin.display(description=_("progress"))
    def progress(self, run):
        return progress_bar(run)

    @admin.display(description=_("elapsed"))
    def elapsed_display(self, run):
        return fmt_elapsed(run.elapsed)

    @admin.display(description=_("version"), ordering="version__number")
    def version_link(self, run):
        if not run.version_id:
            return "–"
        return format_html(
            '<a href="{}">v{}</a> {}',
            reverse("admin:ecom_ai_modelversion_change", args=[run.version_id]),
            run.version.number,
            status_badge(run.version.status, run.version.get_status_display()),
        )

    @admin.display(description=_("loss and metrics"))
    def charts(self, run):
        charts = history_charts(run.history)
        return format_html(
            '<div class="ecom-ai-charts" data-run-url="{}" data-status="{}">'
            '<div data-chart="loss">{}</div><div data-chart="metrics">{}</div></div>',
            "" if run.is_finished else run_api_url(run),
            run.status,
            charts["loss"],
            charts["metrics"],
        )
