"""Derived series: values computed from readings (dew point, mould index, preservation index,
hourly rollups) that are stored beside them so Grafana can chart what it cannot compute."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

PRESERVATION = "preservation"
"""Measurement of per-room derived metrics (dew point, mould risk, preservation index …)."""

CLIMATE_1H = "climate_1h"
"""Measurement of hourly rollups (mean/min/max) for long-range history."""


@dataclass(frozen=True, slots=True)
class DerivedRow:
    """One point of a derived series: ``measurement``, string ``tags``, float ``fields``, ``time``.

    Like readings, derived rows are idempotent: the same measurement, tags and time replace the
    stored point, merging fields. Field values are always stored as floats (ints are converted;
    NaN and infinities are refused when written).
    """

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, float]
    time: datetime

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError(f"DerivedRow.time must be timezone-aware, got {self.time!r}")
