"""Validation of incoming events: one function per field, plain Python (this path is hot).

``validate_event()`` turns one raw event (a dict decoded from JSON, or keyword arguments of
``track()``) into clean model field values, or a dict of ``{field: message}`` errors.
Shared by the Python API and the batch endpoint so both accept exactly the same input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings

#: Every field a raw event may carry.
EVENT_FIELDS = (
    "event_type",
    "channel",
    "visitor_key",
    "user_key",
    "item_key",
    "quantity",
    "value",
    "context",
    "client_time",
    "client_event_id",
)

KEY_LENGTHS = {"visitor_key": 64, "user_key": 64, "item_key": 191}
CLIENT_EVENT_ID_LENGTH = 64
MAX_QUANTITY = 1_000_000
MAX_VALUE = Decimal("999999999999.99")  # max_digits=14, decimal_places=2
CENT = Decimal("0.01")


class EventValidationError(ValueError):
    """Raised by the Python API (``track()``) for bad input; ``errors`` is ``{field: message}``."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


@dataclass
class ValidationContext:
    """What is fixed for a whole batch: allowed values, clock and who may set what."""

    event_types: frozenset
    channels: frozenset
    allowed_channels: frozenset | None  # None: any known channel
    channel_default: str
    now: datetime
    oldest: datetime
    newest: datetime
    max_context_bytes: int
    forbidden_fields: dict  # field -> message (e.g. user_key from browsers)

    @classmethod
    def build(
        cls, *, channel_default: str = "web", allowed_channels=None, forbidden_fields=None, now: datetime | None = None
    ) -> "ValidationContext":
        now = now or timezone.now()
        return cls(
            event_types=frozenset(ecom_settings.all_event_types),
            channels=frozenset(ecom_settings.all_channels),
            allowed_channels=frozenset(allowed_channels) if allowed_channels is not None else None,
            channel_default=channel_default,
            now=now,
            oldest=now - timedelta(days=ecom_settings.MAX_EVENT_AGE_DAYS),
            newest=now + timedelta(seconds=ecom_settings.MAX_CLOCK_SKEW_SECONDS),
            max_context_bytes=ecom_settings.MAX_CONTEXT_BYTES,
            forbidden_fields=dict(forbidden_fields or {}),
        )


def _clean_key(value, field: str, errors: dict) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors[field] = "must be a string"
        return ""
    value = str(value)
    if len(value) > KEY_LENGTHS[field]:
        errors[field] = f"must be at most {KEY_LENGTHS[field]} characters"
    elif not _is_clean_text(value):
        errors[field] = "must be valid text (UTF-8, no NUL characters)"
    return value


def _is_clean_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _clean_time(value, errors: dict, ctx: ValidationContext):
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            errors["client_time"] = "must be an ISO-8601 timestamp, e.g. 2026-01-31T12:00:00Z"
            return None
    else:
        errors["client_time"] = "must be an ISO-8601 timestamp string"
        return None
    if timezone.is_naive(parsed):
        errors["client_time"] = "must include a time zone (e.g. 'Z' or '+01:00')"
        return None
    if parsed > ctx.newest:
        errors["client_time"] = (
            f"is in the future (more than {ecom_settings.MAX_CLOCK_SKEW_SECONDS} s ahead of the server clock)"
        )
        return None
    if parsed < ctx.oldest:
        errors["client_time"] = f"is older than {ecom_settings.MAX_EVENT_AGE_DAYS} days"
        return None
    return parsed


def _clean_quantity(value, errors: dict):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors["quantity"] = "must be an integer"
        return None
    if abs(value) > MAX_QUANTITY:
        errors["quantity"] = f"must be between -{MAX_QUANTITY} and {MAX_QUANTITY}"
        return None
    return value


def _clean_value(value, errors: dict):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        errors["value"] = 'must be a decimal number (a number or a string like "19.90")'
        return None
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        errors["value"] = 'must be a decimal number (a number or a string like "19.90")'
        return None
    if not number.is_finite():
        errors["value"] = "must be a finite number"
        return None
    number = number.quantize(CENT, rounding=ROUND_HALF_UP) if abs(number) <= MAX_VALUE else number
    if abs(number) > MAX_VALUE:
        errors["value"] = f"must be at most {MAX_VALUE} in absolute value"
        return None
    return number


def _clean_context(value, errors: dict, ctx: ValidationContext) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["context"] = "must be a JSON object"
        return {}
    try:
        encoded = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        size = len(encoded.encode("utf-8"))
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        errors["context"] = "must be JSON-serialisable valid text (no NaN, Infinity or lone surrogates)"
        return {}
    if size > ctx.max_context_bytes:
        errors["context"] = f"must be at most {ctx.max_context_bytes} bytes as JSON"
        return {}
    if "\\u0000" in encoded:
        errors["context"] = "must not contain NUL characters"
        return {}
    return value


def _clean_client_event_id(value, errors: dict):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors["client_event_id"] = "must be a string"
        return None
    value = str(value)
    if not value or len(value) > CLIENT_EVENT_ID_LENGTH:
        errors["client_event_id"] = f"must be 1 to {CLIENT_EVENT_ID_LENGTH} characters"
        return None
    if not _is_clean_text(value):
        errors["client_event_id"] = "must be valid text (UTF-8, no NUL characters)"
        return None
    return value


def validate_event(raw, ctx: ValidationContext) -> tuple[dict, dict]:
    """Return ``(clean field values, errors)`` for one raw event.

    The clean values are ``Event`` field names; ``errors`` maps a field (or
    ``"non_field_errors"``) to a message. Values are only meaningful when errors is empty.
    """
    if not isinstance(raw, dict):
        return {}, {"non_field_errors": "each event must be a JSON object"}
    errors: dict = {}
    for field in raw:
        if field not in EVENT_FIELDS:
            errors[str(field)[:64]] = "unknown field"
        elif field in ctx.forbidden_fields and raw[field] not in (None, ""):
            errors[field] = ctx.forbidden_fields[field]

    event_type = raw.get("event_type")
    if event_type is None or event_type == "":
        errors["event_type"] = "this field is required"
    elif not isinstance(event_type, str) or event_type not in ctx.event_types:
        known = ", ".join(sorted(ctx.event_types))
        errors["event_type"] = f"unknown event type {str(event_type)[:40]!r}; known: {known}"

    channel = raw.get("channel")
    if channel is None or channel == "":
        channel = ctx.channel_default
    if not isinstance(channel, str) or channel not in ctx.channels:
        errors["channel"] = f"unknown channel {str(channel)[:40]!r}; known: {', '.join(sorted(ctx.channels))}"
    elif ctx.allowed_channels is not None and channel not in ctx.allowed_channels:
        errors["channel"] = f"this sender may only send channel {', '.join(sorted(ctx.allowed_channels))!s}"

    clean = {
        "event_type": event_type,
        "channel": channel,
        "visitor_key": _clean_key(raw.get("visitor_key"), "visitor_key", errors),
        "user_key": _clean_key(raw.get("user_key"), "user_key", errors),
        "item_key": _clean_key(raw.get("item_key"), "item_key", errors),
        "quantity": _clean_quantity(raw.get("quantity"), errors),
        "value": _clean_value(raw.get("value"), errors),
        "context": _clean_context(raw.get("context"), errors, ctx),
        "client_time": _clean_time(raw.get("client_time"), errors, ctx),
        "client_event_id": _clean_client_event_id(raw.get("client_event_id"), errors),
    }
    return clean, errors
