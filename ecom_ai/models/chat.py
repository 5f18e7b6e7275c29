"""Customer-service chat: intents and their examples, knowledge base, conversations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Intent(models.Model):
    """Something shoppers ask for, with how the bot answers it."""

    HANDLER_TEMPLATE = "template"
    HANDLER_ORDER_STATUS = "order_status"
    HANDLER_KNOWLEDGE = "knowledge"
    HANDLER_PRODUCT = "product_search"
    HANDLER_HANDOFF = "handoff"
    HANDLER_CHOICES = [
        (HANDLER_TEMPLATE, _("answer with the template")),
        (HANDLER_ORDER_STATUS, _("look up the shopper's order")),
        (HANDLER_KNOWLEDGE, _("answer from the knowledge base (topic)")),
        (HANDLER_PRODUCT, _("search the catalog")),
        (HANDLER_HANDOFF, _("hand off to a human")),
    ]

    name = models.SlugField(_("name"), max_length=64, unique=True)
    description = models.CharField(_("description"), max_length=255, blank=True, default="")
    handler = models.CharField(_("handler"), max_length=32, choices=HANDLER_CHOICES, default=HANDLER_TEMPLATE)
    topic = models.CharField(
        _("knowledge topic"),
        max_length=32,
        blank=True,
        default="",
        help_text=_("For the knowledge handler: which articles may answer (empty = any)."),
    )
    answer_template = models.TextField(
        _("answer template"),
        blank=True,
        default="",
        help_text=_("Text of the answer for the template handler, or an introduction for the others."),
    )
    translations = models.JSONField(
        _("answer template in other languages"),
        default=dict,
        blank=True,
        help_text=_(
            'The answer template by language code, e.g. {"zh": "您好！"}; the template above is the '
            "shop's default language."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("chat intent")
        verbose_name_plural = _("chat intents")
        ordering = ("name",)

    def __str__(self):
        return self.name


class IntentExample(models.Model):
    """A phrase a shopper might use for an intent (training data for the classifier)."""

    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="examples")
    text = models.CharField(_("text"), max_length=500)
    language = models.CharField(_("language"), max_length=16, default="en")
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("intent example")
        verbose_name_plural = _("intent examples")
        ordering = ("intent", "id")
        constraints = [
            models.UniqueConstraint(fields=("intent", "text"), name="ecom_ai_intent_example_unique"),
        ]

    def __str__(self):
        return self.text


class KnowledgeArticle(models.Model):
    """A help-centre answer the bot may quote (and cite)."""

    TOPIC_CHOICES = [
        ("returns", _("returns")),
        ("refunds", _("refunds")),
        ("cancellation", _("cancellation")),
        ("shipping", _("shipping")),
        ("payment", _("payment")),
        ("other", _("other")),
    ]

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"))
    questions = models.TextField(
        _("question variants"),
        blank=True,
        default="",
        help_text=_("One question per line that this article answers."),
    )
    topic = models.CharField(_("topic"), max_length=32, choices=TOPIC_CHOICES, default="other")
    url = models.CharField(
        _("URL"), max_length=500, blank=True, default="", help_text=_("Optional link to the full page in the shop.")
    )
    language = models.CharField(
        _("language"),
        max_length=16,
        blank=True,
        default="",
        help_text=_("Language code of this article (en, zh...); empty = the shop's default chat language."),
    )
    translation_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="translations",
        verbose_name=_("translation of"),
        help_text=_("The article this one translates: the chat answers in the shopper's language when it can."),
    )
    published = models.BooleanField(_("published"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")
        ordering = ("topic", "title")
        indexes = [models.Index(fields=("published", "topic"), name="ecom_ai_kb_pub_topic")]

    def __str__(self):
        return self.title

    def question_list(self) -> list[str]:
        return [q.strip() for q in self.questions.splitlines() if q.strip()]


class Conversation(models.Model):
    """One chat between a shopper (visitor, maybe logged in) and the bot or staff."""

    STATUS_BOT = "bot"
    STATUS_HANDED_OFF = "handed_off"
    STATUS_CLOSED = "closed"
    STATUS_CHOICES = [
        (STATUS_BOT, _("bot answers")),
        (STATUS_HANDED_OFF, _("handed off to staff")),
        (STATUS_CLOSED, _("closed")),
    ]

    visitor_key = models.CharField(_("visitor"), max_length=64, blank=True, default="")
    user_key = models.CharField(_("user"), max_length=64, blank=True, default="")
    status = models.CharField(_("status"), max_length=16, choices=STATUS_CHOICES, default=STATUS_BOT)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned staff"),
    )
    handoff_reason = models.CharField(_("hand-off reason"), max_length=200, blank=True, default="")
    state = models.JSONField(_("dialogue state"), default=dict, blank=True)
    handed_off_at = models.DateTimeField(_("handed off"), null=True, blank=True)
    staff_active_at = models.DateTimeField(
        _("last staff action"),
        null=True,
        blank=True,
        help_text=_(
            "When staff last took over or replied; a hand-off expires CHAT_HANDOFF_EXPIRY_MINUTES after "
            "the hand-off or this, whichever is later."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("chat conversation")
        verbose_name_plural = _("chat conversations")
        ordering = ("-updated_at",)
        indexes = [
            models.Index(fields=("status", "updated_at"), name="ecom_ai_conv_status_upd"),
            models.Index(fields=("visitor_key", "updated_at"), name="ecom_ai_conv_visitor"),
            models.Index(fields=("user_key", "updated_at"), name="ecom_ai_conv_user"),
        ]

    def __str__(self):
        who = f"user {self.user_key}" if self.user_key else f"visitor {self.visitor_key[:8]}"
        return f"Conversation {self.pk} ({who})"


class Message(models.Model):
    """One message of a conversation; ``text`` is stored redacted."""

    SENDER_SHOPPER = "shopper"
    SENDER_BOT = "bot"
    SENDER_STAFF = "staff"
    SENDER_CHOICES = [
        (SENDER_SHOPPER, _("shopper")),
        (SENDER_BOT, _("bot")),
        (SENDER_STAFF, _("staff")),
    ]

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.CharField(_("sender"), max_length=16, choices=SENDER_CHOICES)
    text = models.TextField(_("text"))
    intent = models.CharField(_("intent"), max_length=64, blank=True, default="")
    confidence = models.FloatField(_("confidence"), null=True, blank=True)
    sources = models.JSONField(_("sources"), default=list, blank=True)
    suggestions = models.JSONField(
        _("suggestions"),
        default=list,
        blank=True,
        help_text=_("Buttons offered with a bot answer (a clarifying question, off-topic suggestions)."),
    )
    language = models.CharField(_("language"), max_length=16, blank=True, default="")
    handed_off = models.BooleanField(_("caused hand-off"), default=False)
    reviewed_intent = models.CharField(
        _("correct intent (staff review)"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("Set by staff to measure the classifier on real traffic."),
    )
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")
        ordering = ("conversation", "id")
        indexes = [
            models.Index(fields=("conversation", "id"), name="ecom_ai_msg_conv_id"),
            models.Index(fields=("sender", "intent"), name="ecom_ai_msg_sender_intent"),
        ]

    def __str__(self):
        return f"{self.sender}: {self.text[:60]}"
