"""How ecom_ai reads the host shop: the only module that knows host models.

The active adapter is a dotted path in ``ECOM_AI["ADAPTER"]`` (like django-allauth's
``ACCOUNT_ADAPTER``). ``DefaultShopAdapter`` is configured by ``PRODUCT_MODEL``,
``ORDER_MODEL`` and the ``PRODUCT_FIELDS`` / ``ORDER_FIELDS`` mappings; subclass it and
override any method for shops whose models don't fit a field mapping::

    class MyAdapter(DefaultShopAdapter):
        def product_url(self, product):
            return f"/p/{product.slug}/"

Records are plain dataclasses so that domain code (recommend, fraud, chat) never touches
host models directly. Keys are always strings: integer, UUID and SKU keys all fit.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ObjectDoesNotExist
from django.core.signals import setting_changed
from django.db.models.manager import BaseManager
from django.urls import NoReverseMatch

from ecom_ai.conf import settings as ecom_settings


@dataclass
class ItemRecord:
    """A host product as ecom_ai sees it."""

    key: str
    title: str = ""
    text: str = ""
    category: str = ""
    price: Decimal | None = None
    in_stock: bool = True
    url: str = ""
    features: dict = field(default_factory=dict)


@dataclass
class OrderLineRecord:
    item_key: str
    quantity: int = 1
    price: Decimal | None = None


@dataclass
class OrderRecord:
    """A host order as ecom_ai sees it."""

    key: str
    number: str = ""
    user_key: str = ""
    email: str = ""
    total: Decimal | None = None
    currency: str = ""
    created_at: datetime | None = None
    status: str = ""
    lines: list[OrderLineRecord] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def resolve_path(obj: Any, path: str | None, default: Any = None) -> Any:
    """Follow a dotted attribute path (``"category.name"``, ``"lines.all"``) on ``obj``.

    Callables met on the way are called (so ``lines.all`` gives the queryset). Missing
    attributes and missing related objects give ``default``.
    """
    if not path:
        return default
    value = obj
    for part in path.split("."):
        if value is None:
            return default
        try:
            value = getattr(value, part)
        except (AttributeError, ObjectDoesNotExist):
            return default
        # related managers are callable (manager selection), but "lines" must stay the manager
        if callable(value) and not isinstance(value, (type, BaseManager)):
            value = value()
    return default if value is None else value


def _to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


class DefaultShopAdapter:
    """Maps host models to ecom_ai records through the field mappings in settings."""

    # --- models ------------------------------------------------------------------------
    def _model(self, setting: str):
        label = getattr(ecom_settings, setting)
        if not label:
            return None
        try:
            return apps.get_model(label)
        except (LookupError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"ECOM_AI[{setting!r}] = {label!r} is not an installed model ('app_label.ModelName')."
            ) from exc

    @property
    def product_model(self):
        return self._model("PRODUCT_MODEL")

    @property
    def order_model(self):
        return self._model("ORDER_MODEL")

    # --- keys --------------------------------------------------------------------------
    def item_key(self, product) -> str:
        return str(product.pk)

    def user_key(self, user) -> str:
        """Key of a host user (``""`` for anonymous users or ``None``)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return ""
        return str(user.pk)

    def order_key(self, order) -> str:
        return str(order.pk)

    # --- products ----------------------------------------------------------------------
    def product_field(self, product, name: str, default=None):
        return resolve_path(product, ecom_settings.PRODUCT_FIELDS.get(name), default)

    def item_record(self, product) -> ItemRecord:
        price = _to_decimal(self.product_field(product, "price"))
        return ItemRecord(
            key=self.item_key(product),
            title=str(self.product_field(product, "title", ""))[:255],
            text=str(self.product_field(product, "text", "")),
            category=str(self.product_field(product, "category", ""))[:255],
            price=price,
            in_stock=self.is_available(product),
            url=self.product_url(product) or "",
            features=self.item_features(product),
        )

    def item_features(self, product) -> dict:
        """Extra features stored with the item (JSON-serialisable). Override to add some."""
        return {}

    def is_available(self, product) -> bool:
        value = self.product_field(product, "in_stock", True)
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return value > 0
        return bool(value)

    def product_url(self, product) -> str:
        get_url = getattr(product, "get_absolute_url", None)
        if not callable(get_url):
            return ""
        try:
            return str(get_url() or "")
        except NoReverseMatch:  # a host URL not (yet) routed must not break catalog sync
            return ""

    def product_queryset(self):
        """All host products, with the forward relations named in PRODUCT_FIELDS joined in
        (``"category.name"`` -> ``select_related("category")``), so reading a batch of
        products costs one query, not one per product. None without a product model."""
        model = self.product_model
        if model is None:
            return None
        related = set()
        for path in ecom_settings.PRODUCT_FIELDS.values():
            current, hops = model, []
            for part in (path or "").split(".")[:-1]:
                try:
                    field = current._meta.get_field(part)
                except FieldDoesNotExist:  # a property or method: stop here
                    break
                if not (field.many_to_one or field.one_to_one):  # to-many relations cannot be joined
                    break
                hops.append(part)
                current = field.related_model
            if hops:
                related.add("__".join(hops))
        queryset = model._default_manager.all()
        return queryset.select_related(*sorted(related)) if related else queryset

    def iter_products(self) -> Iterable:
        queryset = self.product_queryset()
        if queryset is None:
            return iter(())
        return queryset.order_by("pk").iterator(chunk_size=500)

    def get_products(self, keys: Iterable[str]) -> dict[str, Any]:
        """Host product objects by item key (unknown or malformed keys are left out)."""
        model = self.product_model
        keys = [k for k in keys if k]
        if model is None or not keys:
            return {}
        pk_field = model._meta.pk
        valid = []
        for key in keys:
            try:
                valid.append(pk_field.to_python(key))
            except Exception:  # malformed key for this pk type (e.g. not a UUID)
                continue
        found = self.product_queryset().filter(pk__in=valid)
        return {self.item_key(p): p for p in found}

    # --- orders ------------------------------------------------------------------------
    def order_field(self, order, name: str, default=None):
        return resolve_path(order, ecom_settings.ORDER_FIELDS.get(name), default)

    def order_record(self, order) -> OrderRecord:
        fields = ecom_settings.ORDER_FIELDS
        lines = []
        for line in self.order_field(order, "lines", []) or []:
            product = resolve_path(line, fields.get("line_product"))
            quantity = resolve_path(line, fields.get("line_quantity"), 1)
            try:
                quantity = int(quantity)
            except (TypeError, ValueError):
                quantity = 1
            lines.append(
                OrderLineRecord(
                    item_key=self.item_key(product) if product is not None else "",
                    quantity=quantity,
                    price=_to_decimal(resolve_path(line, fields.get("line_price"))),
                )
            )
        user = self.order_field(order, "user")
        created = self.order_field(order, "created_at")
        return OrderRecord(
            key=self.order_key(order),
            number=str(self.order_field(order, "number", "") or self.order_key(order)),
            user_key=self.user_key(user) if user is not None else "",
            email=str(self.order_field(order, "email", "") or getattr(user, "email", "") or ""),
            total=_to_decimal(self.order_field(order, "total")),
            currency=str(self.order_field(order, "currency", "") or ecom_settings.DEFAULT_CURRENCY),
            created_at=created if isinstance(created, datetime) else None,
            status=str(self.order_field(order, "status", "")),
            lines=lines,
            extra=self.order_extra(order),
        )

    def order_extra(self, order) -> dict:
        """Extra facts about an order (IP, device, addresses...) for fraud scoring. Override."""
        return {}

    def _user_filter(self) -> str:
        path = ecom_settings.ORDER_FIELDS.get("user") or "user"
        return path.replace(".", "__")

    def user_orders(self, user_key: str):
        """The host orders of one user, newest first (a queryset)."""
        model = self.order_model
        if model is None or not user_key:
            return []
        created = (ecom_settings.ORDER_FIELDS.get("created_at") or "pk").replace(".", "__")
        return model._default_manager.filter(**{f"{self._user_filter()}__pk": user_key}).order_by(f"-{created}")

    def find_order(self, number: str):
        """The host order with this public number, or None."""
        model = self.order_model
        if model is None or not number:
            return None
        path = (ecom_settings.ORDER_FIELDS.get("number") or "pk").replace(".", "__")
        try:
            return model._default_manager.filter(**{path: number}).first()
        except (ValueError, TypeError):
            return None


@functools.lru_cache(maxsize=None)
def get_adapter() -> DefaultShopAdapter:
    """The configured adapter instance (cached; cleared when ``ECOM_AI`` changes)."""
    try:
        cls = ecom_settings.imported("ADAPTER")
    except ImportError as exc:
        raise ImproperlyConfigured(f"ECOM_AI['ADAPTER'] = {ecom_settings.ADAPTER!r} cannot be imported: {exc}") from exc
    return cls()


def _drop_adapter(*, setting, **kwargs):
    if setting == "ECOM_AI":
        get_adapter.cache_clear()


setting_changed.connect(_drop_adapter)
