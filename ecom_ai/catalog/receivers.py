"""Keep the Item mirror in step with the host's product model, through Django's model signals.

The product model is named in settings (``ECOM_AI["PRODUCT_MODEL"]``, or whatever the
configured adapter's ``product_model`` returns), so the receivers are connected when the app
is ready, for that model only, and reconnected when ``ECOM_AI`` changes (``override_settings``).

* A product saved: its item is synced at once. A product deleted: its item key is read back
  from the host (a variant keyed as its parent re-syncs the parent) and deactivated only
  when no product has that key any more.
* A row of one of the adapter's ``related_models`` saved or deleted (a stock record, a
  category link: Oscar keeps price, stock and category there, and saves them *after* the
  product), or an M2M link through one of them added or removed: the owning products are
  collected, and their items re-synced once, in one batch, when the transaction commits
  (at once outside a transaction).

A failing sync never breaks the host's save or delete: it runs in a savepoint and is logged.
"""

from __future__ import annotations

import logging

from django.core.exceptions import FieldDoesNotExist
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import QuerySet
from django.db.models.manager import BaseManager
from django.db.models.signals import m2m_changed, post_delete, post_save

logger = logging.getLogger(__name__)

_SAVE_UID = "ecom_ai.catalog.product_saved"
_DELETE_UID = "ecom_ai.catalog.product_deleted"
_RELATED_UID = "ecom_ai.catalog.related"
_connected_model = None
_connected_related: list = []


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
    """Re-read the deleted product's key: a variant keyed as its parent leaves the parent's
    item active (re-synced without the variant); a key no product has any more is deactivated."""
    from ecom_ai.adapters import get_adapter
    from ecom_ai.catalog.sync import sync_keys

    try:
        with transaction.atomic(using=kwargs.get("using")):
            sync_keys([get_adapter().item_key(instance)])
    except Exception:
        logger.exception("ecom_ai: could not deactivate the item of deleted product %r", getattr(instance, "pk", None))


# --- related models: collected per transaction, synced once on commit --------------------------


def owner_pks(instance, path: str) -> list:
    """Primary keys of the host products ``instance`` (a related row) belongs to, by ``path``.

    A plain foreign key (``"product"``) is read from its column, with no query (so the rows
    of a product being deleted still name it); longer paths are followed on the objects and
    may lead to one product or to many (a manager or queryset)."""
    from ecom_ai.adapters import resolve_path

    if "." not in path:
        try:
            field = instance._meta.get_field(path)
        except FieldDoesNotExist:
            field = None
        if field is not None and getattr(field, "concrete", False) and (field.many_to_one or field.one_to_one):
            return [getattr(instance, field.attname)]
    value = resolve_path(instance, path)
    if value is None:
        return []
    if isinstance(value, BaseManager):
        value = value.all()
    if isinstance(value, QuerySet):
        return list(value.values_list("pk", flat=True))
    if isinstance(value, (list, tuple, set)):
        return [getattr(v, "pk", None) for v in value]
    return [getattr(value, "pk", None)]


class ResyncBatch:
    """The products of one transaction whose items are re-synced when it commits (an
    ``on_commit`` callback that later changes of the same transaction add to)."""

    def __init__(self, alias: str):
        self.alias = alias
        self.pks: set = set()
        self.done = False

    def __call__(self) -> None:
        from ecom_ai.catalog.sync import sync_product_pks

        pks, self.pks, self.done = self.pks, set(), True
        if not pks:
            return
        try:
            sync_product_pks(pks)
        except Exception:  # never break the host's commit; ecom_ai_sync_catalog repairs
            logger.exception("ecom_ai: could not re-sync %d product(s) after a related change", len(pks))


def _queue(pks, using: str | None) -> None:
    """Re-sync the items of these products when the current transaction commits (at once
    outside one). Changes of one transaction share one batch; a batch dies with a rolled-back
    savepoint, as Django drops its ``on_commit`` callbacks."""
    pks = {pk for pk in pks if pk is not None}
    if not pks:
        return
    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    if not connection.in_atomic_block:
        batch = ResyncBatch(alias)
        batch.pks.update(pks)
        batch()
        return
    open_savepoints = set(connection.savepoint_ids)
    for savepoints, callback, *_ in connection.run_on_commit:
        # a batch of this level or of an enclosing one: if it is rolled back, so is this change
        if isinstance(callback, ResyncBatch) and not callback.done and set(savepoints) <= open_savepoints:
            callback.pks.update(pks)
            return
    batch = ResyncBatch(alias)
    batch.pks.update(pks)
    transaction.on_commit(batch, using=alias)


def _related_paths(model) -> list[str]:
    from ecom_ai.adapters import get_adapter

    try:
        return [path for related, path in get_adapter().related_model_paths().items() if related is model]
    except Exception:
        return []


def related_saved(sender, instance, raw=False, using=None, **kwargs):
    if raw:
        return
    try:
        _queue([pk for path in _related_paths(sender) for pk in owner_pks(instance, path)], using)
    except Exception:
        logger.exception("ecom_ai: could not find the products of a changed %s", sender.__name__)


def related_deleted(sender, instance, using=None, **kwargs):
    related_saved(sender, instance, using=using)


def related_links_changed(sender, instance, action, reverse, model, pk_set, using=None, **kwargs):
    """An M2M link through a related model (``product.categories.add(c)``) was added or removed."""
    from ecom_ai.adapters import get_adapter

    try:
        product_model = get_adapter().product_model
        if product_model is None or action not in ("post_add", "post_remove", "pre_clear", "post_clear"):
            return
        if isinstance(instance, product_model):
            _queue([instance.pk], using)
        elif model is product_model and action in ("post_add", "post_remove"):
            _queue(pk_set or (), using)
        elif model is product_model and action == "pre_clear":  # the links are gone after the clear: read them now
            through_fields = [f for f in sender._meta.concrete_fields if f.is_relation]
            own = next(f for f in through_fields if f.related_model is type(instance))
            other = next(f for f in through_fields if f.related_model is product_model)
            _queue(sender._default_manager.filter(**{own.name: instance}).values_list(other.attname, flat=True), using)
    except Exception:
        logger.exception("ecom_ai: could not find the products of changed %s links", sender.__name__)


# --- connecting ---------------------------------------------------------------------------------


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
    """(Re)connect the receivers to the current product model and the adapter's related
    models. Returns the product model or None."""
    global _connected_model
    disconnect_product_signals()
    model = current_product_model()
    if model is not None:
        post_save.connect(product_saved, sender=model, dispatch_uid=_SAVE_UID, weak=False)
        post_delete.connect(product_deleted, sender=model, dispatch_uid=_DELETE_UID, weak=False)
        from ecom_ai.adapters import get_adapter

        for related in get_adapter().related_model_paths():
            post_save.connect(related_saved, sender=related, dispatch_uid=_RELATED_UID, weak=False)
            post_delete.connect(related_deleted, sender=related, dispatch_uid=_RELATED_UID, weak=False)
            m2m_changed.connect(related_links_changed, sender=related, dispatch_uid=_RELATED_UID, weak=False)
            _connected_related.append(related)
    _connected_model = model
    return model


def disconnect_product_signals():
    global _connected_model
    if _connected_model is not None:
        post_save.disconnect(sender=_connected_model, dispatch_uid=_SAVE_UID)
        post_delete.disconnect(sender=_connected_model, dispatch_uid=_DELETE_UID)
    for related in _connected_related:
        post_save.disconnect(sender=related, dispatch_uid=_RELATED_UID)
        post_delete.disconnect(sender=related, dispatch_uid=_RELATED_UID)
        m2m_changed.disconnect(sender=related, dispatch_uid=_RELATED_UID)
    _connected_related.clear()
    _connected_model = None


def _settings_changed(*, setting, **kwargs):
    if setting == "ECOM_AI":
        connect_product_signals()


setting_changed.connect(_settings_changed, dispatch_uid="ecom_ai.catalog.settings_changed")
connect_product_signals()
