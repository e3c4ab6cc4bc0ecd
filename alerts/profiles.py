"""The band a room is held to, read from its climate profile (`preservation.profiles`)."""

from __future__ import annotations

import math
from functools import lru_cache

from repoclimate.alerts.rules.base import Band
from repoclimate.preservation.profiles import get_profile


def _limit(value: float, open_value: float) -> float | None:
    return None if not math.isfinite(value) or value == open_value else float(value)


@lru_cache(maxsize=256)
def band_for(profile_id: str) -> Band:
    """The `Band` of a profile id; ``KeyError`` (UnknownProfileError) for an unknown id.

    Open limits of the profile (±inf °C, 0 or 100 %RH, no allowance) become ``None``: no rule.
    For EN 15757 ("historic") profiles only the fixed allowances are used; the band derived from
    the room's own history is not evaluated live.
    """
    profile = get_profile(profile_id)
    return Band(
        profile=profile.id,
        t_min=_limit(profile.t_min_c, -math.inf),
        t_max=_limit(profile.t_max_c, math.inf),
        rh_min=_limit(profile.rh_min_pct, 0.0),
        rh_max=_limit(profile.rh_max_pct, 100.0),
        t_deviation_max=profile.short_term_t_k,
        rh_deviation_max=profile.short_term_rh_pct,
        window_hours=profile.short_term_window_h,
    )
