"""Django system checks: ``manage.py check`` says exactly what is misconfigured.

| id | meaning |
|---|---|
| ecom_ai.E001 | ECOM_AI is not a dict, has unknown keys or values of the wrong type |
| ecom_ai.E002 | ECOM_AI['ADAPTER'] cannot be imported or is not a DefaultShopAdapter |
| ecom_ai.E003 | PRODUCT_MODEL / ORDER_MODEL is not an installed model |
| ecom_ai.E004 | a PRODUCT_FIELDS / ORDER_FIELDS entry names a field the model lacks |
| ecom_ai.E005 | ARTIFACT_STORAGE is not an alias in STORAGES |
| ecom_ai.E006 | TEXT_ENCODER cannot be imported |
| ecom_ai.E040 | a RECOMMEND_STRATEGIES entry cannot be imported or is not callable (ecom_ai.recommend.checks) |
| ecom_ai.E030 | FRAUD_EXTRA_FEATURES is malformed, or FAIRNESS_SEGMENTS names an unknown segment (ecom_ai.fraud.checks) |
| ecom_ai.W001 | the visitor middleware is not installed (anonymous visitors are not tracked) |
| ecom_ai.W002 | PRODUCT_MODEL is not set (no catalog sync, no recommendations of host products) |
| ecom_ai.E007 | ORDER_FIELDS "number", "user" or "created_at" is not a database field of ORDER_MODEL (they are used in queries) |
| ecom_ai.W003 | a PRODUCT_FIELDS default you did not override names a field PRODUCT_MODEL lacks (items get no such value) |
| ecom_ai.W004 | no availability: "in_stock" is None or does not resolve and the adapter does not override is_available() |
| ecom_ai.W005 | an ORDER_FIELDS default you did not override names a field ORDER_MODEL (or its line model) lacks |

Defaults are never assumed to fit: every field map entry, default or not, is checked
against the host's models (a path through a property or method is checked as far as it can be).
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings as django_settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Manager

from ecom_ai import conf
from ecom_ai.fraud import checks as _fraud_checks  # noqa: F401  (fraud area) registers ecom_ai.E030
from ecom_ai.ml import checks as _ml_checks  # noqa: F401  (ml area) registers ecom_ai.E020
from ecom_ai.recommend import checks as _recommend_checks  # noqa: F401  (recommend area) registers ecom_ai.E040

MIDDLEWARE_PATH = "ecom_ai.events.middleware.VisitorMiddleware"


def _follow_path(model, path: str) -> tuple[str | None, object]:
    """Walk ``path`` over model fields. Returns (error text or None, model reached or None).

    A hop that is not a field but an attribute (property, method, reverse accessor) ends the
    walk without error: only its existence can be checked. After a to-many relation, a
    manager method (``lines.all``) is accepted and the walk continues on the related model.
    """
    current = model
    parts = path.split(".")
    index = 0
    while index < len(parts):
        part = parts[index]
        if current is None:
            return None, None
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            if hasattr(current, part):  # property, method or reverse manager name
                return None, None
            return f"{current.__name__} has no field or attribute {part!r}", None
        if not field.is_relation:
            current = None
        else:
            current = field.related_model
            following = parts[index + 1] if index + 1 < len(parts) else None
            if (field.one_to_many or field.many_to_many) and following and hasattr(Manager, following):
                index += 1  # "lines.all": the manager call, then continue on the line model
        index += 1
    return None, current


def _check_path(model, path: str) -> str | None:
    """Return an error text if the hops of ``path`` that can be checked are not on ``model``."""
    return _follow_path(model, path)[0]


LINE_FIELDS = ("line_product", "line_quantity", "line_price")
#: ORDER_FIELDS used to filter and order host orders: they must be database fields.
QUERY_FIELDS = {
    "number": "the chat looks orders up by number",
    "user": "the chat and fraud scoring read a customer's orders by user",
    "created_at": "a customer's orders are sorted by it (newest first)",
}
#: What a host loses when an ORDER_FIELDS default does not fit its order model.
ORDER_FIELD_LOSSES = {
    "email": "guest orders have no e-mail (chat look-ups by number + e-mail fail, fraud scoring loses the "
    "e-mail signals)",
    "total": "fraud scoring sees no amount (every order is 'amount missing' and goes to review) and chat "
    "answers give no total",
    "currency": "every order is taken to be in DEFAULT_CURRENCY",
    "status": "chat answers give no order status",
    "lines": "orders have no lines (no purchase events, no basket features for fraud scoring)",
    "line_product": "order lines name no product (no purchase events)",
    "line_quantity": "every order line counts as quantity 1",
    "line_price": "purchase events carry no value (no revenue attribution)",
}


def _check_field_map(adapter, model, label: str, mapping_key: str) -> list:
    """E004 / W003 / W005 / E007 for one field map against its model."""
    messages = []
    explicit = adapter.explicit_fields(mapping_key)
    mapping = adapter.field_map(mapping_key)
    is_order = mapping_key == "ORDER_FIELDS"
    line_model = _follow_path(model, mapping["lines"])[1] if is_order and mapping.get("lines") else None
    for name, path in mapping.items():
        if not path:
            continue  # mapped to None on purpose: not read
        if name in LINE_FIELDS and is_order:
            if line_model is None:  # the line model is not known (lines is a method): not checkable
                continue
            target, target_label = line_model, line_model._meta.label
        else:
            target, target_label = model, label
        problem = _check_path(target, path)
        if problem and name in explicit:
            messages.append(
                Error(
                    f"ECOM_AI[{mapping_key!r}][{name!r}] = {path!r}: {problem}.",
                    hint=f"Map {name!r} to a field of {target_label}, or to None.",
                    id="ecom_ai.E004",
                )
            )
        elif problem and is_order and name in QUERY_FIELDS:
            pass  # reported below as E007
        elif problem and is_order:
            messages.append(
                Warning(
                    f"ECOM_AI['ORDER_FIELDS'][{name!r}] is not set and its default {path!r} does not fit "
                    f"{target_label}: {problem}, so {ORDER_FIELD_LOSSES.get(name, f'orders get no {name} value')}.",
                    hint=f'Add "{name}": "<field of {target_label}>" to ECOM_AI[\'ORDER_FIELDS\'], or None if your '
                    "orders have no such value.",
                    id="ecom_ai.W005",
                )
            )
        elif problem and name != "in_stock":  # availability: W004
            messages.append(
                Warning(
                    f"ECOM_AI['PRODUCT_FIELDS'][{name!r}] is not set and its default {path!r} does not fit "
                    f"{label}: {problem}, so each item gets no {name} value from your products.",
                    hint=f'Add "{name}": "<field of {label}>" to ECOM_AI[\'PRODUCT_FIELDS\'], or None to silence this.',
                    id="ecom_ai.W003",
                )
            )
        if is_order and name in QUERY_FIELDS and not (problem and name in explicit):
            from ecom_ai.adapters import db_lookup

            if db_lookup(model, path) is None:
                where = "is not set and its default" if name not in explicit else "="
                messages.append(
                    Error(
                        f"ECOM_AI['ORDER_FIELDS'][{name!r}] {where} {path!r} is not a database field of {label}"
                        f"{f' ({problem})' if problem else ''}: {QUERY_FIELDS[name]}, so it must name a column or a "
                        "forward relation.",
                        hint=f"Map {name!r} to a field of {label} (e.g. {_QUERY_EXAMPLES[name]}), or to None "
                        f"({_QUERY_NONE[name]}).",
                        id="ecom_ai.E007",
                    )
                )
    return messages


_QUERY_EXAMPLES = {"number": "'number'", "user": "'customer'", "created_at": "'date_placed'"}
_QUERY_NONE = {
    "number": "orders are then looked up by their primary key",
    "user": "customers' orders are then not listed",
    "created_at": "orders are then sorted by primary key",
}


def _check_availability(adapter, model) -> list:
    """W004: no availability at all means no item is ever recommended."""
    from ecom_ai.adapters import DefaultShopAdapter

    if type(adapter).is_available is not DefaultShopAdapter.is_available:
        return []  # the adapter decides availability itself
    path = adapter.product_fields.get("in_stock")
    problem = _check_path(model, path) if path else None
    if path and not problem:
        return []
    if path and "in_stock" in adapter.explicit_fields("PRODUCT_FIELDS"):
        return []  # a wrong explicit path is E004
    why = "is None" if not path else f"is not set and its default {path!r} does not fit {model._meta.label}: {problem}"
    return [
        Warning(
            f"ECOM_AI['PRODUCT_FIELDS']['in_stock'] {why}, and the adapter does not override is_available(): "
            "items get no in_stock value, a missing availability means 'not available', so no item is recommended.",
            hint="Map 'in_stock' to a boolean or stock-count field (a path such as 'stockrecords.first.num_in_stock' "
            "works), or override is_available(product) in your adapter.",
            id="ecom_ai.W004",
        )
    ]


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    user = getattr(django_settings, "ECOM_AI", {})
    problems = conf.validate(user if user is not None else {})
    errors = [Error(p, hint="See docs/settings.md for every ECOM_AI key.", id="ecom_ai.E001") for p in problems]
    if errors:
        return errors
    settings = conf.settings
    settings.reload()

    adapter = None
    try:
        from ecom_ai.adapters import DefaultShopAdapter

        adapter_cls = settings.imported("ADAPTER")
        if not (isinstance(adapter_cls, type) and issubclass(adapter_cls, DefaultShopAdapter)):
            errors.append(
                Error(
                    f"ECOM_AI['ADAPTER'] = {settings.ADAPTER!r} is not a subclass of "
                    "ecom_ai.adapters.DefaultShopAdapter.",
                    hint="Subclass DefaultShopAdapter and override the methods that differ.",
                    id="ecom_ai.E002",
                )
            )
        else:
            adapter = adapter_cls()
    except ImportError as exc:
        errors.append(
            Error(
                f"ECOM_AI['ADAPTER'] = {settings.ADAPTER!r} cannot be imported: {exc}",
                hint="Give the dotted path of an adapter class.",
                id="ecom_ai.E002",
            )
        )
    if adapter is None:  # field maps and models cannot be checked without the adapter
        adapter = DefaultShopAdapter()

    for setting, mapping_key in (("PRODUCT_MODEL", "PRODUCT_FIELDS"), ("ORDER_MODEL", "ORDER_FIELDS")):
        label = adapter.model_label(setting)
        if not label:
            continue
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            errors.append(
                Error(
                    f"ECOM_AI[{setting!r}] = {label!r} is not an installed model.",
                    hint="Use 'app_label.ModelName' of a model in INSTALLED_APPS.",
                    id="ecom_ai.E003",
                )
            )
            continue
        errors.extend(_check_field_map(adapter, model, label, mapping_key))
        if setting == "PRODUCT_MODEL":
            errors.extend(_check_availability(adapter, model))

    storages = getattr(django_settings, "STORAGES", {})
    if settings.ARTIFACT_STORAGE not in storages:
        errors.append(
            Error(
                f"ECOM_AI['ARTIFACT_STORAGE'] = {settings.ARTIFACT_STORAGE!r} is not in STORAGES "
                f"(aliases: {', '.join(storages) or 'none'}).",
                id="ecom_ai.E005",
            )
        )

    try:
        settings.imported("TEXT_ENCODER")
    except ImportError as exc:
        errors.append(
            Error(f"ECOM_AI['TEXT_ENCODER'] = {settings.TEXT_ENCODER!r} cannot be imported: {exc}", id="ecom_ai.E006")
        )

    if MIDDLEWARE_PATH not in getattr(django_settings, "MIDDLEWARE", []):
        errors.append(
            Warning(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: anonymous visitors get no "
                "visitor key and their history is not stitched on login.",
                id="ecom_ai.W001",
            )
        )
    if not adapter.model_label("PRODUCT_MODEL"):
        errors.append(
            Warning(
                "ECOM_AI['PRODUCT_MODEL'] is not set: the catalog mirror is not synced from host products.",
                id="ecom_ai.W002",
            )
        )
    if "drf_spectacular" not in getattr(django_settings, "INSTALLED_APPS", []):
        errors.append(
            Warning(
                "drf_spectacular is not in INSTALLED_APPS: the API docs pages of ecom_ai.urls "
                "(api/docs/, api/redoc/) cannot find their templates.",
                hint='Add "drf_spectacular" to INSTALLED_APPS (the schema at api/schema/ works without it).',
                id="ecom_ai.W020",
            )
        )
    return errors
