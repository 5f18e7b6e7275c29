"""Staff-only fraud endpoints: assess an order payload, list assessments, record a decision."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from ecom_ai.api.base import ApiDefaultsMixin, EcomAIAPIView, StaffOnlyMixin
from ecom_ai.api.errors import DatabaseUnavailableMixin
from ecom_ai.api.fraud.serializers import (
    AssessmentDetailSerializer,
    AssessmentFilterSerializer,
    AssessmentSerializer,
    DecisionSerializer,
    OrderPayloadSerializer,
)
from ecom_ai.fraud.scoring import assess_facts, decide
from ecom_ai.models.fraud import FraudAssessment


class AssessmentPagination(LimitOffsetPagination):
    """``limit`` (1..200) and ``offset`` (0 or more): anything else is a 400, not silently the default."""

    default_limit = 50
    max_limit = 200

    def _strict_int(self, request, name: str, minimum: int, default):
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise ValidationError({name: [_("Must be an integer of at least %(minimum)d.") % {"minimum": minimum}]})
        return value

    def get_limit(self, request):
        return min(self._strict_int(request, self.limit_query_param, 1, self.default_limit), self.max_limit)

    def get_offset(self, request):
        return self._strict_int(request, self.offset_query_param, 0, 0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
            self.offset_query_param: {"minimum": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class AssessOrderView(DatabaseUnavailableMixin, StaffOnlyMixin, EcomAIAPIView):
    @extend_schema(
        operation_id="ecom_ai_fraud_assess",
        request=OrderPayloadSerializer,
        responses={200: AssessmentDetailSerializer},
        summary="Assess an order payload (staff only)",
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError({"detail": _("Send one order as a JSON object.")})
        payload = OrderPayloadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assessment = assess_facts(payload.to_facts())
        if assessment is None:
            return Response({"detail": _("The order could not be assessed.")}, status=status.HTTP_400_BAD_REQUEST)
        return Response(AssessmentDetailSerializer(assessment).data)


@extend_schema_view(
    get=extend_schema(
        operation_id="ecom_ai_fraud_assessments",
        parameters=[AssessmentFilterSerializer],
        summary="List fraud assessments (staff only)",
    )
)
class AssessmentListView(DatabaseUnavailableMixin, StaffOnlyMixin, ApiDefaultsMixin, ListAPIView):
    serializer_class = AssessmentSerializer
    pagination_class = AssessmentPagination

    def get_queryset(self):
        filters = AssessmentFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        qs = FraudAssessment.objects.defer("features").order_by("-placed_at", "-pk")
        if "level" in f:
            qs = qs.filter(level=f["level"])
        if "status" in f:
            qs = qs.filter(status=f["status"])
        if "since" in f:
            qs = qs.filter(placed_at__gte=f["since"])
        if "until" in f:
            qs = qs.filter(placed_at__lt=f["until"])
        if "min_score" in f:
            qs = qs.filter(score__gte=f["min_score"])
        if f.get("order"):
            from django.db.models import Q

            qs = qs.filter(Q(order_number=f["order"]) | Q(order_key=f["order"]))
        if f.get("email"):
            qs = qs.filter(email=f["email"].strip().lower())
        return qs


class DecisionView(DatabaseUnavailableMixin, StaffOnlyMixin, EcomAIAPIView):
    @extend_schema(
        operation_id="ecom_ai_fraud_decision",
        request=DecisionSerializer,
        responses={200: AssessmentSerializer},
        summary="Approve an order or mark it as fraud (staff only)",
    )
    def post(self, request, pk: int):
        body = DecisionSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        try:
            assessment = decide(
                pk, body.validated_data["decision"], user=request.user, note=body.validated_data["note"]
            )
        except FraudAssessment.DoesNotExist:
            raise NotFound() from None
        return Response(AssessmentSerializer(assessment).data)
