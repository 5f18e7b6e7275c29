"""``GET /ecom-ai/api/v1/offers/?campaign=<slug>``: the current shopper's personal offer.

Browsers: the shopper is the visitor cookie and the logged-in user; they may not name another
shopper. Server-to-server channels (``Authorization: Api-Key <key>``) give ``user_key`` and/or
``visitor_key``. The answer is the sticky decision (the same offer on every call within the
campaign window) with its decision id, to send back in ``offer_shown`` / ``offer_clicked``
events (``context.decision``). Unknown campaign: 404; bad input: 400; never a 500.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ecom_ai.adapters import get_adapter
from ecom_ai.api.base import EcomAIAPIView
from ecom_ai.api.errors import DatabaseUnavailableMixin
from ecom_ai.api.schema import ErrorSerializer
from ecom_ai.api.events.authentication import ChannelKeyAuthentication
from ecom_ai.api.events.throttles import BrowserEventsThrottle
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.middleware import get_visitor_key
from ecom_ai.marketing.service import OfferError, OfferService, UnknownCampaign
from ecom_ai.marketing.state import Identity
from ecom_ai.models import ChannelKey


class OfferQuerySerializer(serializers.Serializer):
    campaign = serializers.SlugField(max_length=64, help_text="The campaign's slug.")
    visitor_key = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Channel API keys only: the shopper's visitor key."
    )
    user_key = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Channel API keys only: the shopper's user key."
    )
    country = serializers.CharField(max_length=8, required=False, allow_blank=True)


class OfferBodySerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    message = serializers.CharField()
    kind = serializers.CharField()
    value = serializers.DecimalField(max_digits=10, decimal_places=2)
    min_order_value = serializers.DecimalField(max_digits=10, decimal_places=2)
    coupon_code = serializers.CharField(allow_blank=True)
    expires_at = serializers.DateTimeField()


class OfferAnswerSerializer(serializers.Serializer):
    campaign = serializers.CharField()
    decision = serializers.IntegerField(
        allow_null=True, help_text="Send it back as context.decision in offer_* events."
    )
    offer = OfferBodySerializer(allow_null=True)


def offer_answer(result) -> dict:
    """The JSON body of a decision (shared with the template tag's context)."""
    offer = result.offer
    body = None
    if offer is not None:
        body = {
            "key": offer.key,
            "title": offer.title,
            "message": offer.message,
            "kind": offer.kind,
            "value": str(offer.value),
            "min_order_value": str(offer.min_order_value),
            "coupon_code": result.coupon_code,
            "expires_at": result.expires_at.isoformat() if result.expires_at else None,
        }
    return {"campaign": result.campaign.slug, "decision": result.decision_id, "offer": body}


class OffersThrottle(BrowserEventsThrottle):
    """``MARKETING_THROTTLE_RATE`` per browser; channel keys are not throttled here."""

    scope = "ecom_ai_offers"

    def get_rate(self):
        return ecom_settings.MARKETING_THROTTLE_RATE


class OffersView(DatabaseUnavailableMixin, EcomAIAPIView):
    authentication_classes = [ChannelKeyAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [OffersThrottle]

    @extend_schema(
        operation_id="ecom_ai_offers",
        parameters=[OfferQuerySerializer],
        responses={200: OfferAnswerSerializer, 404: OpenApiResponse(ErrorSerializer, description="Unknown campaign.")},
        summary="The current shopper's personal offer in a campaign",
        examples=[
            OpenApiExample(
                "an offer",
                value={
                    "campaign": "welcome-back",
                    "decision": 812,
                    "offer": {
                        "key": "ten",
                        "title": "10 % off your next order",
                        "message": "",
                        "kind": "percent_off",
                        "value": "10.00",
                        "min_order_value": "0.00",
                        "coupon_code": "K7Q2-XM4P-9RTA",
                        "expires_at": "2026-12-21T10:00:00+00:00",
                    },
                },
                response_only=True,
            ),
            OpenApiExample(
                "no offer", value={"campaign": "welcome-back", "decision": 813, "offer": None}, response_only=True
            ),
        ],
    )
    def get(self, request):
        query = OfferQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        channel_key = request.auth if isinstance(request.auth, ChannelKey) else None
        if channel_key is not None:
            who = Identity(
                user_key=data.get("user_key", ""),
                visitor_key=data.get("visitor_key", ""),
                channel=channel_key.channel,
                country=data.get("country", ""),
            )
            if not who:
                return Response(
                    {"user_key": ["Name the shopper: user_key and/or visitor_key."]}, status=status.HTTP_400_BAD_REQUEST
                )
        else:
            named = [name for name in ("visitor_key", "user_key") if data.get(name)]
            if named:
                return Response(
                    {
                        name: [
                            "Only server-to-server channels (Api-Key) may name a shopper; browsers get their own offer."
                        ]
                        for name in named
                    },
                    status=status.HTTP_400_BAD_REQUEST,
                )
            who = Identity(
                user_key=get_adapter().user_key(request.user) if request.user.is_authenticated else "",
                visitor_key=get_visitor_key(request) or "",
                channel="web",
                country=data.get("country", ""),
            )
            if not who:
                return Response(
                    {"detail": "No visitor cookie yet: load a page first."}, status=status.HTTP_400_BAD_REQUEST
                )
        try:
            result = OfferService().decide(who, data["campaign"], {"channel": who.channel, "country": who.country})
        except UnknownCampaign as exc:
            return Response({"campaign": [str(exc)]}, status=status.HTTP_404_NOT_FOUND)
        except OfferError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(offer_answer(result))
