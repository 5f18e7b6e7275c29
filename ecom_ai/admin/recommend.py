"""Recommendation admin: placements with their rules (and a preview), experiments with variants and a report.

The report page (``…/experiment/<id>/report/``) shows per variant: impressions (served
lists), CTR and conversion with 95 % Wilson intervals, revenue per impression with a
normal-approximation interval, and an inline SVG chart with the intervals as error bars.
"""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from ecom_ai.admin.layout import EcomAiModelAdmin, short_datetime, truncated
from ecom_ai.models import Experiment, Item, Placement, PlacementRule, RecommendationList, Variant
from ecom_ai.models.recommend import strategy_choices
from ecom_ai.recommend.experiments import experiment_report
from ecom_ai.recommend.service import Identity, RecommendationError, RecommendationService, ensure_default_placements

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


class StrategyChoicesMixin:
    """Strategy fields offer the strategies of ``ECOM_AI["RECOMMEND_STRATEGIES"]``: the built-in
    ones and any the shop added, read each time a form is built (the model field has no fixed
    choices, so a new strategy needs no migration)."""

    strategy_fields = ("strategy", "fallback_strategy")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in self.strategy_fields:
            return forms.ChoiceField(
                choices=partial(strategy_choices, blank=db_field.blank),
                required=not db_field.blank,
                label=db_field.verbose_name.capitalize(),
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]


class PreviewForm(forms.Form):
    visitor_key = forms.CharField(label=_("visitor key"), max_length=64, required=False)
    user_key = forms.CharField(label=_("user key"), max_length=64, required=False)
    item = forms.CharField(label=_("item key (the page's item)"), max_length=191, required=False)
    limit = forms.IntegerField(label=_("length"), min_value=1, max_value=100, required=False)


class PlacementRuleFormSet(BaseInlineFormSet):
    """A pin that the placement's own filters would remove (a sold-out or withdrawn item) is an
    error, not a rule saved "successfully" that changes nothing."""

    def clean(self):
        super().clean()
        placement = self.instance
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE") or data.get("action") != PlacementRule.Action.PIN:
                continue
            key = (data.get("item_key") or "").strip()
            item = Item.objects.filter(key=key).only("key", "in_stock", "is_active").first() if key else None
            if item is None:
                continue  # unknown to the mirror (it may lag): kept at serving time
            if not item.is_active:
                form.add_error(
                    "item_key",
                    _(
                        "Item %(key)s is withdrawn from the catalog: it is never recommended, "
                        "so this pin would show nothing."
                    )
                    % {"key": key},
                )
            elif not item.in_stock and placement.exclude_out_of_stock:
                form.add_error(
                    "item_key",
                    _(
                        "Item %(key)s is out of stock and this placement leaves out-of-stock "
                        "items out, so this pin would show nothing. Pin another item, or untick "
                        "“Exclude out-of-stock items”."
                    )
                    % {"key": key},
                )


class PlacementRuleInline(admin.StackedInline):
    """Each rule a compact block of three lines (what, how strong, when), the group collapsible: nine
    columns side by side made the page 2,136 px wide."""

    model = PlacementRule
    formset = PlacementRuleFormSet
    extra = 1
    classes = ("collapse", "ecom-ai-rules")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("action", "item_key", "category"),
                    ("weight", "position", "enabled"),
                    ("starts_at", "ends_at", "note"),
                )
            },
        ),
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # one compact browser date-time picker instead of the date + time pair: the row fits a laptop screen
        if db_field.name in ("starts_at", "ends_at"):
            return forms.DateTimeField(
                label=db_field.verbose_name,
                required=False,
                help_text=db_field.help_text,
                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
                input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
            )
        if db_field.name == "note":
            kwargs["widget"] = forms.TextInput(attrs={"size": 40})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(Placement)
class PlacementAdmin(StrategyChoicesMixin, EcomAiModelAdmin):
    list_display = (
        "slug",
        "name",
        "strategy",
        "fallback_strategy",
        "limits",
        "excludes",
        "enabled",
        "rule_count",
        "preview_link",
    )
    list_editable = ("enabled",)
    list_filter = ("enabled", "strategy")
    search_fields = ("slug", "name")
    inlines = (PlacementRuleInline,)
    actions = ("create_defaults",)
    fieldsets = (
        (None, {"fields": ("slug", "name", "title", "enabled")}),
        (_("Candidates"), {"fields": ("strategy", "fallback_strategy", "default_limit")}),
        (
            _("Rules"),
            {
                "fields": (
                    "exclude_purchased",
                    "exclude_out_of_stock",
                    "exclude_in_cart",
                    "exclude_viewed",
                    "max_per_category",
                )
            },
        ),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_rules=Count("rules"))

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        for inline in inlines:  # the rules are shown open when there are some, folded away otherwise
            if isinstance(inline, PlacementRuleInline) and obj is not None and obj.rules.exists():
                inline.classes = ("ecom-ai-rules",)
        return inlines

    def get_urls(self):
        urls = [
            path("<int:pk>/preview/", self.admin_site.admin_view(self.preview_view), name="ecom_ai_placement_preview")
        ]
        return urls + super().get_urls()

    @admin.display(description=_("preview"))
    def preview_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:ecom_ai_placement_preview", args=[obj.pk]), _("preview")
        )

    def preview_view(self, request, pk):
        """The list a shopper would get now, with scores and reasons; nothing is stored."""
        placement = get_object_or_404(Placement, pk=pk)
        if not self.has_view_permission(request, placement):
            raise PermissionDenied
        form = PreviewForm(request.GET or None)
        result, error = None, ""
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = RecommendationService().recommend(
                    Identity(visitor_key=data["visitor_key"], user_key=data["user_key"]),
                    placement.slug,
                    item=data["item"] or None,
                    limit=data["limit"],
                    log=False,
                )
            except RecommendationError as exc:
                error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "placement": placement,
            "form": form,
            "result": result,
            "error": error,
            "title": _("Preview: %s") % placement.name,
            "rows": [(n, item, (result.facts.get(item.key) or {})) for n, item in enumerate(result or [], start=1)],
        }
        return TemplateResponse(request, "ecom_ai/admin/recommend/placement_preview.html", context)

    @admin.display(description=_("rules"), ordering="_rules")
    def rule_count(self, obj):
        return obj._rules

    @admin.display(description=_("limit / per category"))
    def limits(self, obj):
        return f"{obj.default_limit} / {obj.max_per_category if obj.max_per_category else '–'}"

    @admin.display(description=_("leaves out"))
    def excludes(self, obj):
        names = [
            label
            for flag, label in (
                (obj.exclude_purchased, _("purchased")),
                (obj.exclude_out_of_stock, _("out of stock")),
                (obj.exclude_in_cart, _("in cart")),
                (getattr(obj, "exclude_viewed", False), _("viewed")),
            )
            if flag
        ]
        return truncated(", ".join(str(n) for n in names) or "–", "14em")

    def changelist_view(self, request, extra_context=None):
        ensure_default_placements()  # home, product, cart, email are always there to edit
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Create the default placements (home, product, cart, email)"))
    def create_defaults(self, request, queryset):
        created = ensure_default_placements()
        messages.info(request, _("Created: %s") % (", ".join(p.slug for p in created) or "none"))


class VariantInline(StrategyChoicesMixin, admin.TabularInline):
    model = Variant
    extra = 2
    fields = ("name", "weight", "strategy", "model_version")
    raw_id_fields = ("model_version",)


@admin.register(Experiment)
class ExperimentAdmin(EcomAiModelAdmin):
    list_display = ("name", "placement", "status", "starts_at", "ends_at", "created_at", "report_link")
    list_filter = ("status", "placement")
    list_select_related = ("placement",)
    search_fields = ("name",)
    inlines = (VariantInline,)

    def get_urls(self):
        urls = [
            path("<int:pk>/report/", self.admin_site.admin_view(self.report_view), name="ecom_ai_experiment_report")
        ]
        return urls + super().get_urls()

    @admin.display(description=_("report"))
    def report_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:ecom_ai_experiment_report", args=[obj.pk]), _("report")
        )

    def report_view(self, request, pk):
        experiment = get_object_or_404(Experiment.objects.select_related("placement"), pk=pk)
        if not self.has_view_permission(request, experiment):
            raise PermissionDenied
        rows = experiment_report(experiment)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "experiment": experiment,
            "rows": rows,
            "chart": report_chart(rows),
            "title": _("Report: %s") % experiment.name,
        }
        return TemplateResponse(request, "ecom_ai/admin/recommend/experiment_report.html", context)


def report_chart(rows, *, width: int = 720, height: int = 260):
    """Grouped bars (CTR and conversion per variant, in %) with 95 % intervals as error bars."""
    metrics = (("CTR", "ctr", "ctr_ci"), ("conversion", "conversion", "conversion_ci"))
    left, right, top, bottom = 48, 12, 14, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max([r.ctr_ci[1] for r in rows] + [r.conversion_ci[1] for r in rows] + [0.01])
    y_max = min(1.0, top_value * 1.1)
    scale = plot_h / y_max
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ecom-ai-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="11">',
        "<title>CTR and conversion per variant, with 95% confidence intervals</title>",
    ]
    for tick in range(5):
        value = y_max * tick / 4
        y = top + plot_h - value * scale
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{value * 100:.1f}%</text>')
    group = plot_w / max(len(rows), 1)
    bar = min(48.0, group * 0.8 / len(metrics))
    for g, row in enumerate(rows):
        x0 = left + g * group + (group - bar * len(metrics)) / 2
        for m, (label, attr, ci_attr) in enumerate(metrics):
            value, (low, high) = getattr(row, attr), getattr(row, ci_attr)
            x = x0 + m * bar
            y = top + plot_h - value * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 4:.1f}" height="{value * scale:.1f}" '
                f'fill="{PALETTE[m]}"><title>{escape(row.name)} · {label}: {value * 100:.2f}% '
                f"(95% CI {low * 100:.2f}–{high * 100:.2f}%)</title></rect>"
            )
            cx = x + (bar - 4) / 2
            y_low, y_high = top + plot_h - low * scale, top + plot_h - high * scale
            parts.append(
                f'<line class="ci" x1="{cx:.1f}" y1="{y_low:.1f}" x2="{cx:.1f}" y2="{y_high:.1f}" stroke="#222"/>'
            )
            for yy in (y_low, y_high):
                parts.append(f'<line x1="{cx - 4:.1f}" y1="{yy:.1f}" x2="{cx + 4:.1f}" y2="{yy:.1f}" stroke="#222"/>')
        parts.append(
            f'<text x="{left + g * group + group / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'fill="#333">{escape(row.name)} (n={row.impressions})</text>'
        )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#999"/>')
    x = left
    for m, (label, _attr, _ci) in enumerate(metrics):
        parts.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" fill="{PALETTE[m]}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 7}" fill="#333">{label}</text>')
        x += 100
    if not rows or not any(r.impressions for r in rows):
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" fill="#999">'
            "no lists served yet</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


@admin.register(RecommendationList)
class RecommendationListAdmin(EcomAiModelAdmin):
    list_display = (
        "short_id",
        "placement",
        "variant",
        "strategy",
        "shopper",
        "size",
        "outcomes",
        "revenue",
        "created_short",
    )
    list_filter = ("placement", "strategy", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("placement", "variant")
    search_fields = ("=id", "=visitor_key", "=user_key", "=anchor_item")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in RecommendationList._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("list"))
    def short_id(self, obj):
        return str(obj.id)[:8]

    @admin.display(description=_("visitor"))
    def visitor_short(self, obj):
        return obj.visitor_key[:8]

    @admin.display(description=_("shopper"))
    def shopper(self, obj):
        return truncated(f"user {obj.user_key}" if obj.user_key else f"visitor {obj.visitor_key[:8]}", "10em")

    @admin.display(description=_("clicks · carts · buys"))
    def outcomes(self, obj):
        return f"{obj.clicks} · {obj.add_to_carts} · {obj.purchases}"

    @admin.display(description=_("served"), ordering="created_at")
    def created_short(self, obj):
        return short_datetime(obj.created_at)

    @admin.display(description=_("items"))
    def size(self, obj):
        return len(obj.items or [])
