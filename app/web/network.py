"""The network view's order: which site a municipal bureau, looking at every county archive at
once, should look at first.

The order, worst first:

1. **The site's status**: ``out`` > ``silent`` > ``near`` > ``missing`` > ``ok``. A room out of
   its band is harm known to be happening now (mould, faster chemical decay, mechanical stress),
   and someone can act on it today, so it comes first. A silent room might be anything — it is a
   monitoring fault that may hide an excursion, and the answer (go and look at the sensor, its
   battery, the gateway) is less urgent than fixing a known one; so it comes second, above
   ``near`` (still inside the band). A room with one sensor out and one silent is ``out``
   (`app.api.sites`).
2. **How many rooms are in that state**, then how many are in the next ones (out, silent, near):
   more of the collection is at risk.
3. **How long the worst condition has lasted**, longest first: damage accumulates with time
   (mould germinates after days at high RH), and a condition left standing for long is one
   nobody is dealing with. For ``out`` and ``near`` rooms this is the oldest open alert about
   those rooms (none yet: it has only just begun); for ``silent`` rooms, the oldest last reading
   of their silent sensors (never heard: longest of all).
4. The site's name, so that equal sites keep a fixed order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from repoclimate.app.api.sites import SiteState

RANK = {"out": 0, "silent": 1, "unassigned": 1, "near": 2, "missing": 3, "ok": 4}
"""Worst first."""
COUNTED = ("out", "silent", "near")
"""Room states counted on a site's chip and used to break ties, in this order."""


@dataclass(frozen=True, slots=True)
class SiteRank:
    """A site as the network view shows it: how many rooms are in each state, and since when
    its worst state has held (None when no time is known: no open alert yet, or ok)."""

    site: SiteState
    rooms: dict[str, int]
    since: datetime | None
    never_heard: bool = False
    """A silent site with a sensor never heard: its silence is older than anything known."""

    def key(self, now: datetime) -> tuple[int, tuple[int, ...], float, str]:
        if self.never_heard:
            held = float("inf")
        else:
            held = 0.0 if self.since is None else (now - self.since).total_seconds()
        return (
            RANK.get(self.site.status, len(RANK)),
            tuple(-self.rooms.get(state, 0) for state in COUNTED),
            -held,
            (self.site.name or self.site.id).casefold(),
        )


def site_rank(site: SiteState) -> SiteRank:
    """``site``'s room counts and the start of its worst state."""
    worst = [r for r in site.rooms if r.status == site.status]
    rooms: dict[str, int] = dict(Counter(str(r.status) for r in site.rooms))
    if site.status == "silent":
        silent = [s for r in worst for s in r.sensors if s.status == "silent"]
        heard = [s.time for s in silent if s.time is not None]
        return SiteRank(site, rooms, min(heard, default=None), len(heard) < len(silent))
    if site.status in ("out", "near"):
        return SiteRank(
            site, rooms, min((a.since for r in worst for a in r.open_alerts), default=None)
        )
    return SiteRank(site, rooms, None)


def ranked(sites: list[SiteState], now: datetime) -> list[SiteRank]:
    """``sites`` in the network view's order at ``now`` (see the module docstring)."""
    return sorted((site_rank(s) for s in sites), key=lambda r: r.key(now))
