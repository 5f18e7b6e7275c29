"""What the admin says about a model version's quality: floor checks, data warnings, what it
was validated on, and the metric history of its kind (inline SVG).

Used by the model-version pages (``ecom_ai.admin.registry``) and the fraud review queue
(``ecom_ai.admin.fraud``). Artifact health (loadable, fallback in use) is shown beside it by
the registry admin; this module only reads what training stored with the version.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from ecom_ai.ml.charts import line_chart
from ecom_ai.ml.quality import data_warnings
from ecom_ai.models import ModelVersion

WARNING_STYLE = "color:#8a4b00;background:#fff4e0;border:1px solid #e6a23c;border-radius:4px;padding:4px 8px"
HISTORY_VERSIONS = 50


def warnings_cell(version) -> str:
    """The list page's cell: a short ⚠ summary (all warnings in its tooltip), or a dash."""
    warnings = data_warnings(version)
    if not warnings:
        return "–"
    return format_html(
        '<span class="ecom-ai-warning" title="{}" style="color:#b35c00;white-space:nowrap">⚠ {}</span>',
        "\n".join(warnings),
        warnings[0]
        if len(warnings) == 1
        else _("%(first)s (+%(more)d more)") % {"first": warnings[0], "more": len(warnings) - 1},
    )


def warnings_panel(version) -> str:
    """The change page's list of warnings and floor checks."""
    warnings = data_warnings(version)
    checks = (version.quality or {}).get("checks") or []
    parts = []
    if warnings:
        parts.append(
            format_html(
                '<div class="ecom-ai-warnings" style="{}"><b>{}</b><ul style="margin:2px 0 0 1em">{}</ul></div>',
                WARNING_STYLE,
                _("Warnings"),
                format_html_join("", "<li>{}</li>", ((w,) for w in warnings)),
            )
        )
    if checks:
        rows = format_html_join(
            "",
            '<tr><td style="color:{}">{}</td><td>{}</td></tr>',
            (
                ("#2e7d32" if c.get("passed") else "#c62828", "✔" if c.get("passed") else "✘", c.get("message", ""))
                for c in checks
                if isinstance(c, dict)
            ),
        )
        parts.append(
            format_html(
                '<table class="ecom-ai-floor"><caption style="text-align:left">{}</caption>{}</table>',
                _("Quality floor"),
                rows,
            )
        )
    elif not warnings:
        parts.append(_("No quality floor was checked for this version (trained before floors, or none for its kind)."))
    return mark_safe("".join(str(p) for p in parts))


def validation_panel(version) -> str:
    """What the metrics were measured on: method, rows, positives, period, intervals, folds."""
    v = version.validation or {}
    if not v:
        return "–"
    items = []
    if v.get("method_label") or v.get("method"):
        items.append((_("method"), v.get("method_label") or v.get("method")))
    if v.get("fallback_reason"):
        items.append((_("why not the newest window"), v["fallback_reason"]))
    for key, label in (("rows", _("rows")), ("cases", _("cases")), ("positives", _("positives"))):
        if v.get(key) is not None:
            items.append((label, f"{v[key]:,}" if isinstance(v[key], int) else v[key]))
    if v.get("start") or v.get("end"):
        items.append((_("period"), f"{str(v.get('start') or '?')[:16]} – {str(v.get('end') or '?')[:16]}"))
    confidence = v.get("confidence", 0.95)
    for name, bounds in (v.get("intervals") or {}).items():
        if isinstance(bounds, (list, tuple)) and len(bounds) == 2 and None not in bounds:
            items.append((f"{name} {confidence:.0%} " + _("interval"), f"{bounds[0]:.3f} – {bounds[1]:.3f}"))
    newest = v.get("newest_window") or {}
    if newest and v.get("method") != "newest_window":
        items.append(
            (
                _("newest window"),
                _("%(rows)s rows, %(pos)s positives") % {"rows": newest.get("rows"), "pos": newest.get("positives")},
            )
        )
    table = format_html_join("", "<tr><th style='text-align:left'>{}</th><td>{}</td></tr>", items)
    folds = v.get("folds") or []
    fold_rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{} – {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f.get("fold"),
                str(f.get("start") or "")[:10],
                str(f.get("end") or "")[:10],
                f.get("rows"),
                f.get("positives"),
                "–" if f.get("roc_auc") is None else f"{f['roc_auc']:.3f}",
            )
            for f in folds
            if isinstance(f, dict)
        ),
    )
    fold_table = (
        format_html(
            '<table class="ecom-ai-folds"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>ROC-AUC</th></tr>{}</table>',
            _("fold"),
            _("period"),
            _("rows"),
            _("positives"),
            fold_rows,
        )
        if folds
        else ""
    )
    return format_html('<table class="ecom-ai-validation">{}</table>{}', table, fold_table)


def history_versions(kind: str):
    return list(
        ModelVersion.objects.filter(kind=kind)
        .exclude(status__in=("training", "failed"))
        .order_by("-number")
        .only("number", "metrics", "status")[:HISTORY_VERSIONS]
    )[::-1]


def metric_history_chart(kind: str, primary: str, baselines: dict) -> str:
    """The primary metric of every trained version of ``kind`` (with its interval and baselines)."""
    versions = history_versions(kind)
    series: dict[str, list] = {}

    def add(name, number, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            series.setdefault(name, []).append((float(number), float(value)))

    for version in versions:
        metrics = version.metrics or {}
        add(primary, version.number, metrics.get(primary))
        add(f"{primary} 95% low", version.number, metrics.get(f"{primary}_low"))
        add(f"{primary} 95% high", version.number, metrics.get(f"{primary}_high"))
        for label, name in (baselines or {}).items():
            add(label, version.number, metrics.get(name))
    return line_chart(
        series,
        title=_("%(metric)s across %(kind)s versions") % {"metric": primary, "kind": kind},
        x_label=_("version"),
        empty_text=_("no trained versions yet"),
    )


def fraud_model_notice() -> dict:
    """What the fraud review queue says about the scores it shows: the active version and its
    warnings, or why no model is active (and that the heuristic scores)."""
    active = ModelVersion.objects.filter(kind="fraud", status=ModelVersion.Status.ACTIVE).first()
    latest = ModelVersion.objects.filter(kind="fraud").exclude(status="training").order_by("-number").first()
    notice = {"active": active, "latest": latest, "warnings": [], "message": ""}
    if active is not None:
        notice["warnings"] = data_warnings(active)
        notice["message"] = _("Scores come from fraud model v%(n)s.") % {"n": active.number}
    else:
        notice["message"] = _("No fraud model is active: scores come from the built-in heuristic.")
    if latest is not None and latest != active and latest.status == ModelVersion.Status.READY and latest.notes:
        notice["latest_note"] = _("The newest version v%(n)s is not active: %(why)s") % {
            "n": latest.number,
            "why": latest.notes,
        }
    return notice
