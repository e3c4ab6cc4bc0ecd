"""Mould: IPI's days to germination and cumulative Mould Risk Factor, and the VTT (Hukka–Viitanen
/ Ojanen) mould growth index with growth and decline.

The two families answer different questions. IPI's metric asks "how close are spores on this
material to germinating?" (MRF ≥ 1: germination expected). The VTT index models visible growth
on a surface over months, including its slow retreat in dry spells (index 0–6).

References
----------
[1] Image Permanence Institute, Dew Point Calculator, http://www.dpcalc.org/dp.js: ``mold(t, rh)``
    returns 0 (no risk) when t > 45 °C, t < 2 °C or RH < 65 %, else a table of days to
    germination on whole °C and whole % RH (T 2–45 °C, RH 65–100 %), transcribed in
    `repoclimate.preservation.ipi_mould_table` from the ``preservationeval`` package
    (github.com/petter-b/preservationeval).
[2] Hukka, A. & Viitanen, H. (1999). A mathematical model of mould growth on wooden material.
    Wood Sci. Technol. 33, 475–485.
[3] Ojanen, T., Viitanen, H., Peuhkuri, R., Lähdesmäki, K., Vinha, J. & Salminen, K. (2010).
    Mold growth modeling of building structures using sensitivity classes of materials.
    Thermal Performance of the Exterior Envelopes of Whole Buildings XI, ASHRAE.
[4] ../shared/science/REFERENCE.md §4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike

from repoclimate.preservation._series import (
    FloatArray,
    as_float_array,
    elapsed_in_runs,
    scalar_or_array,
)
from repoclimate.preservation.ipi_mould_table import (
    IPI_DAYS_TO_MOULD,
    IPI_MOULD_RH_MIN_PCT,
    IPI_MOULD_T_MAX_C,
    IPI_MOULD_T_MIN_C,
)

# --- IPI days to mould -------------------------------------------------------------------------

MOULD_T_RANGE_C = (float(IPI_MOULD_T_MIN_C), float(IPI_MOULD_T_MAX_C))
MOULD_RH_MIN_PCT = float(IPI_MOULD_RH_MIN_PCT)
"""IPI's outer no-risk boundaries [1]: no germination below 65 % RH or outside 2…45 °C. Inside
them the no-risk threshold depends on temperature (see :func:`mould_rh_threshold`)."""

_DAYS_TABLE: FloatArray = np.array(IPI_DAYS_TO_MOULD, dtype=np.float64)
_DAYS_TABLE[_DAYS_TABLE == 0.0] = np.inf
_DAYS_TABLE.setflags(write=False)

MRF_GERMINATION = 1.0
"""MRF at which germination is expected."""
MRF_RESET_AFTER_HOURS = 24.0
"""Hours of no-risk conditions in a row after which the MRF restarts from 0 (see
:func:`mould_risk_factor`: from a public implementation, not from IPI)."""


def _js_round(x: FloatArray) -> FloatArray:
    """JavaScript ``Math.round``: to the nearest integer, halves up (towards +inf)."""
    result: FloatArray = np.floor(x + 0.5)
    return result


@overload
def days_to_mould(t_c: float, rh_pct: float) -> np.float64: ...
@overload
def days_to_mould(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray: ...
def days_to_mould(t_c: ArrayLike, rh_pct: ArrayLike) -> np.float64 | FloatArray:
    """Days until mould spores germinate at constant T and RH (IPI) [days]; inf where none.

    IPI's published table [1] (`repoclimate.preservation.ipi_mould_table`), read as IPI's Dew
    Point Calculator reads it: no risk when T > 45 °C, T < 2 °C or RH < 65 %; otherwise the
    value at T and RH rounded half up to whole degrees and percent, where the table's "no risk"
    cells (below the temperature-dependent threshold, see :func:`mould_rh_threshold`) are no
    risk. There is no interpolation between cells: IPI's calculator has none, and its cumulative
    Mould Risk Factor is built on these same step values.

    Agreement with IPI over the whole grid (2…45 °C × 65…100 %RH, 1584 cells, 1147 with risk):
    exact — median and worst ratio 1.0, no-risk cells agree in all 1584 (checked cell by cell in
    the tests). Shape: fastest germination around 25–34 °C, slower again towards 45 °C (not
    monotonic in T); the no-risk threshold is 90 % at 2 °C and 45 °C, 65–66 % near 24–31 °C;
    never rising with RH.

    Validity: inf (no risk) as above; NaN for NaN input or RH outside 0…100 %.

    Parameters
    ----------
    t_c : float or array_like
        Temperature [°C].
    rh_pct : float or array_like
        Relative humidity [%].

    Returns
    -------
    numpy.float64 or numpy.ndarray
        Days to germination; ``inf`` where IPI predicts none.

    References
    ----------
    [1] IPI Dew Point Calculator, dpcalc.org, ``dp.js`` ``mold(t, rh)``; table as transcribed in
        `repoclimate.preservation.ipi_mould_table`.
    """
    t, rh = np.broadcast_arrays(as_float_array(t_c), as_float_array(rh_pct))
    bad = ~np.isfinite(t) | ~np.isfinite(rh) | (rh < 0) | (rh > 100)
    inside = ~bad & (t >= MOULD_T_RANGE_C[0]) & (t <= MOULD_T_RANGE_C[1]) & (rh >= MOULD_RH_MIN_PCT)
    row = np.clip(_js_round(np.where(inside, t, 20.0)), IPI_MOULD_T_MIN_C, IPI_MOULD_T_MAX_C)
    col = np.clip(_js_round(np.where(inside, rh, 80.0)), IPI_MOULD_RH_MIN_PCT, 100)
    looked_up = _DAYS_TABLE[
        row.astype(np.intp) - IPI_MOULD_T_MIN_C, col.astype(np.intp) - IPI_MOULD_RH_MIN_PCT
    ]
    result = np.where(inside, looked_up, np.inf)
    return scalar_or_array(np.where(bad, np.nan, result))


@overload
def mould_rh_threshold(t_c: float) -> np.float64: ...
@overload
def mould_rh_threshold(t_c: ArrayLike) -> FloatArray: ...
def mould_rh_threshold(t_c: ArrayLike) -> np.float64 | FloatArray:
    """The RH [%] from which IPI predicts germination at temperature T: risk iff RH ≥ this.

    With the table read at RH rounded half up, the lowest whole percent with risk, RH_min,
    starts at RH_min − 0.5, never below 65 %: 89.5 % at 2 °C and 45 °C, 65.5 % at 24–31 °C
    (65 % at 28 °C). ``inf`` outside 2…45 °C (no risk at any RH), NaN for NaN.

    Parameters
    ----------
    t_c : float or array_like
        Temperature [°C].

    Returns
    -------
    numpy.float64 or numpy.ndarray
        Threshold RH [%].
    """
    t = as_float_array(t_c)
    inside = np.isfinite(t) & (t >= MOULD_T_RANGE_C[0]) & (t <= MOULD_T_RANGE_C[1])
    row = np.clip(_js_round(np.where(inside, t, 20.0)), IPI_MOULD_T_MIN_C, IPI_MOULD_T_MAX_C)
    first = _FIRST_RISK_RH[row.astype(np.intp) - IPI_MOULD_T_MIN_C]
    threshold = np.maximum(first - 0.5, MOULD_RH_MIN_PCT)
    result = np.where(inside, threshold, np.inf)
    return scalar_or_array(np.where(np.isnan(t), np.nan, result))


_FIRST_RISK_RH: FloatArray = IPI_MOULD_RH_MIN_PCT + np.argmax(
    np.isfinite(_DAYS_TABLE), axis=1
).astype(np.float64)
"""Per table row, the lowest whole RH [%] with risk (every row has some)."""


@dataclass(frozen=True, slots=True)
class MrfState:
    """Everything the Mould Risk Factor remembers between samples (a 1-D series).

    ``value`` is the MRF after the last sample; ``dry_hours`` the hours of no-risk conditions
    in the dry spell under way at its end (0 when the last sample carried risk), which the reset
    after ``reset_after_hours`` needs. NaN samples inside a spell neither add to it nor end it.
    """

    value: float = 0.0
    dry_hours: float = 0.0


@overload
def mould_risk_factor(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike,
    *,
    reset_after_hours: float | None = ...,
    initial: float = ...,
    state: MrfState | None = ...,
    return_state: Literal[False] = ...,
) -> FloatArray: ...
@overload
def mould_risk_factor(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike,
    *,
    reset_after_hours: float | None = ...,
    initial: float = ...,
    state: MrfState | None = ...,
    return_state: Literal[True],
) -> tuple[FloatArray, MrfState]: ...
def mould_risk_factor(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike,
    *,
    reset_after_hours: float | None = MRF_RESET_AFTER_HOURS,
    initial: float = 0.0,
    state: MrfState | None = None,
    return_state: bool = False,
) -> FloatArray | tuple[FloatArray, MrfState]:
    """IPI Mould Risk Factor accumulated over a series [–]; MRF ≥ 1 means germination expected.

    Each sample adds the fraction of the germination time it lasted::

        MRF(t) = Σ (hᵢ / 24) / days_to_mould(Tᵢ, RHᵢ)

    so a sample that lasts as long as its days-to-mould adds 1. ``hours`` (scalar or per
    sample) is the duration each sample stands for. Conditions with no risk add nothing; when
    they last ``reset_after_hours`` in a row (24 h by default) the spores are taken to have
    dried out and the MRF resets to 0. ``reset_after_hours=None`` never resets.

    At constant conditions the MRF reaches 1 after exactly IPI's days to germination (e.g. 14
    days at 20 °C / 80 %, 9 at 10 °C / 85 %; tested).

    Source of the reset rule: not IPI. IPI's eClimateNotebook documentation could not be
    reached; the 24-hour reset is the rule of public implementations of IPI's method (a
    GoRP/"growth over reading period" engine citing the IPI Dew Point Calculator). It is a
    parameter (``reset_after_hours``, default :data:`MRF_RESET_AFTER_HOURS`) so it can be
    changed when IPI's own wording is checked.

    NaN samples (no data) neither add risk nor count as dry time. Works along axis 0 for 2-D
    arrays (time × series).

    Integrating in pieces: ``state`` (an `MrfState`, 1-D series only) starts the series from
    the model's full memory — the value *and* the dry spell under way — and
    ``return_state=True`` also returns the state after the last sample. Integrating a series
    in one call or in consecutive chunks, each started from the state the previous one
    returned, gives the same values (to floating-point rounding), resets included. ``initial``
    (a starting value with no dry spell under way) is ``MrfState(initial)``; give one or the
    other.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, MrfState)
        MRF after each sample, same shape as the broadcast inputs (and the state after the last
        sample with ``return_state=True``).

    References
    ----------
    [1] IPI dpcalc.org dp.js; REFERENCE.md §4.
    """
    start = _start_state(state, initial, MrfState(initial))
    days = np.atleast_1d(as_float_array(days_to_mould(t_c, rh_pct)))
    if (state is not None or return_state) and days.ndim != 1:
        raise ValueError("state and return_state need a 1-D series")
    mrf, end_dry = _mrf(days, hours, start.value, start.dry_hours, reset_after_hours)
    if not return_state:
        return mrf
    if mrf.size == 0:
        return mrf, start
    return mrf, MrfState(float(mrf[-1]), float(end_dry))


def _mrf(
    days: FloatArray,
    hours: ArrayLike,
    value: float | FloatArray,
    dry_hours: float | FloatArray,
    reset_after_hours: float | None,
) -> tuple[FloatArray, FloatArray]:
    """`mould_risk_factor` along axis 0 from a starting ``value`` and ``dry_hours`` (scalars,
    or one per series): the MRF after each sample and, per series, the dry hours under way
    after the last sample."""
    h = np.broadcast_to(as_float_array(hours), days.shape).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        increment = np.where(np.isfinite(days) & (days > 0), h / 24.0 / days, 0.0)
    cumulative = np.cumsum(increment, axis=0)
    dry = np.isposinf(days)
    dry_or_unknown = dry | np.isnan(days)
    dry_hours_now = np.where(dry, h, 0.0)
    # NaN samples (no data) keep a dry spell going without adding to it; a spell under way
    # before the first sample (``state``) goes on in the leading run.
    leading = np.logical_and.accumulate(dry_or_unknown, axis=0)
    dry_hours_at_end = (
        elapsed_in_runs(dry_or_unknown, dry_hours_now)
        + dry_hours_now
        + np.where(leading, dry_hours, 0.0)
    )
    if reset_after_hours is None:
        mrf: FloatArray = cumulative + value
    else:
        reset = dry & (dry_hours_at_end >= reset_after_hours)
        base = np.maximum.accumulate(np.where(reset, cumulative, 0.0), axis=0)
        before_first_reset = ~np.maximum.accumulate(reset, axis=0)
        mrf = cumulative - base + np.where(before_first_reset, value, 0.0)
    if mrf.shape[0] == 0:
        return mrf, np.asarray(dry_hours, dtype=np.float64)
    end_dry: FloatArray = np.where(dry_or_unknown[-1], dry_hours_at_end[-1], 0.0)
    return mrf, end_dry


def mould_risk_factors(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike,
    states: Sequence[MrfState],
    *,
    reset_after_hours: float | None = MRF_RESET_AFTER_HOURS,
) -> tuple[FloatArray, list[MrfState]]:
    """`mould_risk_factor` of many series at once, each continued from its own state.

    ``t_c`` and ``rh_pct`` are (time × series); ``states`` has one `MrfState` per series.
    Column for column the same numbers as `mould_risk_factor` of each series with its state
    (the same operations along the time axis). Returns the MRF (time × series) and the state
    of each series after the last sample.
    """
    days = as_float_array(days_to_mould(t_c, rh_pct))
    if days.ndim != 2 or days.shape[1] != len(states):
        raise ValueError(f"need (time, series) inputs and one state per series, got {days.shape}")
    value = np.array([s.value for s in states], dtype=np.float64)
    dry = np.array([s.dry_hours for s in states], dtype=np.float64)
    mrf, end_dry = _mrf(days, hours, value, dry, reset_after_hours)
    if mrf.shape[0] == 0:
        return mrf, list(states)
    ends = [
        MrfState(v, d)
        for v, d in zip(
            mrf[-1].tolist(), np.broadcast_to(end_dry, value.shape).tolist(), strict=True
        )
    ]
    return mrf, ends


_S = TypeVar("_S")


def _start_state(state: _S | None, initial: float, from_initial: _S) -> _S:
    """The state a series starts from: ``state``, else the one ``initial`` stands for."""
    if state is not None and initial != 0.0:
        raise ValueError("give either state or initial, not both")
    return from_initial if state is None else state


# --- VTT mould index ---------------------------------------------------------------------------

Sensitivity = Literal["very_sensitive", "sensitive", "medium_resistant", "resistant"]


@dataclass(frozen=True, slots=True)
class VttClass:
    """Parameters of one mould sensitivity class of Ojanen et al. (2010), table 2 [3]."""

    k1_below_1: float
    """Growth-rate factor k₁ while M < 1."""
    k1_from_1: float
    """Growth-rate factor k₁ once M ≥ 1."""
    a: float
    b: float
    c: float
    """Coefficients of M_max."""
    rh_min_pct: float
    """Lowest RH at which growth is possible."""


SENSITIVITY_CLASSES: dict[Sensitivity, VttClass] = {
    "very_sensitive": VttClass(1.0, 2.0, 1.0, 7.0, 2.0, 80.0),
    "sensitive": VttClass(0.578, 0.386, 0.3, 6.0, 1.0, 80.0),
    "medium_resistant": VttClass(0.072, 0.097, 0.0, 5.0, 1.5, 85.0),
    "resistant": VttClass(0.033, 0.014, 0.0, 3.0, 1.0, 85.0),
}
"""Very sensitive: untreated pine sapwood. Sensitive: planed wood, paper-faced and wood-based
boards, paper. Medium resistant: cement- or plastic-based materials, mineral fibre. Resistant:
glass, metal, glazed or alkyd-painted surfaces (Ojanen et al. 2010 [3])."""

DECLINE_PINE = 1.0
DECLINE_SIGNIFICANT = 0.5
DECLINE_RELATIVELY_LOW = 0.25
DECLINE_ALMOST_NONE = 0.1
"""Relative decline coefficients C_mat of Ojanen et al. (2010) [3]; 1 is the pine reference."""

VTT_T_RANGE_C = (0.0, 50.0)
_DECLINE_FIRST_6H_PER_H = 0.032 / 24.0
_DECLINE_AFTER_24H_PER_H = 0.016 / 24.0


def critical_rh(t_c: ArrayLike, sensitivity: Sensitivity = "sensitive") -> FloatArray:
    """RH_crit of the VTT model [%]: the RH above which mould can grow at temperature T.

    ``RH_crit = max(−0.00267·T³ + 0.160·T² − 3.13·T + 100, RH_min)`` for 0 < T < 50 °C, 100
    (no growth) elsewhere. The polynomial is Hukka & Viitanen's [2]; it reaches 80 % at
    20 °C and RH_min is 80 % (very sensitive, sensitive) or 85 % (medium resistant, resistant)
    [3]. Sources disagree on the rule for the two resistant classes: the text of [3] (and
    REFERENCE.md) writes the polynomial for T ≤ 20 °C and RH_min above, which for RH_min = 85 %
    would let growth start at 80 % below 20 °C yet need 85 % above it; VTT-affiliated
    implementations (Laukkarinen's, Tampere University) take the maximum of the two, as here.
    For the 80 % classes the two readings differ by less than 0.1 % RH.
    """
    t = as_float_array(t_c)
    cls = SENSITIVITY_CLASSES[sensitivity]
    poly = -0.00267 * t**3 + 0.160 * t**2 - 3.13 * t + 100.0
    inside = (t > VTT_T_RANGE_C[0]) & (t < VTT_T_RANGE_C[1])
    result: FloatArray = np.where(inside, np.maximum(poly, cls.rh_min_pct), 100.0)
    return result


@dataclass(frozen=True, slots=True)
class VttState:
    """Everything the VTT model remembers between samples (a 1-D series).

    ``index`` is M after the last sample; ``hours_unfavourable`` the hours since conditions
    last turned unfavourable (0 when the last sample was favourable), which sets the phase of
    the decline (first 6 h, 6–24 h, beyond 24 h). NaN samples do not advance it.
    """

    index: float = 0.0
    hours_unfavourable: float = 0.0


@overload
def vtt_mould_index(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike = ...,
    *,
    sensitivity: Sensitivity = ...,
    surface_quality: float = ...,
    wood_species: float = ...,
    decline: float = ...,
    initial: float = ...,
    state: VttState | None = ...,
    return_state: Literal[False] = ...,
) -> FloatArray: ...
@overload
def vtt_mould_index(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike = ...,
    *,
    sensitivity: Sensitivity = ...,
    surface_quality: float = ...,
    wood_species: float = ...,
    decline: float = ...,
    initial: float = ...,
    state: VttState | None = ...,
    return_state: Literal[True],
) -> tuple[FloatArray, VttState]: ...
def vtt_mould_index(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike = 1.0,
    *,
    sensitivity: Sensitivity = "sensitive",
    surface_quality: float = 0.0,
    wood_species: float = 0.0,
    decline: float = DECLINE_PINE,
    initial: float = 0.0,
    state: VttState | None = None,
    return_state: bool = False,
) -> FloatArray | tuple[FloatArray, VttState]:
    """VTT mould growth index M (0–6) over a series, with growth and decline.

    Hukka & Viitanen's model [2] with the material sensitivity classes of Ojanen et al. [3].
    While conditions are favourable (RH ≥ RH_crit, see :func:`critical_rh`, and 0 < T < 50 °C),
    with t in days::

        dM/dt = k₁·k₂ / (7·exp(−0.68·ln T − 13.9·ln RH + 0.14·W − 0.33·SQ + 66.02))
        k₂    = max(1 − exp(2.3·(M − M_max)), 0)
        M_max = A + B·x − C·x²,   x = (RH_crit − RH)/(RH_crit − 100)   (floored at 0)

    k₁ is the class's value for M < 1 or M ≥ 1. In unfavourable conditions M declines with the
    time since they began: −0.032/day (= −0.00133/h) for the first 6 h, 0 from 6 h to 24 h,
    −0.016/day (= −0.000667/h) beyond 24 h, each times C_mat (``decline``); M never goes below 0.
    Both public implementations we checked (Laukkarinen, Tampere University; RIBuild/Delphin,
    Kongsgaard) use these decline constants. (RIBuild also applies the daily growth rate per
    hourly step without dividing by 24; we follow the paper and Laukkarinen: the rate is per
    day.)

    Hourly steps are the model's design. Longer or irregular steps (``hours`` per sample) are
    integrated in one Euler step each, with growth stopped at M_max, so the index stays within
    0…M_max ≤ 6 whatever the step. NaN samples leave M unchanged and do not advance the dry-time
    clock.

    Parameters
    ----------
    t_c, rh_pct : array_like
        Surface (or air) temperature [°C] and relative humidity [%], 1-D (time) or 2-D
        (time × series).
    hours : float or array_like
        Duration each sample stands for [h]; 1 by default.
    sensitivity : {"very_sensitive", "sensitive", "medium_resistant", "resistant"}
        Ojanen's class. Paper and board are usually taken as "sensitive".
    surface_quality : float
        SQ: 0 sawn/resawn surface (worst case), 1 kiln-dried original surface [2]. 0 for
        non-wood materials (as in [3]).
    wood_species : float
        W: 0 pine, 1 spruce [2]. 0 for non-wood materials.
    decline : float
        C_mat: 1 pine reference, 0.5 significant, 0.25 relatively low, 0.1 almost no decline.
    initial : float
        Index before the first sample, with favourable conditions just ended (the decline's
        first 6 h ahead): ``VttState(initial)``. Give this or ``state``.
    state : VttState, optional
        The full state before the first sample (1-D series only): the index and the hours
        since conditions turned unfavourable.
    return_state : bool
        Also return the `VttState` after the last sample. Integrating a series in one call or
        in consecutive chunks, each started from the state the previous one returned, gives
        the same indices (to floating-point rounding), decline phases included.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, VttState)
        M after each sample, shape of the broadcast inputs (and the state after the last
        sample with ``return_state=True``).

    References
    ----------
    [2] Hukka & Viitanen (1999), Wood Sci. Technol. 33, 475–485.
    [3] Ojanen et al. (2010), Buildings XI.
    """
    start_state = _start_state(state, initial, VttState(initial))
    t = as_float_array(t_c)
    rh = as_float_array(rh_pct)
    t, rh = np.broadcast_arrays(np.atleast_1d(t), np.atleast_1d(rh))
    if (state is not None or return_state) and t.ndim != 1:
        raise ValueError("state and return_state need a 1-D series")
    m, unfavourable = _vtt(
        t, rh, hours, sensitivity, surface_quality, wood_species, decline,
        start_state.index, start_state.hours_unfavourable,
    )  # fmt: skip
    if not return_state:
        return m
    if m.size == 0:
        return m, start_state
    return m, VttState(float(m[-1]), float(unfavourable))


def _vtt(
    t: FloatArray,
    rh: FloatArray,
    hours: ArrayLike,
    sensitivity: Sensitivity,
    surface_quality: float,
    wood_species: float,
    decline: float,
    index: float | FloatArray,
    hours_unfavourable: float | FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """`vtt_mould_index` along axis 0 from a starting ``index`` and ``hours_unfavourable``
    (scalars, or one per series): M after each sample and, per series, the hours since
    conditions turned unfavourable after the last sample."""
    cls = SENSITIVITY_CLASSES[sensitivity]
    h = np.broadcast_to(as_float_array(hours), t.shape).astype(np.float64)
    valid = np.isfinite(t) & np.isfinite(rh) & np.isfinite(h)

    rh_crit = critical_rh(t, sensitivity)
    grows = valid & (rh >= rh_crit) & (t > VTT_T_RANGE_C[0]) & (t < VTT_T_RANGE_C[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(grows, (rh_crit - rh) / (rh_crit - 100.0), 0.0)
        m_max = np.maximum(cls.a + cls.b * x - cls.c * x**2, 0.0)
        exponent = (
            -0.68 * np.log(np.where(grows, t, 1.0))
            - 13.9 * np.log(np.where(grows, rh, 1.0))
            + 0.14 * wood_species
            - 0.33 * surface_quality
            + 66.02
        )
        growth_base = np.where(grows, h / 24.0 / (7.0 * np.exp(exponent)), 0.0)

    dry = valid & ~grows
    # The dry-time clock runs through NaN samples without advancing (no data, no evidence); an
    # unfavourable spell under way before the first sample (``state``) goes on in the leading run.
    leading = np.logical_and.accumulate(~grows, axis=0)
    start = elapsed_in_runs(~grows, np.where(dry, h, 0.0)) + np.where(
        leading, hours_unfavourable, 0.0
    )
    end = start + h
    first = np.clip(np.minimum(end, 6.0) - start, 0.0, None)
    late = np.clip(end - np.maximum(start, 24.0), 0.0, None)
    fall = np.where(
        dry, decline * (_DECLINE_FIRST_6H_PER_H * first + _DECLINE_AFTER_24H_PER_H * late), 0.0
    )

    if t.ndim == 1:
        m = _integrate_1d(grows, growth_base, m_max, fall, cls, float(index))
    else:
        m = _integrate_nd(grows, growth_base, m_max, fall, cls, index)
    if m.shape[0] == 0:
        return m, np.asarray(hours_unfavourable, dtype=np.float64)
    unfavourable: FloatArray = np.where(grows[-1], 0.0, start[-1] + np.where(dry[-1], h[-1], 0.0))
    return m, unfavourable


def vtt_mould_indices(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    hours: ArrayLike,
    states: Sequence[VttState],
    *,
    sensitivity: Sensitivity = "sensitive",
    decline: float = DECLINE_PINE,
) -> tuple[FloatArray, list[VttState]]:
    """`vtt_mould_index` of many series at once (time × series), each continued from its own
    state (``states``, one per series), for non-wood materials (SQ = W = 0).

    The same model step by step; the numbers agree with `vtt_mould_index` of each series to
    floating-point rounding (its 1-D path integrates declines as running sums). Returns M
    (time × series) and each series' state after the last sample.
    """
    t, rh = np.broadcast_arrays(as_float_array(t_c), as_float_array(rh_pct))
    if t.ndim != 2 or t.shape[1] != len(states):
        raise ValueError(f"need (time, series) inputs and one state per series, got {t.shape}")
    index = np.array([s.index for s in states], dtype=np.float64)
    unfav = np.array([s.hours_unfavourable for s in states], dtype=np.float64)
    m, unfavourable = _vtt(t, rh, hours, sensitivity, 0.0, 0.0, decline, index, unfav)
    if m.shape[0] == 0:
        return m, list(states)
    ends = [
        VttState(i, u)
        for i, u in zip(
            m[-1].tolist(), np.broadcast_to(unfavourable, index.shape).tolist(), strict=True
        )
    ]
    return m, ends


def _integrate_1d(
    grows: np.ndarray,
    growth_base: FloatArray,
    m_max: FloatArray,
    fall: FloatArray,
    cls: VttClass,
    initial: float,
) -> FloatArray:
    # Growth depends on M step by step, so growth steps are integrated one at a time in plain
    # floats (a NumPy call per step would cost more than its arithmetic). Between them M can only
    # fall by the precomputed declines, floored at 0: each dry spell is one vectorised step.
    out = np.empty(grows.shape, dtype=np.float64)
    steps = np.flatnonzero(grows)
    fall_before = np.concatenate(([0.0], np.cumsum(fall)))  # fall before step i: [i]
    k1a, k1b = cls.k1_below_1, cls.k1_from_1
    exp = math.exp
    m = float(initial)
    pos = 0
    for g, base, cap in zip(
        steps.tolist(), growth_base[steps].tolist(), m_max[steps].tolist(), strict=True
    ):
        if g > pos:
            m = _decline(out, m, pos, g, fall_before)
        if m < cap:
            k2 = 1.0 - exp(2.3 * (m - cap))
            m += base * (k1a if m < 1.0 else k1b) * k2
            if m > cap:
                m = cap
        out[g] = m
        pos = g + 1
    if pos < out.size:
        _decline(out, m, pos, out.size, fall_before)
    return out


def _decline(out: FloatArray, m: float, first: int, stop: int, fall_before: FloatArray) -> float:
    """Fill ``out[first:stop]`` with a dry spell's declining index; return the last value."""
    if m <= 0.0:
        out[first:stop] = 0.0
        return 0.0
    spell = np.maximum(m - (fall_before[first + 1 : stop + 1] - fall_before[first]), 0.0)
    out[first:stop] = spell
    return float(spell[-1])


def _integrate_nd(
    grows: np.ndarray,
    growth_base: FloatArray,
    m_max: FloatArray,
    fall: FloatArray,
    cls: VttClass,
    initial: float | FloatArray,
) -> FloatArray:
    out = np.empty(grows.shape, dtype=np.float64)
    m = np.broadcast_to(np.asarray(initial, dtype=np.float64), grows.shape[1:]).copy()
    for i in range(grows.shape[0]):
        cap = m_max[i]
        k1 = np.where(m < 1.0, cls.k1_below_1, cls.k1_from_1)
        k2 = np.maximum(1.0 - np.exp(2.3 * (m - cap)), 0.0)
        grown = np.where(m < cap, np.minimum(m + growth_base[i] * k1 * k2, cap), m)
        m = np.where(grows[i], grown, np.maximum(m - fall[i], 0.0))
        out[i] = m
    return out
