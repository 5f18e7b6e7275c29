"""``GET /ecom-ai/api/v1/recommendations/?placement=home&item=<key>&limit=8``.

Browsers: the shopper is the visitor cookie and the logged-in user (anonymous shoppers
too); they may not name another visitor or user. Server-to-server channels
(``Authorization: Api-Key <key>``) give ``visitor_key`` and/or ``user_key`` and get lists
for that shopper on their own channel. Bad input is a 400 with a message per field; an
unknown item key or a missing/corrupt model gives a fallback list, never a 500.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ecom_ai.api.errors import DatabaseUnavailableMixin
from ecom_ai.adapters import get_adapter
from ecom_ai.api.base import EcomAIAPIView, StrictQueryMixin
from ecom_ai.api.events.authentication import ChannelKeyAuthentication
from ecom_ai.api.events.throttles import BrowserEventsThrottle
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.middleware import get_visitor_key
from ecom_ai.models import ChannelKey
from ecom_ai.recommend.service import Identity, RecommendationError, RecommendationService, UnknownPlacement


class PlacementSlugField(serializers.SlugField):
    """A placement's slug; the schema lists the placements known when it is generated."""


def known_placements() -> list[str]:
    """The placements a request may name: those in the database and the defaults (created on
    first use)."""
    from django.db import DatabaseError

    from ecom_ai.models import Placement
    from ecom_ai.recommend.service import DEFAULT_PLACEMENTS

    try:
        stored = set(Placement.objects.values_list("slug", flat=True))
    except DatabaseError:  # the schema is still served, with the defaults
        stored = set()
    return sorted(stored | set(DEFAULT_PLACEMENTS))


class PlacementSlugFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "ecom_ai.api.recommend.views.PlacementSlugField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": known_placements()}


class RecommendationQuerySerializer(StrictQueryMixin, serializers.Serializer):
    strict_fields = ("limit",)  # ?limit= (empty) is a 400; an empty item or key means "none"

    placement = PlacementSlugField(
        max_length=64,
        help_text="A placement's slug (home, product, cart, email and those the shop added in the admin).",
    )
    item = serializers.CharField(
        max_length=191,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The page's item key (anchor of 'also bought' lists).",
    )
    limit = serializers.IntegerField(required=False, min_value=1, help_text="List length (default: the placement's).")
    visitor_key = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Channel API keys only: the shopper's visitor key. Browsers "
        "must leave it out (400): they get their own shopper's lists.",
    )
    user_key = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Channel API keys only: the shopper's user key (browsers: 400).",
    )

    def validate_limit(self, value):
        maximum = ecom_settings.RECOMMEND_MAX_LIMIT
        if value > maximum:
            raise serializers.ValidationError(
                _("Ensure this value is less than or equal to %(limit_value)s.") % {"limit_value": maximum}
            )
        return value

    def validate_item(self, value):
        if "\x00" in value:
            raise serializers.ValidationError(_("Null characters are not allowed."))
        return value


_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,64}")
_PLAIN_KEYS = frozenset(("placement", "item", "limit"))


def plain_query(params) -> dict | None:
    """The validated query of the usual request (``placement``, optional ``item`` and ``limit``,
    each once and well formed) without building the serializer, which costs more than the
    rest of a cached list; ``None`` for anything else (the serializer then decides)."""
    if not _PLAIN_KEYS.issuperset(params) or any(len(params.getlist(name)) != 1 for name in params):
        return None
    placement = params.get("placement", "")
    if not _SLUG.fullmatch(placement):
        return None
    data = {"placement": placement}
    item = params.get("item")
    if item is not None:
        if len(item) > 191 or "\x00" in item:
            return None
        data["item"] = item
    limit = params.get("limit")
    if limit is not None:
        if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= ecom_settings.RECOMMEND_MAX_LIMIT):
            return None
        data["limit"] = int(limit)
    return data


class RecommendedItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    score = serializers.FloatField()
    reason = serializers.CharField()
    title = serializers.CharField()
    position = serializers.IntegerField()


class RecommendationSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Send it back as context.rec_id with clicks for attribution.")
    placement = serializers.CharField()
    title = serializers.CharField()
    strategy = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    items = RecommendedItemSerializer(many=True)


class RecommendationsThrottle(BrowserEventsThrottle):
    """``RECOMMEND_THROTTLE_RATE`` per browser (user, else visitor cookie, else IP); channel keys are not throttled here."""

    scope = "ecom_ai_recommendations"

    def get_rate(self):
        return ecom_settings.RECOMMEND_THROTTLE_RATE


class RecommendationsView(DatabaseUnavailableMixin, EcomAIAPIView):
    authentication_classes = [ChannelKeyAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [RecommendationsThrottle]

    @extend_schema(
        operation_id="ecom_ai_recommendations",
        parameters=[RecommendationQuerySerializer],
        responses={200: RecommendationSerializer},
        summary="A recommendation list for the current shopper",
        examples=[
            OpenApiExample(
                "home",
                value={
                    "id": "7d0c5a1e-3c1b-4c57-9d39-2f1f7d1b9a10",
                    "placement": "home",
                    "title": "Recommended for you",
                    "strategy": "for_you+trending",
                    "variant": None,
                    "items": [
                        {
                            "key": "42",
                            "score": 3.7,
                            "reason": "Picked for you from your recent activity",
                            "title": "Trail running shoe",
                            "position": 1,
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        data = plain_query(request.query_params)
        if data is None:  # anything unusual: the serializer validates it and words the errors
            query = RecommendationQuerySerializer(data=request.query_params)
            query.is_valid(raise_exception=True)
            data = query.validated_data
        channel_key = request.auth if isinstance(request.auth, ChannelKey) else None
        if channel_key is not None:
            who = Identity(
                visitor_key=data.get("visitor_key", ""), user_key=data.get("user_key", ""), channel=channel_key.channel
            )
        else:
            named = [name for name in ("visitor_key", "user_key") if data.get(name)]
            if named:
                return Response(
                    {
                        name: [
                            "Only server-to-server channels (Api-Key) may name a shopper; browsers "
                            "get their own recommendations."
                        ]
                        for name in named
                    },
                    status=status.HTTP_400_BAD_REQUEST,
                )
            # the browser's own shopper: DRF's authenticated user and the visitor cookie
            who = Identity(visitor_key=get_visitor_key(request), user_key=get_adapter().user_key(request.user))
        try:
            result = RecommendationService().recommend(
                who, data["placement"], item=data.get("item") or None, limit=data.get("limit")
            )
        except UnknownPlacement as exc:
            return Response({"placement": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except RecommendationError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict())
