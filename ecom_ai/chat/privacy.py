"""Chat conversations in user data export and erasure (``ecom_ai.events.privacy``).

A user's chat is every conversation with their user key, and the anonymous conversations
of their own visitors (visitor keys stitched to them and to no other user). Export: each
conversation with its messages (the stored, redacted text and the answer's sources: order
numbers, totals, tracking numbers, articles). Erasure deletes the conversations and their
messages: they hold what the shopper typed (e-mail addresses, order numbers, addresses)
and what the bot answered about their orders, and nothing in them is needed once the
person is gone (the intent-review counts of the admin's report are recomputed without them).
"""

from __future__ import annotations

from django.db.models import Q

CONVERSATION_FIELDS = (
    "id",
    "visitor_key",
    "user_key",
    "status",
    "handoff_reason",
    "state",
    "created_at",
    "updated_at",
    "handed_off_at",
)
MESSAGE_FIELDS = ("conversation_id", "id", "sender", "text", "intent", "sources", "created_at")


def user_conversations(user_key: str, visitor_keys: list):
    from ecom_ai.models import Conversation

    query = Q(user_key=user_key)
    if visitor_keys:
        query |= Q(visitor_key__in=list(visitor_keys), user_key="")
    return Conversation.objects.filter(query)


def export_conversations(user_key: str, visitor_keys: list) -> list:
    from ecom_ai.models import Message

    conversations = list(
        user_conversations(user_key, visitor_keys).order_by("created_at", "pk").values(*CONVERSATION_FIELDS)
    )
    by_id = {row["id"]: {**row, "messages": []} for row in conversations}
    if by_id:
        messages = Message.objects.filter(conversation_id__in=list(by_id)).order_by("conversation_id", "id")
        for message in messages.values(*MESSAGE_FIELDS).iterator(chunk_size=2000):
            by_id[message.pop("conversation_id")]["messages"].append(message)
    return list(by_id.values())


def erase_conversations(user_key: str, visitor_keys: list) -> dict:
    from ecom_ai.models import Message

    conversations = user_conversations(user_key, visitor_keys)
    messages, _ = Message.objects.filter(conversation__in=conversations.values("pk")).delete()
    count, _ = conversations.delete()
    return {"chat_conversations": count, "chat_messages": messages} if count else {}


def register() -> None:
    from ecom_ai.events import privacy

    privacy.register("chat", exporter=export_conversations, eraser=erase_conversations)
