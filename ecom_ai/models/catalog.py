"""ecom_ai's mirror of the host catalog."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Item(models.Model):
    """A host product as ecom_ai knows it, keyed by the host's product key as a string.

    Kept in sync by signals on the host product model and by
    ``manage.py ecom_ai_sync_catalog``. Events may name keys this table does not know yet.
    """

    key = models.CharField(_("key"), max_length=191, unique=True)
    title = models.CharField(_("title"), max_length=255, blank=True, default="")
    text = models.TextField(_("text"), blank=True, default="")
    category = models.CharField(_("category"), max_length=255, blank=True, default="")
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=2, null=True, blank=True)
    in_stock = models.BooleanField(_("in stock"), default=True)
    is_active = models.BooleanField(_("active"), default=True, help_text=_("False once the host product is deleted."))
    url = models.CharField(_("URL"), max_length=500, blank=True, default="")
    features = models.JSONField(_("extra features"), default=dict, blank=True)
    embedding = models.BinaryField(_("text embedding"), null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, default="", editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("item")
        verbose_name_plural = _("items")
        ordering = ("key",)
        indexes = [
            models.Index(fields=("category", "in_stock"), name="ecom_ai_item_cat_stock"),
            models.Index(fields=("is_active", "in_stock"), name="ecom_ai_item_active_stock"),
        ]

    def __str__(self):
        return self.title or self.key
