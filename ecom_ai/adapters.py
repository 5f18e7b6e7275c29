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

A ready-made adapter for a known host (``ecom_ai.contrib.oscar.OscarShopAdapter``) brings
its own defaults in class attributes: ``default_product_model`` / ``default_order_model``
(used where ``PRODUCT_MODEL`` / ``ORDER_MODEL`` are not set), ``default_product_fields`` /
``default_order_fields`` (merged over ecom_ai's field defaults, under the host's
``ECOM_AI`` mappings) and ``related_models`` (host models whose changes change an item).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from django.apps import apps
from django.conf import settings as django_settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ObjectDoesNotExist, ValidationError
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
    in_stock: bool = False  # unknown availability means "not available"
    url: str = ""
    features: dict = field(default_factory=dict)
    is_active: bool = True  # False: the product is not listed (hidden, unpublished); never recommended


@dataclass
class OrderLineRecord:
    item_key: str
    quantity: int = 1
    price: Decimal | None = None  # the unit price
    key: str = ""  # the host line's key (its primary key as text), "" when unknown


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
    coupon_codes: list[str] = field(default_factory=list)
    margin: Decimal | None = None  # gross margin of the order (``order_margin``), None: unknown


#: Manager methods that ``resolve_path`` answers from prefetched rows when they are there.
_MANAGER_READS = ("all", "first", "last", "count", "exists")


def _manager_read(manager, name: str):
    """``manager.<name>()``, answered from ``prefetch_related`` rows when the manager has them
    (``manager.first()`` would query again), so a prefetched batch costs no query per product."""
    queryset = manager.all()
    if queryset._result_cache is None:  # not prefetched: one query, as the manager would do
        return getattr(manager, name)()
    if name == "all":
        return queryset
    rows = list(queryset)
    if name == "count":
        return len(rows)
    if name == "exists":
        return bool(rows)
    if not queryset.ordered:  # first()/last() order by the primary key when nothing else orders
        rows.sort(key=lambda row: row.pk)
    if not rows:
        return None
    return rows[0] if name == "first" else rows[-1]


def resolve_path(obj: Any, path: str | None, default: Any = None) -> Any:
    """Follow a dotted attribute path (``"category.name"``, ``"lines.all"``) on ``obj``.

    Callables met on the way are called (so ``lines.all`` gives the queryset). Missing
    attributes and missing related objects give ``default``. On a related manager, ``all``,
    ``first``, ``last``, ``count`` and ``exists`` use rows already fetched by
    ``prefetch_related`` (``stockrecords.first.price`` costs no query per product then).
    """
    if not path:
        return default
    value = obj
    for part in path.split("."):
        if value is None:
            return default
        try:
            if isinstance(value, BaseManager) and part in _MANAGER_READS:
                value = _manager_read(value, part)
                continue
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


def _host_mapping(key: str) -> dict:
    """The entries the host itself gave in ``ECOM_AI[key]`` (no defaults)."""
    user = getattr(django_settings, "ECOM_AI", None)
    value = user.get(key) if isinstance(user, dict) else None
    return value if isinstance(value, dict) else {}


def db_lookup(model, path: str | None) -> str | None:
    """``path`` as an ORM lookup (``"user.email"`` -> ``"user__email"``) when every hop is a
    database column or a forward relation of ``model``; None otherwise (a property, a method,
    a reverse or to-many relation cannot be used to filter and order orders)."""
    if not path or model is None:
        return None
    current = model
    parts = path.split(".")
    for index, part in enumerate(parts):
        if current is None:
            return None
        try:
            found = current._meta.pk if part == "pk" else current._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if not getattr(found, "concrete", False) or found.many_to_many:
            return None
        current = found.related_model if found.is_relation else None
        if index < len(parts) - 1 and current is None:
            return None
    return "__".join(parts)


class DefaultShopAdapter:
    """Maps host models to ecom_ai records through the field mappings in settings."""

    #: A ready-made adapter's own defaults for its host (see the module docstring).
    default_product_model: str | None = None
    default_order_model: str | None = None
    default_product_fields: dict = {}
    default_order_fields: dict = {}
    #: Host models whose saves and deletes change an item, and the path from one of their
    #: rows to the product it belongs to: ``{"partner.StockRecord": "product"}``. ecom_ai
    #: re-syncs the owning items once the transaction commits (``ecom_ai.catalog.receivers``).
    #: A path may also lead to many products (``{"catalogue.Category": "product_set"}``).
    related_models: dict = {}

    # --- models ------------------------------------------------------------------------
    def model_label(self, setting: str) -> str | None:
        """``ECOM_AI[setting]`` (``"PRODUCT_MODEL"`` / ``"ORDER_MODEL"``), else this adapter's default."""
        return getattr(ecom_settings, setting) or getattr(self, f"default_{setting.lower()}", None) or None

    def _model(self, setting: str):
        label = self.model_label(setting)
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

    # --- field maps --------------------------------------------------------------------
    def field_map(self, key: str) -> dict:
        """The field map in force for ``key`` (``"PRODUCT_FIELDS"`` / ``"ORDER_FIELDS"``):
        ecom_ai's defaults, overridden by this adapter's defaults, overridden by the host's
        ``ECOM_AI`` entries."""
        base = getattr(ecom_settings, key)
        own = self.default_product_fields if key == "PRODUCT_FIELDS" else self.default_order_fields
        if not own:
            return base
        cache = self.__dict__.setdefault("_field_maps", {})
        cached = cache.get(key)
        if cached is None or cached[0] is not base:  # the settings were reloaded since
            cached = cache[key] = (base, {**base, **own, **_host_mapping(key)})
        return cached[1]

    def explicit_fields(self, key: str) -> set[str]:
        """Names of ``key`` given by the host's settings or by this adapter (not ecom_ai's defaults)."""
        own = self.default_product_fields if key == "PRODUCT_FIELDS" else self.default_order_fields
        return set(own) | set(_host_mapping(key))

    @property
    def product_fields(self) -> dict:
        return self.field_map("PRODUCT_FIELDS")

    @property
    def order_fields(self) -> dict:
        return self.field_map("ORDER_FIELDS")

    def related_model_paths(self) -> dict:
        """``related_models`` with labels resolved: ``{model class: path}`` (unknown labels left out)."""
        resolved = {}
        for model, path in (self.related_models or {}).items():
            if isinstance(model, str):
                try:
                    model = apps.get_model(model)
                except (LookupError, ValueError):
                    continue
            resolved[model] = path
        return resolved

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
        return resolve_path(product, self.product_fields.get(name), default)

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
            is_active=self.is_listed(product),
        )

    def item_features(self, product) -> dict:
        """Extra features stored with the item (JSON-serialisable). Override to add some."""
        return {}

    def is_available(self, product) -> bool:
        """Whether the product can be bought now, from ``PRODUCT_FIELDS["in_stock"]`` (a bool,
        or a number: > 0 means available). A missing value means **not available**: a product
        whose availability is unknown is never recommended."""
        value = self.product_field(product, "in_stock", None)
        if value is None:
            return False
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return value > 0
        return bool(value)

    def is_listed(self, product) -> bool:
        """Whether the product is shown to shoppers at all (False: hidden, unpublished). Items
        of unlisted products are kept but inactive. Default: every product is listed."""
        return True

    def product_url(self, product) -> str:
        get_url = getattr(product, "get_absolute_url", None)
        if not callable(get_url):
            return ""
        try:
            return str(get_url() or "")
        except NoReverseMatch:  # a host URL not (yet) routed must not break catalog sync
            return ""

    def product_queryset(self):
        """All host products, with the relations named in PRODUCT_FIELDS fetched up front:
        forward relations joined (``"category.name"`` -> ``select_related("category")``),
        to-many relations prefetched (``"stockrecords.first.price"`` ->
        ``prefetch_related("stockrecords")``), so reading a batch of products costs a
        constant number of queries, not some per product. None without a product model."""
        model = self.product_model
        if model is None:
            return None
        joined: set[str] = set()
        prefetched: set[str] = set()
        for path in self.product_fields.values():
            current = model
            hops: list[str] = []
            for part in (path or "").split(".")[:-1]:
                try:
                    found = current._meta.get_field(part)
                except FieldDoesNotExist:  # a property or method: stop here
                    break
                if not found.is_relation or found.related_model is None:
                    break
                if found.one_to_many or found.many_to_many:  # cannot be joined: fetched in one more query
                    prefetched.add("__".join(hops + [part]))
                    break
                hops.append(part)
                current = found.related_model
            if hops:
                joined.add("__".join(hops))
        queryset = model._default_manager.all()
        if joined:
            queryset = queryset.select_related(*sorted(joined))
        if prefetched:
            queryset = queryset.prefetch_related(*sorted(prefetched))
        return queryset

    def iter_products(self) -> Iterable:
        queryset = self.product_queryset()
        if queryset is None:
            return iter(())
        # prefetch_related needs a chunk size with iterator(): one batch of prefetches per chunk
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
        return resolve_path(order, self.order_fields.get(name), default)

    def order_record(self, order) -> OrderRecord:
        fields = self.order_fields
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
                    key=str(getattr(line, "pk", "") or ""),
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
            coupon_codes=[str(code) for code in self.order_coupon_codes(order) if code],
            margin=_to_decimal(self.order_margin(order)),
        )

    def order_extra(self, order) -> dict:
        """Extra facts about an order (IP, device, addresses...) for fraud scoring. Override."""
        return {}

    def order_margin(self, order) -> Decimal | None:
        """The order's gross margin — what it earns after the cost of the goods, on the same basis
        as the order total — or None when the shop does not know it (the default). Campaigns with
        the *margin* objective learn and report on it (``OfferDecision.order_margin``); without it
        they fall back to net revenue. Override, e.g. sum of (price − cost price) × quantity."""
        return None

    def order_coupon_codes(self, order) -> list[str]:
        """The coupon / voucher codes used on the order. The order bridge passes them on
        (``ecom_ai.signals.order_recorded``) to credit the offer that gave them. Default: the
        codes of ecom_ai's own ``Coupon`` store redeemed for this order
        (``ecom_ai.marketing.redeem``); shops with their own vouchers override it."""
        coupon = apps.get_model("ecom_ai", "Coupon")
        try:
            key = self.order_key(order)
        except Exception:
            return []
        return list(coupon.objects.filter(order_key=key).values_list("code", flat=True))

    def issue_coupon(self, customer, offer) -> str:
        """A new single-use code for ``offer`` (an ecom_ai ``Offer``) given to ``customer`` (an
        object with ``user_key`` / ``visitor_key``, e.g. ``ecom_ai.marketing.state.Identity``).
        Default: a unique code in ecom_ai's own ``Coupon`` store, valid ``offer.validity_days``.
        Override to create a voucher in the shop's own system (docs/marketing.md, Oscar)."""
        coupon = apps.get_model("ecom_ai", "Coupon")
        return coupon.objects.issue(
            offer,
            user_key=getattr(customer, "user_key", "") or "",
            visitor_key=getattr(customer, "visitor_key", "") or "",
        )

    def order_lookup(self, name: str, fallback: str | None = None) -> str | None:
        """The ORM lookup of ``ORDER_FIELDS[name]`` on the order model, or ``fallback`` when
        the map is None; None when it names no database field (``manage.py check`` says so)."""
        path = self.order_fields.get(name)
        if not path:
            return fallback
        return db_lookup(self.order_model, path)

    def user_orders(self, user_key: str):
        """The host orders of one user, newest first (a queryset; empty without a user field)."""
        model = self.order_model
        if model is None or not user_key:
            return []
        user_lookup = self.order_lookup("user")
        if user_lookup is None:
            return model._default_manager.none()
        created = self.order_lookup("created_at", fallback="pk") or "pk"
        return model._default_manager.filter(**{f"{user_lookup}__pk": user_key}).order_by(f"-{created}", "-pk")

    def find_order(self, number: str):
        """The host order with this public number (its key when ``number`` is mapped to None), or None."""
        model = self.order_model
        if model is None or not number:
            return None
        lookup = self.order_lookup("number", fallback="pk")
        if lookup is None:
            return None
        try:
            return model._default_manager.filter(**{lookup: number}).first()
        except (ValueError, TypeError, ValidationError):
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
