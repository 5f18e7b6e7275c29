"""Admin for the catalog mirror (``Item``): browse, and re-sync from the host shop.

Items are a copy of the host's products, so they are read-only here; the actions re-read
the host through the adapter. "Sync from shop" re-reads the selected items; the
"Sync whole catalog" button runs ``ecom_ai.tasks.catalog.sync_catalog`` (on a worker when
Celery is configured, in-process otherwise).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models.functions import Length
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from ecom_ai.admin.layout import EcomAiModelAdmin
from ecom_ai.models import Item


def _describe(counts: dict) -> str:
    return ", ".join(f"{value} {name}" for name, value in counts.items() if value) or "nothing to do"


@admin.register(Item)
class ItemAdmin(EcomAiModelAdmin):
    list_display = ("key_display", "title", "category", "price", "in_stock", "is_active", "updated_at")
    # numeric keys in numeric order (1, 2, 10, 100, not 1, 10, 100, 2): shorter keys first, then by text
    ordering = (Length("key").asc(), "key")
    list_filter = ("category", "in_stock", "is_active")
    search_fields = ("=key", "title")
    search_help_text = _("Exact item key, or words of the title.")
    show_full_result_count = False
    readonly_fields = (
        "key",
        "title",
        "text",
        "category",
        "price",
        "in_stock",
        "is_active",
        "url",
        "features",
        "embedding_model",
        "created_at",
        "updated_at",
    )
    exclude = ("embedding",)
    actions = ("sync_from_shop",)
    change_list_template = "ecom_ai/admin/item_change_list.html"

    def has_add_permission(self, request):
        return False  # items come from the host's products

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("key"), ordering=Length("key"))
    def key_display(self, item):
        return item.key

    def has_sync_permission(self, request):
        return request.user.has_perm("ecom_ai.change_item")

    @admin.action(description=_("Sync from shop"), permissions=("sync",))
    def sync_from_shop(self, request, queryset):
        from ecom_ai.catalog.sync import sync_keys

        result = sync_keys(queryset.values_list("key", flat=True))
        self.message_user(request, f"Synced from the shop: {_describe(result.as_dict())}.", messages.SUCCESS)

    def get_urls(self):
        view = self.admin_site.admin_view(self.sync_catalog_view)
        return [path("sync-catalog/", view, name="ecom_ai_item_sync_catalog"), *super().get_urls()]

    def sync_catalog_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_sync_permission(request):
            raise PermissionDenied
        from ecom_ai.tasks import celery_enabled, dispatch
        from ecom_ai.tasks.catalog import sync_catalog

        if celery_enabled():
            dispatch(sync_catalog)
            self.message_user(request, "Catalog sync queued; refresh in a moment.", messages.INFO)
        else:
            counts = sync_catalog.apply(throw=True).get()
            self.message_user(request, f"Catalog synced: {_describe(counts)}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:ecom_ai_item_changelist"))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_sync": self.has_sync_permission(request)}
        return super().changelist_view(request, extra_context)
