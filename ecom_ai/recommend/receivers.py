"""Receivers of the recommend domain (connected at start-up by ``ecom_ai.receivers``).

- ``events_recorded`` → attribution of clicks / add-to-carts / purchases to served lists,
  and the shoppers' cached history is dropped (``ecom_ai.recommend.history_cache``; also on
  ``visitor_identified`` and erasure);
- ``item_synced`` and saving / deleting an ``Item`` → the item facts cache's version is
  bumped (this process drops its facts at once, the others within a second with a shared
  cache, see ``ecom_ai.recommend.facts``);
- saving or deleting a placement, rule, experiment or variant drops this process's
  placement cache at once (``ecom_ai.recommend.placements``: its ``TTLCache`` listens itself;
  other processes notice within ``RECOMMEND_PLACEMENT_CACHE_SECONDS``);
- user data export / erasure (``ecom_ai.events.privacy``): served lists are exported, and
  unlinked from the person on erasure (counts kept for experiment reports).
"""

from django.db.models.signals import post_delete, post_save

from ecom_ai import signals
from ecom_ai.events import privacy
from ecom_ai.models import Item
from ecom_ai.recommend import facts, history_cache
from ecom_ai.recommend import placements  # noqa: F401  its cache clears itself on placement/rule/experiment saves
from ecom_ai.recommend.attribution import on_events_recorded

signals.events_recorded.connect(on_events_recorded, dispatch_uid="ecom_ai.recommend.attribution")
signals.events_recorded.connect(history_cache.on_events_recorded, dispatch_uid="ecom_ai.recommend.history_cache")
signals.visitor_identified.connect(
    history_cache.on_visitor_identified, dispatch_uid="ecom_ai.recommend.history_cache.identified"
)

signals.item_synced.connect(facts.bump_version, dispatch_uid="ecom_ai.recommend.facts.synced")
post_save.connect(facts.bump_version, sender=Item, dispatch_uid="ecom_ai.recommend.facts.item_saved")
post_delete.connect(facts.bump_version, sender=Item, dispatch_uid="ecom_ai.recommend.facts.item_deleted")


# --- data export and erasure of one user (ecom_ai.events.privacy) -----------------------------


def _user_lists(user_key, visitor_keys):
    from django.db.models import Q

    from ecom_ai.models import RecommendationList

    condition = Q(user_key=user_key)
    if visitor_keys:
        condition |= Q(visitor_key__in=list(visitor_keys))
    return RecommendationList.objects.filter(condition)


def export_recommendation_lists(user_key, visitor_keys):
    return [
        {
            "id": str(row["id"]),
            "placement": row["placement__slug"],
            "served_at": row["created_at"],
            "items": [entry.get("key") for entry in row["items"] or [] if isinstance(entry, dict)],
            "clicks": row["clicks"],
            "add_to_carts": row["add_to_carts"],
            "purchases": row["purchases"],
            "revenue": row["revenue"],
        }
        for row in _user_lists(user_key, visitor_keys)
        .order_by("created_at")
        .values("id", "placement__slug", "created_at", "items", "clicks", "add_to_carts", "purchases", "revenue")
    ]


def erase_recommendation_lists(user_key, visitor_keys):
    """Unlink the user's served lists (keys blanked): experiment counts stay, the person does not."""
    history_cache.on_user_erased(user_key, visitor_keys)  # the erased events must not be served from the cache
    count = _user_lists(user_key, visitor_keys).update(user_key="", visitor_key="")
    return {"recommendation_lists_anonymised": count} if count else {}  # nothing to report for most users


privacy.register("recommendation_lists", exporter=export_recommendation_lists, eraser=erase_recommendation_lists)
