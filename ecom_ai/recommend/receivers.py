"""Receivers of the recommend domain (connected at start-up by ``ecom_ai.receivers``).

- ``events_recorded`` → attribution of clicks / add-to-carts / purchases to served lists;
- saving or deleting a placement, rule, experiment or variant drops this process's
  placement cache at once (other processes notice within ``RECOMMEND_PLACEMENT_CACHE_SECONDS``).
"""
from django.db.models.signals import post_delete, post_save

from ecom_ai import signals
from ecom_ai.models import Experiment, Placement, PlacementRule, Variant
from ecom_ai.recommend.attribution import on_events_recorded
from ecom_ai.recommend.service import clear_placement_cache

signals.events_recorded.connect(on_events_recorded, dispatch_uid="ecom_ai.recommend.attribution")

for _model in (Placement, PlacementRule, Experiment, Variant):
    post_save.connect(clear_placement_cache, sender=_model, dispatch_uid=f"ecom_ai.recommend.cache.save.{_model.__name__}")
    post_delete.connect(clear_placement_cache, sender=_model,
                        dispatch_uid=f"ecom_ai.recommend.cache.delete.{_model.__name__}")
