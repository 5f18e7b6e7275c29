"""Fraud flags: assessments of orders, admin-editable rules, allow/block lists, thresholds."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# the rule language: a leaf (Python's ast and the feature vocabulary), the one domain module the models use
from ecom_ai.fraud.rules import ConditionError, parse_condition


class FraudAssessment(models.Model):
    """The risk assessment of one host order (one row per order key; re-scoring updates it)."""

    LEVEL_LOW, LEVEL_MEDIUM, LEVEL_HIGH = "low", "medium", "high"
    LEVEL_CHOICES = [(LEVEL_LOW, _("low")), (LEVEL_MEDIUM, _("medium")), (LEVEL_HIGH, _("high"))]

    ACTION_ACCEPT, ACTION_REVIEW, ACTION_CANCEL = "accept", "review", "cancel"
    ACTION_CHOICES = [(ACTION_ACCEPT, _("accept")), (ACTION_REVIEW, _("review")), (ACTION_CANCEL, _("cancel"))]

    STATUS_PENDING, STATUS_APPROVED, STATUS_FRAUD, STATUS_AUTO = "pending_review", "approved", "fraud", "auto_accepted"
    STATUS_CHOICES = [
        (STATUS_PENDING, _("pending review")),
        (STATUS_APPROVED, _("approved")),
        (STATUS_FRAUD, _("fraud")),
        (STATUS_AUTO, _("auto-accepted")),
    ]

    order_key = models.CharField(_("order key"), max_length=191, unique=True)
    order_number = models.CharField(_("order number"), max_length=191, blank=True, default="")
    user_key = models.CharField(_("user"), max_length=64, blank=True, default="")
    email = models.CharField(_("email"), max_length=254, blank=True, default="")
    ip = models.CharField(_("IP address"), max_length=64, blank=True, default="")
    device = models.CharField(_("device"), max_length=128, blank=True, default="")
    payment_fingerprint = models.CharField(_("payment fingerprint"), max_length=128, blank=True, default="")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=8, blank=True, default="")
    placed_at = models.DateTimeField(
        _("order placed"),
        default=timezone.now,
        help_text=_("When the order was placed (the assessment time when the order did not say)."),
    )

    score = models.PositiveSmallIntegerField(
        _("score"), default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    probability = models.FloatField(_("fraud probability"), null=True, blank=True)
    level = models.CharField(_("level"), max_length=8, choices=LEVEL_CHOICES, default=LEVEL_LOW)
    recommended_action = models.CharField(
        _("recommended action"), max_length=8, choices=ACTION_CHOICES, default=ACTION_ACCEPT
    )
    scorer = models.CharField(
        _("scored by"),
        max_length=32,
        blank=True,
        default="",
        help_text=_("model (an active model version), heuristic (no model active yet) or error."),
    )
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    features = models.JSONField(_("features"), default=dict, blank=True)
    report_attributes = models.JSONField(
        _("report-only attributes"),
        default=dict,
        blank=True,
        help_text=_(
            "Shop attributes declared report only (FRAUD_EXTRA_FEATURES): shown in the fairness report, "
            "never used as features."
        ),
    )
    rules_fired = models.JSONField(_("rules fired"), default=list, blank=True)
    model_version = models.ForeignKey(
        "ecom_ai.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fraud_assessments",
        verbose_name=_("model version"),
    )

    status = models.CharField(_("status"), max_length=16, choices=STATUS_CHOICES, default=STATUS_AUTO)
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True, default="")
    label = models.BooleanField(
        _("label"),
        null=True,
        blank=True,
        help_text=_("Training label: fraud (true), legitimate (false) or unknown (empty)."),
    )
    chargeback_at = models.DateTimeField(_("chargeback date"), null=True, blank=True)
    chargeback_reason = models.CharField(_("chargeback reason"), max_length=255, blank=True, default="")

    created_at = models.DateTimeField(_("assessed at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("fraud assessment")
        verbose_name_plural = _("fraud assessments")
        ordering = ("-created_at",)
        indexes = [
            # review queue: pending first, filtered by level and date
            models.Index(fields=("status", "level", "created_at"), name="ecom_ai_fa_queue"),
            models.Index(fields=("level", "created_at"), name="ecom_ai_fa_level_time"),
            models.Index(fields=("created_at",), name="ecom_ai_fa_time"),
            models.Index(fields=("currency", "placed_at"), name="ecom_ai_fa_currency_time"),
            models.Index(fields=("order_number",), name="ecom_ai_fa_number"),
            # velocity features: earlier orders sharing an identifier
            models.Index(fields=("user_key", "placed_at"), name="ecom_ai_fa_user_time"),
            models.Index(fields=("email", "placed_at"), name="ecom_ai_fa_email_time"),
            models.Index(fields=("ip", "placed_at"), name="ecom_ai_fa_ip_time"),
            models.Index(fields=("device", "placed_at"), name="ecom_ai_fa_device_time"),
            models.Index(fields=("payment_fingerprint", "placed_at"), name="ecom_ai_fa_payment_time"),
            # training: labelled rows
            models.Index(fields=("label", "created_at"), name="ecom_ai_fa_label_time"),
        ]

    def __str__(self):
        return f"order {self.order_number or self.order_key}: {self.level} ({self.score})"

    def decide(self, decision: str, *, by: str = "", note: str = "", when=None) -> None:
        """Record a reviewer's decision ("approve" or "fraud"); it becomes the training label."""
        if decision not in ("approve", "fraud"):
            raise ValueError(f"decision must be 'approve' or 'fraud', got {decision!r}")
        self.status = self.STATUS_FRAUD if decision == "fraud" else self.STATUS_APPROVED
        self.label = decision == "fraud"
        self.decided_by = (by or "")[:150]
        self.decided_at = when or timezone.now()
        if note:
            self.note = f"{self.note}\n{note}".strip() if self.note else note
        self.save(update_fields=["status", "label", "decided_by", "decided_at", "note", "updated_at"])


class FraudRule(models.Model):
    """A condition over the named fraud features and what to do when it holds."""

    ACTION_ALLOW, ACTION_REVIEW, ACTION_BLOCK = "allow", "review", "block"
    ACTION_CHOICES = [(ACTION_ALLOW, _("allow")), (ACTION_REVIEW, _("review")), (ACTION_BLOCK, _("block"))]

    name = models.CharField(_("name"), max_length=100, unique=True)
    condition = models.TextField(
        _("condition"),
        help_text=_(
            "For example: amount > 500 and ip_country != shipping_country. "
            "See docs/fraud.md for the language and the feature names."
        ),
    )
    action = models.CharField(_("action"), max_length=8, choices=ACTION_CHOICES, default=ACTION_REVIEW)
    priority = models.IntegerField(
        _("priority"),
        default=100,
        help_text=_("Lower runs first; the first rule that fires decides."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    description = models.CharField(_("description"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("fraud rule")
        verbose_name_plural = _("fraud rules")
        ordering = ("priority", "name")
        indexes = [models.Index(fields=("enabled", "priority"), name="ecom_ai_fraudrule_active")]

    def __str__(self):
        return f"{self.name} → {self.action}"

    def clean(self):
        try:
            parse_condition(self.condition)
        except ConditionError as exc:
            raise ValidationError({"condition": str(exc)}) from exc

    def save(self, *args, **kwargs):
        # validated on every save, not only in forms: a broken rule never reaches scoring
        try:
            parse_condition(self.condition)
        except ConditionError as exc:
            raise ValidationError({"condition": str(exc)}) from exc
        super().save(*args, **kwargs)


class FraudListEntry(models.Model):
    """An email, IP, device or payment fingerprint that is always allowed or always blocked."""

    KIND_CHOICES = [
        ("email", _("email")),
        ("ip", _("IP address")),
        ("device", _("device")),
        ("payment_fingerprint", _("payment fingerprint")),
    ]
    LIST_ALLOW, LIST_BLOCK = "allow", "block"
    LIST_CHOICES = [(LIST_ALLOW, _("allow list")), (LIST_BLOCK, _("block list"))]

    kind = models.CharField(_("kind"), max_length=24, choices=KIND_CHOICES)
    value = models.CharField(_("value"), max_length=254)
    list = models.CharField(_("list"), max_length=8, choices=LIST_CHOICES, default=LIST_BLOCK)
    note = models.CharField(_("note"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("allow/block list entry")
        verbose_name_plural = _("allow/block list entries")
        ordering = ("kind", "value")
        constraints = [models.UniqueConstraint(fields=("kind", "value"), name="ecom_ai_fraudlist_unique")]

    def __str__(self):
        return f"{self.get_list_display()}: {self.kind} {self.value}"

    @staticmethod
    def normalize(kind: str, value) -> str:
        value = str(value or "").strip()
        return value.lower() if kind == "email" else value

    def clean(self):
        self.value = self.normalize(self.kind, self.value)
        if not self.value:
            raise ValidationError({"value": _("A value is required.")})
        if self.kind == "ip":
            import ipaddress

            try:
                self.value = str(ipaddress.ip_address(self.value))
            except ValueError as exc:
                raise ValidationError({"value": _("%(v)s is not an IP address.") % {"v": self.value}}) from exc

    def save(self, *args, **kwargs):
        self.value = self.normalize(self.kind, self.value)
        super().save(*args, **kwargs)


class FraudSettings(models.Model):
    """Thresholds editable in the admin (one row; defaults come from ``ECOM_AI`` settings)."""

    medium_threshold = models.PositiveSmallIntegerField(
        _("medium from score"),
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Scores at or above this are medium risk (sent to review)."),
    )
    high_threshold = models.PositiveSmallIntegerField(
        _("high from score"),
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Scores at or above this are high risk (recommended: cancel)."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("fraud thresholds")
        verbose_name_plural = _("fraud thresholds")

    def __str__(self):
        return f"medium ≥ {self.medium_threshold}, high ≥ {self.high_threshold}"

    def clean(self):
        if self.medium_threshold and self.high_threshold and self.medium_threshold >= self.high_threshold:
            raise ValidationError({"high_threshold": _("Must be above the medium threshold.")})

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "FraudSettings":
        """The thresholds in force (the admin row, or an unsaved row with the defaults)."""
        from ecom_ai.conf import settings as ecom_settings

        obj = cls.objects.filter(pk=1).first()
        if obj is None:
            obj = cls(
                pk=1,
                medium_threshold=ecom_settings.FRAUD_MEDIUM_THRESHOLD,
                high_threshold=ecom_settings.FRAUD_HIGH_THRESHOLD,
            )
        return obj
