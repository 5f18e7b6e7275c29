"""Fraud admin: the review queue, rules (validated), allow/block lists, thresholds."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from ecom_ai.admin.layout import EcomAiModelAdmin, rounded, short_datetime, truncated
from ecom_ai.fraud.rules import ConditionError, parse_condition
from ecom_ai.fraud.scoring import decide, decide_many
from ecom_ai.models.fraud import FraudAssessment, FraudListEntry, FraudRule, FraudSettings

LEVEL_COLOURS = {"low": "#2e7d32", "medium": "#ef6c00", "high": "#c62828"}


def level_badge(level: str, score) -> str:
    return format_html(
        '<span style="color:#fff;background:{};padding:1px 6px;border-radius:3px;white-space:nowrap">{} {}</span>',
        LEVEL_COLOURS.get(level, "#555"),
        level,
        score,
    )


def _reason_text(reason: dict) -> str:
    text = str(reason.get("message", reason.get("code", "")))
    value = reason.get("value")
    if reason.get("kind") == "feature" and value not in (None, ""):
        text += f" = {value}"
    return text


def reasons_html(reasons) -> str:
    if not reasons:
        return "—"
    items = []
    for reason in reasons if isinstance(reasons, list) else []:
        if not isinstance(reason, dict):
            continue
        extra = ""
        if reason.get("points") is not None:
            extra = f" (+{reason['points']})"
        value = reason.get("value")
        shown = f" = {value}" if value not in (None, "") and reason.get("kind") == "feature" else ""
        items.append((reason.get("kind", ""), f"{reason.get('message', reason.get('code', ''))}{shown}{extra}"))
    return format_html(
        "<ul style='margin:0;padding-left:1em'>{}</ul>", format_html_join("", "<li><b>{}</b>: {}</li>", items)
    )


@admin.register(FraudAssessment)
class FraudAssessmentAdmin(EcomAiModelAdmin):
    # compact rows for a 1366 px screen: one line each, e-mail and reasons cut with the full text on hover
    list_display = (
        "order_number_display",
        "badge",
        "action_display",
        "status",
        "amount_display",
        "email_short",
        "placed_short",
        "short_reasons",
    )
    list_filter = (
        "status",
        "level",
        "recommended_action",
        "scorer",
        ("placed_at", admin.DateFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("order_number", "order_key", "email", "ip", "device", "payment_fingerprint", "user_key")
    date_hierarchy = "placed_at"
    list_select_related = ("model_version",)
    list_per_page = 50
    actions = ("approve_selected", "mark_selected_as_fraud")
    readonly_fields = (
        "order_key",
        "order_number",
        "user_key",
        "email",
        "ip",
        "device",
        "payment_fingerprint",
        "amount",
        "currency",
        "placed_at",
        "score",
        "probability_display",
        "level",
        "recommended_action",
        "scorer",
        "reasons_display",
        "rules_fired",
        "features_display",
        "model_version",
        "status",
        "label",
        "decided_by",
        "decided_at",
        "chargeback_at",
        "chargeback_reason",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            _("Order"),
            {
                "fields": (
                    "order_number",
                    "order_key",
                    "user_key",
                    "email",
                    "ip",
                    "device",
                    "payment_fingerprint",
                    "amount",
                    "currency",
                    "placed_at",
                )
            },
        ),
        (
            _("Risk"),
            {
                "fields": (
                    "score",
                    "probability_display",
                    "level",
                    "recommended_action",
                    "scorer",
                    "reasons_display",
                    "rules_fired",
                    "model_version",
                )
            },
        ),
        (
            _("Review"),
            {"fields": ("status", "label", "decided_by", "decided_at", "note", "chargeback_at", "chargeback_reason")},
        ),
        (_("Features"), {"classes": ("collapse",), "fields": ("features_display", "created_at", "updated_at")}),
    )
    change_form_template = "admin/ecom_ai/fraudassessment/change_form.html"
    change_list_template = "admin/ecom_ai/fraudassessment/change_list.html"

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        from ecom_ai.admin.model_quality import fraud_model_notice

        extra_context = {**(extra_context or {}), "fraud_model_notice": fraud_model_notice()}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        from django.urls import path

        from ecom_ai.admin.fairness import fairness_view

        view = self.admin_site.admin_view(fairness_view(self))
        return [path("fairness/", view, name="ecom_ai_fraud_fairness"), *super().get_urls()]

    @admin.display(description=_("order"), ordering="order_number")
    def order_number_display(self, obj):
        return obj.order_number or obj.order_key

    @admin.display(description=_("risk"), ordering="score")
    def badge(self, obj):
        return level_badge(obj.level, obj.score)

    @admin.display(description=_("reasons"))
    def short_reasons(self, obj):
        reasons = [r for r in (obj.reasons or []) if isinstance(r, dict)]
        return truncated("; ".join(_reason_text(r) for r in reasons) or "—", "24em")

    @admin.display(description=_("action"), ordering="recommended_action")
    def action_display(self, obj):
        return obj.get_recommended_action_display()

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return f"{obj.amount} {obj.currency}".strip() if obj.amount is not None else "–"

    @admin.display(description=_("e-mail"), ordering="email")
    def email_short(self, obj):
        return truncated(obj.email, "12em")

    @admin.display(description=_("placed"), ordering="placed_at")
    def placed_short(self, obj):
        return short_datetime(obj.placed_at)

    @admin.display(description=_("reasons"))
    def reasons_display(self, obj):
        return reasons_html(obj.reasons)

    @admin.display(description=_("probability of fraud"))
    def probability_display(self, obj):
        return "–" if obj.probability is None else f"{obj.probability:.1%}"

    @admin.display(description=_("features"))
    def features_display(self, obj):
        rows = sorted((name, rounded(value, 4)) for name, value in (obj.features or {}).items())
        return format_html("<table>{}</table>", format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows))

    # --- decisions -------------------------------------------------------------------
    def _decide(self, request, queryset, decision: str):
        count = decide_many(queryset, decision, user=request.user)
        label = _("approved") if decision == "approve" else _("marked as fraud")
        self.message_user(
            request,
            _("%(n)d order(s) %(what)s; the decisions are training labels now.") % {"n": count, "what": label},
            messages.SUCCESS,
        )

    @admin.action(description=_("Approve selected orders (legitimate)"))
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, "approve")

    @admin.action(description=_("Mark selected orders as fraud"))
    def mark_selected_as_fraud(self, request, queryset):
        self._decide(request, queryset, "fraud")

    def response_change(self, request, obj):
        for decision in ("approve", "fraud"):
            if f"_decide_{decision}" in request.POST:
                decide(obj, decision, user=request.user)
                self.message_user(request, _("Decision recorded: %s.") % decision, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:ecom_ai_fraudassessment_changelist"))
        return super().response_change(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("features")


class FraudRuleForm(forms.ModelForm):
    class Meta:
        model = FraudRule
        fields = ("name", "condition", "action", "priority", "enabled", "description")
        widgets = {"condition": forms.Textarea(attrs={"rows": 3, "cols": 80, "style": "font-family:monospace"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ecom_ai.fraud.extras import feature_attributes, report_only_attributes

        from ecom_ai.fraud.feature_names import FEATURE_NAMES

        shop = [f"{a.name} ({a.type})" for a in feature_attributes()]
        hidden = [a.name for a in report_only_attributes()]
        help_text = (
            str(_("For example: amount > 500 and ip_country != shipping_country."))
            + " "
            + str(_("Feature names: %(names)s.") % {"names": ", ".join(sorted(FEATURE_NAMES))})
        )
        if shop:
            help_text += " " + str(_("Your shop's own features: %(names)s.") % {"names": ", ".join(shop)})
        if hidden:
            help_text += " " + str(
                _("Report-only attributes (not usable in rules): %(names)s.") % {"names": ", ".join(hidden)}
            )
        self.fields["condition"].help_text = help_text

    def clean_condition(self):
        condition = self.cleaned_data.get("condition", "")
        try:
            return parse_condition(condition).source
        except ConditionError:
            # FraudRule.clean() reports it, once: raising here too would leave the field empty on the
            # instance and add the model's "The condition is empty." next to the real error
            return condition


@admin.register(FraudRule)
class FraudRuleAdmin(EcomAiModelAdmin):
    form = FraudRuleForm
    list_display = ("name", "condition", "action", "priority", "enabled", "updated_at")
    list_editable = ("priority", "enabled")
    list_filter = ("action", "enabled")
    search_fields = ("name", "condition", "description")


@admin.register(FraudListEntry)
class FraudListEntryAdmin(EcomAiModelAdmin):
    list_display = ("value", "kind", "list", "note", "created_at")
    list_filter = ("list", "kind")
    search_fields = ("value", "note")


@admin.register(FraudSettings)
class FraudSettingsAdmin(EcomAiModelAdmin):
    list_display = ("__str__", "medium_threshold", "high_threshold", "updated_at")

    def has_add_permission(self, request):
        return not FraudSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not FraudSettings.objects.exists():  # the defaults are in force: say which
            defaults = FraudSettings.load()
            self.message_user(
                request,
                _(
                    "No thresholds saved: the defaults are in force, medium ≥ %(medium)s and high ≥ %(high)s "
                    "(ECOM_AI FRAUD_MEDIUM_THRESHOLD / FRAUD_HIGH_THRESHOLD). Add thresholds to change them."
                )
                % {"medium": defaults.medium_threshold, "high": defaults.high_threshold},
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)

    def get_changeform_initial_data(self, request):
        defaults = FraudSettings.load()
        return {"medium_threshold": defaults.medium_threshold, "high_threshold": defaults.high_threshold}
