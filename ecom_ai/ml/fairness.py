"""Rates by segment with confidence intervals: the arithmetic of the fairness report.

``rate_tables(records, dimensions, outcomes)`` breaks a list of records (dicts) down by
each dimension (a record key whose value names the record's segment) and gives, for every
outcome (a record key holding 0/1), the rate per segment with its 95 % Wilson interval and
its ratio to the overall rate. A segment is flagged as a **disparity** when its ratio is
outside ``[0.8, 1.25]`` (the "four-fifths" rule of thumb) *and* its interval excludes the
overall rate; segments with fewer than ``MIN_CASES`` records are marked "too few to judge".
The domains build the records (``ecom_ai.fraud.fairness``, ``ecom_ai.recommend.fairness``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

Z95 = 1.959963984540054
MIN_CASES = 30
RATIO_BAND = (0.8, 1.25)
MAX_SEGMENTS = 12
OTHER = "other"
UNKNOWN = "unknown"


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (``(0, 0)`` for ``n == 0``)."""
    if n <= 0:
        return 0.0, 0.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Rate:
    count: int
    n: int
    low: float
    high: float
    ratio: float | None  # to the overall rate
    disparity: bool = False

    @property
    def rate(self) -> float:
        return self.count / self.n if self.n else 0.0


@dataclass
class SegmentRow:
    segment: str
    n: int
    rates: dict = field(default_factory=dict)  # outcome -> Rate
    too_few: bool = False


@dataclass
class RateTable:
    dimension: str
    overall: dict  # outcome -> Rate
    rows: list  # SegmentRow, largest first
    total: int

    def disparities(self) -> list[tuple[str, str]]:
        return [(row.segment, name) for row in self.rows for name, rate in row.rates.items() if rate.disparity]


def _segment_names(values: list[str]) -> dict[str, str]:
    """The most frequent segments keep their name; the rest are grouped as "other"."""
    counts = Counter(values)
    keep = {name for name, _ in counts.most_common(MAX_SEGMENTS)}
    return {name: (name if name in keep or name == UNKNOWN else OTHER) for name in counts}


def _rate(count: int, n: int, overall: float | None) -> Rate:
    low, high = wilson_interval(count, n)
    ratio = (count / n) / overall if n and overall else None
    return Rate(count, n, low, high, ratio)


def rate_tables(records: list[dict], dimensions: list[str], outcomes: list[str]) -> list[RateTable]:
    """One ``RateTable`` per dimension (see the module docstring)."""
    total = len(records)
    overall = {}
    for name in outcomes:
        count = sum(1 for r in records if r.get(name))
        overall[name] = _rate(count, total, None)
    tables = []
    for dimension in dimensions:
        raw = [str(r.get(dimension) if r.get(dimension) not in (None, "") else UNKNOWN) for r in records]
        names = _segment_names(raw)
        groups: dict[str, list[dict]] = {}
        for record, value in zip(records, raw):
            groups.setdefault(names[value], []).append(record)
        rows = []
        for segment, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
            row = SegmentRow(segment, len(members), too_few=len(members) < MIN_CASES)
            for name in outcomes:
                rate = _rate(sum(1 for r in members if r.get(name)), len(members), overall[name].rate)
                if not row.too_few and rate.ratio is not None:
                    outside = not (RATIO_BAND[0] <= rate.ratio <= RATIO_BAND[1])
                    excludes = not (rate.low <= overall[name].rate <= rate.high)
                    rate.disparity = outside and excludes
                row.rates[name] = rate
            rows.append(row)
        tables.append(RateTable(dimension, overall, rows, total))
    return tables


def bin_label(value, edges) -> str:
    """The bin of a number between sorted ``edges``: "< 25", "25–40", "≥ 60"; unknown when not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return UNKNOWN
    if not math.isfinite(number):
        return UNKNOWN
    edges = list(edges)
    if number < edges[0]:
        return f"< {edges[0]:g}"
    for low, high in zip(edges, edges[1:]):
        if low <= number < high:
            return f"{low:g}–{high:g}"
    return f"≥ {edges[-1]:g}"


def quartile_edges(values) -> list[float]:
    """Quartile edges of the numbers in ``values`` (for numeric segments without declared bins)."""
    numbers = sorted(
        float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    )
    if not numbers:
        return [0.0]
    edges = sorted({numbers[int(len(numbers) * q)] for q in (0.25, 0.5, 0.75)})
    return edges or [numbers[0]]
