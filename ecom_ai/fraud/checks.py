"""System checks of the fraud and fairness settings (registered from ``ecom_ai.checks``).

| id | meaning |
|---|---|
| ecom_ai.E030 | ``FRAUD_EXTRA_FEATURES`` is malformed or reuses a built-in feature name, or ``FAIRNESS_SEGMENTS`` names an unknown segment |
"""

from __future__ import annotations

from django.core.checks import Error, Tags, register

from ecom_ai import conf

BUILTIN_SEGMENTS = ("country", "channel", "customer")


@register(Tags.compatibility)
def check_fraud_settings(app_configs=None, **kwargs):
    from django.conf import settings as django_settings

    if conf.validate(getattr(django_settings, "ECOM_AI", {}) or {}):
        return []  # ecom_ai.E001 already reports the settings themselves
    from ecom_ai.fraud.extras import check_declarations
    from ecom_ai.fraud.feature_names import FEATURE_NAMES

    errors = []
    declared = conf.settings.FRAUD_EXTRA_FEATURES or {}
    verdict = check_declarations(declared, reserved=frozenset(FEATURE_NAMES))
    if verdict is not True:
        errors.append(
            Error(
                f"ECOM_AI['FRAUD_EXTRA_FEATURES'] {verdict}.",
                hint="See docs/fraud.md, 'Shop-specific features'.",
                id="ecom_ai.E030",
            )
        )
        return errors
    known = set(BUILTIN_SEGMENTS) | set(declared)
    for name in conf.settings.FAIRNESS_SEGMENTS:
        if name not in known:
            errors.append(
                Error(
                    f"ECOM_AI['FAIRNESS_SEGMENTS'] names {name!r}, which is neither a built-in segment "
                    f"({', '.join(BUILTIN_SEGMENTS)}) nor a FRAUD_EXTRA_FEATURES attribute.",
                    hint="Declare the attribute in FRAUD_EXTRA_FEATURES (report_only if it must never be a feature).",
                    id="ecom_ai.E030",
                )
            )
    return errors
