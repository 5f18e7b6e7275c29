"""System checks of the ML settings (registered from ``ecom_ai.checks``).

| id | meaning |
|---|---|
| ecom_ai.E020 | an ``ECOM_AI["TRAINERS"]`` entry cannot be imported, is not a ``Trainer`` subclass, or its kind is not a usable name |
| ecom_ai.W021 | an active model version's artifact is missing, empty or corrupt: serving uses the kind's fallback |
"""

from __future__ import annotations

from django.core.checks import Error, Tags, Warning, register

from ecom_ai import conf


@register(Tags.compatibility)
def check_trainers(app_configs=None, **kwargs):
    from django.conf import settings as django_settings

    if conf.validate(getattr(django_settings, "ECOM_AI", {}) or {}):
        return []  # ecom_ai.E001 already reports the settings themselves
    from ecom_ai.ml.artifacts import _KIND_RE
    from ecom_ai.ml.registry import Trainer

    errors = []
    for kind, path in conf.settings.TRAINERS.items():
        where = f"ECOM_AI['TRAINERS'][{kind!r}] = {path!r}"
        if not _KIND_RE.match(kind):
            errors.append(
                Error(f"{where}: the kind {kind!r} may only use letters, digits, '_', '.' and '-'.", id="ecom_ai.E020")
            )
            continue
        try:
            cls = conf.settings.imported("TRAINERS", kind)
        except ImportError as exc:
            errors.append(
                Error(
                    f"{where} cannot be imported: {exc}",
                    hint="Give the dotted path of a subclass of ecom_ai.ml.registry.Trainer.",
                    id="ecom_ai.E020",
                )
            )
            continue
        if not (isinstance(cls, type) and issubclass(cls, Trainer)):
            errors.append(Error(f"{where} is not a subclass of ecom_ai.ml.registry.Trainer.", id="ecom_ai.E020"))
    return errors


@register(Tags.database)
def check_active_artifacts(app_configs=None, databases=None, **kwargs):
    """Every active version's artifact file reads back (storage + ``torch.load``; the full
    load through the trainer is ``manage.py ecom_ai_models --check``). A database check, as
    Django's own: run by ``manage.py check --database default`` (and ``migrate``); silent
    when the database cannot be read (not migrated yet, not reachable)."""
    from django.db import DEFAULT_DB_ALIAS, DatabaseError

    from ecom_ai.ml.health import check_active

    if not databases or DEFAULT_DB_ALIAS not in databases:
        return []
    try:
        results = check_active(quick=True, fresh=True)
    except DatabaseError:
        return []
    return [
        Warning(
            f"The active {h.kind} model (v{h.number}) is unusable: {h.error}",
            hint=f"Serving uses the {h.kind} fallback. Activate another version (admin, or "
            f"`manage.py ecom_ai_rollback {h.kind}`) or train a new one; "
            "`manage.py ecom_ai_models --check` loads each active model fully.",
            id="ecom_ai.W021",
        )
        for h in results
        if not h.ok
    ]
