"""Retention of raw readings: removed once older than ``store.raw_retention_days``.

Rollups (``climate_1h``, ``climate_1d``) are kept forever, so long ranges stay readable after the
raw readings are gone. The current time is passed in, never read here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from repoclimate.history.settings import StoreSettings


class Prunable(Protocol):
    """A store that can delete raw readings older than a time."""

    def prune_raw(self, before: datetime) -> int:
        """Delete raw readings with ``time < before``; return how many were deleted."""


def retention_horizon(settings: StoreSettings, now: datetime) -> datetime | None:
    """The time before which raw readings are past their age, or ``None`` to keep them all."""
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if settings.raw_retention_days is None:
        return None
    return now - timedelta(days=settings.raw_retention_days)


def apply_retention(store: Prunable, settings: StoreSettings, now: datetime) -> int:
    """Delete the raw readings past ``settings.raw_retention_days`` at ``now``; how many went."""
    horizon = retention_horizon(settings, now)
    return 0 if horizon is None else store.prune_raw(horizon)
