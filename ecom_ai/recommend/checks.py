"""System checks of the recommendation settings (registered from ``ecom_ai.checks``).

| id | meaning |
|---|---|
| ecom_ai.E040 | an ``ECOM_AI["RECOMMEND_STRATEGIES"]`` entry cannot be imported or is not callable |
"""

from __future__ import annotations

from django.core.checks import Error, Tags, register

from ecom_ai import conf


@register(Tags.compatibility)
def check_strategies(app_configs=None, **kwargs):
    from django.conf import settings as django_settings

    if conf.validate(getattr(django_settings, "ECOM_AI", {}) or {}):
        return []  # ecom_ai.E001 already reports the settings themselves
    errors = []
    for name, path in conf.settings.RECOMMEND_STRATEGIES.items():
        where = f"ECOM_AI['RECOMMEND_STRATEGIES'][{name!r}] = {path!r}"
        try:
            function = conf.settings.imported("RECOMMEND_STRATEGIES", name)
        except ImportError as exc:
            errors.append(
                Error(
                    f"{where} cannot be imported: {exc}",
                    hint="Give the dotted path of a function (ctx, k) -> list[Candidate].",
                    id="ecom_ai.E040",
                )
            )
            continue
        if not callable(function):
            errors.append(Error(f"{where} is not callable.", id="ecom_ai.E040"))
    return errors
