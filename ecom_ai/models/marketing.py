"""Marketing: campaigns, their offers (arms), logged offer decisions and single-use coupons.

A campaign's arms are its enabled offers plus the implicit **"no offer"** arm (a decision
with ``offer = None``), which always exists. Every decision logs the propensity of the
action it took, so any later policy can be evaluated off-line without bias. The logic
lives in ``ecom_ai.marketing``.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# the eligibility language: the fraud rule language (a leaf) over marketing's state names
from ecom_ai.marketing.conditions import ConditionError, parse_eligibility

CHANNEL_CHOICES = [
    ("site", _("on-site banner")),
    ("cart", _("cart")),
    ("email", _("e-mail batch")),
    ("sms", _("SMS batch")),
    ("app", _("app")),
]
CHANNEL_KEYS = tuple(key for key, _label in CHANNEL_CHOICES)


def _validate_channels(value):
    if not isinstance(value, list) or not value:
        raise ValidationError(_("Choose at least one channel."))
    unknown = [str(v) for v in value if v not in CHANNEL_KEYS]
    if unknown:
        raise ValidationError(
            _("Unknown channel(s): %(names)s (known: %(known)s).")
            % {"names": ", ".join(unknown), "known": ", ".join(CHANNEL_KEYS)}
        )


def _default_channels():
    return ["site"]


class Campaign(models.Model):
    """A marketing campaign: who may get which offer, when, under which budget and policy."""

    class Objective(models.TextChoices):
        NET_REVENUE = "net_revenue", _("net revenue (order value − discount − send cost)")
        CONVERSIONS = "conversions", _("conversions")
        MARGIN = "margin", _("margin (when the adapter gives one)")

    class Policy(models.TextChoices):
        FIXED = "fixed", _("fixed offer")
        LEARNED = "learned", _("learned policy")
        EXPERIMENT = "experiment", _("experiment: learned vs fixed")

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(
        _("slug"), max_length=64, unique=True, help_text=_("Used by the template tag, the API and the batch command.")
    )
    description = models.TextField(_("description"), blank=True, default="")
    channels = models.JSONField(
        _("channels"),
        default=_default_channels,
        validators=[_validate_channels],
        help_text=_("Where offers are shown: site, cart, email, sms, app."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True, help_text=_("Empty: no end."))
    objective = models.CharField(
        _("objective"), max_length=16, choices=Objective.choices, default=Objective.NET_REVENUE
    )

    total_budget = models.DecimalField(
        _("total budget"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Expected cost of all offers given (empty: no limit)."),
    )
    daily_budget = models.DecimalField(
        _("daily budget"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Per calendar day (UTC; empty: no limit)."),
    )
    spent_total = models.DecimalField(_("spent"), max_digits=14, decimal_places=2, default=Decimal("0"), editable=False)
    spent_day = models.DateField(_("spending day"), null=True, blank=True, editable=False)
    spent_today = models.DecimalField(
        _("spent today"), max_digits=14, decimal_places=2, default=Decimal("0"), editable=False
    )

    frequency_cap = models.PositiveIntegerField(
        _("frequency cap"),
        null=True,
        blank=True,
        default=3,
        help_text=_("At most this many offers per customer within the frequency window (empty: no cap)."),
    )
    frequency_window_days = models.PositiveIntegerField(
        _("frequency window (days)"), default=30, validators=[MinValueValidator(1)]
    )
    decision_days = models.PositiveIntegerField(
        _("decision lasts (days)"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_("A customer's decision is sticky this long: reloading never re-rolls it."),
    )
    eligibility = models.TextField(
        _("eligibility"),
        blank=True,
        default="",
        help_text=_(
            'Condition in the rule language, e.g. orders_90d >= 1 and channel == "app". Empty: everyone. '
            "See docs/marketing.md for the names."
        ),
    )
    control_percent = models.FloatField(
        _("control group %"),
        default=10.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text=_("Share of customers (by hashing, stable) that never get an offer: the baseline for lift."),
    )
    exploration_rate = models.FloatField(
        _("exploration rate"),
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("Share of decisions spread over all arms at random (ε), so later evaluation stays unbiased."),
    )
    policy = models.CharField(_("policy"), max_length=16, choices=Policy.choices, default=Policy.FIXED)
    fixed_offer = models.ForeignKey(
        "ecom_ai.Offer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("fixed offer"),
        help_text=_("The fixed policy's offer (empty: no offer)."),
    )
    policy_version = models.ForeignKey(
        "ecom_ai.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("policy version"),
        help_text=_('A trained "offers" version to use (empty: the active one).'),
    )
    experiment_share = models.FloatField(
        _("experiment: learned share"),
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("Experiment policy: share of decisions made by the learned policy (the rest: fixed)."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ("-starts_at", "name")
        indexes = [models.Index(fields=("enabled", "starts_at"), name="ecom_ai_campaign_running")]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.eligibility and self.eligibility.strip():
            try:
                parse_eligibility(self.eligibility)
            except ConditionError as exc:
                errors["eligibility"] = str(exc)
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must be after the start.")
        if self.total_budget is not None and self.daily_budget is not None and self.daily_budget > self.total_budget:
            errors["daily_budget"] = _("The daily budget cannot exceed the total budget.")
        if self.fixed_offer_id and self.pk and self.fixed_offer.campaign_id != self.pk:
            errors["fixed_offer"] = _("The fixed offer must be one of this campaign's offers.")
        if errors:
            raise ValidationError(errors)

    def is_running(self, when=None) -> bool:
        when = when or timezone.now()
        return bool(self.enabled and self.starts_at <= when and (self.ends_at is None or when < self.ends_at))


class Offer(models.Model):
    """One arm of a campaign. "No offer" is implicit (a decision without offer) and always exists."""

    class Kind(models.TextChoices):
        PERCENT_OFF = "percent_off", _("percent off")
        AMOUNT_OFF = "amount_off", _("amount off over a threshold")
        FREE_SHIPPING = "free_shipping", _("free shipping")
        CONTENT = "content", _("content only (a message)")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="offers", verbose_name=_("campaign"))
    key = models.SlugField(
        _("key"), max_length=64, help_text=_("Stable name of the arm within the campaign (policies refer to it).")
    )
    title = models.CharField(_("title"), max_length=200, help_text=_("What the shopper sees."))
    message = models.TextField(_("message"), blank=True, default="")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.PERCENT_OFF)
    value = models.DecimalField(
        _("value"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Percent (percent off) or amount (amount off)."),
    )
    min_order_value = models.DecimalField(
        _("minimum order value"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    expected_discount_cost = models.DecimalField(
        _("expected discount cost"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "Expected cost of the discount per offer given (redemption rate × discount); "
            "reserved from the budget when the offer is given."
        ),
    )
    send_cost = models.DecimalField(
        _("send cost"),
        max_digits=10,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Fixed cost per offer sent (e-mail, SMS)."),
    )
    validity_days = models.PositiveIntegerField(_("valid for (days)"), default=14, validators=[MinValueValidator(1)])
    enabled = models.BooleanField(_("enabled"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ("campaign", "position", "pk")
        constraints = [models.UniqueConstraint(fields=("campaign", "key"), name="ecom_ai_offer_campaign_key")]

    def __str__(self):
        return f"{self.title} ({self.key})"

    def clean(self):
        if self.kind == self.Kind.PERCENT_OFF and self.value is not None and self.value > 100:
            raise ValidationError({"value": _("A percentage cannot exceed 100.")})
        if self.key == "none":
            raise ValidationError({"key": _('"none" is the implicit no-offer arm; choose another key.')})

    @property
    def expected_cost(self) -> Decimal:
        return (self.expected_discount_cost or Decimal("0")) + (self.send_cost or Decimal("0"))

    @property
    def needs_code(self) -> bool:
        return self.kind != self.Kind.CONTENT

    def discount_for(self, order_value: Decimal | None) -> Decimal:
        """The discount this offer gives on an order of ``order_value`` (0 below the threshold)."""
        if order_value is None or order_value < (self.min_order_value or 0):
            return Decimal("0")
        if self.kind == self.Kind.PERCENT_OFF:
            return (order_value * self.value / 100).quantize(Decimal("0.01"))
        if self.kind == self.Kind.AMOUNT_OFF:
            return min(order_value, self.value)
        return Decimal("0")


class OfferDecision(models.Model):
    """One logged decision: which arm a customer got in a campaign, with its propensity."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("campaign")
    )
    offer = models.ForeignKey(
        Offer,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="decisions",
        verbose_name=_("offer"),
        help_text=_("Empty: no offer."),
    )
    subject_key = models.CharField(
        _("customer"), max_length=80, help_text=_('"u:<user key>" or "v:<visitor key>": whom the decision is for.')
    )
    user_key = models.CharField(_("user"), max_length=64, blank=True, default="")
    visitor_key = models.CharField(_("visitor"), max_length=64, blank=True, default="")
    channel = models.CharField(_("channel"), max_length=32, blank=True, default="")
    propensity = models.FloatField(_("propensity"), help_text=_("Probability of the chosen arm under the policy."))
    probabilities = models.JSONField(_("arm probabilities"), default=dict, blank=True)
    is_control = models.BooleanField(_("control group"), default=False)
    for_learning = models.BooleanField(
        _("usable for learning"),
        default=True,
        help_text=_("False when the arm was forced (control, budget, cap): such rows are left out of training."),
    )
    policy = models.CharField(_("decided by"), max_length=32, blank=True, default="")
    model_version = models.ForeignKey(
        "ecom_ai.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("model version"),
    )
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    state = models.JSONField(_("customer state"), default=dict, blank=True)
    cost = models.DecimalField(_("budget reserved"), max_digits=12, decimal_places=4, default=Decimal("0"))
    coupon_code = models.CharField(_("coupon code"), max_length=64, blank=True, default="")
    batch = models.CharField(_("batch"), max_length=64, blank=True, default="")
    sequence = models.PositiveIntegerField(
        _("decision number"),
        null=True,
        blank=True,
        help_text=_(
            "The n-th decision of this customer in this campaign (1, 2, ...): unique per campaign and "
            "customer, so two simultaneous first requests cannot both decide. Empty for imported history."
        ),
    )
    created_at = models.DateTimeField(_("decided at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    # outcomes (the order bridge and the offer events fill them in)
    shown_at = models.DateTimeField(_("shown"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked"), null=True, blank=True)
    redeemed_at = models.DateTimeField(_("redeemed"), null=True, blank=True)
    converted_at = models.DateTimeField(_("converted"), null=True, blank=True)
    order_key = models.CharField(_("order"), max_length=191, blank=True, default="")
    order_value = models.DecimalField(_("order value"), max_digits=14, decimal_places=2, null=True, blank=True)
    order_margin = models.DecimalField(
        _("order margin"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("The order's gross margin from the shop adapter (order_margin); empty: unknown."),
    )
    discount = models.DecimalField(_("discount given"), max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta:
        verbose_name = _("offer decision")
        verbose_name_plural = _("offer decisions")
        ordering = ("-created_at",)
        indexes = [
            # stickiness and frequency cap: this customer's decisions in this campaign, newest first
            models.Index(fields=("campaign", "subject_key", "created_at"), name="ecom_ai_od_subject"),
            models.Index(fields=("campaign", "created_at"), name="ecom_ai_od_campaign_time"),
            # attribution of a purchase: the user's open decisions; customer state: last offer
            models.Index(fields=("user_key", "created_at"), name="ecom_ai_od_user_time"),
            models.Index(fields=("visitor_key", "created_at"), name="ecom_ai_od_visitor_time"),
            models.Index(fields=("coupon_code",), name="ecom_ai_od_code"),
        ]
        constraints = [
            # one decision per customer and decision number: the loser of a race reads the winner's
            models.UniqueConstraint(fields=("campaign", "subject_key", "sequence"), name="ecom_ai_od_sequence"),
        ]

    def __str__(self):
        arm = self.offer.key if self.offer_id else "no offer"
        return f"{self.campaign_id}: {arm} for {self.subject_key}"

    @property
    def arm(self) -> str:
        return self.offer.key if self.offer_id else "none"

    @property
    def net_revenue(self) -> Decimal:
        value = self.order_value or Decimal("0")
        send = self.offer.send_cost if self.offer_id else Decimal("0")
        return value - (self.discount or Decimal("0")) - send


COUPON_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
COUPON_CODE_LENGTH = 12


def normalize_code(code) -> str:
    """A code as stored: upper case, letters and digits only (``k7q2-xm4p`` → ``K7Q2XM4P``)."""
    return "".join(ch for ch in str(code or "").upper() if ch.isalnum())[:64]


def new_coupon_code() -> str:
    """12 random characters without look-alikes (~60 bits), shown as ``XXXX-XXXX-XXXX``."""
    raw = new_coupon_codes(1)[0]
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


_CODE_TABLE = COUPON_ALPHABET.encode() * (256 // len(COUPON_ALPHABET))  # byte b -> letter b % 32


def new_coupon_codes(n: int) -> list[str]:
    """``n`` stored-form codes (12 characters, as ``normalize_code`` keeps them) for a batch: one
    call to the OS random source for all of them (32 letters divide 256: each stays uniform)."""
    raw = secrets.token_bytes(n * COUPON_CODE_LENGTH).translate(_CODE_TABLE).decode()
    return [raw[i : i + COUPON_CODE_LENGTH] for i in range(0, len(raw), COUPON_CODE_LENGTH)]


class CouponManager(models.Manager):
    def issue(self, offer, *, user_key: str = "", visitor_key: str = "", now=None) -> str:
        """Create and store a unique code for ``offer`` valid ``offer.validity_days``; return it.

        One ``INSERT … ON CONFLICT DO NOTHING`` per code (no savepoint): it runs inside the
        caller's decision transaction."""
        from ecom_ai.models.rows import insert_or_skip

        now = now or timezone.now()
        for _attempt in range(5):
            code = new_coupon_code()
            coupon = self.model(
                code=normalize_code(code),
                campaign_id=offer.campaign_id,
                offer=offer,
                user_key=str(user_key or "")[:64],
                visitor_key=str(visitor_key or "")[:64],
                created_at=now,
                expires_at=now + timedelta(days=offer.validity_days),
            )
            if insert_or_skip(coupon, ("code",)) is not None:
                return code
            # a collision: astronomically rare, draw again
        raise RuntimeError("could not create a unique coupon code")


class Coupon(models.Model):
    """A unique, single-use code (the default coupon store, for shops without vouchers)."""

    code = models.CharField(_("code"), max_length=64, unique=True)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="coupons", verbose_name=_("campaign")
    )
    offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.SET_NULL, related_name="coupons", verbose_name=_("offer")
    )
    user_key = models.CharField(_("user"), max_length=64, blank=True, default="")
    visitor_key = models.CharField(_("visitor"), max_length=64, blank=True, default="")
    created_at = models.DateTimeField(_("issued"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    redeemed_at = models.DateTimeField(_("redeemed"), null=True, blank=True)
    order_key = models.CharField(_("order"), max_length=191, blank=True, default="")

    objects = CouponManager()

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=("user_key", "created_at"), name="ecom_ai_coupon_user"),
            models.Index(fields=("order_key",), name="ecom_ai_coupon_order"),
        ]

    def __str__(self):
        return self.code

    @property
    def status(self) -> str:
        if self.redeemed_at:
            return "redeemed"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "open"
