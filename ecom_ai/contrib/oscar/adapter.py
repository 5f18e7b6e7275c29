"""``OscarShopAdapter``: django-oscar's catalogue and orders as ecom_ai records.

What it reads, the Oscar way (subclass and override a method to change one thing):

| ecom_ai | from Oscar |
|---|---|
| item key | the product's pk; a **variant** (child product) is its parent's item, so variants are never recommended separately and a purchase of a variant counts for its parent |
| title / text | ``get_title()`` / ``description`` (HTML tags removed) |
| category | the first browsable category (``get_categories()``) |
| price, in stock | Oscar's pricing and availability **strategy** (``partner.strategy.Selector``, no request): ``fetch_for_product`` or, for a parent, ``fetch_for_parent`` (available when a public child is); a product without a stock record is not available |
| listed (active) | ``is_public`` |
| order fields | ``number``, ``user``, ``email`` (the user's, or ``guest_email``), ``total_incl_tax``, ``currency``, ``date_placed``, ``status``, lines' ``product`` / ``quantity`` / ``unit_price_incl_tax`` |
| order extra | shipping and billing countries, payment source types, ``payment_fingerprint(order)``, ``account_created_at`` |
| coupon codes | the vouchers used (``order.discounts``' ``voucher_code``) |

Price, stock and categories live on ``StockRecord`` / ``ProductCategory``, saved after the
product: ``related_models`` makes ecom_ai re-sync the owning items when those change (stock
allocated at checkout included), once per transaction, on commit.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import strip_tags

from ecom_ai.adapters import DefaultShopAdapter, ItemRecord


class OscarShopAdapter(DefaultShopAdapter):
    default_product_model = "catalogue.Product"
    default_order_model = "order.Order"
    #: What the adapter reads (documentation for ``manage.py check``); price and availability
    #: come from Oscar's strategy, so their maps are None.
    default_product_fields = {
        "title": "title",
        "text": "description",
        "category": "categories.first.name",
        "price": None,
        "in_stock": None,
    }
    default_order_fields = {
        "number": "number",
        "user": "user",
        "email": "email",
        "total": "total_incl_tax",
        "currency": "currency",
        "created_at": "date_placed",
        "status": "status",
        "lines": "lines.all",
        "line_product": "product",
        "line_quantity": "quantity",
        "line_price": "unit_price_incl_tax",
    }
    related_models = {
        "partner.StockRecord": "product",  # price and stock (allocate() at checkout sends post_save too)
        "catalogue.ProductCategory": "product",  # category links (the dashboard's formset)
        "catalogue.Category": "product_set",  # a renamed or hidden category: all its products
    }

    # --- keys ----------------------------------------------------------------------------
    def item_key(self, product) -> str:
        if getattr(product, "parent_id", None):  # a variant is its parent's item
            return str(product.parent_id)
        return str(product.pk)

    # --- products --------------------------------------------------------------------------
    def strategy(self):
        """Oscar's strategy for pricing and availability, without a request (catalog prices)."""
        from oscar.core.loading import get_class

        if getattr(self, "_strategy", None) is None:
            self._strategy = get_class("partner.strategy", "Selector")().strategy()
        return self._strategy

    def purchase_info(self, product):
        """Oscar's ``PurchaseInfo`` (price, availability, stock record) of a canonical product."""
        strategy = self.strategy()
        if product.is_parent:
            return strategy.fetch_for_parent(product)
        return strategy.fetch_for_product(product)

    def canonical(self, product):
        """The product whose item stands for ``product`` (the parent of a variant)."""
        return product.parent if getattr(product, "parent_id", None) else product

    def item_record(self, product) -> ItemRecord:
        product = self.canonical(product)
        info = self.purchase_info(product)
        categories = list(product.get_categories())
        return ItemRecord(
            key=self.item_key(product),
            title=str(product.get_title() or "")[:255],
            text=strip_tags(product.description or "").strip(),
            category=categories[0].name[:255] if categories else "",
            price=self.price_of(info),
            in_stock=bool(info.availability.is_available_to_buy),
            url=self.product_url(product) or "",
            features=self.item_features(product),
            is_active=self.is_listed(product),
        )

    @staticmethod
    def price_of(info) -> Decimal | None:
        price = info.price
        if not getattr(price, "exists", False):
            return None
        return price.incl_tax if price.is_tax_known else price.excl_tax

    def is_available(self, product) -> bool:
        return bool(self.purchase_info(self.canonical(product)).availability.is_available_to_buy)

    def is_listed(self, product) -> bool:
        return bool(self.canonical(product).is_public)

    def product_queryset(self):
        """Canonical products (standalone and parents; variants are their parent's item), with
        what the strategy and the record read fetched up front: a constant number of queries
        per batch."""
        from oscar.core.loading import get_model

        product_model = get_model("catalogue", "Product")
        children = (
            product_model._default_manager.public().select_related("product_class").prefetch_related("stockrecords")
        )
        return (
            product_model._default_manager.filter(parent=None)
            .select_related("product_class")
            .prefetch_related("stockrecords")
            .prefetch_public_children(queryset=children)
            .prefetch_browsable_categories()
        )

    # --- orders ------------------------------------------------------------------------------
    def order_extra(self, order) -> dict:
        extra = {"channel": "web"}
        for kind in ("shipping", "billing"):
            address = getattr(order, f"{kind}_address", None)
            country = getattr(address, "country_id", None) if address is not None else None
            if country:
                extra[f"{kind}_country"] = str(country).upper()
        sources = list(order.sources.all()) if hasattr(order, "sources") else []
        if sources:
            extra["payment_method"] = ",".join(sorted({s.source_type.name for s in sources if s.source_type_id}))
        fingerprint = self.payment_fingerprint(order)
        if fingerprint:
            extra["payment_fingerprint"] = fingerprint
        user = getattr(order, "user", None)
        if user is not None and getattr(user, "date_joined", None):
            extra["account_created_at"] = user.date_joined
        return extra

    def payment_fingerprint(self, order) -> str:
        """A stable id of the payment instrument, for fraud velocity and lists. Oscar stores no
        card data; override this for your payment provider (e.g. its card fingerprint kept on
        your source or transaction). Default: none."""
        return ""

    def order_coupon_codes(self, order) -> list[str]:
        return [d.voucher_code for d in order.discounts.all() if d.voucher_code]
