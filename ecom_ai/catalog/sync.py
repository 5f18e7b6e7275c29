"""Keep ecom_ai's ``Item`` mirror in step with the host's products.

Three ways in, all idempotent:

* ``sync_item(product)`` / ``remove_item(key)``: one product, called by the signal
  receivers in ``ecom_ai.catalog.receivers`` when the host saves or deletes a product;
* ``sync_product_pks(pks)``: the items owning some host products by primary key (the
  receivers of the adapter's ``related_models``: stock records, category links...);
* ``sync_keys(keys)``: re-read some products by key (the admin's "sync from shop" action);
* ``sync_catalog(batch_size)``: the whole catalog in batches with ``bulk_create`` /
  ``bulk_update`` (``manage.py ecom_ai_sync_catalog``, task ``ecom_ai.tasks.catalog.sync_catalog``);
  items whose product no longer exists in the host are deactivated, never deleted (events
  keep naming them).

Host products are read only through the adapter. After rows are written the
``ecom_ai.signals.item_synced`` signal is sent with ``keys`` (the list of written keys).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from typing import Iterable

from django.db import transaction
from django.utils import timezone

from ecom_ai.adapters import ItemRecord, get_adapter
from ecom_ai.models import Item
from ecom_ai.signals import item_synced

logger = logging.getLogger(__name__)

#: Item columns written from an ``ItemRecord`` (plus ``is_active``).
SYNCED_FIELDS = ("title", "text", "category", "price", "in_stock", "url", "features")
KEY_MAX_LENGTH = Item._meta.get_field("key").max_length
URL_MAX_LENGTH = Item._meta.get_field("url").max_length
_CENT = Decimal("0.01")
_PRICE_LIMIT = Decimal(10) ** (Item._meta.get_field("price").max_digits - 2)


@dataclass
class SyncResult:
    """What a sync did. ``skipped`` counts products whose key cannot be stored."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    skipped: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def __add__(self, other: "SyncResult") -> "SyncResult":
        return SyncResult(**{k: v + getattr(other, k) for k, v in self.as_dict().items()})


def item_values(record: ItemRecord) -> dict:
    """The Item column values for one adapter record, normalised to what the columns hold."""
    price = record.price
    if price is not None:
        price = price.quantize(_CENT, rounding=ROUND_HALF_UP) if price.is_finite() else None
        if price is not None and abs(price) >= _PRICE_LIMIT:
            price = None
    return {
        "is_active": bool(record.is_active),
        "title": (record.title or "")[:255],
        "text": record.text or "",
        "category": (record.category or "")[:255],
        "price": price,
        "in_stock": bool(record.in_stock),
        "url": (record.url or "")[:URL_MAX_LENGTH],
        "features": record.features or {},
    }


def _valid_key(key: str) -> bool:
    return bool(key) and len(key) <= KEY_MAX_LENGTH


def _send_synced(keys: list[str]) -> None:
    if keys:
        item_synced.send(sender=Item, keys=keys)


def sync_item(product) -> Item | None:
    """Create or update the Item of one host product (active unless the adapter says the
    product is not listed). None if its key is unusable."""
    record = get_adapter().item_record(product)
    if not _valid_key(record.key):
        logger.warning(
            "ecom_ai: product key %r is empty or longer than %d characters; not synced.",
            record.key[:50],
            KEY_MAX_LENGTH,
        )
        return None
    values = item_values(record)
    item, _ = Item.objects.update_or_create(key=record.key, defaults=values)
    _send_synced([record.key])
    return item


def remove_item(key: str) -> bool:
    """Mark the Item of a deleted host product inactive. True if an active item was found."""
    changed = Item.objects.filter(key=str(key), is_active=True).update(is_active=False, updated_at=timezone.now())
    if changed:
        _send_synced([str(key)])
    return bool(changed)


def _sync_batch(records: list[ItemRecord]) -> tuple[SyncResult, list[str]]:
    """Upsert one batch of records. Returns the counts and the keys written."""
    result = SyncResult()
    by_key: dict[str, dict] = {}
    for record in records:
        if not _valid_key(record.key):
            result.skipped += 1
            continue
        by_key[record.key] = item_values(record)  # a key seen twice: the last record wins
    existing = {item.key: item for item in Item.objects.filter(key__in=list(by_key))}
    now = timezone.now()
    to_create, to_update = [], []
    for key, values in by_key.items():
        item = existing.get(key)
        if item is None:
            to_create.append(Item(key=key, created_at=now, updated_at=now, **values))
            continue
        changed = False
        for name, value in values.items():
            if getattr(item, name) != value:
                setattr(item, name, value)
                changed = True
        if changed:
            item.updated_at = now
            to_update.append(item)
        else:
            result.unchanged += 1
    with transaction.atomic():
        if to_create:
            # update_conflicts: a row created meanwhile (signal, other worker) is updated, not an error
            Item.objects.bulk_create(
                to_create,
                update_conflicts=True,
                unique_fields=["key"],
                update_fields=[*SYNCED_FIELDS, "is_active", "updated_at"],
            )
        if to_update:
            Item.objects.bulk_update(to_update, [*SYNCED_FIELDS, "is_active", "updated_at"])
    result.created += len(to_create)
    result.updated += len(to_update)
    return result, [i.key for i in to_create] + [i.key for i in to_update]


def _batches(iterable: Iterable, size: int):
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def _deactivate(keys: list[str], batch_size: int) -> int:
    count = 0
    now = timezone.now()
    for chunk in _batches(keys, batch_size):
        changed = Item.objects.filter(key__in=chunk, is_active=True).update(is_active=False, updated_at=now)
        if changed:
            _send_synced(chunk)
        count += changed
    return count


def sync_products(products: Iterable, batch_size: int = 500) -> SyncResult:
    """Upsert the Items of the given host products (no deactivation)."""
    adapter = get_adapter()
    result = SyncResult()
    for batch in _batches(products, batch_size):
        batch_result, written = _sync_batch([adapter.item_record(p) for p in batch])
        result += batch_result
        _send_synced(written)
    return result


def sync_catalog(batch_size: int = 500) -> SyncResult:
    """Mirror the whole host catalog: create, update, and deactivate items of deleted products."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    adapter = get_adapter()
    result = SyncResult()
    seen: set[str] = set()
    for batch in _batches(adapter.iter_products(), batch_size):
        records = [adapter.item_record(p) for p in batch]
        seen.update(r.key for r in records)
        batch_result, written = _sync_batch(records)
        result += batch_result
        _send_synced(written)
    active = Item.objects.filter(is_active=True).values_list("key", flat=True).order_by("pk")
    gone = [key for key in active.iterator(chunk_size=2000) if key not in seen]
    result.deactivated = _deactivate(gone, batch_size)
    logger.info("ecom_ai catalog sync: %s", result.as_dict())
    return result


def sync_product_pks(pks: Iterable, batch_size: int = 500) -> SyncResult:
    """Re-sync the items that own the host products with these primary keys (products that
    no longer exist are left to their own delete). Costs a constant number of queries per batch."""
    adapter = get_adapter()
    model = adapter.product_model
    pks = list({pk for pk in pks if pk is not None})
    result = SyncResult()
    if model is None or not pks:
        return result
    keys: set[str] = set()
    for chunk in _batches(pks, batch_size):
        keys.update(adapter.item_key(p) for p in model._default_manager.filter(pk__in=chunk))
    return sync_keys(sorted(keys), batch_size=batch_size) if keys else result


def sync_keys(keys: Iterable[str], batch_size: int = 500) -> SyncResult:
    """Re-read the given item keys from the host: update those found, deactivate the others."""
    keys = [str(k) for k in keys if k]
    adapter = get_adapter()
    result = SyncResult()
    for chunk in _batches(keys, batch_size):
        products = adapter.get_products(chunk)
        result += sync_products(products.values(), batch_size=batch_size)
        result.deactivated += _deactivate([k for k in chunk if k not in products], batch_size)
    return result
