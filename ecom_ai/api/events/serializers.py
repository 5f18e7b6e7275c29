"""Request/response shapes of the events endpoint, for the OpenAPI schema.

Validation itself is done by :mod:`ecom_ai.events.validation` (plain Python, shared with
``ecom_ai.track()`` and fast on large batches); these serializers document the format with
the real constraints: the event type and channel enums come from the settings when the
schema is generated (``EVENT_TYPES`` + ``EXTRA_EVENT_TYPES``, ``CHANNELS`` + ``EXTRA_CHANNELS``).
"""

from rest_framework import serializers

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.validation import CLIENT_EVENT_ID_LENGTH, MAX_QUANTITY, MAX_VALUE


class EventInSerializer(serializers.Serializer):
    event_type = serializers.ChoiceField(choices=(), help_text="One of EVENT_TYPES + EXTRA_EVENT_TYPES.")
    channel = serializers.ChoiceField(
        choices=(),
        required=False,
        help_text="One of CHANNELS + EXTRA_CHANNELS. Browsers default to 'web'; a channel key sends its own "
        "channel only (the default when left out).",
    )
    visitor_key = serializers.CharField(
        required=False,
        max_length=64,
        help_text="Channel keys only, and then `visitor_key` or `user_key` (or both) is required. Browsers must "
        "leave both out: their visitor comes from the visitor cookie and the user from the session.",
    )
    user_key = serializers.CharField(required=False, max_length=64, help_text="Channel keys only (see `visitor_key`).")
    item_key = serializers.CharField(required=False, max_length=191, help_text="The item's key, e.g. '42'.")
    quantity = serializers.IntegerField(
        required=False, allow_null=True, min_value=-MAX_QUANTITY, max_value=MAX_QUANTITY
    )
    value = serializers.DecimalField(
        required=False,
        allow_null=True,
        max_digits=14,
        decimal_places=2,
        max_value=MAX_VALUE,
        min_value=-MAX_VALUE,
        help_text="A number or a decimal string, rounded to 2 places.",
    )
    context = serializers.DictField(
        required=False,
        help_text="A JSON object of at most MAX_CONTEXT_BYTES bytes as compact UTF-8 JSON (4096 by default).",
    )
    client_time = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When it happened on the client: ISO-8601 with a time zone, e.g. 2026-01-31T12:00:00Z; "
        "within the last MAX_EVENT_AGE_DAYS days (365) and at most MAX_CLOCK_SKEW_SECONDS (300) "
        "ahead of the server clock. Left out: the time of receipt.",
    )
    client_event_id = serializers.CharField(
        required=False,
        allow_null=True,
        min_length=1,
        max_length=CLIENT_EVENT_ID_LENGTH,
        help_text="Idempotency key: a retried event is counted once.",
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["event_type"].choices = sorted(ecom_settings.all_event_types)
        fields["channel"].choices = sorted(ecom_settings.all_channels)
        return fields


class EventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=EventInSerializer(), help_text="At most MAX_BATCH_SIZE events (500 by default)."
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["events"].max_length = ecom_settings.MAX_BATCH_SIZE
        return fields


class BatchAcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored.")
    duplicates = serializers.IntegerField(help_text="Events skipped because their client_event_id was already stored.")


class BatchErrorSerializer(serializers.Serializer):
    errors = serializers.DictField(
        required=False,
        child=serializers.DictField(child=serializers.CharField()),
        help_text="Event index (as a string) -> {field: message}. Nothing of the batch was stored.",
    )
    detail = serializers.CharField(required=False, help_text="A problem with the batch as a whole.")
