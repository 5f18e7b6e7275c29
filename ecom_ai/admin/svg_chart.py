"""Charts for admin pages, drawn on the server as inline SVG (no JavaScript, no CDN).

``stacked_bar_chart(labels, series)`` draws one bar per label, stacked by series, with a
y-axis, sparse x-axis labels, a legend and a ``<title>`` tooltip per segment.
"""
from __future__ import annotations

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Colour-blind-friendly palette (Okabe–Ito), repeated when there are more series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def nice_ceiling(value: float) -> float:
    """The smallest 1/2/5 x 10^n at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def _fmt(number: float) -> str:
    return f"{number:,.0f}" if float(number).is_integer() else f"{number:,.1f}"


def stacked_bar_chart(labels: list[str], series: dict[str, list[float]], *, width: int = 900,
                      height: int = 280, title: str = "") -> SafeString:
    """An SVG stacked bar chart. ``series`` maps a name to one value per label."""
    left, right, top, bottom = 56, 12, 12, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    y_max = nice_ceiling(max(totals, default=0))
    scale = plot_h / y_max
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.8, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ecom-ai-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>" if title else "",
    ]
    for tick in range(5):  # y grid and labels
        value = y_max * tick / 4
        y = top + plot_h - value * scale
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{_fmt(value)}</text>')
    label_every = max(1, math.ceil(len(labels) / 12))
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for name, values in series.items():
            value = values[i]
            if not value:
                continue
            h = value * scale
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colours[name]}">'
                f"<title>{escape(label)} · {escape(name)}: {_fmt(value)}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                         f'fill="#666">{escape(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#999"/>')
    x = left
    for name, colour in colours.items():  # legend
        parts.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 7}" fill="#333">{escape(name)}</text>')
        x += 24 + 7 * len(str(name))
    if not any(totals):
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
                     'fill="#999">no events in this period</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
