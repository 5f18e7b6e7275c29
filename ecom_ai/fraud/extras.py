"""Shop-specific order attributes for fraud scoring (``ECOM_AI["FRAUD_EXTRA_FEATURES"]``).

A shop declares the signals only it has — the payment gateway's AVS / CVV / 3-D Secure
results, its risk score, a loyalty tier... — and where they come from::

    ECOM_AI = {
        "FRAUD_EXTRA_FEATURES": {
            "avs_result": {"type": "categorical", "source": "order_extra", "key": "avs",
                           "description": "address check of the payment gateway"},
            "gateway_risk": "numeric",                         # short form: any source, key = name
            "age_band": {"type": "categorical", "report_only": True},
        },
    }

* ``type``: ``"numeric"`` (a number; anything else is a data gap and an unknown value) or
  ``"categorical"`` (text, at most 100 characters);
* ``source``: ``"order_extra"`` (the adapter's ``order_extra(order)`` dict), ``"api"`` (the
  ``extra`` object of ``POST fraud/assess/``) or ``"any"`` (default: either);
* ``key``: the key in that dict (default: the attribute's name);
* ``description``: shown in reasons, the rule form and the docs;
* ``report_only``: the attribute is stored with the assessment for the fairness report but
  is **never a feature**: not a model input, not a rule variable;
* ``bins`` (numeric, optional): segment edges for the fairness report, e.g. ``[25, 40, 60]``.

Declared attributes (except report-only ones) become model inputs (``FraudTrainer``),
rule variables (``ecom_ai.fraud.rules``) and, through the model's explanation, reasons.
"""

from __future__ import annotations

import keyword
import math
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured

TYPES = ("numeric", "categorical")
SOURCES = ("any", "order_extra", "api")
SPEC_KEYS = ("type", "source", "key", "description", "report_only", "bins")
MAX_TEXT = 100


@dataclass(frozen=True)
class ExtraAttribute:
    """One declared attribute."""

    name: str
    type: str
    source: str = "any"
    key: str = ""
    description: str = ""
    report_only: bool = False
    bins: tuple = ()

    @property
    def numeric(self) -> bool:
        return self.type == "numeric"

    def reads(self, source: str) -> bool:
        """Whether a value from ``source`` ("order_extra" or "api") is read for this attribute."""
        return self.source == "any" or self.source == source

    def label(self) -> str:
        return self.description or f"shop attribute {self.name}"


def check_declarations(value, reserved=()) -> str | bool:
    """``True`` when ``value`` is a valid ``FRAUD_EXTRA_FEATURES`` mapping, else what is wrong."""
    if not isinstance(value, dict):
        return "must be a dict of attribute name -> 'numeric' / 'categorical' or a dict spec"
    for name, spec in value.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            return (
                f"has the name {name!r}: names must be identifiers usable in rules (letters, digits, _; "
                "not starting with _ or a digit, not a Python keyword)"
            )
        if name in reserved:
            return f"declares {name!r}, which is a built-in fraud feature; choose another name"
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict):
            return f"[{name!r}] must be 'numeric', 'categorical' or a dict with a 'type'"
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        if unknown:
            return f"[{name!r}] has unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(SPEC_KEYS)})"
        if spec.get("type") not in TYPES:
            return f"[{name!r}]['type'] must be 'numeric' or 'categorical'"
        if spec.get("source", "any") not in SOURCES:
            return f"[{name!r}]['source'] must be one of {', '.join(SOURCES)}"
        if not isinstance(spec.get("key", name), str) or not spec.get("key", name):
            return f"[{name!r}]['key'] must be a non-empty string"
        if not isinstance(spec.get("description", ""), str):
            return f"[{name!r}]['description'] must be a string"
        if not isinstance(spec.get("report_only", False), bool):
            return f"[{name!r}]['report_only'] must be True or False"
        bins = spec.get("bins")
        if bins is not None:
            if spec.get("type") != "numeric":
                return f"[{name!r}]['bins'] only applies to numeric attributes"
            if (
                not isinstance(bins, (list, tuple))
                or not bins
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bins)
                or list(bins) != sorted(set(bins))
            ):
                return f"[{name!r}]['bins'] must be a non-empty, increasing list of numbers"
    return True


def _builtin_names() -> frozenset:
    from ecom_ai.fraud.feature_names import FEATURE_NAMES

    return frozenset(FEATURE_NAMES)


_cache: dict = {}


def declared() -> tuple[ExtraAttribute, ...]:
    """The declared attributes, in declaration order (read once per settings change)."""
    from ecom_ai.conf import settings as ecom_settings

    raw = ecom_settings.FRAUD_EXTRA_FEATURES or {}
    cached = _cache.get("declared")
    if cached is not None and cached[0] is raw:
        return cached[1]
    verdict = check_declarations(raw, reserved=_builtin_names())
    if verdict is not True:
        raise ImproperlyConfigured(f"ECOM_AI['FRAUD_EXTRA_FEATURES'] {verdict}.")
    out = []
    for name, spec in raw.items():
        spec = {"type": spec} if isinstance(spec, str) else spec
        out.append(
            ExtraAttribute(
                name=name,
                type=spec["type"],
                source=spec.get("source", "any"),
                key=spec.get("key", name),
                description=spec.get("description", ""),
                report_only=bool(spec.get("report_only", False)),
                bins=tuple(spec.get("bins") or ()),
            )
        )
    result = tuple(out)
    _cache["declared"] = (raw, result)
    return result


def clear_cache(**kwargs) -> None:
    _cache.clear()


def feature_attributes() -> tuple[ExtraAttribute, ...]:
    """Declared attributes that are features (model inputs and rule variables)."""
    return tuple(a for a in declared() if not a.report_only)


def report_only_attributes() -> tuple[ExtraAttribute, ...]:
    return tuple(a for a in declared() if a.report_only)


def by_name(name: str) -> ExtraAttribute | None:
    return next((a for a in declared() if a.name == name), None)


def numeric_names() -> list[str]:
    return [a.name for a in feature_attributes() if a.numeric]


def categorical_names() -> list[str]:
    return [a.name for a in feature_attributes() if not a.numeric]


def describe(name: str) -> str:
    attribute = by_name(name)
    return attribute.label() if attribute else ""


def parse_value(attribute: ExtraAttribute, value):
    """``(value, problem)``: the stored value of ``value`` (``None`` / ``""`` when unknown) and a
    description of what was wrong with it, or ``""``."""
    if value is None or value == "":
        return (None if attribute.numeric else ""), ""
    if attribute.numeric:
        if isinstance(value, bool):
            return int(value), ""
        if isinstance(value, (int, float, Decimal)) or isinstance(value, str):
            try:
                number = float(value)
            except (TypeError, ValueError):
                return None, f"{attribute.name} {str(value)[:30]!r} is not a number"
            if math.isfinite(number):
                return (int(number) if number.is_integer() and abs(number) < 2**53 else number), ""
            return None, f"{attribute.name} {str(value)[:30]!r} is not a finite number"
        return None, f"{attribute.name} has a {type(value).__name__}, not a number"
    if isinstance(value, bool):
        return ("true" if value else "false"), ""
    if isinstance(value, (str, int, float, Decimal)):
        return str(value).strip()[:MAX_TEXT], ""
    return "", f"{attribute.name} has a {type(value).__name__}, not a text value"


def extract(values: dict, source: str) -> tuple[dict, dict, list]:
    """``(features, report attributes, gaps)`` of the declared attributes found in ``values``.

    ``values`` is the adapter's ``order_extra`` dict (``source="order_extra"``) or the
    API's ``extra`` object (``source="api"``). Every declared attribute gets a value (unknown:
    ``None`` for numbers, ``""`` for text); a value that cannot be read is a gap.
    """
    features, report, gaps = {}, {}, []
    values = values if isinstance(values, dict) else {}
    for attribute in declared():
        raw = values.get(attribute.key) if attribute.reads(source) else None
        value, problem = parse_value(attribute, raw)
        if problem:
            gaps.append((f"{attribute.name}_malformed", problem))
        (report if attribute.report_only else features)[attribute.name] = value
    return features, report, gaps
