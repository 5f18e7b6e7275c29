"""Admin for events, visitor identities and channel API keys, plus the events overview page.

The events table holds millions of rows, so its changelist never counts the whole table
(``show_full_result_count = False`` and ``LargeTablePaginator``), its filters list the
configured types/channels instead of ``SELECT DISTINCT`` over the table, and its search
matches keys exactly (indexed) instead of ``LIKE '%…%'``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import ShowFacets
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _, ngettext

from ecom_ai.admin.layout import EcomAiModelAdmin
from ecom_ai.admin.date_drilldown import with_indexed_drilldown
from ecom_ai.admin.pagination import LargeTablePaginator, approximate_count
from ecom_ai.admin.svg_chart import stacked_bar_chart
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import ChannelKey, Event, Item, VisitorIdentity

logger = logging.getLogger("ecom_ai.admin")

OVERVIEW_PERIODS = (30, 90)


class ConfiguredChoicesFilter(admin.SimpleListFilter):
    """A filter whose choices come from settings, not from ``SELECT DISTINCT`` over the table."""

    setting = ""

    def lookups(self, request, model_admin):
        return [(value, value.replace("_", " ")) for value in getattr(ecom_settings, self.setting)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class EventTypeFilter(ConfiguredChoicesFilter):
    title = _("type")
    parameter_name = "event_type"
    setting = "all_event_types"


class ChannelFilter(ConfiguredChoicesFilter):
    title = _("channel")
    parameter_name = "channel"
    setting = "all_channels"


class ExactKeySearchMixin:
    """Search = exact, case-sensitive match on key columns (uses their indexes)."""

    key_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q()
        for name in self.key_search_fields:
            query |= Q(**{name: term})
        return queryset.filter(query), False


@admin.register(Event)
class EventAdmin(ExactKeySearchMixin, EcomAiModelAdmin):
    list_display = ("event_type", "channel", "visitor_key", "user_key", "item_key", "value", "occurred_at")
    list_filter = (EventTypeFilter, ChannelFilter, ("occurred_at", admin.DateFieldListFilter))
    date_hierarchy = "occurred_at"
    search_fields = ("user_key", "visitor_key", "item_key")  # shows the box; matching is exact, see mixin
    key_search_fields = ("user_key", "visitor_key", "item_key")
    search_help_text = _("Exact user, visitor or item key.")
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    paginator = LargeTablePaginator
    list_per_page = 100
    ordering = ("-occurred_at",)
    readonly_fields = [f.name for f in Event._meta.fields]

    def get_queryset(self, request):
        # the date drill-down probes the occurred_at index instead of SELECT DISTINCT over the table
        return with_indexed_drilldown(super().get_queryset(request))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def get_urls(self):
        overview = self.admin_site.admin_view(self.overview_view)
        return [path("overview/", overview, name="ecom_ai_overview"), *super().get_urls()]

    # --- overview page ----------------------------------------------------------------
    def overview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = int(request.GET.get("days", OVERVIEW_PERIODS[0]))
        except ValueError:
            days = OVERVIEW_PERIODS[0]
        if days not in OVERVIEW_PERIODS:
            days = OVERVIEW_PERIODS[0]
        context = {
            **self.admin_site.each_context(request),
            **overview_data(days),
            "title": _("Events overview"),
            "opts": self.model._meta,
            "days": days,
            "periods": OVERVIEW_PERIODS,
            "changelist_url": reverse(f"{self.admin_site.name}:ecom_ai_event_changelist"),
        }
        return TemplateResponse(request, "ecom_ai/admin/overview.html", context)


def overview_data(days: int) -> dict:
    """Events per day and channel over the last ``days`` days, totals, and table sizes."""
    today = timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first_day, time.min))
    window = Event.objects.filter(occurred_at__gte=since)
    per_day = window.annotate(day=TruncDate("occurred_at")).values("day", "channel").annotate(n=Count("pk")).order_by()
    labels = [first_day + timedelta(days=i) for i in range(days)]
    index = {day: i for i, day in enumerate(labels)}
    configured = list(ecom_settings.all_channels)
    series: dict[str, list[int]] = {}
    channel_totals: dict[str, int] = {}
    for row in per_day:
        i = index.get(row["day"])
        if i is None:  # an event dated in the future (client clock): not charted
            continue
        series.setdefault(row["channel"], [0] * days)[i] += row["n"]
        channel_totals[row["channel"]] = channel_totals.get(row["channel"], 0) + row["n"]
    ordered = sorted(series, key=lambda c: (configured.index(c) if c in configured else len(configured), c))
    series = {c: series[c] for c in ordered}
    type_totals = {
        row["event_type"]: row["n"]
        for row in window.values("event_type").annotate(n=Count("pk")).order_by("-n", "event_type")
    }
    all_events, estimated = approximate_count(Event.objects.all())
    return {
        "chart": stacked_bar_chart(
            [d.strftime("%m-%d") for d in labels], series, title=f"Events per day and channel, last {days} days"
        ),
        "first_day": first_day,
        "window_total": sum(channel_totals.values()),
        "type_totals": type_totals,
        "channel_totals": {c: channel_totals[c] for c in ordered},
        "all_events": all_events,
        "all_events_estimated": estimated,
        "identities": VisitorIdentity.objects.count(),
        "identified_users": VisitorIdentity.objects.values("user_key").distinct().count(),
        "items": Item.objects.count(),
        "active_items": Item.objects.filter(is_active=True).count(),
        "in_stock_items": Item.objects.filter(is_active=True, in_stock=True).count(),
    }


# --- identities: export / erase a user's data ------------------------------------------


@admin.register(VisitorIdentity)
class VisitorIdentityAdmin(ExactKeySearchMixin, EcomAiModelAdmin):
    list_display = ("visitor_key", "user_key", "channel", "first_seen", "last_seen")
    list_filter = (ChannelFilter,)
    search_fields = ("user_key", "visitor_key")
    key_search_fields = ("user_key", "visitor_key")
    search_help_text = _("Exact user or visitor key.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    readonly_fields = ("visitor_key", "user_key", "channel", "first_seen", "last_seen")
    actions = ("export_user_data", "erase_user_data")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_erase_permission(self, request):
        return request.user.has_perms(["ecom_ai.delete_event", "ecom_ai.delete_visitoridentity"])

    @staticmethod
    def _user_keys(queryset) -> list[str]:
        return sorted(set(queryset.values_list("user_key", flat=True)) - {""})

    @admin.action(description=_("Export this user's data (JSON)"), permissions=("view",))
    def export_user_data(self, request, queryset):
        from ecom_ai.events.privacy import export_user_data

        user_keys = self._user_keys(queryset)
        if len(user_keys) == 1:
            data = export_user_data(user_keys[0])
            filename = f"ecom_ai-user-{slugify(user_keys[0]) or 'export'}.json"
        else:
            data = {"users": [export_user_data(key) for key in user_keys]}
            filename = "ecom_ai-users.json"
        logger.info("admin %s exported the data of user(s) %s", request.user.pk, user_keys)
        response = HttpResponse(json.dumps(data, cls=DjangoJSONEncoder, indent=2), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.action(description=_("Erase this user's data…"), permissions=("erase",))
    def erase_user_data(self, request, queryset):
        from ecom_ai.events.privacy import erase_user_data, user_events, user_visitor_keys

        user_keys = self._user_keys(queryset)
        if request.POST.get("post") == "yes":
            totals: dict[str, int] = {}
            for key in user_keys:
                for kind, count in erase_user_data(key).items():
                    totals[kind] = totals.get(kind, 0) + count
            logger.warning("admin %s erased the data of user(s) %s: %s", request.user.pk, user_keys, totals)
            summary = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(totals.items()))
            self.message_user(
                request,
                ngettext(
                    "Erased the data of %(n)d user: %(summary)s.",
                    "Erased the data of %(n)d users: %(summary)s.",
                    len(user_keys),
                )
                % {"n": len(user_keys), "summary": summary or "nothing stored"},
                messages.SUCCESS,
            )
            return None
        users = []
        for key in user_keys:
            visitors = user_visitor_keys(key)
            users.append({"key": key, "visitors": len(visitors), "events": user_events(key, visitors).count()})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Erase user data?"),
            "opts": self.model._meta,
            "users": users,
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "ecom_ai/admin/erase_confirmation.html", context)


# --- channel API keys ---------------------------------------------------------------------


class ChannelKeyForm(forms.ModelForm):
    channel = forms.ChoiceField(choices=())

    class Meta:
        model = ChannelKey
        fields = ("name", "channel", "is_active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [(c, c.replace("_", " ")) for c in ecom_settings.all_channels]


@admin.register(ChannelKey)
class ChannelKeyAdmin(EcomAiModelAdmin):
    form = ChannelKeyForm
    list_display = ("name", "channel", "key_prefix", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active", ChannelFilter)
    search_fields = ("name",)
    readonly_fields = ("key_prefix", "created_at", "last_used_at")
    actions = ("revoke_keys", "rotate_keys")

    def get_fields(self, request, obj=None):
        fields = ["name", "channel", "is_active"]
        return fields + ["key_prefix", "created_at", "last_used_at"] if obj else fields

    @admin.display(description=_("key starts with"))
    def key_prefix(self, obj):
        return f"eai_{obj.prefix}…" if obj and obj.prefix else "-"

    def save_model(self, request, obj, form, change):
        raw_key = None if change else obj.set_new_key()
        super().save_model(request, obj, form, change)
        if raw_key:
            self._show_key_once(request, obj, raw_key)

    @staticmethod
    def _show_key_once(request, obj, raw_key):
        messages.warning(
            request,
            format_html(
                'API key for “{}”: <code class="ecom-ai-raw-key">{}</code> — copy it now, it is shown only this once '
                "(only a hash is stored). Send it in the <code>Authorization: Api-Key …</code> header.",
                obj.name,
                raw_key,
            ),
        )

    @admin.action(description=_("Revoke selected keys"), permissions=("change",))
    def revoke_keys(self, request, queryset):
        count = queryset.filter(is_active=True).update(is_active=False)
        self.message_user(request, ngettext("Revoked %d key.", "Revoked %d keys.", count) % count, messages.SUCCESS)

    @admin.action(description=_("Rotate selected keys (new key, old one stops working)"), permissions=("change",))
    def rotate_keys(self, request, queryset):
        for obj in queryset:
            raw_key = obj.set_new_key()
            obj.is_active = True
            obj.save(update_fields=["prefix", "key_hash", "is_active"])
            self._show_key_once(request, obj, raw_key)
