"""Django system checks: ``manage.py check`` says exactly what is misconfigured.

| id | meaning |
|---|---|
| ecom_ai.E001 | ECOM_AI is not a dict, has unknown keys or values of the wrong type |
| ecom_ai.E002 | ECOM_AI['ADAPTER'] cannot be imported or is not a DefaultShopAdapter |
| ecom_ai.E003 | PRODUCT_MODEL / ORDER_MODEL is not an installed model |
| ecom_ai.E004 | a PRODUCT_FIELDS / ORDER_FIELDS entry names a field the model lacks |
| ecom_ai.E005 | ARTIFACT_STORAGE is not an alias in STORAGES |
| ecom_ai.E006 | TEXT_ENCODER cannot be imported |
| ecom_ai.W001 | the visitor middleware is not installed (anonymous visitors are not tracked) |
| ecom_ai.W002 | PRODUCT_MODEL is not set (no catalog sync, no recommendations of host products) |
"""
from __future__ import annotations

from django.apps import apps
from django.conf import settings as django_settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.utils.module_loading import import_string

from ecom_ai import conf

MIDDLEWARE_PATH = "ecom_ai.events.middleware.VisitorMiddleware"


def _check_path(model, path: str) -> str | None:
    """Return an error text if the first hop(s) of ``path`` are not fields/attributes of model."""
    current = model
    for part in path.split("."):
        if current is None:
            return None
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            if hasattr(current, part):  # property, method or reverse manager name
                return None
            return f"{current.__name__} has no field or attribute {part!r}"
        current = field.related_model if field.is_relation else None
    return None


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    user = getattr(django_settings, "ECOM_AI", {})
    problems = conf.validate(user if user is not None else {})
    errors = [
        Error(p, hint="See docs/settings.md for every ECOM_AI key.", id="ecom_ai.E001") for p in problems
    ]
    if errors:
        return errors
    settings = conf.settings
    settings.reload()

    try:
        from ecom_ai.adapters import DefaultShopAdapter

        adapter_cls = import_string(settings.ADAPTER)
        if not (isinstance(adapter_cls, type) and issubclass(adapter_cls, DefaultShopAdapter)):
            errors.append(Error(f"ECOM_AI['ADAPTER'] = {settings.ADAPTER!r} is not a subclass of "
                                "ecom_ai.adapters.DefaultShopAdapter.", id="ecom_ai.E002"))
    except ImportError as exc:
        errors.append(Error(f"ECOM_AI['ADAPTER'] = {settings.ADAPTER!r} cannot be imported: {exc}",
                            hint="Give the dotted path of an adapter class.", id="ecom_ai.E002"))

    for setting, mapping_key, skip in (
        ("PRODUCT_MODEL", "PRODUCT_FIELDS", ()),
        ("ORDER_MODEL", "ORDER_FIELDS", ("line_product", "line_quantity", "line_price")),
    ):
        label = getattr(settings, setting)
        if not label:
            continue
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            errors.append(Error(f"ECOM_AI[{setting!r}] = {label!r} is not an installed model.",
                                hint="Use 'app_label.ModelName' of a model in INSTALLED_APPS.",
                                id="ecom_ai.E003"))
            continue
        user_mapping = (user or {}).get(mapping_key, {})
        for name, path in getattr(settings, mapping_key).items():
            if name in skip or not path:
                continue
            problem = _check_path(model, path)
            if problem and name in user_mapping:
                errors.append(Error(f"ECOM_AI[{mapping_key!r}][{name!r}] = {path!r}: {problem}.",
                                    hint=f"Map {name!r} to a field of {label}, or to None.",
                                    id="ecom_ai.E004"))

    storages = getattr(django_settings, "STORAGES", {})
    if settings.ARTIFACT_STORAGE not in storages:
        errors.append(Error(f"ECOM_AI['ARTIFACT_STORAGE'] = {settings.ARTIFACT_STORAGE!r} is not in STORAGES "
                            f"(aliases: {', '.join(storages) or 'none'}).", id="ecom_ai.E005"))

    try:
        import_string(settings.TEXT_ENCODER)
    except ImportError as exc:
        errors.append(Error(f"ECOM_AI['TEXT_ENCODER'] = {settings.TEXT_ENCODER!r} cannot be imported: {exc}",
                            id="ecom_ai.E006"))

    if MIDDLEWARE_PATH not in getattr(django_settings, "MIDDLEWARE", []):
        errors.append(Warning(f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: anonymous visitors get no "
                              "visitor key and their history is not stitched on login.", id="ecom_ai.W001"))
    if not settings.PRODUCT_MODEL:
        errors.append(Warning("ECOM_AI['PRODUCT_MODEL'] is not set: the catalog mirror is not synced from "
                              "host products.", id="ecom_ai.W002"))
    return errors
