"""Django system checks: ``manage.py check`` says exactly what is misconfigured.

| id | meaning |
|---|---|
| ecom_ai.E001 | ECOM_AI is not a dict, has unknown keys or values of the wrong type |
| ecom_ai.E002 | ECOM_AI['ADAPTER'] cannot be imported or is not a DefaultShopAdapter |
| ecom_ai.E003 | PRODUCT_MODEL / ORDER_MODEL is not an installed model |
| ecom_ai.E004 | a PRODUCT_FIELDS / ORDER_FIELDS entry names a field the model lacks |
| ecom_ai.E005 | ARTIFACT_STORAGE is not an alias in STORAGES |
| ecom_ai.E006 | TEXT_ENCODER cannot be imported |
| ecom_ai.E030 | FRAUD_EXTRA_FEATURES is malformed, or FAIRNESS_SEGMENTS names an unknown segment (ecom_ai.fraud.checks) |
| ecom_ai.W001 | the visitor middleware is not installed (anonymous visitors are not tracked) |
| ecom_ai.W002 | PRODUCT_MODEL is not set (no catalog sync, no recommendations of host products) |
| ecom_ai.W003 | a PRODUCT_FIELDS default you did not override names a field PRODUCT_MODEL lacks (items get empty values) |
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

        adapter_cls = settings.imported("ADAPTER")
        if not (isinstance(adapter_cls, type) and issubclass(adapter_cls, DefaultShopAdapter)):
            errors.append(Error(f"ECOM_AI['ADAPTER'] = {settings.ADAPTER!r} is not a subclass of "
                                "ecom_ai.adapters.DefaultShopAdapter.",
                                hint="Subclass DefaultShopAdapter and override the methods that differ.",
                                id="ecom_ai.E002"))
    except ImportError as exc:
        errors.append(Error(f"ECOM_AI['ADAPTER'] = {settings.ADAPTER!r} cannot be imported: {exc}",
                            hint="Give the dotted path of an adapter class.", id="ecom_ai.E002"))

    line_fields = ("line_product", "line_quantity", "line_price")
    for setting, mapping_key in (("PRODUCT_MODEL", "PRODUCT_FIELDS"), ("ORDER_MODEL", "ORDER_FIELDS")):
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
        mapping = getattr(settings, mapping_key)
        line_model = None
        if mapping_key == "ORDER_FIELDS" and mapping.get("lines"):
            line_model = _follow_path(model, mapping["lines"])[1]
        for name, path in mapping.items():
            if not path or (name not in user_mapping and mapping_key == "ORDER_FIELDS"):
                continue  # order defaults (currency, status...) may legitimately be absent
            if name in line_fields:
                if line_model is None:  # the line model is not known (lines is a method): not checkable
                    continue
                target, target_label = line_model, line_model._meta.label
            else:
                target, target_label = model, label
            problem = _check_path(target, path)
            if problem and name not in user_mapping:  # a default that does not fit this model
                if mapping_key == "PRODUCT_FIELDS":
                    errors.append(Warning(
                        f"ECOM_AI['PRODUCT_FIELDS'][{name!r}] is not set and its default {path!r} does not fit "
                        f"{label}: {problem}, so no item gets a {name} from your products.",
                        hint=f"Add \"{name}\": \"<field of {label}>\" to ECOM_AI['PRODUCT_FIELDS'], or None to "
                             "silence this.", id="ecom_ai.W003"))
            elif problem:
                errors.append(Error(f"ECOM_AI[{mapping_key!r}][{name!r}] = {path!r}: {problem}.",
                                    hint=f"Map {name!r} to a field of {target_label}, or to None.",
                                    id="ecom_ai.E004"))

    storages = getattr(django_settings, "STORAGES", {})
    if settings.ARTIFACT_STORAGE not in storages:
        errors.append(Error(f"ECOM_AI['ARTIFACT_STORAGE'] = {settings.ARTIFACT_STORAGE!r} is not in STORAGES "
                            f"(aliases: {', '.join(storages) or 'none'}).", id="ecom_ai.E005"))

    try:
        settings.imported("TEXT_ENCODER")
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
