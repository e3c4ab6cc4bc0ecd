"""Where a reading stands against a climate profile's band: ``ok``, ``near`` a limit, or ``out``.

The live view's green / amber / red, and the same judgement for pages, dashboards and reports.
A value is *out* when it is below the lower or above the upper limit; *near* when it is inside
the band but closer to a limit than the near margin; *ok* otherwise. A value exactly on a limit is
inside (near). Values that are missing (``None`` or NaN) are *missing*: no judgement.

Whether a sensor is *silent* or *unassigned* is not a property of a value: callers that know the
time and the registry say so themselves.

The near margins are the alert rules' hysteresis margins (`alerts.config.ExcursionParams`:
``t_margin`` 0.5 K, ``rh_margin`` 2 %RH): a value shown *near* is one an excursion alert would not
yet clear at.

Open limits: a profile that sets no temperature limit has ±inf; one that sets no RH limit has
0 / 100 %RH, which here are open too (no value is near 0 %RH because of a limit nobody set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repoclimate.preservation.profiles import Profile

NEAR_T_K = 0.5
"""Within this of a temperature limit (inside the band) a value is near it [K]."""
NEAR_RH_PCT = 2.0
"""Within this of an RH limit (inside the band) a value is near it [%RH]."""

BandQuantity = Literal["t", "rh"]


class Status(StrEnum):
    """A value against a band."""

    OK = "ok"
    NEAR = "near"
    OUT = "out"
    MISSING = "missing"

    @property
    def rank(self) -> int:
        """How bad: missing 0, ok 1, near 2, out 3 (the worse of two statuses is the max)."""
        return _RANK[self]


_RANK = {Status.MISSING: 0, Status.OK: 1, Status.NEAR: 2, Status.OUT: 3}


@dataclass(frozen=True, slots=True)
class Band:
    """Limits of one quantity and the near margin [°C or %RH]; an open limit is ±inf."""

    low: float = -math.inf
    high: float = math.inf
    near: float = 0.0

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or math.isnan(self.near):
            raise ValueError(f"band limits and margin must be numbers, not NaN: {self}")
        if self.low > self.high:
            raise ValueError(f"band lower limit {self.low} is above its upper limit {self.high}")
        if self.near < 0:
            raise ValueError(f"near margin must be ≥ 0, got {self.near}")

    @property
    def is_open(self) -> bool:
        """Whether neither limit is set (every value is ok)."""
        return not (math.isfinite(self.low) or math.isfinite(self.high))

    def classify(self, values: ArrayLike) -> NDArray[np.str_]:
        """`classify` of ``values`` against this band."""
        return classify(values, self.low, self.high, self.near)

    def status(self, value: float | None) -> Status:
        """`classify` of one value (``None`` is missing)."""
        return Status(str(self.classify(np.nan if value is None else value)))


def profile_band(profile: Profile | None, quantity: BandQuantity) -> Band:
    """The band ``profile`` holds ``quantity`` to ("t" [°C] or "rh" [%RH]), with the near margin
    `NEAR_T_K` or `NEAR_RH_PCT`; an open band when ``profile`` is None (a room without one).

    RH limits of 0 and 100 %RH (not set by the profile) are open.
    """
    if quantity == "t":
        if profile is None:
            return Band(near=NEAR_T_K)
        return Band(profile.t_min_c, profile.t_max_c, NEAR_T_K)
    if profile is None:
        return Band(near=NEAR_RH_PCT)
    low = profile.rh_min_pct if profile.rh_min_pct > 0.0 else -math.inf
    high = profile.rh_max_pct if profile.rh_max_pct < 100.0 else math.inf
    return Band(low, high, NEAR_RH_PCT)


def classify(
    values: ArrayLike,
    low: float | None,
    high: float | None,
    near: float,
) -> NDArray[np.str_]:
    """Status of each value against the band [low, high]: "ok", "near", "out" or "missing".

    Parameters
    ----------
    values : array_like
        Readings [°C or %RH], any shape; NaN means missing.
    low, high : float or None
        Band limits in the unit of ``values``; ``None``, NaN or an infinite value is an open
        limit. A value equal to a limit is inside the band.
    near : float
        Margin inside the band [unit of ``values``]: a value with ``value − low < near`` or
        ``high − value < near`` is "near" (a finite limit only).

    Returns
    -------
    numpy.ndarray of str
        Same shape as ``values`` (a 0-d array for a scalar): `Status` values.

    Raises
    ------
    ValueError
        ``low`` above ``high``, or ``near`` negative or NaN.
    """
    lo = _limit(low, -math.inf)
    hi = _limit(high, math.inf)
    if lo > hi:
        raise ValueError(f"band lower limit {lo} is above its upper limit {hi}")
    if not near >= 0.0:
        raise ValueError(f"near margin must be ≥ 0, got {near}")
    x = np.asarray(values, dtype=np.float64)
    missing = np.isnan(x)
    with np.errstate(invalid="ignore"):
        out = (x < lo) | (x > hi)
        near_low = (x - lo < near) if math.isfinite(lo) else np.zeros_like(missing)
        near_high = (hi - x < near) if math.isfinite(hi) else np.zeros_like(missing)
    result: NDArray[np.str_] = np.select(
        [missing, out, near_low | near_high],
        [Status.MISSING.value, Status.OUT.value, Status.NEAR.value],
        default=Status.OK.value,
    )
    return result


def _limit(value: float | None, open_value: float) -> float:
    if value is None or math.isnan(value) or math.isinf(value):
        return open_value
    return float(value)


def worst(*statuses: Status) -> Status:
    """The worse of ``statuses`` (out > near > ok > missing); missing when none is given."""
    return max(statuses, key=lambda status: status.rank, default=Status.MISSING)
