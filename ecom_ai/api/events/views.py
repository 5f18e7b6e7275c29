"""The batch events endpoint: ``POST /ecom-ai/api/v1/events/``."""

from __future__ import annotations

import logging

from django.conf import settings as django_settings
from django.db import DatabaseError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ecom_ai.api.base import EcomAIAPIView
from ecom_ai.api.errors import DatabaseUnavailableMixin, database_unavailable_response
from ecom_ai.api.events.parsers import EventsJSONParser
from ecom_ai.api.events.authentication import BrowserSessionAuthentication, ChannelKeyAuthentication
from ecom_ai.api.events.serializers import BatchAcceptedSerializer, BatchErrorSerializer, EventBatchSerializer
from ecom_ai.api.events.throttles import BrowserEventsThrottle, ChannelKeyThrottle
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.tracking import BatchRejected, record_batch
from ecom_ai.models import ChannelKey

logger = logging.getLogger("ecom_ai.events")

BROWSER_SOURCE = "browser"


#: JSON may escape any character as ``\uXXXX`` (6 bytes for 1 to 3 bytes of UTF-8): a batch that is
#: valid once decoded (contexts within MAX_CONTEXT_BYTES) stays within the body limit however escaped
ESCAPE_FACTOR = 6
#: room for the other fields of one event (keys, type, times, ids) as sent
EVENT_FIELDS_BYTES = 1024


def max_body_bytes() -> int:
    """The largest events body read: sized from what a valid batch holds once decoded (every
    event's context at ``MAX_CONTEXT_BYTES``) times the worst JSON escaping; the limits on
    the decoded content (batch size, context bytes) are then checked event by event."""
    per_event = ESCAPE_FACTOR * (ecom_settings.MAX_CONTEXT_BYTES + EVENT_FIELDS_BYTES)
    return max(django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0, ecom_settings.MAX_BATCH_SIZE * per_event)


class EventBatchView(DatabaseUnavailableMixin, EcomAIAPIView):
    authentication_classes = [ChannelKeyAuthentication, BrowserSessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [BrowserEventsThrottle, ChannelKeyThrottle]
    parser_classes = [EventsJSONParser]
    database_unavailable_detail = gettext_lazy("Events could not be stored right now; retry later.")

    def max_body_bytes(self) -> int | None:
        return max_body_bytes()

    @extend_schema(
        operation_id="ecom_ai_events_create",
        summary="Record a batch of events",
        description=(
            "Validates every event; if any is bad nothing is stored and `errors` lists each bad "
            "event by index. Idempotent on `client_event_id` per sender. Browsers authenticate "
            "with the session (anonymous shoppers allowed) and must send the CSRF token; "
            "server-to-server senders use `Authorization: Api-Key <key>`."
        ),
        request=EventBatchSerializer,
        responses={
            201: OpenApiResponse(BatchAcceptedSerializer, description="At least one event stored."),
            200: OpenApiResponse(BatchAcceptedSerializer, description="Nothing new (all duplicates, or empty)."),
            400: OpenApiResponse(BatchErrorSerializer, description="Malformed JSON or invalid events."),
            401: OpenApiResponse(BatchErrorSerializer, description="Unknown or malformed API key."),
            403: OpenApiResponse(BatchErrorSerializer, description="Deactivated API key or CSRF failure."),
            413: OpenApiResponse(BatchErrorSerializer, description="More than MAX_BATCH_SIZE events."),
            429: OpenApiResponse(BatchErrorSerializer, description="Throttled."),
        },
        examples=[
            OpenApiExample(
                "Browser batch",
                request_only=True,
                value={
                    "events": [
                        {
                            "event_type": "view",
                            "item_key": "42",
                            "client_event_id": "6f1c0c2e-1",
                            "client_time": "2026-01-31T12:00:00Z",
                        },
                        {"event_type": "add_to_cart", "item_key": "42", "quantity": 1, "value": "19.90"},
                    ]
                },
            ),
            OpenApiExample(
                "Accepted", response_only=True, status_codes=["201"], value={"accepted": 2, "duplicates": 0}
            ),
            OpenApiExample(
                "Invalid event",
                response_only=True,
                status_codes=["400"],
                value={"errors": {"1": {"event_type": "unknown event type 'viewed'; known: ..."}}},
            ),
        ],
        tags=["events"],
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            return Response({"detail": _('The body must be a JSON object: {"events": [...]}.')}, status=400)
        unknown = sorted(str(k) for k in body if k != "events")
        if unknown:
            return Response(
                {"detail": _("Unknown top-level field(s): %(fields)s.") % {"fields": ", ".join(unknown)}}, status=400
            )
        if "events" not in body:
            return Response({"detail": _("Missing 'events': the body must be {\"events\": [...]}.")}, status=400)

        key = request.auth if isinstance(request.auth, ChannelKey) else None
        try:
            if key is not None:
                result = record_batch(body["events"], source=key.name, channel_default=key.channel, api_key=key)
            else:
                result = record_batch(body["events"], source=BROWSER_SOURCE, channel_default="web", request=request)
        except BatchRejected as exc:
            code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.too_large else status.HTTP_400_BAD_REQUEST
            return Response({"detail": exc.message}, status=code)
        except DatabaseError:
            logger.exception("storing an event batch failed")
            return database_unavailable_response(_("Events could not be stored right now; retry later."))

        if result.errors:
            return Response({"errors": {str(i): e for i, e in result.errors.items()}}, status=400)
        code = status.HTTP_201_CREATED if result.accepted else status.HTTP_200_OK
        return Response({"accepted": result.accepted, "duplicates": result.duplicates}, status=code)
