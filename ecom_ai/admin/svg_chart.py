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


def stacked_bar_chart(
    labels: list[str], series: dict[str, list[float]], *, width: int = 900, height: int = 280, title: str = ""
) -> SafeString:
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
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'fill="#666">{escape(label)}</text>'
            )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#999"/>')
    x = left
    for name, colour in colours.items():  # legend
        parts.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 7}" fill="#333">{escape(name)}</text>')
        x += 24 + 7 * len(str(name))
    if not any(totals):
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            'fill="#999">no events in this period</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def rate_chart(
    rows: list[tuple[str, float, float, float, bool]],
    overall: float,
    *,
    title: str = "",
    width: int = 640,
    bar_height: int = 18,
) -> SafeString:
    """Horizontal bars of a rate per segment with their 95 % interval as a whisker and the
    overall rate as a dashed line. ``rows``: ``(segment, rate, low, high, flagged)``; a flagged
    segment (a disparity) is drawn in orange, the others in blue."""
    left, right, top = 150, 70, 36
    height = top + bar_height * max(len(rows), 1) + 28
    plot_w = width - left - right
    x_max = nice_ceiling_rate(max([overall] + [high for _, _, _, high, _ in rows] or [0.01]))

    def sx(value):
        return left + value / x_max * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ecom-ai-chart ecom-ai-rate-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
        f'preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="11">',
        f'<title>{escape(title)}</title><text x="{left}" y="14" fill="#333" font-weight="bold">{escape(title)}</text>'
        if title
        else "",
    ]
    for tick in range(5):
        value = x_max * tick / 4
        x = sx(value)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 24}" stroke="#eee"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" fill="#666">{value:.0%}</text>'
            if x_max >= 0.04
            else f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" fill="#666">{value:.1%}</text>'
        )
    for i, (segment, rate, low, high, flagged) in enumerate(rows):
        y = top + i * bar_height
        colour = "#E69F00" if flagged else "#0072B2"
        parts.append(
            f'<text x="{left - 6}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" fill="#333">'
            f"{escape(str(segment)[:24])}</text>"
        )
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{max(sx(rate) - left, 0.5):.1f}" '
            f'height="{bar_height - 6}" fill="{colour}"><title>{escape(str(segment))}: {rate:.2%} '
            f"(95 % interval {low:.2%}–{high:.2%})</title></rect>"
        )
        mid = y + bar_height / 2
        parts.append(f'<line x1="{sx(low):.1f}" y1="{mid:.1f}" x2="{sx(high):.1f}" y2="{mid:.1f}" stroke="#333"/>')
        for end in (low, high):
            parts.append(
                f'<line x1="{sx(end):.1f}" y1="{mid - 4:.1f}" x2="{sx(end):.1f}" y2="{mid + 4:.1f}" stroke="#333"/>'
            )
        parts.append(
            f'<text x="{sx(max(high, rate)) + 4:.1f}" y="{y + bar_height * 0.7:.1f}" fill="#333">{rate:.1%}</text>'
        )
    x = sx(overall)
    parts.append(
        f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 24}" stroke="#D55E00" '
        f'stroke-dasharray="4 3"><title>overall {overall:.2%}</title></line>'
    )
    parts.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle" fill="#D55E00">overall {overall:.1%}</text>')
    if not rows:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + 12}" text-anchor="middle" fill="#999">no data</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def nice_ceiling_rate(value: float) -> float:
    """A round upper bound for a rate axis (at most 1)."""
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0):
        if value <= step:
            return step
    return 1.0
