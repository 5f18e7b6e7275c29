"""Marketing admin: campaigns with their offers, the decision log, coupons, and a report per campaign."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ecom_ai.admin.layout import EcomAiModelAdmin
from ecom_ai.models.marketing import Campaign, Coupon, Offer, OfferDecision


class OfferInline(admin.TabularInline):
    model = Offer
    extra = 1
    fields = (
        "position",
        "key",
        "title",
        "kind",
        "value",
        "min_order_value",
        "expected_discount_cost",
        "send_cost",
        "validity_days",
        "enabled",
        "message",
    )


@admin.register(Campaign)
class CampaignAdmin(EcomAiModelAdmin):
    list_display = (
        "name",
        "slug",
        "enabled",
        "starts_at",
        "ends_at",
        "policy",
        "control_percent",
        "exploration_rate",
        "budget_display",
        "report_link",
    )
    list_filter = ("enabled", "policy", "objective")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    list_select_related = ("fixed_offer", "policy_version")
    raw_id_fields = ("policy_version",)
    readonly_fields = ("spent_total", "spent_day", "spent_today", "created_at", "updated_at")
    inlines = [OfferInline]
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "channels", "enabled", "starts_at", "ends_at", "objective")}),
        (
            _("Budget and frequency"),
            {
                "fields": (
                    "total_budget",
                    "daily_budget",
                    "spent_total",
                    "spent_day",
                    "spent_today",
                    "frequency_cap",
                    "frequency_window_days",
                    "decision_days",
                )
            },
        ),
        (_("Who"), {"fields": ("eligibility", "control_percent")}),
        (_("Policy"), {"fields": ("policy", "fixed_offer", "policy_version", "experiment_share", "exploration_rate")}),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "fixed_offer":
            campaign_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            kwargs["queryset"] = Offer.objects.filter(campaign_id=campaign_id) if campaign_id else Offer.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("budget spent"))
    def budget_display(self, obj):
        if obj.total_budget is None:
            return f"{obj.spent_total} / ∞"
        return f"{obj.spent_total} / {obj.total_budget}"

    @admin.display(description=_("report"))
    def report_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:ecom_ai_campaign_report", args=[obj.pk]), _("report"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.report_view)
        export = self.admin_site.admin_view(self.export_view)
        return [
            path("<int:pk>/report/", view, name="ecom_ai_campaign_report"),
            path("<int:pk>/export.csv", export, name="ecom_ai_campaign_export"),
            *super().get_urls(),
        ]

    def _campaign(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = Campaign.objects.filter(pk=pk).first()
        if campaign is None:
            raise Http404("No such campaign.")
        return campaign

    def report_view(self, request, pk):
        from ecom_ai.marketing.report import campaign_report

        from ecom_ai.ml.charts import line_chart

        campaign = self._campaign(request, pk)
        report = campaign_report(campaign)
        qini = report.get("qini")
        if qini:
            report["qini_chart"] = line_chart(
                {"learned policy": qini["policy"], "random targeting": qini["random"]},
                title=str(_("Qini curve: incremental net revenue per customer")),
                x_label=str(_("% targeted (best first)")),
            )
        budget = report["budget"]
        series = {str(_("budget spent")): budget["curve"]}
        if budget["pacing_line"]:
            series[str(_("pacing line"))] = budget["pacing_line"]
        report["pacing_chart"] = line_chart(
            series,
            title=str(_("Budget spent vs pacing")),
            x_label=str(_("days since the start")),
            empty_text=str(_("nothing spent yet")),
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": _("Report: %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "report": report,
        }
        return TemplateResponse(request, "ecom_ai/admin/marketing/report.html", context)

    def export_view(self, request, pk):
        from ecom_ai.marketing.batch import export_csv

        campaign = self._campaign(request, pk)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{campaign.slug}-offers.csv"'
        export_csv(campaign, response, batch=request.GET.get("batch") or None)
        return response


@admin.register(OfferDecision)
class OfferDecisionAdmin(EcomAiModelAdmin):
    list_display = (
        "created_at",
        "campaign",
        "arm_display",
        "subject_key",
        "propensity",
        "is_control",
        "policy",
        "shown_at",
        "redeemed_at",
        "converted_at",
        "order_value",
    )
    list_filter = ("campaign", "is_control", "policy", "for_learning")
    search_fields = ("subject_key", "user_key", "visitor_key", "coupon_code", "order_key")
    list_select_related = ("campaign", "offer")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in OfferDecision._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("offer"), ordering="offer__key")
    def arm_display(self, obj):
        return obj.offer.key if obj.offer_id else _("no offer")


@admin.register(Coupon)
class CouponAdmin(EcomAiModelAdmin):
    list_display = ("code", "campaign", "offer", "user_key", "created_at", "expires_at", "redeemed_at", "order_key")
    list_filter = ("campaign",)
    search_fields = ("code", "user_key", "order_key")
    list_select_related = ("campaign", "offer")
    readonly_fields = ("code", "created_at", "redeemed_at", "order_key")
