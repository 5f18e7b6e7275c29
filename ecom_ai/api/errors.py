"""What ecom_ai's API views answer when the database cannot be reached.

A dropped connection or a restarting database server can surface anywhere in a request:
in API-key authentication (``ChannelKey.find``), in a throttle, in the view. DRF answers an
``APIException`` itself but lets every other error through to Django (an HTML 500).
``DatabaseUnavailableMixin`` (first among an ``APIView``'s bases) turns the transient ones
(``OperationalError``, ``InterfaceError``) into a JSON 503 with ``Retry-After``, so a client
retries instead of giving up; nothing was stored (the request's transaction, if any, is
rolled back). Other database errors are left alone: they are bugs or bad input.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("ecom_ai.api")

TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_unavailable_response(detail: Any = None) -> Response:
    """The JSON 503 of a request the database could not serve."""
    response = Response(
        {"detail": detail or _("The service is temporarily unavailable; retry later."), "code": "database_unavailable"},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMixin:
    """A transient database error anywhere in the request → JSON 503 with ``Retry-After``."""

    #: the 503's message (a view may word it for its clients)
    database_unavailable_detail: Any = None

    def handle_exception(self, exc):
        if isinstance(exc, TRANSIENT_DATABASE_ERRORS):
            logger.warning(
                "ecom_ai: %s answered 503: database error %s: %s",
                type(self).__name__,
                type(exc).__name__,
                str(exc)[:300],
            )
            set_rollback()
            return database_unavailable_response(self.database_unavailable_detail)
        return super().handle_exception(exc)  # type: ignore[misc]
