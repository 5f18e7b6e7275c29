"""Serving stage 4's record: a served list, ``RecommendationResult``, of ``RecommendedItem``s."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from ecom_ai.adapters import get_adapter
from ecom_ai.recommend.identity import Identity

logger = logging.getLogger("ecom_ai.recommend")


class RecommendedItem(NamedTuple):
    key: str
    score: float
    reason: str


class RecommendationResult:
    """A served list: ``id``, ``items`` [(key, score, reason)], ``products`` (host objects)."""

    def __init__(
        self,
        *,
        id,
        placement,
        items: list[RecommendedItem],
        identity: Identity,
        strategy: str,
        variant=None,
        model_version_id=None,
        anchor_item: str = "",
        facts=None,
    ):
        self.id = id
        self.placement = placement
        self.items = items
        self.identity = identity
        self.strategy = strategy
        self.variant = variant
        self.model_version_id = model_version_id
        self.anchor_item = anchor_item
        self.facts = facts or {}
        self._products = None

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)

    def __bool__(self):
        return bool(self.items)

    @property
    def keys(self) -> list[str]:
        return [item.key for item in self.items]

    @property
    def title(self) -> str:
        return self.placement.title or self.placement.name

    @property
    def products(self) -> list[Any]:
        """The host's product objects in list order, each with ``ecom_ai_reason``,
        ``ecom_ai_score``, ``ecom_ai_rec_id``, ``ecom_ai_position`` and ``ecom_ai_placement``.
        Items the host no longer has are left out."""
        if self._products is None:
            try:
                found = get_adapter().get_products(self.keys)
            except Exception:  # noqa: BLE001 - a broken adapter must not break the page
                logger.exception("ecom_ai: the adapter could not fetch recommended products")
                found = {}
            products = []
            for position, item in enumerate(self.items, start=1):
                product = found.get(item.key)
                if product is None:
                    continue
                product.ecom_ai_reason = item.reason
                product.ecom_ai_score = item.score
                product.ecom_ai_rec_id = str(self.id)
                product.ecom_ai_position = position
                product.ecom_ai_placement = self.placement.slug
                products.append(product)
            self._products = products
        return self._products

    def as_dict(self) -> dict:
        return {
            "id": str(self.id),
            "placement": self.placement.slug,
            "title": self.title,
            "strategy": self.strategy,
            "variant": self.variant.name if self.variant is not None else None,
            "items": [
                {
                    "key": i.key,
                    "score": round(float(i.score), 6),
                    "reason": i.reason,
                    "title": (self.facts.get(i.key) or {}).get("title", ""),
                    "position": n,
                }
                for n, i in enumerate(self.items, start=1)
            ],
        }
