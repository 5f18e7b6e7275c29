"""Omnichannel events, visitor identities and per-channel API keys."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    """One thing a shopper did, on any channel.

    Users and items are referenced by string keys (the host's primary keys as text), never
    by foreign keys: this table is large and events may arrive before the catalog mirror
    knows an item. ``occurred_at`` is the client's time when it was plausible, otherwise the
    server's; ``received_at`` is always the server's.
    """

    event_type = models.CharField(_("type"), max_length=32)
    channel = models.CharField(_("channel"), max_length=32)
    visitor_key = models.CharField(_("visitor"), max_length=64, blank=True, default="")
    user_key = models.CharField(_("user"), max_length=64, blank=True, default="")
    item_key = models.CharField(_("item"), max_length=191, blank=True, default="")
    quantity = models.IntegerField(_("quantity"), null=True, blank=True)
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2, null=True, blank=True)
    context = models.JSONField(_("context"), default=dict, blank=True)
    client_time = models.DateTimeField(_("client time"), null=True, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    # NULL, not "": events without a client id must not collide in the unique constraint
    client_event_id = models.CharField(_("client event id"), max_length=64, null=True, blank=True)  # noqa: DJ001
    source = models.CharField(
        _("source"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("How the event arrived: python, browser, or the name of a channel key."),
    )

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ("-occurred_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("source", "client_event_id"),
                condition=models.Q(client_event_id__isnull=False),
                name="ecom_ai_event_idempotency",
            )
        ]
        indexes = [
            # serving: a user's / visitor's latest events
            models.Index(fields=("user_key", "occurred_at"), name="ecom_ai_ev_user_time"),
            models.Index(fields=("visitor_key", "occurred_at"), name="ecom_ai_ev_visitor_time"),
            # training: co-occurrence, popularity per item and type over a window
            models.Index(fields=("item_key", "event_type", "occurred_at"), name="ecom_ai_ev_item_type_time"),
            models.Index(fields=("event_type", "occurred_at"), name="ecom_ai_ev_type_time"),
            # admin overview and retention
            models.Index(fields=("channel", "occurred_at"), name="ecom_ai_ev_channel_time"),
            models.Index(fields=("occurred_at",), name="ecom_ai_ev_time"),
        ]

    def __str__(self):
        who = self.user_key and f"user {self.user_key}" or f"visitor {self.visitor_key[:8]}"
        return f"{self.event_type} on {self.channel} by {who}"


class VisitorIdentity(models.Model):
    """A visitor key (cookie, app install, store loyalty card...) known to belong to a user."""

    visitor_key = models.CharField(_("visitor"), max_length=64)
    user_key = models.CharField(_("user"), max_length=64)
    channel = models.CharField(_("channel"), max_length=32, default="web")
    first_seen = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        ordering = ("-last_seen",)
        constraints = [models.UniqueConstraint(fields=("visitor_key", "user_key"), name="ecom_ai_identity_unique")]
        indexes = [
            models.Index(fields=("visitor_key", "last_seen"), name="ecom_ai_ident_visitor"),
            models.Index(fields=("user_key",), name="ecom_ai_ident_user"),
        ]

    def __str__(self):
        return f"{self.visitor_key[:8]}… → user {self.user_key}"


def hash_api_key(raw_key: str) -> str:
    """SHA-256 of an API key. Keys are 256-bit random tokens, so a fast hash is safe."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ChannelKey(models.Model):
    """An API key for a server-to-server channel (app backend, POS, mini-program server).

    Only a hash is stored; the raw key is shown once, when created.
    """

    PREFIX_LENGTH = 8

    name = models.CharField(_("name"), max_length=64, unique=True)
    channel = models.CharField(_("channel"), max_length=32)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("channel API key")
        verbose_name_plural = _("channel API keys")
        ordering = ("name",)

    def __str__(self):
        return f"{self.name} ({self.channel}, {self.prefix}…)"

    def set_new_key(self) -> str:
        """Generate a new raw key, store its hash and prefix, return the raw key (once)."""
        raw = "eai_" + secrets.token_urlsafe(32)
        self.prefix = raw[4 : 4 + self.PREFIX_LENGTH]
        self.key_hash = hash_api_key(raw)
        return raw

    @classmethod
    def create_with_key(cls, *, name: str, channel: str) -> tuple["ChannelKey", str]:
        obj = cls(name=name, channel=channel)
        raw = obj.set_new_key()
        obj.save()
        return obj, raw

    @classmethod
    def find(cls, raw_key: str) -> "ChannelKey | None":
        """The active key matching ``raw_key``, or None."""
        if not raw_key or not raw_key.startswith("eai_"):
            return None
        prefix = raw_key[4 : 4 + cls.PREFIX_LENGTH]
        obj = cls.objects.filter(prefix=prefix, is_active=True).first()
        if obj and secrets.compare_digest(obj.key_hash, hash_api_key(raw_key)):
            return obj
        return None
