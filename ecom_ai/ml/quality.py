"""Quality floors of model versions, checked by the evaluation gate before any activation.

A version may become active only above its kind's **quality floor**:

1. **enough data** — every metric named in the trainer's ``floor_minimums`` (e.g. fraud:
   ``fraud_labels`` ≥ 50 and ``labelled_orders`` ≥ 500) reaches its minimum;
   ``ECOM_AI["QUALITY_FLOORS"] = {kind: {metric: minimum}}`` changes the numbers, and
   ``{kind: None}`` turns the kind's floor off;
2. **better than the simple method it replaces**, on the same validation data — the
   primary metric beats every baseline named in the trainer's ``floor_baselines``
   (e.g. fraud: the built-in heuristic's ROC-AUC) by more than
   ``ECOM_AI["QUALITY_FLOOR_MARGIN"]``. A baseline the trainer could not measure is not
   a failure (the check says so).

This holds for *every* version, the first one included. Below the floor the version stays
``ready`` with the reasons in its ``quality`` and ``notes``; whatever served before (the
active version, or the fallback when there is none) keeps serving.

``data_warnings(version)`` lists what a store admin should know about a version's data
and validation ("trained on 11 fraud labels", "validation has 3 positives", wide
confidence intervals...): the admin shows them on the model-version pages.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class FloorCheck:
    """One check of a floor: ``code`` is ``min:<metric>`` or ``beat:<baseline>``."""

    code: str
    passed: bool
    message: str


@dataclass
class FloorVerdict:
    passed: bool
    checks: list = field(default_factory=list)

    @property
    def failures(self) -> list[FloorCheck]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        failed = self.failures
        if not failed:
            return "above its quality floor"
        return "; ".join(c.message for c in failed)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks]}


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.4g}"


def floor_minimums(trainer) -> dict:
    """``{metric: (minimum, what it counts)}`` in force for ``trainer``'s kind (``{}``: none)."""
    from ecom_ai.conf import settings as ecom_settings

    overrides = ecom_settings.QUALITY_FLOORS or {}
    if trainer.kind in overrides and overrides[trainer.kind] is None:
        return {}
    declared = {
        name: tuple(spec) if isinstance(spec, (list, tuple)) else (spec, name.replace("_", " "))
        for name, spec in (getattr(trainer, "floor_minimums", None) or {}).items()
    }
    for name, minimum in (overrides.get(trainer.kind) or {}).items():
        what = declared.get(name, (None, name.replace("_", " ")))[1]
        declared[name] = (minimum, what)
    return declared


def floor_enabled(trainer) -> bool:
    from ecom_ai.conf import settings as ecom_settings

    overrides = ecom_settings.QUALITY_FLOORS or {}
    return not (trainer.kind in overrides and overrides[trainer.kind] is None)


def check_floor(trainer, metrics: dict | None) -> FloorVerdict:
    """The floor verdict of a version of ``trainer``'s kind with these ``metrics``."""
    from ecom_ai.conf import settings as ecom_settings

    metrics = metrics or {}
    checks: list[FloorCheck] = []
    if not floor_enabled(trainer):
        return FloorVerdict(True, [])
    for name, (minimum, what) in floor_minimums(trainer).items():
        value = _number(metrics.get(name))
        if value is None:
            checks.append(FloorCheck(f"min:{name}", False, f"{what}: not reported by the trainer"))
        elif value < float(minimum):
            checks.append(
                FloorCheck(
                    f"min:{name}", False, f"trained on {_fmt(value)} {what}, at least {_fmt(float(minimum))} are needed"
                )
            )
        else:
            checks.append(FloorCheck(f"min:{name}", True, f"{_fmt(value)} {what} (at least {_fmt(float(minimum))})"))
    primary = trainer.primary_metric
    margin = float(ecom_settings.QUALITY_FLOOR_MARGIN)
    for label, baseline_metric in (getattr(trainer, "floor_baselines", None) or {}).items():
        ours, theirs = _number(metrics.get(primary)), _number(metrics.get(baseline_metric))
        code = f"beat:{label}"
        if theirs is None:
            checks.append(FloorCheck(code, True, f"the {label} baseline could not be measured on this validation data"))
        elif ours is None:
            checks.append(
                FloorCheck(
                    code,
                    False,
                    f"{primary} was not measured, so it cannot be compared with the {label}'s {_fmt(theirs)}",
                )
            )
        else:
            better = ours > theirs + margin if trainer.higher_is_better else ours < theirs - margin
            verb = "beats" if better else "does not beat"
            extra = f" by more than {_fmt(margin)}" if margin and not better else ""
            checks.append(
                FloorCheck(
                    code,
                    better,
                    f"{primary} {_fmt(ours)} {verb} the {label}'s {_fmt(theirs)} on the same validation data{extra}",
                )
            )
    return FloorVerdict(all(c.passed for c in checks), checks)


# --------------------------------------------------------------------------- warnings

#: A confidence interval wider than this (on a 0–1 metric) is reported as a warning.
WIDE_INTERVAL = 0.2
#: Fewer positives (or evaluated cases) than this in the validation data is reported.
FEW_VALIDATION_CASES = 30


def data_warnings(version) -> list[str]:
    """Readable warnings about a version's data and validation (empty when there is nothing to say).

    Reads only what is stored with the version (``quality``, ``validation``, ``metrics``):
    no trainer import, no query, so list pages can call it per row.
    """
    warnings: list[str] = []
    quality = version.quality or {}
    for check in quality.get("checks", []):
        if isinstance(check, dict) and not check.get("passed", True):
            warnings.append(str(check.get("message", "")))
    validation = version.validation or {}
    positives = _number(validation.get("positives"))
    if positives is not None and positives < FEW_VALIDATION_CASES:
        warnings.append(f"validation has {_fmt(positives)} positives")
    cases = _number(validation.get("cases"))
    if cases is not None and cases < FEW_VALIDATION_CASES:
        warnings.append(f"validated on {_fmt(cases)} cases only")
    for name, bounds in (validation.get("intervals") or {}).items():
        if isinstance(bounds, (list, tuple)) and len(bounds) == 2:
            low, high = _number(bounds[0]), _number(bounds[1])
            if low is not None and high is not None and high - low > WIDE_INTERVAL:
                warnings.append(f"{name} is uncertain: 95 % interval {low:.2f}–{high:.2f}")
    return [w for w in warnings if w]
