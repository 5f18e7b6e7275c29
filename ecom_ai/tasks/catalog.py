"""Catalog tasks: a thin shell over ``ecom_ai.catalog.sync``."""

from celery import shared_task


@shared_task(name="ecom_ai.tasks.catalog.sync_catalog")
def sync_catalog(batch_size: int = 500) -> dict:
    """Mirror the whole host catalog into ``Item``; returns the counts."""
    from ecom_ai.catalog.sync import sync_catalog as run_sync

    return run_sync(batch_size=batch_size).as_dict()


@shared_task(name="ecom_ai.tasks.catalog.sync_keys")
def sync_keys(keys: list[str]) -> dict:
    """Re-read some item keys from the host (deactivating those the host no longer has)."""
    from ecom_ai.catalog.sync import sync_keys as run_sync

    return run_sync(keys).as_dict()
