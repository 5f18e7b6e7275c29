"""Chat admin: intents with examples, knowledge base, the hand-off inbox, and a report of
per-intent accuracy and hand-off rate."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from ecom_ai.admin.layout import EcomAiModelAdmin
from ecom_ai.chat.service import ChatInputError, ChatService
from ecom_ai.models import Conversation, Intent, IntentExample, KnowledgeArticle, Message


class IntentExampleInline(admin.TabularInline):
    model = IntentExample
    extra = 3
    fields = ("text", "language")


@admin.register(Intent)
class IntentAdmin(EcomAiModelAdmin):
    list_display = ("name", "handler", "topic", "enabled", "example_count", "description")
    list_filter = ("enabled", "handler", "topic")
    search_fields = ("name", "description", "examples__text")
    inlines = [IntentExampleInline]
    actions = ["train_classifier"]
    change_list_template = "ecom_ai/admin/chat/intent_change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_examples=Count("examples"))

    @admin.display(description=_("examples"), ordering="_examples")
    def example_count(self, intent):
        return intent._examples

    @admin.action(description=_("Train the intent classifier on all enabled intents"))
    def train_classifier(self, request, queryset=None):
        from django.core.exceptions import ImproperlyConfigured

        from ecom_ai.ml.registry import TrainingLocked
        from ecom_ai.tasks.ml import request_training, where_training_runs

        where = where_training_runs()
        try:
            run = request_training("intent", {}, user=request.user)
        except (TrainingLocked, ImproperlyConfigured) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            f"Intent classifier training requested (run #{run.pk}); follow it under model versions. {where}",
            messages.SUCCESS,
        )

    def get_urls(self):
        return [
            path("report/", self.admin_site.admin_view(self.report_view), name="ecom_ai_intent_report"),
        ] + super().get_urls()

    def report_view(self, request):
        context = {
            **self.admin_site.each_context(request),
            "title": _("Chat: accuracy and hand-offs per intent"),
            "opts": self.model._meta,
            **intent_report(),
        }
        return TemplateResponse(request, "ecom_ai/admin/chat/report.html", context)


def intent_report() -> dict:
    """Per intent: examples, held-out recall of the active model, live messages, staff-reviewed
    accuracy, and the share of bot answers that handed the conversation off."""
    from ecom_ai.ml.registry import active_version

    version = active_version("intent")
    metrics = (version.metrics or {}) if version else {}
    examples = dict(Intent.objects.annotate(n=Count("examples")).values_list("name", "n"))
    shopper = (
        Message.objects.filter(sender=Message.SENDER_SHOPPER)
        .values("intent")
        .annotate(
            total=Count("id"),
            reviewed=Count("id", filter=~Q(reviewed_intent="")),
            correct=Count("id", filter=Q(reviewed_intent=F("intent"))),
        )
    )
    bot = (
        Message.objects.filter(sender=Message.SENDER_BOT)
        .values("intent")
        .annotate(answers=Count("id"), handoffs=Count("id", filter=Q(handed_off=True)))
    )
    by_shopper = {row["intent"]: row for row in shopper}
    by_bot = {row["intent"]: row for row in bot}
    names = sorted(set(examples) | set(by_shopper) | set(by_bot))
    rows = []
    for name in names:
        s = by_shopper.get(name, {})
        b = by_bot.get(name, {})
        rows.append(
            {
                "intent": name or "(out of scope)",
                "examples": examples.get(name, ""),
                "heldout_recall": metrics.get(f"recall/{name}"),
                "heldout_f1": metrics.get(f"f1/{name}"),
                "messages": s.get("total", 0),
                "reviewed": s.get("reviewed", 0),
                "reviewed_accuracy": (s["correct"] / s["reviewed"]) if s.get("reviewed") else None,
                "answers": b.get("answers", 0),
                "handoff_rate": (b["handoffs"] / b["answers"]) if b.get("answers") else None,
            }
        )
    totals = Message.objects.filter(sender=Message.SENDER_BOT).aggregate(
        answers=Count("id"), handoffs=Count("id", filter=Q(handed_off=True))
    )
    return {
        "rows": rows,
        "version": version,
        "overall_accuracy": (version.metrics or {}).get("accuracy") if version else None,
        "overall_macro_f1": (version.metrics or {}).get("macro_f1") if version else None,
        "overall_handoff_rate": totals["handoffs"] / totals["answers"] if totals["answers"] else None,
    }


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(EcomAiModelAdmin):
    list_display = ("title", "language", "translation_of", "topic", "published", "updated_at")
    list_filter = ("topic", "language", "published")
    list_select_related = ("translation_of",)
    search_fields = ("title", "body", "questions")
    fields = ("title", "language", "translation_of", "topic", "body", "questions", "url", "published")
    raw_id_fields = ("translation_of",)


class ConversationForm(forms.ModelForm):
    reply = forms.CharField(
        label=_("Reply to the shopper"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text=_(
            "Sent as customer service; the shopper sees it in the chat within seconds. "
            "While staff holds the conversation the bot stays quiet."
        ),
    )
    then = forms.ChoiceField(
        label=_("Then"),
        required=False,
        initial="keep",
        choices=[
            ("keep", _("keep the conversation with staff")),
            ("bot", _("hand it back to the bot")),
            ("close", _("close the conversation")),
        ],
    )

    class Meta:
        model = Conversation
        fields = ()

    def clean_reply(self):
        text = self.cleaned_data.get("reply", "")
        if text.strip():
            from ecom_ai.chat.service import clean_text

            try:
                clean_text(text)
            except ChatInputError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return text


@admin.register(Conversation)
class ConversationAdmin(EcomAiModelAdmin):
    """The hand-off inbox: conversations waiting for staff come first."""

    form = ConversationForm
    list_display = ("__str__", "status", "assigned_to", "handoff_reason", "message_count", "updated_at")
    list_filter = ("status",)
    list_select_related = ("assigned_to",)
    search_fields = ("user_key", "visitor_key", "messages__text")
    readonly_fields = (
        "status",
        "user_key",
        "visitor_key",
        "assigned_to",
        "handoff_reason",
        "handed_off_at",
        "staff_active_at",
        "created_at",
        "transcript",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "status",
                    "assigned_to",
                    "handoff_reason",
                    "user_key",
                    "visitor_key",
                    "handed_off_at",
                    "staff_active_at",
                    "created_at",
                )
            },
        ),
        (_("Transcript"), {"fields": ("transcript",)}),
        (_("Answer"), {"fields": ("reply", "then")}),
    )
    actions = ["take_over", "close_conversations", "return_to_bot"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_messages=Count("messages"))

    def changelist_view(self, request, extra_context=None):
        if not request.GET and request.method == "GET":  # the inbox opens on the waiting conversations
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(f"{request.path}?status__exact={Conversation.STATUS_HANDED_OFF}")
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("messages"), ordering="_messages")
    def message_count(self, conversation):
        return conversation._messages

    @admin.display(description=_("transcript"))
    def transcript(self, conversation):
        if conversation.pk is None:
            return "-"
        rows = []
        for message in conversation.messages.select_related("staff_user").order_by("id"):
            who = message.get_sender_display()
            if message.sender == Message.SENDER_STAFF and message.staff_user:
                who = f"{who} ({message.staff_user.get_username()})"
            meta = ""
            if message.sender == Message.SENDER_SHOPPER and message.intent:
                meta = f"intent {message.intent} ({message.confidence or 0:.2f})"
            elif message.sources:
                meta = "sources: " + ", ".join(str(s.get("label", "")) for s in message.sources if isinstance(s, dict))
            rows.append((message.sender, f"{message.created_at:%Y-%m-%d %H:%M}", who, message.text, meta))
        body = format_html_join(
            "",
            '<div class="ecom-ai-transcript__msg ecom-ai-transcript__msg--{}" style="margin:0 0 8px;padding:6px 9px;'
            'border-left:3px solid #ccc;white-space:pre-wrap"><small>{} · <strong>{}</strong></small><br>{}'
            '<br><small style="color:#777">{}</small></div>',
            rows,
        )
        return format_html('<div class="ecom-ai-transcript" style="max-width:720px">{}</div>', body or "-")

    def save_model(self, request, obj, form, change):
        reply = (form.cleaned_data.get("reply") or "").strip()
        then = form.cleaned_data.get("then") or "keep"
        if reply:
            ChatService.staff_reply(obj, request.user, reply)
            self.message_user(request, _("Reply sent."), messages.SUCCESS)
        if then == "bot":
            ChatService.return_to_bot(obj)
        elif then == "close":
            ChatService.close(obj)

    @admin.action(description=_("Take over (the bot stops answering)"))
    def take_over(self, request, queryset):
        for conversation in queryset:
            ChatService.take_over(conversation, request.user)
        self.message_user(request, _("You hold %(n)d conversation(s).") % {"n": len(queryset)}, messages.SUCCESS)

    @admin.action(description=_("Close"))
    def close_conversations(self, request, queryset):
        for conversation in queryset:
            ChatService.close(conversation)
        self.message_user(request, _("Closed %(n)d conversation(s).") % {"n": len(queryset)}, messages.SUCCESS)

    @admin.action(description=_("Hand back to the bot"))
    def return_to_bot(self, request, queryset):
        for conversation in queryset:
            ChatService.return_to_bot(conversation)
        self.message_user(
            request, _("%(n)d conversation(s) handed back to the bot.") % {"n": len(queryset)}, messages.SUCCESS
        )


@admin.register(Message)
class MessageAdmin(EcomAiModelAdmin):
    """Shoppers' messages with the intent the classifier gave them; set the correct intent to
    measure accuracy on real traffic (see the intent report)."""

    list_display = ("text_short", "intent", "confidence", "reviewed_intent", "conversation_link", "created_at")
    list_editable = ("reviewed_intent",)
    list_filter = ("intent",)
    search_fields = ("text",)
    list_select_related = ("conversation",)
    fields = (
        "conversation",
        "sender",
        "text",
        "language",
        "intent",
        "confidence",
        "sources",
        "suggestions",
        "reviewed_intent",
        "created_at",
    )
    readonly_fields = (
        "conversation",
        "sender",
        "text",
        "language",
        "intent",
        "confidence",
        "sources",
        "suggestions",
        "created_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).filter(sender=Message.SENDER_SHOPPER)

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("text"))
    def text_short(self, message):
        return message.text[:80]

    @admin.display(description=_("conversation"))
    def conversation_link(self, message):
        url = reverse("admin:ecom_ai_conversation_change", args=[message.conversation_id])
        return format_html('<a href="{}">#{}</a>', url, message.conversation_id)
