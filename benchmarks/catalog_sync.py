"""Queries of one catalog sync of a django-oscar catalogue, by catalogue size.

    python benchmarks/catalog_sync.py [--sizes 10,100,500] [--postgres]

Needs django-oscar (a test requirement). Builds a throw-away database (SQLite in memory, or a
PostgreSQL test database that is dropped at the end) with N products, each with a stock
record and a category link, then counts the queries of ``sync_catalog()`` for two adapters:

* ``generic``: the default adapter with the field paths a docs-only integration would write
  (``stockrecords.first.price``, ``categories.first.name``...): to-many paths, prefetched;
* ``oscar``: ``ecom_ai.contrib.oscar.OscarShopAdapter`` (Oscar's strategy, children, categories).

A constant count means no query per product. On SQLite, Django splits ``bulk_create`` into
chunks of ~80 rows (SQLite's variable limit), so the write side grows slowly there.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "sandbox_shop")]

GENERIC = {
    "PRODUCT_MODEL": "catalogue.Product",
    "ORDER_MODEL": "order.Order",
    "PRODUCT_FIELDS": {
        "category": "categories.first.name",
        "price": "stockrecords.first.price",
        "in_stock": "stockrecords.first.num_in_stock",
    },
}
OSCAR = {"ADAPTER": "ecom_ai.contrib.oscar.OscarShopAdapter"}


def configure(postgres: bool) -> None:
    import django
    from django.conf import settings
    from oscar import INSTALLED_APPS as OSCAR_APPS
    import oscar.defaults as oscar_defaults

    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "TEST": {"MIGRATE": False}}
    if postgres:
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "test"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "TEST": {"MIGRATE": False, "NAME": f"bench_catalog_sync_{os.getpid()}"},
        }
    defaults = {k: getattr(oscar_defaults, k) for k in dir(oscar_defaults) if k.isupper()}
    settings.configure(
        **defaults,
        SECRET_KEY="bench",
        SITE_ID=1,
        USE_TZ=True,
        ROOT_URLCONF="tests.oscar_shop.urls",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=["ecom_ai.contrib.oscar", "ecom_ai", "rest_framework", *OSCAR_APPS, "sorl.thumbnail"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        HAYSTACK_CONNECTIONS={"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}},
        DATABASES={"default": database},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        ECOM_AI=OSCAR,
        LOGGING_CONFIG=None,
    )
    django.setup()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL at PGHOST (default 127.0.0.1)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    configure(args.postgres)

    import warnings
    from decimal import Decimal

    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    warnings.simplefilter("ignore")
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from oscar.apps.catalogue.models import Category, Product, ProductCategory, ProductClass
        from oscar.apps.partner.models import Partner, StockRecord

        from ecom_ai.catalog.sync import sync_catalog
        from ecom_ai.models import Item

        kind = ProductClass.objects.create(name="Books", slug="books", track_stock=True)
        partner = Partner.objects.create(name="Warehouse")
        category = Category.add_root(name="Reading", slug="reading")
        made = 0
        rows = []
        for size in sizes:
            while made < size:
                product = Product.objects.create(title=f"Product {made}", product_class=kind)
                ProductCategory.objects.create(product=product, category=category)
                StockRecord.objects.create(
                    product=product, partner=partner, partner_sku=f"S{made}", price=Decimal("5.00"), num_in_stock=3
                )
                made += 1
            counts = []
            for ecom_ai in (GENERIC, OSCAR):
                with override_settings(ECOM_AI=ecom_ai):
                    Item.objects.all().delete()
                    with CaptureQueriesContext(connection) as queries:
                        result = sync_catalog(batch_size=500)
                    assert result.created == size, result
                    counts.append(len(queries))
            rows.append((size, *counts))
        print(f"catalog sync queries ({connection.vendor}; one batch of up to 500 products)")
        print("| products | generic adapter, to-many paths | OscarShopAdapter |")
        print("|---:|---:|---:|")
        for size, generic, oscar in rows:
            print(f"| {size} | {generic} | {oscar} |")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
