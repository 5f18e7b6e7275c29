"""Recommendation serving: placements and their rules, A/B experiments, served lists.

The logic lives in ``ecom_ai.recommend`` (service, rules, experiments, attribution).
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MAX_LIMIT = 100


class Strategy(models.TextChoices):
    """How a placement picks its candidates (see docs/recommendations.md)."""

    FOR_YOU = "for_you", _("for you (model, else recent history, else trending)")
    MODEL = "model", _("sequential model (active recommender)")
    SIMILAR = "similar", _("similar items (model, else also viewed)")
    ALSO_BOUGHT = "also_bought", _("also bought (co-occurrence)")
    ALSO_VIEWED = "also_viewed", _("also viewed (co-occurrence)")
    TRENDING = "trending", _("trending (time-decayed popularity)")
    TRENDING_CATEGORY = "trending_category", _("trending in the item's / visitor's categories")


def strategy_choices(*, blank: bool = False) -> list[tuple[str, str]]:
    """The strategies a placement or variant can name: the built-in ones with their labels, then
    any a shop added in ``ECOM_AI["RECOMMEND_STRATEGIES"]`` (read when the form is built)."""
    from ecom_ai.conf import settings as ecom_settings

    labels = dict(Strategy.choices)
    choices = [(name, str(labels.get(name, name))) for name in ecom_settings.RECOMMEND_STRATEGIES]
    return [("", _("(the placement's strategy)"))] + choices if blank else choices


def validate_strategy(value: str) -> None:
    """A strategy name must be one of ``ECOM_AI["RECOMMEND_STRATEGIES"]`` (built-in or the shop's own)."""
    from ecom_ai.conf import settings as ecom_settings

    if value and value not in ecom_settings.RECOMMEND_STRATEGIES:
        raise ValidationError(
            _("“%(value)s” is not a recommendation strategy; known: %(known)s (ECOM_AI['RECOMMEND_STRATEGIES'])."),
            code="unknown_strategy",
            params={"value": value, "known": ", ".join(sorted(ecom_settings.RECOMMEND_STRATEGIES))},
        )


class Placement(models.Model):
    """A place where a list is shown: home page, product page, cart, email…"""

    slug = models.SlugField(
        _("slug"),
        max_length=64,
        unique=True,
        help_text=_("What templates and the API name it, e.g. home, product, cart, email."),
    )
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(
        _("title shown"),
        max_length=100,
        blank=True,
        default="",
        help_text=_("Heading above the list, e.g. “Customers also bought”."),
    )
    default_limit = models.PositiveSmallIntegerField(
        _("default length"), default=8, validators=[MinValueValidator(1), MaxValueValidator(MAX_LIMIT)]
    )
    # no fixed choices: a shop adds strategies in settings (the admin offers them, see strategy_choices)
    strategy = models.CharField(_("strategy"), max_length=32, default=Strategy.FOR_YOU, validators=[validate_strategy])
    fallback_strategy = models.CharField(
        _("fallback strategy"),
        max_length=32,
        default=Strategy.TRENDING,
        validators=[validate_strategy],
        help_text=_("Fills the list when the strategy has too few items (trending always comes last)."),
    )
    exclude_purchased = models.BooleanField(_("exclude purchased items"), default=True)
    exclude_out_of_stock = models.BooleanField(_("exclude out-of-stock items"), default=True)
    exclude_in_cart = models.BooleanField(_("exclude items in the cart"), default=True)
    exclude_viewed = models.BooleanField(
        _("exclude the current item"), default=True, help_text=_("Never show the page's own item.")
    )
    max_per_category = models.PositiveSmallIntegerField(
        _("at most per category"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: no limit."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("placement")
        verbose_name_plural = _("placements")
        ordering = ("slug",)

    def __str__(self):
        return f"{self.name} ({self.slug})"


class PlacementRule(models.Model):
    """Pin, boost or bury an item or a whole category in one placement."""

    class Action(models.TextChoices):
        PIN = "pin", _("pin (show at a position)")
        BOOST = "boost", _("boost (multiply the score)")
        BURY = "bury", _("bury (divide the score)")
        EXCLUDE = "exclude", _("exclude (never show)")

    placement = models.ForeignKey(
        Placement, verbose_name=_("placement"), on_delete=models.CASCADE, related_name="rules"
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    item_key = models.CharField(_("item key"), max_length=191, blank=True, default="")
    category = models.CharField(
        _("category"), max_length=255, blank=True, default="", help_text=_("As in the catalog mirror (ecom_ai items).")
    )
    weight = models.FloatField(
        _("weight"),
        default=2.0,
        validators=[MinValueValidator(1.0)],
        help_text=_("Boost multiplies the score by it, bury divides by it (≥ 1)."),
    )
    position = models.PositiveSmallIntegerField(
        _("position"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Pins: 1 = first. Empty: after other pins."),
    )
    starts_at = models.DateTimeField(_("from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("until"), null=True, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    note = models.CharField(_("note"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("placement rule")
        verbose_name_plural = _("placement rules")
        ordering = ("placement", "action", "position", "pk")
        indexes = [models.Index(fields=("placement", "enabled"), name="ecom_ai_prule_placement")]

    def __str__(self):
        target = f"item {self.item_key}" if self.item_key else f"category {self.category}"
        return f"{self.get_action_display().split(' (')[0]} {target}"

    def clean(self):
        if bool(self.item_key) == bool(self.category):
            raise ValidationError(_("Give either an item key or a category (exactly one)."))
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("Must be after the start.")})

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.enabled
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )


class Experiment(models.Model):
    """An A/B test on one placement: visitors are split between variants by a hash."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        RUNNING = "running", _("running")
        STOPPED = "stopped", _("stopped")

    placement = models.ForeignKey(
        Placement, verbose_name=_("placement"), on_delete=models.CASCADE, related_name="experiments"
    )
    name = models.CharField(_("name"), max_length=100)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    starts_at = models.DateTimeField(_("from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("placement",), condition=models.Q(status="running"), name="ecom_ai_experiment_one_running"
            ),
        ]
        indexes = [models.Index(fields=("placement", "status"), name="ecom_ai_exp_placement_status")]

    def __str__(self):
        return f"{self.name} ({self.placement.slug}, {self.status})"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("Must be after the start.")})
        if self.status == self.Status.RUNNING and self.placement_id:
            other = (
                Experiment.objects.filter(placement_id=self.placement_id, status=self.Status.RUNNING)
                .exclude(pk=self.pk)
                .first()
            )
            if other is not None:
                raise ValidationError(
                    {
                        "status": _("Experiment “%(name)s” is already running on this placement; stop it first.")
                        % {"name": other.name}
                    }
                )

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.status == self.Status.RUNNING
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )


class Variant(models.Model):
    """One arm of an experiment: a strategy and/or a model version, with a traffic weight."""

    experiment = models.ForeignKey(
        Experiment, verbose_name=_("experiment"), on_delete=models.CASCADE, related_name="variants"
    )
    name = models.CharField(_("name"), max_length=64)
    weight = models.PositiveIntegerField(
        _("traffic weight"), default=1, help_text=_("Share of visitors = weight / sum of weights.")
    )
    strategy = models.CharField(
        _("strategy"),
        max_length=32,
        blank=True,
        default="",
        validators=[validate_strategy],
        help_text=_("Empty: the placement's strategy."),
    )
    model_version = models.ForeignKey(
        "ecom_ai.ModelVersion",
        verbose_name=_("model version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        limit_choices_to={"kind": "recommender"},
        help_text=_("Empty: the active recommender version."),
    )

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ("experiment", "pk")
        constraints = [models.UniqueConstraint(fields=("experiment", "name"), name="ecom_ai_variant_name")]

    def __str__(self):
        return self.name


class RecommendationList(models.Model):
    """One served list: what was shown, to whom, where, and what came of it (attribution)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    placement = models.ForeignKey(
        Placement, verbose_name=_("placement"), on_delete=models.CASCADE, related_name="lists"
    )
    variant = models.ForeignKey(
        Variant, verbose_name=_("variant"), null=True, blank=True, on_delete=models.SET_NULL, related_name="lists"
    )
    visitor_key = models.CharField(_("visitor"), max_length=64, blank=True, default="")
    user_key = models.CharField(_("user"), max_length=64, blank=True, default="")
    anchor_item = models.CharField(_("item"), max_length=191, blank=True, default="")
    strategy = models.CharField(_("strategy"), max_length=32, blank=True, default="")
    model_version = models.ForeignKey(
        "ecom_ai.ModelVersion",
        verbose_name=_("model version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    items = models.JSONField(
        _("items"), default=list, blank=True, help_text=_("[{key, score, reason}] in the order shown.")
    )
    created_at = models.DateTimeField(_("served"), default=timezone.now)
    # outcomes, updated by attribution
    clicks = models.PositiveIntegerField(_("clicks"), default=0)
    add_to_carts = models.PositiveIntegerField(_("add to carts"), default=0)
    purchases = models.PositiveIntegerField(_("purchases"), default=0)
    revenue = models.DecimalField(_("revenue"), max_digits=14, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("served list")
        verbose_name_plural = _("served lists")
        ordering = ("-created_at",)
        indexes = [
            # attribution: a visitor's / user's latest lists
            models.Index(fields=("visitor_key", "created_at"), name="ecom_ai_rl_visitor_time"),
            models.Index(fields=("user_key", "created_at"), name="ecom_ai_rl_user_time"),
            # experiment report
            models.Index(fields=("variant", "created_at"), name="ecom_ai_rl_variant_time"),
            models.Index(fields=("placement", "created_at"), name="ecom_ai_rl_placement_time"),
        ]

    def __str__(self):
        return f"{self.placement_id} list {str(self.id)[:8]}"

    @property
    def item_keys(self) -> list[str]:
        return [entry.get("key") for entry in self.items or [] if isinstance(entry, dict)]
