"""One pass of the science over a room's series: every per-sample metric and every summary, so
that the alert engine, the reports and the derived InfluxDB series read the same numbers and no
caller recomputes them.

:func:`room_metrics` takes one room's (or sensor's) readings with their timestamps, handles
irregular sampling and gaps once, and returns a :class:`RoomMetrics`. :func:`fleet_metrics`
does the per-sample metrics and summaries for many sensors on a shared regular time grid in one
array call (no profile compliance), for fleet-wide scans.

Who uses it: the alert engine's derived series (:func:`alerts.engine.derived_rows`, the
``preservation`` measurement) are :meth:`RoomMetrics.series` of :func:`room_metrics` over each
air sensor's hourly series and over the room's mean, under the field names ``series`` gives.
Their MRF and VTT index are the mould rule's (:func:`alerts.rules.mould.indices`, integrated from
checkpoints carried between evaluations, over more history than one evaluation fetches), passed
in through ``mould=`` rather than integrated again from zero; the room's are the worst of its
sensors'. The mould rule itself takes its sensitivity class and decline from
:data:`SENSITIVITY_FOR_HOLDINGS` and :data:`DECLINE_FOR_HOLDINGS`, so a backtest with
``room_metrics`` over the same hours gives the same indices. Compliance is
:func:`preservation.compliance.compliance` of the same series.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from repoclimate.preservation._series import (
    FloatArray,
    TimeArray,
    as_float_array,
    prepare_series,
    sample_durations,
)
from repoclimate.preservation.compliance import Compliance, measure_prepared
from repoclimate.preservation.decay import (
    Rating,
    lifetime_multiplier,
    natural_aging_rating,
    preservation_index,
    rate_average,
    twpi_along_time,
)
from repoclimate.preservation.mechanical import EmcRange, summarise_emc, wood_emc
from repoclimate.preservation.mould import (
    DECLINE_PINE,
    DECLINE_RELATIVELY_LOW,
    Sensitivity,
    days_to_mould,
    mould_risk_factor,
    vtt_mould_index,
)
from repoclimate.preservation.profiles import Profile, get_profile
from repoclimate.preservation.psychrometrics import dew_point, frost_point

Holdings = Literal["paper", "parchment", "photographs", "film", "magnetic", "mixed", "wood"]

SENSITIVITY_FOR_HOLDINGS: dict[str, Sensitivity] = {
    "paper": "sensitive",
    "parchment": "sensitive",
    "photographs": "sensitive",
    "film": "sensitive",
    "magnetic": "medium_resistant",
    "mixed": "sensitive",
    "wood": "very_sensitive",
}
"""VTT sensitivity class for the registry's kinds of holdings.

Ojanen et al. (2010) put paper, board and paper-faced products in the *sensitive* class and
untreated pine sapwood in *very sensitive*. Parchment (collagen), photographs and film (gelatin
emulsions) are at least as nutritious to moulds as paper, so they share its class. Magnetic tape
(polyester base, polymer binder) behaves like the plastic-based materials of the *medium
resistant* class. Mixed holdings take the most sensitive class commonly present (paper)."""

DECLINE_FOR_HOLDINGS: dict[str, float] = {
    "paper": DECLINE_RELATIVELY_LOW,
    "parchment": DECLINE_RELATIVELY_LOW,
    "photographs": DECLINE_RELATIVELY_LOW,
    "film": DECLINE_RELATIVELY_LOW,
    "magnetic": DECLINE_RELATIVELY_LOW,
    "mixed": DECLINE_RELATIVELY_LOW,
    "wood": DECLINE_PINE,
}
"""VTT decline coefficient C_mat per holdings. Only pine (the model's reference, 1.0) is
characterised for archive materials; elsewhere we take Ojanen's "relatively low decline" (0.25),
the cautious choice: mould found on an archive item is taken to recede slowly."""


@dataclass(frozen=True, slots=True)
class RoomMetrics:
    """Every metric of one room's series: per-sample arrays and summaries.

    Per-sample arrays share the length of the input; ``hours`` is what each sample stands for
    (0 for NaN samples; one median interval before a gap), and every time-weighted summary uses
    it.
    """

    times: TimeArray
    t_c: FloatArray
    rh_pct: FloatArray
    hours: FloatArray
    dew_point: FloatArray
    """Dew point [°C]."""
    frost_point: FloatArray
    """Frost point [°C] where the air's moisture would deposit as frost (NaN where it is above
    0 °C: the dew point tells there). Cold stores read this, not the dew point over water."""
    emc: FloatArray
    """Wood equilibrium moisture content [%]."""
    pi: FloatArray
    """IPI Preservation Index [years]."""
    lifetime_multiplier: FloatArray
    """Paper lifetime multiplier relative to 20 °C / 50 % [–]."""
    days_to_mould: FloatArray
    """IPI days to mould germination [days]; inf where there is no risk."""
    mrf: FloatArray
    """IPI Mould Risk Factor, cumulative [–]."""
    vtt_index: FloatArray
    """VTT mould index, 0–6 [–]."""
    holdings: str
    sensitivity: Sensitivity
    twpi: float
    """Time-weighted PI [years]."""
    natural_aging: Rating | None
    """IPI rating of the TWPI (None when TWPI is NaN)."""
    mean_lifetime_multiplier: float
    mrf_max: float
    mrf_last: float
    vtt_max: float
    vtt_last: float
    emc_range: EmcRange
    covered_hours: float
    gap_hours: float
    max_gap_h: float
    """The gap threshold used [h]."""
    compliance: Compliance | None
    standards: tuple[Compliance, ...] = ()
    """Compliance with each of the ``standards`` asked for, in their order."""

    def series(self) -> dict[str, FloatArray]:
        """Derived series by field name, for the ``preservation`` InfluxDB measurement: the
        names the alert engine writes (:func:`alerts.engine.derived_rows`) and dashboards read.

        Values are finite or NaN (callers drop NaN fields): ``days_to_mould`` is NaN where it is
        infinite (no risk), since InfluxDB floats cannot be infinite.
        """
        days = np.where(np.isfinite(self.days_to_mould), self.days_to_mould, np.nan)
        return {
            "dew_point": self.dew_point,
            "frost_point": self.frost_point,
            "emc": self.emc,
            "preservation_index": self.pi,
            "lifetime_multiplier": self.lifetime_multiplier,
            "days_to_mould": days,
            "mould_risk_factor": self.mrf,
            "vtt_mould_index": self.vtt_index,
        }


def room_metrics(
    times: ArrayLike | Sequence[datetime],
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    *,
    holdings: Holdings | str = "paper",
    profile: Profile | str | None = None,
    max_gap_h: float | None = None,
    mrf_reset_after_hours: float | None = 24.0,
    mould: tuple[ArrayLike, ArrayLike] | None = None,
    standards: Sequence[Profile | str] = (),
) -> RoomMetrics:
    """All preservation metrics of one room's series in one pass.

    Parameters
    ----------
    times : array of datetime64 or sequence of aware datetimes
        Sample times (UTC), strictly increasing; spacing may be irregular.
    t_c, rh_pct : array_like
        Temperature [°C] and relative humidity [%] per sample (NaN where missing).
    holdings : str
        Kind of holdings (registry vocabulary): picks the VTT sensitivity class
        (:data:`SENSITIVITY_FOR_HOLDINGS`) and decline (:data:`DECLINE_FOR_HOLDINGS`).
    profile : Profile or str, optional
        Climate profile (or its id) to measure compliance against.
    max_gap_h : float, optional
        A silence longer than this is a gap [h]; default ``max(3 × median spacing, 2 h)``.
    mrf_reset_after_hours : float or None
        Dry spell after which the Mould Risk Factor resets (see
        :func:`preservation.mould.mould_risk_factor`).
    mould : (mrf, vtt), optional
        The cumulative Mould Risk Factor and VTT index per sample, already integrated by the
        caller from a carried state (the alert engine's mould rule continues them from
        checkpoints, over more history than the series given here); taken as they are instead
        of integrating the series from zero. NaN where the caller has no value.
    standards : sequence of Profile or str, optional
        More profiles (or ids) to measure the series against (``RoomMetrics.standards``, in
        their order): each the same as ``compliance`` of the series against it, measured in one
        pass with ``profile`` (:func:`preservation.compliance.compliances`).

    Sampling and gaps
    -----------------
    Each sample stands for the time until the next one; before a gap (and for the last sample)
    it stands for one median interval, and the rest is gap. NaN samples stand for nothing.
    Time-weighted summaries (TWPI, mean LM, EMC time outside band) weight samples by these
    hours; cumulative models (MRF, VTT) advance by them; gaps advance nothing. Compliance is
    :func:`preservation.compliance.compliance` of the same series (an RH-only profile counts
    samples without a temperature).
    """
    _check_holdings(holdings)
    stamps, t, rh, times_h = prepare_series(times, t_c, rh_pct)
    valid = np.isfinite(t) & np.isfinite(rh)
    hours, gap_hours, threshold = sample_durations(times_h, valid, max_gap_h)

    sensitivity = SENSITIVITY_FOR_HOLDINGS[holdings]
    pi = preservation_index(t, rh)
    lm = lifetime_multiplier(t, rh)
    emc = wood_emc(t, rh)
    if mould is None:
        mrf, vtt = _integrate_mould(t, rh, hours, holdings, mrf_reset_after_hours)
    else:
        mrf, vtt = (np.atleast_1d(as_float_array(x)) for x in mould)
        if not (mrf.shape == vtt.shape == t.shape):
            raise ValueError(
                f"mould indices must have the series' shape {t.shape}, got {mrf.shape}, {vtt.shape}"
            )
    twpi_years = float(rate_average(pi, hours))
    own = get_profile(profile) if isinstance(profile, str) else profile
    asked = [get_profile(p) if isinstance(p, str) else p for p in standards]
    measured = measure_prepared(
        ([] if own is None else [own]) + asked, stamps, t, rh, times_h, max_gap_h
    )
    return RoomMetrics(
        times=stamps,
        t_c=t,
        rh_pct=rh,
        hours=hours,
        dew_point=dew_point(t, rh),
        frost_point=frost_point(t, rh),
        emc=emc,
        pi=pi,
        lifetime_multiplier=lm,
        days_to_mould=days_to_mould(t, rh),
        mrf=mrf,
        vtt_index=vtt,
        holdings=holdings,
        sensitivity=sensitivity,
        twpi=twpi_years,
        natural_aging=natural_aging_rating(twpi_years) if np.isfinite(twpi_years) else None,
        mean_lifetime_multiplier=float(rate_average(lm, hours)),
        mrf_max=_max_or_nan(mrf),
        mrf_last=float(mrf[-1]) if mrf.size else float("nan"),
        vtt_max=_max_or_nan(vtt),
        vtt_last=float(vtt[-1]) if vtt.size else float("nan"),
        emc_range=summarise_emc(emc, hours),
        covered_hours=float(np.sum(hours)),
        gap_hours=gap_hours,
        max_gap_h=threshold,
        compliance=None if own is None else measured[0],
        standards=measured[len(measured) - len(asked) :],
    )


def mould_indices(
    times: ArrayLike | Sequence[datetime],
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    *,
    holdings: Holdings | str = "paper",
    max_gap_h: float | None = None,
    mrf_reset_after_hours: float | None = 24.0,
) -> tuple[FloatArray, FloatArray]:
    """The cumulative Mould Risk Factor and VTT index of a series integrated from its start,
    without the other metrics: ``room_metrics(...).mrf`` and ``.vtt_index`` of the same
    arguments (a report takes the worst of a room's sensors' at each hour).

    Parameters are those of :func:`room_metrics`.
    """
    _check_holdings(holdings)
    _, t, rh, times_h = prepare_series(times, t_c, rh_pct)
    valid = np.isfinite(t) & np.isfinite(rh)
    hours, _, _ = sample_durations(times_h, valid, max_gap_h)
    return _integrate_mould(t, rh, hours, holdings, mrf_reset_after_hours)


def _check_holdings(holdings: str) -> None:
    if holdings not in SENSITIVITY_FOR_HOLDINGS:
        raise ValueError(
            f"unknown holdings {holdings!r}; expected one of {', '.join(SENSITIVITY_FOR_HOLDINGS)}"
        )


def _integrate_mould(
    t: FloatArray, rh: FloatArray, hours: FloatArray, holdings: str, reset_after: float | None
) -> tuple[FloatArray, FloatArray]:
    """MRF and VTT index advanced by each sample's hours from zero at the first sample."""
    mrf = mould_risk_factor(t, rh, hours, reset_after_hours=reset_after)
    vtt = vtt_mould_index(
        t,
        rh,
        hours,
        sensitivity=SENSITIVITY_FOR_HOLDINGS[holdings],
        decline=DECLINE_FOR_HOLDINGS[holdings],
    )
    return mrf, vtt


def _max_or_nan(x: FloatArray) -> float:
    return float(np.nanmax(x)) if x.size and np.any(np.isfinite(x)) else float("nan")


@dataclass(frozen=True, slots=True)
class FleetMetrics:
    """Metrics of many sensors on one time grid: 2-D arrays are (time, sensor), summaries are
    one value per sensor."""

    dew_point: FloatArray
    emc: FloatArray
    pi: FloatArray
    lifetime_multiplier: FloatArray
    days_to_mould: FloatArray
    mrf: FloatArray
    vtt_index: FloatArray
    twpi: FloatArray
    mrf_max: FloatArray
    vtt_max: FloatArray
    emc_min: FloatArray
    emc_max: FloatArray


def fleet_metrics(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike = 1.0,
    *,
    holdings: Holdings | str = "paper",
    mrf_reset_after_hours: float | None = 24.0,
) -> FleetMetrics:
    """Per-sample metrics and summaries for many sensors at once.

    ``t_c`` and ``rh_pct`` are (time, sensor) arrays on a shared grid; ``hours`` is the duration
    of each step (scalar or broadcastable). Same models as :func:`room_metrics`; no timestamps,
    gap detection or compliance — mark missing samples NaN.
    """
    t = as_float_array(t_c)
    rh = as_float_array(rh_pct)
    if t.ndim != 2 or t.shape != rh.shape:
        raise ValueError(f"t_c and rh_pct must be 2-D (time, sensor), got {t.shape}, {rh.shape}")
    h = np.broadcast_to(as_float_array(hours), t.shape)
    valid = np.isfinite(t) & np.isfinite(rh)
    h = np.where(valid, h, 0.0)
    sensitivity = SENSITIVITY_FOR_HOLDINGS[holdings]
    emc = wood_emc(t, rh)
    mrf = mould_risk_factor(t, rh, h, reset_after_hours=mrf_reset_after_hours)
    vtt = vtt_mould_index(t, rh, h, sensitivity=sensitivity, decline=DECLINE_FOR_HOLDINGS[holdings])
    with warnings.catch_warnings():
        # An all-NaN sensor's extremes are NaN, as meant.
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        emc_min = np.nanmin(emc, axis=0)
        emc_max = np.nanmax(emc, axis=0)
    return FleetMetrics(
        dew_point=dew_point(t, rh),
        emc=emc,
        pi=preservation_index(t, rh),
        lifetime_multiplier=lifetime_multiplier(t, rh),
        days_to_mould=days_to_mould(t, rh),
        mrf=mrf,
        vtt_index=vtt,
        twpi=twpi_along_time(t, rh, h),
        mrf_max=np.max(mrf, axis=0),
        vtt_max=np.max(vtt, axis=0),
        emc_min=emc_min,
        emc_max=emc_max,
    )
