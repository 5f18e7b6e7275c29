"""OpenAPI schema of ecom_ai's API (drf-spectacular): every operation states the error
statuses it can answer, in the JSON shape it answers them.

``EcomAIAutoSchema`` is set on every ecom_ai view by ``ApiDefaultsMixin`` (the host's
``DEFAULT_SCHEMA_CLASS`` does not matter). Statuses an operation documents itself keep its
own description; the others are added when they apply:

=====  =============================================================================
400    always: a malformed body or query (``detail``, or a message list per field)
401    views with an authentication that challenges (``Api-Key``)
403    always: not staff, CSRF token missing, deactivated key
404    operations with a path parameter
413    operations with a body: larger than the view's limit (stated in ``detail``)
415    operations with a body: not ``application/json``
429    throttled views (``Retry-After`` says when to retry)
503    always: the database or cache is unavailable; retry later
=====  =============================================================================
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.views import APIView


class ErrorSerializer(serializers.Serializer):
    """Every error of the ecom_ai API: ``detail`` for the request as a whole, else one entry
    per bad field (``{"field": ["message", ...]}``)."""

    detail = serializers.CharField(required=False, help_text="What is wrong, for the request as a whole.")
    code = serializers.CharField(required=False, help_text="A machine-readable code, where there is one.")


ERROR_DESCRIPTIONS = {
    "400": "Invalid request: `detail`, or a list of messages per field.",
    "401": "Unknown or malformed API key (`Authorization: Api-Key <key>`).",
    "403": "Not allowed: staff only, CSRF token missing or wrong, or a deactivated API key.",
    "404": "Not found.",
    "413": "Request body too large; `detail` states the limit in bytes.",
    "415": "Unsupported media type: send `application/json`.",
    "429": "Throttled; the `Retry-After` header says when to retry.",
    "503": "The database or cache is unavailable right now; retry later.",
}
BODY_METHODS = ("POST", "PUT", "PATCH")


class EcomAIAutoSchema(AutoSchema):
    def error_statuses(self) -> list[str]:
        view = self.view
        codes = ["400", "403", "503"]
        if any(getattr(auth, "authenticate_header", lambda request: None)(None) for auth in _authenticators(view)):
            codes.append("401")
        if "{" in self.path:
            codes.append("404")
        if self.method in BODY_METHODS:
            codes += ["413", "415"]
        if getattr(view, "throttle_classes", None) or type(view).get_throttles is not APIView.get_throttles:
            codes.append("429")
        return sorted(codes)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self.error_statuses():
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code]["description"] = ERROR_DESCRIPTIONS[code]
        return dict(sorted(responses.items()))


def _authenticators(view) -> list:
    authenticators = []
    for cls in getattr(view, "authentication_classes", []) or []:
        try:
            authenticators.append(cls())
        except TypeError:  # pragma: no cover - an authentication class needing arguments
            continue
    return authenticators
