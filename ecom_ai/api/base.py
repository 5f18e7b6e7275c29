"""What every ecom_ai API view shares, whatever the host's ``REST_FRAMEWORK`` settings say.

- ``ApiDefaultsMixin`` (and ``EcomAIAPIView = ApiDefaultsMixin + APIView``): the safe JSON
  parser (``ecom_ai.api.parsers.SafeJSONParser``) and the request body limit. The body is
  read by the view itself up to ``max_body_bytes()`` (``DATA_UPLOAD_MAX_MEMORY_SIZE`` unless a
  view allows more, like the events batch); a larger body is a JSON 413 that states the
  limit, never Django's HTML 400 for ``RequestDataTooBig``.
- ``StrictQueryMixin``: a query parameter given empty (``?until=``) is a 400.
- ``StaffOnlyMixin``: staff endpoints authenticate with the Django session only
  (``SessionAuthentication``, CSRF enforced on unsafe methods) and need ``is_staff``. Never
  ``BasicAuthentication``: a password per request invites guessing, and a user name with a
  NUL byte made it query (and crash on) PostgreSQL.
"""

from __future__ import annotations

import io

from django.conf import settings as django_settings
from django.core.exceptions import RequestDataTooBig
from django.http import UnreadablePostError
from django.utils.translation import gettext as _
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, ParseError
from rest_framework.permissions import IsAdminUser
from rest_framework.views import APIView

from ecom_ai.api.parsers import SafeJSONParser
from ecom_ai.api.schema import EcomAIAutoSchema


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def too_large(limit: int | None) -> PayloadTooLarge:
    if limit is None:
        return PayloadTooLarge()
    return PayloadTooLarge(_("Request body too large: at most %(limit)d bytes.") % {"limit": limit})


def content_length(request) -> int:
    raw = request.META.get("CONTENT_LENGTH") or request.META.get("HTTP_CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except (TypeError, ValueError):
        raise ParseError(_("Invalid Content-Length header.")) from None
    if length < 0:
        raise ParseError(_("Invalid Content-Length header."))
    return length


class ApiDefaultsMixin:
    """Put first in the bases of every ecom_ai API view (APIView and generic views alike)."""

    parser_classes = [SafeJSONParser]
    schema = EcomAIAutoSchema()  # states the error statuses every operation can answer

    def max_body_bytes(self) -> int | None:
        """The largest request body this view reads (bytes as sent); ``None``: no limit."""
        return django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # authentication, permissions, throttles
        self.read_body(request)  # then only: an unauthorised or throttled client's body is never read

    def read_body(self, request) -> None:
        """Read the body now, within this view's limit (Django's own check would answer an
        HTML 400 for anything above ``DATA_UPLOAD_MAX_MEMORY_SIZE``)."""
        django_request = request._request
        length = content_length(django_request)
        limit = self.max_body_bytes()
        if limit is not None and length > limit:
            raise too_large(limit)
        if not length or django_request._read_started or hasattr(django_request, "_body"):
            return
        try:
            body = django_request.read(length if limit is None else min(length, limit + 1))
        except OSError as exc:  # the client went away mid-body
            raise ParseError(_("The request body could not be read.")) from exc
        if limit is not None and len(body) > limit:
            raise too_large(limit)
        django_request._body = body  # what HttpRequest.body would have read, without its size check
        django_request._stream = io.BytesIO(body)

    def handle_exception(self, exc):
        if isinstance(exc, RequestDataTooBig):
            exc = too_large(self.max_body_bytes())
        elif isinstance(exc, UnreadablePostError):
            exc = ParseError(_("The request body could not be read."))
        return super().handle_exception(exc)  # type: ignore[misc]


class EcomAIAPIView(ApiDefaultsMixin, APIView):
    """Base of ecom_ai's APIViews."""


class StrictQueryMixin:
    """Query filters: a parameter given empty (``?until=``) is a 400, not silently ignored.
    ``strict_fields``: the parameters this applies to (default: all)."""

    strict_fields: tuple[str, ...] | None = None

    def validate(self, data):
        raw = self.initial_data  # type: ignore[attr-defined]
        names = self.strict_fields if self.strict_fields is not None else self.fields  # type: ignore[attr-defined]
        empty = [name for name in names if name in raw and raw.get(name, "") == ""]
        if empty:
            raise serializers.ValidationError({name: [_("This field may not be blank.")] for name in empty})
        return super().validate(data)  # type: ignore[misc]


class StaffOnlyMixin:
    """Staff endpoints: the Django session (CSRF on unsafe methods) and ``is_staff``."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAdminUser]
