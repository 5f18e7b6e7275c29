"""Staff-only fraud endpoints: assess an order payload, list assessments, record a decision."""
from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView, get_object_or_404
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from ecom_ai.api.fraud.serializers import (
    AssessmentDetailSerializer,
    AssessmentFilterSerializer,
    AssessmentSerializer,
    DecisionSerializer,
    OrderPayloadSerializer,
)
from ecom_ai.fraud.features import OrderFacts
from ecom_ai.fraud.scoring import assess_facts, decide
from ecom_ai.models.fraud import FraudAssessment


class AssessmentPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class AssessOrderView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(operation_id="ecom_ai_fraud_assess", request=OrderPayloadSerializer,
                   responses={200: AssessmentDetailSerializer}, summary="Assess an order payload (staff only)")
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError({"detail": "Send one order as a JSON object."})
        payload = OrderPayloadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        facts = OrderFacts(
            order_key=(data["order_key"] or data["number"]).strip(), number=data["number"] or data["order_key"],
            user_key=data["user_key"], email=data["email"], amount=data["total"], currency=data["currency"],
            placed_at=data["created_at"], signed_up_at=data["signed_up_at"], ip=data["ip"], device=data["device_id"],
            payment_fingerprint=data["payment_fingerprint"], shipping_country=data["shipping_country"],
            billing_country=data["billing_country"], ip_country=data["ip_country"], channel=data["channel"],
            visitor_key=data["visitor_key"],
            lines=[(ln.get("item_key", ""), ln.get("quantity", 1), ln.get("price")) for ln in data["lines"]],
            extra=data["extra"], extra_source="api",
        )
        assessment = assess_facts(facts)
        if assessment is None:
            return Response({"detail": "The order could not be assessed."}, status=status.HTTP_400_BAD_REQUEST)
        return Response(AssessmentDetailSerializer(assessment).data)


@extend_schema(operation_id="ecom_ai_fraud_assessments", parameters=[AssessmentFilterSerializer],
               summary="List fraud assessments (staff only)")
class AssessmentListView(ListAPIView):
    permission_classes = [IsAdminUser]
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


class DecisionView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(operation_id="ecom_ai_fraud_decision", request=DecisionSerializer,
                   responses={200: AssessmentSerializer}, summary="Approve an order or mark it as fraud (staff only)")
    def post(self, request, pk: int):
        body = DecisionSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            assessment = get_object_or_404(FraudAssessment.objects.select_for_update(), pk=pk)
            decide(assessment, body.validated_data["decision"], user=request.user, note=body.validated_data["note"])
        return Response(AssessmentSerializer(assessment).data)
