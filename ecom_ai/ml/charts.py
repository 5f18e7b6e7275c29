"""Training curves as inline SVG, drawn on the server (no JavaScript library, no CDN).

``history_charts(history)`` turns a ``TrainingRun.history`` (``[{"epoch": 1, "loss": .., "auc": ..}, ..]``)
into two charts: the loss curve, and the other metrics per epoch. Used by the admin and by
the staff JSON endpoint the admin polls while a run is in progress.
"""

from __future__ import annotations

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Colour-blind-friendly palette (Okabe–Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
#: Above this many points a series is drawn as a line without a marker per point.
MAX_MARKERS = 60


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000 or magnitude < 0.001:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    title: str = "",
    x_label: str = "epoch",
    width: int = 640,
    height: int = 220,
    empty_text: str = "no data yet",
) -> SafeString:
    """An SVG line chart; ``series`` maps a name to ``(x, y)`` points."""
    left, right, top, bottom = 60, 12, 22, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [(x, y) for values in series.values() for x, y in values]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ecom-ai-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px" preserveAspectRatio="xMinYMin meet" font-family="sans-serif" '
        f'font-size="11">',
        f'<title>{escape(title)}</title><text x="{left}" y="14" fill="#333" font-weight="bold">{escape(title)}</text>'
        if title
        else "",
    ]
    if not points:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" fill="#999">'
            f"{escape(empty_text)}</text></svg>"
        )
        return mark_safe("".join(parts))
    x_min, x_max = min(p[0] for p in points), max(p[0] for p in points)
    y_min, y_max = min(p[1] for p in points), max(p[1] for p in points)
    if x_max == x_min:
        x_min, x_max = x_min - 1, x_max + 1
    pad = (y_max - y_min) * 0.08 or (abs(y_max) * 0.1 or 1)
    y_min, y_max = y_min - pad, y_max + pad

    def sx(x):
        return left + (x - x_min) / (x_max - x_min) * plot_w

    def sy(y):
        return top + plot_h - (y - y_min) / (y_max - y_min) * plot_h

    for tick in range(5):
        value = y_min + (y_max - y_min) * tick / 4
        y = sy(value)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{_fmt(value)}</text>')
    xs = sorted({p[0] for p in points})
    every = max(1, math.ceil(len(xs) / 10))
    for x in xs[::every]:
        parts.append(f'<text x="{sx(x):.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="#666">{_fmt(x)}</text>')
    # the axis name under the tick labels (never on top of the last one)
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 30}" text-anchor="middle" fill="#999">'
        f"{escape(x_label)}</text>"
    )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#999"/>')
    legend_x = left
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        values = sorted(values)
        if len(values) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2">'
                f"<title>{escape(name)}: last {_fmt(values[-1][1])}</title></polyline>"
            )
        for x, y in values if len(values) <= MAX_MARKERS else values[-1:]:
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(name)} at {escape(x_label)} {_fmt(x)}: {_fmt(y)}</title></circle>"
            )
        parts.append(f'<rect x="{legend_x}" y="{height - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{height - 5}" fill="#333">{escape(name)}</text>')
        legend_x += 28 + 7 * len(str(name))
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _rows(history) -> list[dict]:
    return [row for row in history or [] if isinstance(row, dict) and _numeric(row.get("epoch"))]


def _by_epoch(history) -> bool:
    """Epochs strictly increase (one training phase); otherwise rows are plotted in order."""
    epochs = [row["epoch"] for row in _rows(history)]
    return all(a < b for a, b in zip(epochs, epochs[1:]))


def history_series(history, keys) -> dict[str, list[tuple[float, float]]]:
    """Points per key: x is the epoch, or the row's position when epochs restart (several phases)."""
    series: dict[str, list[tuple[float, float]]] = {}
    by_epoch = _by_epoch(history)
    for position, row in enumerate(_rows(history), start=1):
        x = float(row["epoch"]) if by_epoch else float(position)
        for key in keys:
            if _numeric(row.get(key)):
                series.setdefault(key, []).append((x, float(row[key])))
    return series


def history_charts(history) -> dict[str, SafeString]:
    """``{"loss": svg, "metrics": svg}`` for a training run's history."""
    metric_keys = []
    for row in history or []:
        if isinstance(row, dict):
            for key in row:
                if key not in ("epoch", "loss") and key not in metric_keys and _numeric(row[key]):
                    metric_keys.append(key)
    x_label = "epoch" if _by_epoch(history) else "update"
    return {
        "loss": line_chart(history_series(history, ["loss"]), title=f"Loss per {x_label}", x_label=x_label),
        "metrics": line_chart(
            history_series(history, metric_keys),
            title=f"Metrics per {x_label}",
            x_label=x_label,
            empty_text="no metrics reported per epoch",
        ),
    }
