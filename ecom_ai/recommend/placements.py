"""Serving stage 1b, what is asked for: a placement's configuration, cached per process.

``get_placement_config(slug)`` gives the placement, its enabled rules and its running
experiment with the variants, read with a few queries and then kept in this process for
``RECOMMEND_PLACEMENT_CACHE_SECONDS`` (a ``TTLCache``; saving or deleting a placement, rule,
experiment or variant drops it at once in the process that edits them; the others notice
within that time). Unknown slugs raise ``UnknownPlacement``; the default placements are
created on first use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db.models.signals import post_delete, post_save

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import Experiment, Placement, PlacementRule, Variant
from ecom_ai.recommend.errors import UnknownPlacement
from ecom_ai.recommend.rules import RuleSet
from ecom_ai.ttl_cache import TTLCache

#: created on first use when a template or the API names them; edit them in the admin
DEFAULT_PLACEMENTS = {
    "home": {
        "name": "Home page",
        "title": "Recommended for you",
        "default_limit": 8,
        "strategy": "for_you",
        "fallback_strategy": "trending",
        "max_per_category": 3,
    },
    "product": {
        "name": "Product page",
        "title": "Customers also bought",
        "default_limit": 4,
        "strategy": "also_bought",
        "fallback_strategy": "also_viewed",
    },
    "cart": {
        "name": "Cart",
        "title": "Complete your order",
        "default_limit": 4,
        "strategy": "also_bought",
        "fallback_strategy": "for_you",
        "max_per_category": 2,
    },
    "email": {
        "name": "Email",
        "title": "Picked for you",
        "default_limit": 6,
        "strategy": "for_you",
        "fallback_strategy": "trending",
        "exclude_in_cart": False,
        "max_per_category": 2,
    },
}


@dataclass
class PlacementConfig:
    placement: Placement
    ruleset_rules: list
    experiment: Experiment | None
    variants: list
    fingerprint: str = ""  # of everything above that decides a list (the list cache's key)

    def __post_init__(self):
        rows = [self.placement, *self.ruleset_rules, *([self.experiment] if self.experiment else []), *self.variants]
        text = repr(
            sorted(
                (type(row).__name__, row.pk, [(f.attname, getattr(row, f.attname)) for f in row._meta.concrete_fields])
                for row in rows
            )
        )
        self.fingerprint = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def ruleset(self) -> RuleSet:
        return RuleSet.from_rules(self.ruleset_rules)


_CONFIG_MODELS = (Placement, PlacementRule, Experiment, Variant)
_configs = TTLCache(
    "recommend.placements",
    ttl=lambda: ecom_settings.RECOMMEND_PLACEMENT_CACHE_SECONDS,
    clear_on=[(signal, model) for model in _CONFIG_MODELS for signal in (post_save, post_delete)],
)


def clear_placement_cache(*args, **kwargs) -> None:
    _configs.clear()


def ensure_default_placements() -> list[Placement]:
    """Create the default placements that do not exist yet (never changes existing ones)."""
    created = []
    for slug, values in DEFAULT_PLACEMENTS.items():
        placement, was_created = Placement.objects.get_or_create(slug=slug, defaults=values)
        if was_created:
            created.append(placement)
    if created:
        clear_placement_cache()
    return created


def get_placement_config(slug) -> PlacementConfig:
    if isinstance(slug, Placement):
        slug = slug.slug
    if not isinstance(slug, str) or not slug or len(slug) > 64:
        raise UnknownPlacement("placement must be a placement slug such as 'home'")
    return _configs.get_or_set(slug, lambda: _load_config(slug))


def _load_config(slug: str) -> PlacementConfig:
    placement = Placement.objects.filter(slug=slug).first()
    if placement is None and slug in DEFAULT_PLACEMENTS:
        placement, _ = Placement.objects.get_or_create(slug=slug, defaults=DEFAULT_PLACEMENTS[slug])
    if placement is None:
        known = sorted(set(Placement.objects.values_list("slug", flat=True)) | set(DEFAULT_PLACEMENTS))
        raise UnknownPlacement(f"unknown placement {slug!r}; known placements: {', '.join(known)}")
    rules = list(placement.rules.filter(enabled=True))
    experiment = next(
        (
            e
            for e in placement.experiments.filter(status=Experiment.Status.RUNNING).prefetch_related("variants")
            if e.is_live()
        ),
        None,
    )
    variants = list(experiment.variants.all()) if experiment else []
    return PlacementConfig(placement, rules, experiment, variants)
