"""Shapes of the chat endpoint, for the OpenAPI schema (the view validates the text itself,
with ``ecom_ai.chat.service.clean_text``)."""

from rest_framework import serializers

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import Conversation, Message

#: at least one character that is neither white space nor a control character (those are
#: blanked before the message is checked for emptiness)
NON_EMPTY_TEXT = r"[^\s\x00-\x1f\x7f]"


class ChatMessageInSerializer(serializers.Serializer):
    text = serializers.RegexField(
        NON_EMPTY_TEXT,
        max_length=1000,
        help_text="The shopper's message: not empty or only white space, at most CHAT_MAX_MESSAGE_LENGTH "
        "characters (1000 by default), valid Unicode text.",
    )
    after = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=10**18 - 1,
        help_text="The id of the last message the client has shown: the reply carries every message after it "
        "(a staff reply stored since the last poll included). Without it: only the new messages.",
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["text"].max_length = ecom_settings.CHAT_MAX_MESSAGE_LENGTH
        return fields


class ChatConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[c[0] for c in Conversation.STATUS_CHOICES])
    waiting_for_staff = serializers.BooleanField(help_text="Handed off to staff (the widget shows a notice).")


class ChatSourceSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="order, article, product, handoff, order_lookup, account, llm...")
    label = serializers.CharField(required=False)
    url = serializers.CharField(required=False)
    number = serializers.CharField(required=False)
    key = serializers.CharField(required=False)
    id = serializers.JSONField(required=False)


class ChatMessageOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sender = serializers.ChoiceField(choices=[c[0] for c in Message.SENDER_CHOICES])
    text = serializers.CharField(help_text="Plain text (insert it as text, never as HTML).")
    sources = ChatSourceSerializer(many=True)
    suggestions = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            "Buttons the bot offers (a clarifying question, off-topic suggestions): send a label back as the "
            "shopper's next message."
        ),
    )
    created_at = serializers.DateTimeField()


class ChatPayloadSerializer(serializers.Serializer):
    conversation = ChatConversationSerializer(allow_null=True)
    messages = ChatMessageOutSerializer(many=True)
    poll_seconds = serializers.IntegerField()
