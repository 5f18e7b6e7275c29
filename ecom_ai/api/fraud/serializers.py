"""Fraud API serializers: strict types and sizes; odd-but-typed values are scored and listed as gaps."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from ecom_ai.api.base import StrictQueryMixin
from ecom_ai.fraud.features import OrderFacts
from ecom_ai.models.fraud import FraudAssessment


#: order times (and sign-up times) outside [EARLIEST_ORDER_TIME, now + MAX_ORDER_TIME_AHEAD] are a 400:
#: a 9999-12-31 order would be stored and scored as if real; year 1 broke date arithmetic
EARLIEST_ORDER_TIME = datetime(2000, 1, 1, tzinfo=dt_timezone.utc)
MAX_ORDER_TIME_AHEAD = timedelta(days=1)


def check_time_window(value):
    """``value`` (aware datetime or None) within the sane window, else a ValidationError."""
    if value is None:
        return value
    latest = timezone.now() + MAX_ORDER_TIME_AHEAD
    try:
        sane = EARLIEST_ORDER_TIME <= value <= latest
    except (OverflowError, TypeError):
        sane = False
    if not sane:
        raise serializers.ValidationError(
            _("Must be between %(earliest)s and one day from now (%(latest)s).")
            % {"earliest": EARLIEST_ORDER_TIME.date().isoformat(), "latest": latest.strftime("%Y-%m-%dT%H:%M:%SZ")}
        )
    return value


class StrictCharField(serializers.CharField):
    """Text only: a number where the schema says string is a 400, not silently converted."""

    default_error_messages = {"not_text": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class OrderLineSerializer(serializers.Serializer):
    item_key = StrictCharField(max_length=191, allow_blank=True, required=False, default="")
    quantity = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False, default=1)
    price = serializers.DecimalField(max_digits=18, decimal_places=4, required=False, allow_null=True)


class OrderPayloadSerializer(serializers.Serializer):
    """An order to assess. ``order_key`` or ``number`` is required; everything else is optional.

    Missing fields, unknown currencies, malformed IPs and implausible amounts are assessed
    with what is known and listed as reasons; wrong types and over-long values are a 400.
    Fields whose API name differs from ``OrderFacts`` name their attribute with ``source``,
    so ``to_facts()`` needs no mapping.
    """

    order_key = StrictCharField(max_length=191, required=False, allow_blank=True, default="")
    number = StrictCharField(max_length=191, required=False, allow_blank=True, default="")
    user_key = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    email = StrictCharField(max_length=254, required=False, allow_blank=True, default="")
    total = serializers.DecimalField(
        max_digits=18, decimal_places=4, required=False, allow_null=True, default=None, source="amount"
    )
    currency = StrictCharField(max_length=8, required=False, allow_blank=True, default="")
    created_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        source="placed_at",
        help_text="When the order was placed: between 2000-01-01 and one day from now.",
    )
    signed_up_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the customer signed up: between 2000-01-01 and one day from now.",
    )
    ip = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    device_id = StrictCharField(max_length=128, required=False, allow_blank=True, default="", source="device")
    payment_fingerprint = StrictCharField(max_length=128, required=False, allow_blank=True, default="")
    shipping_country = StrictCharField(max_length=8, required=False, allow_blank=True, default="")
    billing_country = StrictCharField(max_length=8, required=False, allow_blank=True, default="")
    ip_country = StrictCharField(max_length=8, required=False, allow_blank=True, default="")
    channel = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
    visitor_key = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    lines = OrderLineSerializer(many=True, required=False, default=list, max_length=500)
    extra = serializers.DictField(
        required=False,
        default=dict,
        help_text="The shop's own attributes declared in ECOM_AI['FRAUD_EXTRA_FEATURES'] with source 'api' or "
        "'any' (by their key): numbers for numeric ones, text for categorical ones.",
    )

    def validate_extra(self, value):
        from ecom_ai.fraud.extras import declared, parse_value

        accepted = {a.key: a for a in declared() if a.reads("api")}
        errors = {}
        for key, raw in value.items():
            attribute = accepted.get(key)
            if attribute is None:
                errors[key] = (
                    "Unknown extra field: declare it in ECOM_AI['FRAUD_EXTRA_FEATURES'] (source 'api' or 'any')."
                    if not accepted
                    else f"Unknown extra field (declared: {', '.join(sorted(accepted))})."
                )
                continue
            _, problem = parse_value(attribute, raw)
            if problem or isinstance(raw, (dict, list)):
                errors[key] = problem or "Must be a single value."
        if errors:
            raise serializers.ValidationError(dict(sorted(errors.items())[:20]))
        return value

    def validate_created_at(self, value):
        return check_time_window(value)

    def validate_signed_up_at(self, value):
        return check_time_window(value)

    def validate(self, data):
        if not (data.get("order_key") or "").strip() and not (data.get("number") or "").strip():
            raise serializers.ValidationError({"order_key": _("Give order_key or number to identify the order.")})
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: _("Unknown field.") for name in sorted(unknown)[:20]})
        return data

    def to_facts(self) -> OrderFacts:
        """The validated order as the ``OrderFacts`` scoring reads (call ``is_valid()`` first)."""
        data = dict(self.validated_data)
        order_key, number, lines = data.pop("order_key"), data.pop("number"), data.pop("lines")
        return OrderFacts(
            order_key=(order_key or number).strip(),
            number=number or order_key,
            lines=[(line.get("item_key", ""), line.get("quantity", 1), line.get("price")) for line in lines],
            extra_source="api",
            **data,
        )


class OrderPayloadSchema(OpenApiSerializerExtension):
    """The schema states what the serializer enforces beyond field types: ``order_key`` or
    ``number`` (not blank) is required, and unknown fields are refused."""

    target_class = "ecom_ai.api.fraud.serializers.OrderPayloadSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["additionalProperties"] = False
            schema["anyOf"] = [
                {"required": [name], "properties": {name: {"type": "string", "pattern": r"\S"}}}
                for name in ("order_key", "number")
            ]
        return schema


class AssessmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = FraudAssessment
        fields = (
            "id",
            "order_key",
            "order_number",
            "user_key",
            "email",
            "amount",
            "currency",
            "placed_at",
            "score",
            "probability",
            "level",
            "recommended_action",
            "status",
            "scorer",
            "reasons",
            "rules_fired",
            "label",
            "decided_by",
            "decided_at",
            "note",
            "chargeback_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class AssessmentDetailSerializer(AssessmentSerializer):
    class Meta(AssessmentSerializer.Meta):
        fields = AssessmentSerializer.Meta.fields + ("features",)
        read_only_fields = fields


class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "fraud"])
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AssessmentFilterSerializer(StrictQueryMixin, serializers.Serializer):
    level = serializers.ChoiceField(choices=[c[0] for c in FraudAssessment.LEVEL_CHOICES], required=False)
    status = serializers.ChoiceField(choices=[c[0] for c in FraudAssessment.STATUS_CHOICES], required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    order = serializers.CharField(max_length=191, required=False)
    email = serializers.CharField(max_length=254, required=False)
    min_score = serializers.IntegerField(min_value=0, max_value=100, required=False)
