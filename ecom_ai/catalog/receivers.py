"""Keep the Item mirror in step with the host's product model, through Django's model signals.

The product model is named in settings (``ECOM_AI["PRODUCT_MODEL"]``, or whatever the
configured adapter's ``product_model`` returns), so the receivers are connected when the app
is ready, for that model only, and reconnected when ``ECOM_AI`` changes (``override_settings``).

A failing sync never breaks the host's save or delete: it runs in a savepoint and is logged.
"""
from __future__ import annotations

import logging

from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save

logger = logging.getLogger(__name__)

_SAVE_UID = "ecom_ai.catalog.product_saved"
_DELETE_UID = "ecom_ai.catalog.product_deleted"
_connected_model = None


def product_saved(sender, instance, raw=False, **kwargs):
    if raw:  # loaddata: the fixture's products are synced by ecom_ai_sync_catalog
        return
    from ecom_ai.catalog.sync import sync_item

    try:
        with transaction.atomic(using=kwargs.get("using")):
            sync_item(instance)
    except Exception:  # never break the host's save
        logger.exception("ecom_ai: could not sync product %r to the catalog mirror", getattr(instance, "pk", None))


def product_deleted(sender, instance, **kwargs):
    from ecom_ai.adapters import get_adapter
    from ecom_ai.catalog.sync import remove_item

    try:
        with transaction.atomic(using=kwargs.get("using")):
            remove_item(get_adapter().item_key(instance))
    except Exception:
        logger.exception("ecom_ai: could not deactivate the item of deleted product %r",
                         getattr(instance, "pk", None))


def current_product_model():
    """The product model of the configured adapter, or None (unset or misconfigured: see checks)."""
    from ecom_ai import adapters
    from ecom_ai.conf import settings as ecom_settings

    try:
        ecom_settings.reload()
        adapters.get_adapter.cache_clear()
        return adapters.get_adapter().product_model
    except Exception as exc:  # ImproperlyConfigured, bad adapter path...: manage.py check reports it
        logger.debug("ecom_ai: product signals not connected: %s", exc)
        return None


def connect_product_signals():
    """(Re)connect the receivers to the current product model. Returns that model or None."""
    global _connected_model
    disconnect_product_signals()
    model = current_product_model()
    if model is not None:
        post_save.connect(product_saved, sender=model, dispatch_uid=_SAVE_UID, weak=False)
        post_delete.connect(product_deleted, sender=model, dispatch_uid=_DELETE_UID, weak=False)
    _connected_model = model
    return model


def disconnect_product_signals():
    global _connected_model
    if _connected_model is not None:
        post_save.disconnect(sender=_connected_model, dispatch_uid=_SAVE_UID)
        post_delete.disconnect(sender=_connected_model, dispatch_uid=_DELETE_UID)
    _connected_model = None


def _settings_changed(*, setting, **kwargs):
    if setting == "ECOM_AI":
        connect_product_signals()


setting_changed.connect(_settings_changed, dispatch_uid="ecom_ai.catalog.settings_changed")
connect_product_signals()
