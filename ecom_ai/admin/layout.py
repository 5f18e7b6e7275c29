"""The base of ecom_ai's ModelAdmins: pages that fit a 1366 x 900 laptop screen.

``EcomAiModelAdmin`` adds ``ecom_ai/admin/layout.css`` (one-line list cells with an ellipsis,
compact inlines, wrapping read-only values) and ``layout.js`` (the full text of a cut cell as
its tooltip) to every changelist and change form. ``truncated(text)`` cuts a long value in a
list column explicitly, with the full text on hover.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

LAYOUT_CSS = "ecom_ai/admin/layout.css"
LAYOUT_JS = "ecom_ai/admin/layout.js"


class EcomAiModelAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": (LAYOUT_CSS,)}
        js = (LAYOUT_JS,)


class ReadOnlyPageMixin:
    """A change page that only shows a record (every field read-only): no Save buttons; Delete
    only where ``has_delete_permission`` allows it for that record."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)


def truncated(text, width: str = "14em") -> str:
    """``text`` on one line, cut to ``width`` with an ellipsis; the full text shows on hover."""
    text = "" if text is None else str(text)
    if not text:
        return "–"
    return format_html('<span class="ecom-ai-trunc" style="max-width:{}" title="{}">{}</span>', width, text, text)


def short_datetime(value) -> str:
    """``2026-12-07 13:05`` (local time): a list column that stays narrow."""
    if value is None:
        return "–"
    from django.utils import timezone

    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return format_html(
        '<span title="{}">{}</span>', value.isoformat(timespec="seconds"), value.strftime("%Y-%m-%d %H:%M")
    )


def rounded(value, digits: int = 3) -> str:
    """A float for people: at most ``digits`` significant decimals, never 0.39973557306193974."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) < 1:
            return f"{value:.{digits}g}"
        text = f"{value:,.{max(0, digits - 1)}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)
