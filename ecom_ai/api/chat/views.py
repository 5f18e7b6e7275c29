"""The shopper's chat endpoint: ``GET``/``POST /ecom-ai/api/v1/chat/messages/``.

Anonymous and logged-in shoppers; the Django session (CSRF enforced on POST, logged in or
not) says which conversation is theirs — a shopper only ever sees their own conversation.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ecom_ai.api.errors import DatabaseUnavailableMixin
from ecom_ai.adapters import get_adapter
from ecom_ai.api.base import EcomAIAPIView, StrictQueryMixin
from ecom_ai.api.chat.serializers import ChatMessageInSerializer, ChatPayloadSerializer
from ecom_ai.api.events.authentication import BrowserSessionAuthentication
from ecom_ai.api.throttling import ResilientRateThrottle
from ecom_ai.chat.service import ChatInputError, ChatService, clean_text
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.middleware import get_visitor_key
from ecom_ai.models import Conversation, Message

SESSION_KEY = "ecom_ai_chat_conversation"
SOURCE_FIELDS = ("type", "label", "url", "number", "key", "id")


class ChatThrottle(ResilientRateThrottle):
    """``CHAT_THROTTLE_RATE`` messages per logged-in user, else per client IP."""

    scope = "ecom_ai_chat"

    def get_rate(self):
        return ecom_settings.CHAT_THROTTLE_RATE

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        ident = f"user:{user.pk}" if user is not None and user.is_authenticated else f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def _safe_url(url) -> str:
    url = str(url or "")
    return url if url.startswith(("/", "https://", "http://")) and not url.startswith("//") else ""


def serialize_message(message: Message) -> dict:
    sources = []
    for source in message.sources or []:
        if not isinstance(source, dict) or source.get("type") in ("intent",):
            continue
        item = {k: source[k] for k in SOURCE_FIELDS if k in source}
        if "url" in item:
            item["url"] = _safe_url(item["url"])
            if not item["url"]:
                del item["url"]
        sources.append(item)
    return {
        "id": message.pk,
        "sender": message.sender,
        "text": message.text,
        "sources": sources,
        "suggestions": [str(label) for label in (message.suggestions or []) if isinstance(label, str)][:6],
        "created_at": message.created_at.isoformat(),
    }


def _user_key(request) -> str:
    return get_adapter().user_key(getattr(request, "user", None))


def current_conversation(request, *, include_closed: bool = False) -> Conversation | None:
    """This shopper's conversation: the one in the session if it is still theirs, else the
    latest open one of the logged-in user (or of the visitor cookie)."""
    user_key = _user_key(request)
    qs = (
        Conversation.objects.all()
        if include_closed
        else Conversation.objects.exclude(status=Conversation.STATUS_CLOSED)
    )
    conversation_id = request.session.get(SESSION_KEY)
    if isinstance(conversation_id, int):
        conversation = qs.filter(pk=conversation_id).first()
        if conversation is not None and conversation.user_key in ("", user_key):
            return conversation  # an anonymous conversation follows the shopper who logs in
    if user_key:
        # a new session picks up only a recent conversation of the account (an old, handed-off
        # one must not follow the shopper into every new session)
        recent = timezone.now() - timedelta(minutes=float(ecom_settings.CHAT_RESUME_MINUTES))
        mine = Q(user_key=user_key, updated_at__gte=recent)
    else:
        visitor = get_visitor_key(request)
        if not visitor:
            return None
        mine = Q(visitor_key=visitor, user_key="")
    conversation = qs.filter(mine).order_by("-updated_at").first()
    if conversation is not None:
        request.session[SESSION_KEY] = conversation.pk
    return conversation


class ChatHistoryQuerySerializer(StrictQueryMixin, serializers.Serializer):
    after = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=2**63 - 1,
        help_text="Only messages with a larger id (the last id the client has).",
    )


class ChatMessagesView(DatabaseUnavailableMixin, EcomAIAPIView):
    authentication_classes = [BrowserSessionAuthentication]
    permission_classes = [AllowAny]

    def get_throttles(self):
        return [ChatThrottle()] if self.request.method == "POST" else []

    def throttled(self, request, wait):
        from rest_framework.exceptions import Throttled

        raise Throttled(wait, detail=_("Too many messages; please wait a moment before writing again."))

    @extend_schema(
        operation_id="ecom_ai_chat_messages_retrieve",
        summary="This shopper's conversation (messages after ?after=<id>)",
        parameters=[ChatHistoryQuerySerializer],
        responses={200: ChatPayloadSerializer},
    )
    def get(self, request):
        query = ChatHistoryQuerySerializer(data=request.query_params)
        if not query.is_valid():
            return Response(
                {
                    "detail": "'after' must be a message id (a non-negative integer).",
                    "after": query.errors.get("after", []),
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        conversation = current_conversation(request, include_closed=True)
        return Response(self._payload(conversation, after=query.validated_data["after"]))

    @extend_schema(
        operation_id="ecom_ai_chat_messages_create",
        summary="Send a message to the shop's assistant",
        request=ChatMessageInSerializer,
        responses={201: ChatPayloadSerializer},
    )
    def post(self, request):
        data = request.data
        if not isinstance(data, dict) or "text" not in data:
            return Response(
                {"detail": _("Send a JSON object with a 'text' field."), "code": "missing_text"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        text = data.get("text")
        if not isinstance(text, str):
            return Response(
                {"detail": "'text' must be a string.", "code": "invalid_text"}, status=status.HTTP_400_BAD_REQUEST
            )
        service = ChatService()
        try:
            clean_text(text)  # validate before anything is written
        except ChatInputError as exc:
            return Response({"detail": str(exc), "code": "invalid_text"}, status=status.HTTP_400_BAD_REQUEST)
        conversation = current_conversation(request)
        if conversation is None:
            conversation = service.start_conversation(visitor_key=get_visitor_key(request), user=request.user)
        # the reply carries every message after the last one the widget has seen ("after" in the body):
        # a staff message posted between two polls is never skipped; without it, the new messages
        after = data.get("after")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 10**18):
            return Response(
                {"detail": "'after' must be a message id (a non-negative integer).", "code": "invalid_after"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        last_id = (
            after
            if after is not None
            else (conversation.messages.order_by("-id").values_list("id", flat=True).first() or 0)
        )
        service.reply(conversation, text, user=request.user, client_ip=ChatThrottle().get_ident(request) or "")
        request.session[SESSION_KEY] = conversation.pk
        conversation.refresh_from_db()
        return Response(self._payload(conversation, after=last_id), status=status.HTTP_201_CREATED)

    @staticmethod
    def _payload(conversation: Conversation | None, *, after: int = 0) -> dict:
        poll = ecom_settings.CHAT_POLL_SECONDS
        if conversation is None:
            return {"conversation": None, "messages": [], "poll_seconds": poll}
        limit = ecom_settings.CHAT_HISTORY_LIMIT
        if after:  # oldest first: a widget that is behind catches up page by page, never skipping one
            messages = list(conversation.messages.filter(id__gt=after).order_by("id")[:limit])
        else:  # a fresh widget: the latest page of the conversation
            messages = list(reversed(conversation.messages.order_by("-id")[:limit]))
        return {
            "conversation": {
                "id": conversation.pk,
                "status": conversation.status,
                "waiting_for_staff": conversation.status == Conversation.STATUS_HANDED_OFF,
            },
            "messages": [serialize_message(m) for m in messages],
            "poll_seconds": poll,
        }
