"""Medians and percentiles: the machine is shared and noisy, so no single run is trusted."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


def spread(values: Sequence[float]) -> str:
    """min..max, to show how noisy the repeats were."""
    if not values:
        return "-"
    return f"{min(values):.3g}..{max(values):.3g}"


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")
