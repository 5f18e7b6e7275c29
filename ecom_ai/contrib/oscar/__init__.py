"""ecom_ai for django-oscar shops: add ``"ecom_ai.contrib.oscar"`` to ``INSTALLED_APPS`` and set
``ECOM_AI = {"ADAPTER": "ecom_ai.contrib.oscar.OscarShopAdapter"}``. See docs/oscar.md.

* ``OscarShopAdapter`` (``ecom_ai.contrib.oscar.adapter``): Oscar's products and orders as
  ecom_ai records (variants are their parent's item, price and availability from Oscar's
  strategy, hidden products inactive, addresses / payment sources / vouchers of orders);
* receivers (``ecom_ai.contrib.oscar.receivers``): Oscar's ``order_placed`` -> the order
  bridge, ``basket_addition`` -> ``add_to_cart``, ``product_viewed`` -> ``view``,
  ``user_search`` -> ``search``; stock record and category changes re-sync items;
* templates: snippets under ``ecom_ai/oscar/`` and overrides of Oscar's layout, browse,
  product and dashboard order pages that include them (active when this app comes before
  Oscar's apps in ``INSTALLED_APPS``).
"""


def __getattr__(name):  # ``ecom_ai.contrib.oscar.OscarShopAdapter`` without importing Oscar at settings time
    if name == "OscarShopAdapter":
        from ecom_ai.contrib.oscar.adapter import OscarShopAdapter

        return OscarShopAdapter
    raise AttributeError(name)
