"""Rooms ranked by risk: the evidence for where rescue money goes first.

The order, and why (the report prints this explanation):

1. **Mould first** — the larger of the period's highest Mould Risk Factor (IPI; 1 = germination
   expected) and highest VTT mould index (1 = first microscopic growth). Mould is the damage
   that is fastest, irreversible and a health hazard to staff.
2. **Then time out of the profile's band** [% of the covered hours] — mechanical and chemical
   stress accumulate with it.
3. **Then the mean lifetime multiplier** (lower first) — how fast paper decays chemically at
   the room's climate, relative to 20 °C / 50 %.

A room without data in the period comes last: it cannot be judged, which is itself a finding
(its completeness is 0 %). Every number is the room's `preservation.metrics` figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from repoclimate.reports.gather import RoomReport


@dataclass(frozen=True, slots=True)
class RankedRoom:
    """A room's place in the ranking and the three figures it was ranked by."""

    rank: int
    room: RoomReport
    mould: float
    """max(MRF max, VTT max) [–]; NaN without data."""
    out_of_band_pct: float
    lifetime_multiplier: float


def _or(value: float, fallback: float) -> float:
    return value if math.isfinite(value) else fallback


def rank_rooms(rooms: tuple[RoomReport, ...] | list[RoomReport]) -> list[RankedRoom]:
    """The rooms, riskiest first (see the module docstring for the order)."""
    scored: list[tuple[tuple[int, float, float, float, str, str], RoomReport, float, float, float]]
    scored = []
    for room in rooms:
        m = room.current.metrics
        if m is None or m.compliance is None:
            key = (1, 0.0, 0.0, 0.0, room.site.id, room.room.id)
            scored.append((key, room, math.nan, math.nan, math.nan))
            continue
        mould = max(_or(m.mrf_max, 0.0), _or(m.vtt_max, 0.0))
        out = _or(m.compliance.time_out_of_band_pct, 0.0)
        lm = _or(m.mean_lifetime_multiplier, math.inf)
        key = (0, -round(mould, 3), -round(out, 3), lm, room.site.id, room.room.id)
        scored.append((key, room, mould, out, m.mean_lifetime_multiplier))
    scored.sort(key=lambda item: item[0])
    return [
        RankedRoom(rank, room, mould, out, lm)
        for rank, (_, room, mould, out, lm) in enumerate(scored, start=1)
    ]
