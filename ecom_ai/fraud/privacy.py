"""Fraud assessments in user data export and erasure (``ecom_ai.events.privacy``).

Export: the user's assessments (score, level, reasons, decision...). Erasure anonymises
them rather than deleting: the identifying fields (user key, email, IP, device, payment
fingerprint, note, email domain, report-only attributes) are blanked, while the score, the decision/label and the
non-identifying features stay, since fraud prevention records are usually kept under a
legitimate interest and the model still learns from the label. Delete the rows in the
admin if your policy says otherwise.
"""

from __future__ import annotations

EXPORT_FIELDS = (
    "order_key",
    "order_number",
    "email",
    "ip",
    "device",
    "payment_fingerprint",
    "amount",
    "currency",
    "placed_at",
    "score",
    "level",
    "recommended_action",
    "reasons",
    "status",
    "decided_at",
    "note",
    "chargeback_at",
    "chargeback_reason",
    "report_attributes",
)


def export_assessments(user_key: str, visitor_keys: list) -> list:
    from ecom_ai.models.fraud import FraudAssessment

    return list(FraudAssessment.objects.filter(user_key=user_key).order_by("placed_at").values(*EXPORT_FIELDS))


def erase_assessments(user_key: str, visitor_keys: list) -> dict:
    from ecom_ai.models.fraud import FraudAssessment

    count = 0
    for obj in FraudAssessment.objects.filter(user_key=user_key).only("pk", "features"):
        features = dict(obj.features or {})
        features["email_domain"] = ""
        FraudAssessment.objects.filter(pk=obj.pk).update(
            user_key="",
            email="",
            ip="",
            device="",
            payment_fingerprint="",
            note="",
            features=features,
            report_attributes={},
        )  # report-only attributes are often sensitive (age band...): erased
        count += 1
    return {"fraud_assessments_anonymised": count} if count else {}  # nothing to report for most users


def register() -> None:
    from ecom_ai.events import privacy

    privacy.register("fraud_assessments", exporter=export_assessments, eraser=erase_assessments)
