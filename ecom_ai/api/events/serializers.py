"""Request/response shapes of the events endpoint, for the OpenAPI schema.

Validation itself is done by :mod:`ecom_ai.events.validation` (plain Python, shared with
``ecom_ai.track()`` and fast on large batches); these serializers document the format.
"""
from rest_framework import serializers


class EventInSerializer(serializers.Serializer):
    event_type = serializers.CharField(help_text="One of ECOM_AI EVENT_TYPES + EXTRA_EVENT_TYPES, e.g. 'view'.")
    channel = serializers.CharField(required=False, help_text="One of CHANNELS + EXTRA_CHANNELS. "
                                    "Browsers default to 'web'; a channel key may only send its own channel.")
    visitor_key = serializers.CharField(required=False, max_length=64,
                                        help_text="Channel keys only (browsers: from the visitor cookie).")
    user_key = serializers.CharField(required=False, max_length=64,
                                     help_text="Channel keys only (browsers: from the session).")
    item_key = serializers.CharField(required=False, max_length=191)
    quantity = serializers.IntegerField(required=False, allow_null=True)
    value = serializers.DecimalField(required=False, allow_null=True, max_digits=14, decimal_places=2,
                                     help_text="A number or a decimal string, rounded to 2 places.")
    context = serializers.DictField(required=False, help_text="A JSON object up to MAX_CONTEXT_BYTES.")
    client_time = serializers.DateTimeField(required=False, allow_null=True,
                                            help_text="ISO-8601 with a time zone, e.g. 2026-01-31T12:00:00Z.")
    client_event_id = serializers.CharField(required=False, allow_null=True, max_length=64,
                                            help_text="Idempotency key: a retried event is counted once.")


class EventBatchSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, help_text="At most MAX_BATCH_SIZE events.")


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
