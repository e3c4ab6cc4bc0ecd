"""Climate profiles (the numbers of the standards archives are held to) and compliance of a room's
series against a profile.

A profile is data: a band for temperature and RH, an allowance for short-term fluctuations
around the running mean, and an allowance for the seasonal drift of that mean away from the
room's set point (its average over the series). :func:`compliance` measures a series against it:
time in band, each short-term breach (start, end, size), each band excursion, and the seasonal
drift — time-weighted for irregular sampling, with gaps reported and counted neither in nor out
of band.

How a series is split (one decomposition for every profile)::

    reading = set point + seasonal drift + short-term fluctuation

- set point: the time-weighted mean of the series (ASHRAE's "annual average" when the series is
  a year);
- seasonal cycle: centred, time-weighted moving average over ``seasonal_window_h`` (30 days, the
  EN 15757 definition); seasonal drift = seasonal cycle − set point;
- short-term fluctuation: reading − centred moving average over ``short_term_window_h`` (24 h
  for standards that limit *daily* fluctuation, 30 days for ASHRAE and EN 15757, whose
  short-term fluctuations are everything faster than the seasonal cycle).

Each profile says where its numbers come from (``source``) and whether they were confirmed
against the standard or an authoritative summary of it while this module was written
(``verified``); ``notes`` say how ranges were derived and what could not be confirmed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from repoclimate.preservation._series import (
    NS_PER_HOUR,
    BoolArray,
    FloatArray,
    IntArray,
    TimeArray,
    as_float_array,
    check_increasing,
    hours_since_start,
    moving_average,
    prepare_series,
    sample_durations,
    to_datetime64,
)

INF = math.inf
DAY_H = 24.0
MONTH_H = 30.0 * 24.0

Method = Literal["fixed", "historic"]
Quantity = Literal["t", "rh"]
ExcursionKind = Literal["short_term", "band"]


@dataclass(frozen=True, slots=True)
class Profile:
    """A climate specification: band, short-term and seasonal allowances, and its source.

    Limits not set by the standard are open (±inf for temperature, 0/100 for RH, ``None`` for
    allowances).
    """

    id: str
    name: str
    source: str
    t_min_c: float = -INF
    t_max_c: float = INF
    rh_min_pct: float = 0.0
    rh_max_pct: float = 100.0
    short_term_t_k: float | None = None
    """Largest allowed |T − running mean| [K]."""
    short_term_rh_pct: float | None = None
    """Largest allowed |RH − running mean| [% RH]."""
    short_term_window_h: float = DAY_H
    """Length of the centred running mean short-term fluctuations are measured from [h]."""
    seasonal_t_up_k: float | None = None
    seasonal_t_down_k: float | None = None
    seasonal_rh_pct: float | None = None
    """Largest allowed drift of the seasonal cycle from the set point [K, K, % RH]."""
    seasonal_window_h: float = MONTH_H
    method: Method = "fixed"
    """"fixed": the band above. "historic": EN 15757 — the band comes from the room's own
    (or a reference period's) fluctuations."""
    verified: bool = False
    notes: str = ""

    @property
    def has_temperature_rules(self) -> bool:
        """Whether any limit of this profile concerns temperature."""
        return (
            math.isfinite(self.t_min_c)
            or math.isfinite(self.t_max_c)
            or self.short_term_t_k is not None
            or self.seasonal_t_up_k is not None
            or self.seasonal_t_down_k is not None
        )

    @property
    def has_seasonal_rules(self) -> bool:
        """Whether the profile limits the seasonal drift of T or RH."""
        return (
            self.seasonal_t_up_k is not None
            or self.seasonal_t_down_k is not None
            or self.seasonal_rh_pct is not None
        )


_ASHRAE = (
    "ASHRAE Handbook—HVAC Applications (2019), ch. 24 'Museums, Galleries, Archives, and "
    "Libraries', table 3 (control classes)"
)
_ASHRAE_DERIVATION = (
    "Set point (annual average) 50 % RH and 15–25 °C. Band = set-point range widened by the "
    "seasonal and short-term allowances, capped by the class's absolute limits. "
)
_JGJ25 = "JGJ 25-2010 Code for design of archives buildings (China), §5.2"
_JGJ25_DAILY = "§5.2.3: once set, daily variation within ±2 °C and ±5 % RH."

PROFILES: dict[str, Profile] = {
    p.id: p
    for p in (
        Profile(
            id="ashrae-aa",
            name="ASHRAE class AA (precision control, no seasonal RH change)",
            source=_ASHRAE,
            t_min_c=15.0 - 5.0 - 2.0,
            t_max_c=25.0 + 5.0 + 2.0,
            rh_min_pct=45.0,
            rh_max_pct=55.0,
            short_term_t_k=2.0,
            short_term_rh_pct=5.0,
            short_term_window_h=MONTH_H,
            seasonal_t_up_k=5.0,
            seasonal_t_down_k=5.0,
            seasonal_rh_pct=5.0,
            verified=True,
            notes=_ASHRAE_DERIVATION + "Short-term ±5 % RH, ±2 K; seasonal T +5/−5 K. ASHRAE "
            "allows no seasonal RH change: the seasonal cycle may only wander within the "
            "short-term ±5 % band (a larger drift can only be a seasonal set-point change).",
        ),
        Profile(
            id="ashrae-as",
            name="ASHRAE class As (precision control, seasonal changes)",
            source=_ASHRAE,
            t_min_c=15.0 - 10.0 - 2.0,
            t_max_c=25.0 + 5.0 + 2.0,
            rh_min_pct=35.0,
            rh_max_pct=65.0,
            short_term_t_k=2.0,
            short_term_rh_pct=5.0,
            short_term_window_h=MONTH_H,
            seasonal_t_up_k=5.0,
            seasonal_t_down_k=10.0,
            seasonal_rh_pct=10.0,
            verified=True,
            notes=_ASHRAE_DERIVATION + "Short-term ±5 % RH, ±2 K; seasonal RH ±10 %, T +5/−10 K.",
        ),
        Profile(
            id="ashrae-a",
            name="ASHRAE class A (small fluctuations)",
            source=_ASHRAE,
            t_min_c=15.0 - 10.0 - 2.0,
            t_max_c=25.0 + 5.0 + 2.0,
            rh_min_pct=40.0,
            rh_max_pct=60.0,
            short_term_t_k=2.0,
            short_term_rh_pct=10.0,
            short_term_window_h=MONTH_H,
            seasonal_t_up_k=5.0,
            seasonal_t_down_k=10.0,
            seasonal_rh_pct=10.0,
            verified=True,
            notes=_ASHRAE_DERIVATION + "Encodes ASHRAE's first option for A: short-term ±10 % "
            "RH, ±2 K, no seasonal RH change (the seasonal cycle stays within the short-term "
            "band), T +5/−10 K. The second option (short-term ±5 % RH, ±2 K, seasonal ±10 %, "
            "T +5/−10 K) has exactly the numbers of class As: measure such rooms against "
            "'ashrae-as'.",
        ),
        Profile(
            id="ashrae-b",
            name="ASHRAE class B (moderate fluctuations)",
            source=_ASHRAE,
            t_max_c=30.0,
            rh_min_pct=30.0,
            rh_max_pct=70.0,
            short_term_t_k=5.0,
            short_term_rh_pct=10.0,
            short_term_window_h=MONTH_H,
            seasonal_t_up_k=10.0,
            seasonal_t_down_k=INF,
            seasonal_rh_pct=10.0,
            verified=True,
            notes=_ASHRAE_DERIVATION + "Short-term ±10 % RH, ±5 K; seasonal RH ±10 %, T +10 K "
            "but not above 30 °C, down as far as needed to hold RH (no lower limit).",
        ),
        Profile(
            id="ashrae-c",
            name="ASHRAE class C (prevent all high-risk extremes)",
            source=_ASHRAE,
            t_max_c=30.0,
            rh_min_pct=25.0,
            rh_max_pct=75.0,
            verified=True,
            notes="RH within 25–75 % year-round; T rarely over 30 °C, usually below 25 °C (the "
            "band uses 30 °C). No short-term or seasonal rule.",
        ),
        Profile(
            id="ashrae-d",
            name="ASHRAE class D (prevent dampness)",
            source=_ASHRAE,
            rh_max_pct=75.0,
            verified=True,
            notes="RH reliably below 75 %. No temperature rule.",
        ),
        Profile(
            id="ashrae-cool",
            name="ASHRAE cool storage (chemically unstable collections)",
            source=_ASHRAE,
            t_min_c=8.0,
            t_max_c=16.0,
            rh_min_pct=30.0,
            rh_max_pct=50.0,
            verified=False,
            notes="NOT CONFIRMED: ASHRAE's cool-storage numbers (about 8–16 °C, 30–50 % RH) are "
            "from memory of the handbook table; the table could not be consulted.",
        ),
        Profile(
            id="ashrae-cold",
            name="ASHRAE cold storage (chemically unstable collections)",
            source=_ASHRAE,
            t_min_c=-20.0,
            t_max_c=4.0,
            rh_min_pct=30.0,
            rh_max_pct=50.0,
            verified=False,
            notes="NOT CONFIRMED: ASHRAE's cold-storage numbers (about −20…+4 °C, 30–50 % RH) "
            "are from memory of the handbook table; the table could not be consulted.",
        ),
        Profile(
            id="en15757",
            name="EN 15757 historic climate (RH)",
            source="EN 15757:2010 Conservation of cultural property — Specifications for "
            "temperature and relative humidity to limit climate-induced physical damage in "
            "organic hygroscopic materials",
            short_term_rh_pct=10.0,
            short_term_window_h=MONTH_H,
            method="historic",
            verified=True,
            notes="Seasonal cycle = 30-day centred moving average of RH; short-term fluctuation "
            "= RH − that average; the acceptable band is the 7th–93rd percentile of the "
            "historic fluctuations, widened to ±10 % RH where narrower (short_term_rh_pct is "
            "that minimum half-width). The historic period is the series itself unless a "
            "reference period is given. The standard bounds the seasonal cycle by the "
            "historic one; we could not confirm a universal numeric seasonal limit, so none is "
            "applied (the seasonal drift is reported). Temperature is not assessed.",
        ),
        Profile(
            id="iso11799-paper",
            name="ISO 11799 storage of paper",
            source="ISO 11799 Information and documentation — Document storage requirements "
            "for archive and library materials (2003, annex B table B.1; retained in 2015)",
            t_min_c=2.0,
            t_max_c=18.0,
            rh_min_pct=30.0,
            rh_max_pct=45.0,
            short_term_t_k=1.0,
            short_term_rh_pct=3.0,
            verified=False,
            notes="NOT CONFIRMED against the standard's text: 2–18 °C, 30–45 % RH with daily "
            "fluctuation ±1 °C and ±3 % RH are the figures of ISO 11799:2003 table B.1 for "
            "paper as commonly cited; the 2015 edition could not be consulted.",
        ),
        Profile(
            id="bs4971",
            name="BS 4971 archive and library storage",
            source="BS 4971:2017 Conservation and care of archive and library collections "
            "(supersedes PD 5454:2012 together with BS EN 16893:2018)",
            t_min_c=13.0,
            t_max_c=20.0,
            rh_min_pct=35.0,
            rh_max_pct=60.0,
            verified=False,
            notes="NOT CONFIRMED against the standard's text: 13–20 °C and 35–60 % RH for mixed "
            "archive collections are the PD 5454:2012 ranges BS 4971:2017 carried forward, as "
            "cited in secondary sources. The standard asks for stable conditions; no numeric "
            "short-term limit could be confirmed, so none is applied.",
        ),
        Profile(
            id="pas198",
            name="PAS 198 / Bizot interim guidelines (mixed collections)",
            source="PAS 198:2012 Specification for managing environmental conditions for "
            "cultural collections (BSI); Bizot Group Green Protocol (2014)",
            t_min_c=16.0,
            t_max_c=25.0,
            rh_min_pct=40.0,
            rh_max_pct=60.0,
            short_term_rh_pct=10.0,
            verified=True,
            notes="PAS 198 deliberately sets no universal range: it asks each collection's "
            "needs to be specified (The National Archives, who led it). This profile encodes "
            "the interim guideline that grew out of that approach (Bizot Green Protocol, "
            "adopted by AICCM/IIC/ICOM-CC): stable RH in 40–60 %, stable T in 16–25 °C, RH "
            "fluctuation no more than ±10 % in 24 h. Use a specific profile where one applies.",
        ),
        Profile(
            id="en16893",
            name="EN 16893 heritage storage buildings (with BS 4971 ranges)",
            source="EN 16893:2018 Conservation of cultural heritage — Specifications for "
            "location, construction and modification of buildings or rooms intended for the "
            "storage or use of heritage collections",
            t_min_c=13.0,
            t_max_c=20.0,
            rh_min_pct=35.0,
            rh_max_pct=60.0,
            verified=False,
            notes="EN 16893 specifies the building, not T/RH ranges for materials (confirmed: "
            "museumsandheritage.com on the draft). This profile applies the ranges of its UK "
            "companion BS 4971:2017 (see 'bs4971', NOT CONFIRMED).",
        ),
        Profile(
            id="jgj25-paper",
            name="JGJ 25 paper archive stacks (纸质档案库)",
            source=_JGJ25 + ", table 5.2.1",
            t_min_c=14.0,
            t_max_c=24.0,
            rh_min_pct=45.0,
            rh_max_pct=60.0,
            short_term_t_k=2.0,
            short_term_rh_pct=5.0,
            verified=True,
            notes="14–24 °C, 45–60 % RH. " + _JGJ25_DAILY,
        ),
        Profile(
            id="jgj25-special",
            name="JGJ 25 special collections stacks (特藏库)",
            source=_JGJ25 + ", table 5.2.2",
            t_min_c=14.0,
            t_max_c=20.0,
            rh_min_pct=45.0,
            rh_max_pct=55.0,
            short_term_t_k=2.0,
            short_term_rh_pct=5.0,
            verified=True,
            notes="14–20 °C, 45–55 % RH. " + _JGJ25_DAILY,
        ),
        Profile(
            id="jgj25-magnetic",
            name="JGJ 25 audio-visual / magnetic tape stacks (音像磁带库)",
            source=_JGJ25 + ", table 5.2.2",
            t_min_c=14.0,
            t_max_c=24.0,
            rh_min_pct=40.0,
            rh_max_pct=60.0,
            short_term_t_k=2.0,
            short_term_rh_pct=5.0,
            verified=True,
            notes="14–24 °C, 40–60 % RH. " + _JGJ25_DAILY,
        ),
        Profile(
            id="jgj25-film",
            name="JGJ 25 film stacks, masters (胶片库 母片)",
            source=_JGJ25 + ", table 5.2.2",
            t_min_c=13.0,
            t_max_c=15.0,
            rh_min_pct=35.0,
            rh_max_pct=45.0,
            short_term_t_k=2.0,
            short_term_rh_pct=5.0,
            verified=True,
            notes="Master film: 13–15 °C, 35–45 % RH. " + _JGJ25_DAILY,
        ),
        Profile(
            id="jgj25-film-copy",
            name="JGJ 25 film stacks, copies (胶片库 拷贝片)",
            source=_JGJ25 + ", table 5.2.2",
            t_min_c=14.0,
            t_max_c=24.0,
            rh_min_pct=40.0,
            rh_max_pct=60.0,
            short_term_t_k=2.0,
            short_term_rh_pct=5.0,
            verified=True,
            notes="Copy film: 14–24 °C, 40–60 % RH. " + _JGJ25_DAILY,
        ),
        Profile(
            id="film-cold",
            name="Cold storage of safety film (cellulose ester)",
            source="ISO 18911:2010 Imaging materials — Processed safety photographic films — "
            "Storage practices (extended-term storage)",
            t_max_c=2.0,
            rh_min_pct=20.0,
            rh_max_pct=50.0,
            short_term_t_k=2.0,
            short_term_rh_pct=5.0,
            verified=False,
            notes="NOT CONFIRMED against the standard's text: extended-term storage of "
            "cellulose-ester film at ≤ 2 °C and 20–50 % RH with ±2 K / ±5 % RH daily "
            "variation, as commonly cited. No lower temperature limit (frozen storage is "
            "better still).",
        ),
    )
}
"""All profiles by id."""


class UnknownProfileError(KeyError):
    """A profile id that is not in :data:`PROFILES`; the message lists the valid ids."""

    def __init__(self, profile_id: str) -> None:
        self.profile_id = profile_id
        super().__init__(
            f"unknown climate profile {profile_id!r}; valid ids: {', '.join(sorted(PROFILES))}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


def get_profile(profile_id: str) -> Profile:
    """The profile with this id; raises :class:`UnknownProfileError` (a ``KeyError``)."""
    try:
        return PROFILES[profile_id]
    except KeyError:
        raise UnknownProfileError(profile_id) from None


# --- compliance -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Excursion:
    """One continuous spell outside a limit.

    ``peak`` is the signed worst value: for a short-term breach the deviation from the running
    mean [K or % RH]; for a band excursion the distance beyond the band limit (+ above the upper
    limit, − below the lower one). ``end`` is the end of the last sample's interval.
    """

    kind: ExcursionKind
    quantity: Quantity
    start: np.datetime64
    end: np.datetime64
    peak: float
    limit: float

    @property
    def hours(self) -> float:
        """Duration of the excursion [h]."""
        return float((self.end - self.start) / np.timedelta64(1, "h"))


@dataclass(frozen=True, slots=True)
class SeasonalDrift:
    """How far the seasonal cycle (30-day mean) wandered from the set point (series mean)."""

    t_up_k: float
    t_down_k: float
    rh_up_pct: float
    rh_down_pct: float
    allowed_t_up_k: float | None
    allowed_t_down_k: float | None
    allowed_rh_pct: float | None
    within: bool | None
    """True/False against the profile's seasonal allowances; None when it has none."""
    span_days: float
    """Length of the series; a seasonal judgement needs months, ideally a year."""


@dataclass(frozen=True, slots=True)
class Compliance:
    """A series measured against a profile. Percentages are of the covered (non-gap) time."""

    profile_id: str
    covered_hours: float
    gap_hours: float
    gap_pct: float
    """Gap share of the whole span (covered + gap) [%]."""
    time_in_band_pct: float
    time_out_of_band_pct: float
    too_cold_pct: float
    too_warm_pct: float
    too_dry_pct: float
    too_damp_pct: float
    mean_t_c: float
    mean_rh_pct: float
    short_term_breaches: tuple[Excursion, ...]
    band_excursions: tuple[Excursion, ...]
    seasonal: SeasonalDrift
    historic_band_pct: tuple[float, float] | None
    """EN 15757: the acceptable band of RH fluctuation (low, high) [% RH]; None otherwise."""


def compliance(
    profile: Profile | str,
    times: ArrayLike | Sequence[datetime],
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    *,
    max_gap_h: float | None = None,
    reference: tuple[ArrayLike | Sequence[datetime], ArrayLike] | None = None,
) -> Compliance:
    """Measure a room's series against a climate profile.

    Parameters
    ----------
    profile : Profile or str
        The profile or its id.
    times : array of datetime64 or sequence of aware datetimes
        Sample times, strictly increasing, irregular spacing allowed.
    t_c, rh_pct : array_like
        Temperature [°C] and relative humidity [%] per sample; NaN for a missing value.
    max_gap_h : float, optional
        A silence longer than this is a gap [h]; default ``max(3 × median spacing, 2 h)``.
        Each sample counts for the time until the next one (one median spacing before a gap
        and for the last sample); gap time and NaN samples count neither in nor out of band.
    reference : (times, rh_pct), optional
        EN 15757 only: the historic period whose fluctuations define the band; the series
        itself by default.

    Returns
    -------
    Compliance
        Time in band and its complement (summing to 100 % of covered time), time too
        cold/warm/dry/damp, gap total, each short-term breach and band excursion with start,
        end and peak, and the seasonal drift against the profile's allowances.
    """
    prof = get_profile(profile) if isinstance(profile, str) else profile
    stamps, t, rh, times_h = prepare_series(times, t_c, rh_pct)
    valid = np.isfinite(rh) & (np.isfinite(t) | (not prof.has_temperature_rules))
    hours, gap_hours, threshold = sample_durations(times_h, valid, max_gap_h)
    gap_after = np.append(np.diff(times_h) > threshold, False)
    ref = None if reference is None else _reference_fluctuations(prof, reference, max_gap_h)
    return _measure(prof, stamps, times_h, t, rh, hours, gap_after, gap_hours, ref)


def _measure(
    prof: Profile,
    stamps: TimeArray,
    times_h: FloatArray,
    t: FloatArray,
    rh: FloatArray,
    hours: FloatArray,
    gap_after: BoolArray,
    gap_hours: float,
    reference: tuple[FloatArray, FloatArray] | None = None,
) -> Compliance:
    """:func:`compliance` on prepared arrays (sample hours, gap flags). ``reference`` is an
    EN 15757 historic period's (fluctuations, hours)."""
    covered = float(np.sum(hours))
    span = covered + gap_hours
    w = hours
    has_t = prof.has_temperature_rules

    def share(mask: BoolArray) -> float:
        return min(100.0 * (float(np.sum(w[mask])) / covered), 100.0) if covered > 0 else math.nan

    mean_t = _weighted_mean(t, w)
    mean_rh = _weighted_mean(rh, w)
    running = _RunningMeans(times_h, {"t": t, "rh": rh}, w)

    too_cold = (t < prof.t_min_c) if has_t else np.zeros(t.shape, bool)
    too_warm = (t > prof.t_max_c) if has_t else np.zeros(t.shape, bool)
    too_dry = rh < prof.rh_min_pct
    too_damp = rh > prof.rh_max_pct

    historic_band: tuple[float, float] | None = None
    short_breaches: list[_Keyed] = []
    if prof.method == "historic":
        fluct = rh - running("rh", prof.short_term_window_h)
        source, source_w = reference if reference is not None else (fluct, w)
        half = prof.short_term_rh_pct or 0.0
        p7 = _weighted_percentile(source, source_w, 7.0)
        p93 = _weighted_percentile(source, source_w, 93.0)
        low = min(p7, -half) if math.isfinite(p7) else -half
        high = max(p93, half) if math.isfinite(p93) else half
        historic_band = (low, high)
        outside = (fluct < low) | (fluct > high)
        in_band = (w > 0) & ~outside & np.isfinite(fluct)
        short_breaches = _excursions(
            "short_term",
            "rh",
            outside & (w > 0),
            fluct,
            high,
            stamps,
            hours,
            gap_after,
            low_limit=low,
        )
    else:
        in_band = (w > 0) & ~(too_cold | too_warm | too_dry | too_damp)
        if prof.short_term_t_k is not None:
            dev_t = t - running("t", prof.short_term_window_h)
            breach = (np.abs(dev_t) > prof.short_term_t_k + 1e-9) & (w > 0)
            short_breaches += _excursions(
                "short_term", "t", breach, dev_t, prof.short_term_t_k, stamps, hours, gap_after
            )
        if prof.short_term_rh_pct is not None:
            dev_rh = rh - running("rh", prof.short_term_window_h)
            breach = (np.abs(dev_rh) > prof.short_term_rh_pct + 1e-9) & (w > 0)
            short_breaches += _excursions(
                "short_term",
                "rh",
                breach,
                dev_rh,
                prof.short_term_rh_pct,
                stamps,
                hours,
                gap_after,
            )

    band: list[_Keyed] = []
    if prof.method == "fixed":
        live = w > 0
        band += _band_excursions(
            "t",
            t,
            too_cold & live,
            too_warm & live,
            prof.t_min_c,
            prof.t_max_c,
            stamps,
            hours,
            gap_after,
        )
        band += _band_excursions(
            "rh",
            rh,
            too_dry & live,
            too_damp & live,
            prof.rh_min_pct,
            prof.rh_max_pct,
            stamps,
            hours,
            gap_after,
        )

    in_pct = share(in_band)
    return Compliance(
        profile_id=prof.id,
        covered_hours=covered,
        gap_hours=gap_hours,
        gap_pct=100.0 * gap_hours / span if span > 0 else math.nan,
        time_in_band_pct=in_pct,
        time_out_of_band_pct=100.0 - in_pct if covered > 0 else math.nan,
        too_cold_pct=share(too_cold),
        too_warm_pct=share(too_warm),
        too_dry_pct=share(too_dry),
        too_damp_pct=share(too_damp),
        mean_t_c=mean_t,
        mean_rh_pct=mean_rh,
        short_term_breaches=_sorted(short_breaches),
        band_excursions=_sorted(band),
        seasonal=_seasonal(prof, running, t, w, mean_t, mean_rh, span),
        historic_band_pct=historic_band,
    )


class _RunningMeans:
    """Time-weighted centred running means of a series' quantities, each (quantity, window)
    computed once: ASHRAE's short-term and seasonal windows are both 30 days, and EN 15757's
    short-term window is its seasonal one."""

    def __init__(
        self, times_h: FloatArray, values: dict[Quantity, FloatArray], w: FloatArray
    ) -> None:
        self._times_h = times_h
        self._values = values
        self._w = w
        self._done: dict[tuple[Quantity, float], FloatArray] = {}

    def __call__(self, quantity: Quantity, window_h: float) -> FloatArray:
        key = (quantity, window_h)
        if key not in self._done:
            self._done[key] = moving_average(
                self._times_h, self._values[quantity], self._w, window_h
            )
        return self._done[key]


def _weighted_mean(x: FloatArray, w: FloatArray) -> float:
    ok = np.isfinite(x) & (w > 0)
    total = float(np.sum(w[ok]))
    return float(np.sum(x[ok] * w[ok]) / total) if total > 0 else math.nan


def _weighted_percentile(x: FloatArray, w: FloatArray, q: float) -> float:
    ok = np.isfinite(x) & (w > 0)
    if not np.any(ok):
        return math.nan
    order = np.argsort(x[ok])
    xs, ws = x[ok][order], w[ok][order]
    cum = np.cumsum(ws) - 0.5 * ws
    return float(np.interp(q / 100.0 * float(np.sum(ws)), cum, xs))


def _reference_fluctuations(
    prof: Profile,
    reference: tuple[ArrayLike | Sequence[datetime], ArrayLike],
    max_gap_h: float | None,
) -> tuple[FloatArray, FloatArray]:
    ref_times, ref_rh = reference
    stamps = to_datetime64(ref_times)
    rh = np.atleast_1d(as_float_array(ref_rh))
    times_h = hours_since_start(stamps)
    check_increasing(times_h)
    hours, _, _ = sample_durations(times_h, np.isfinite(rh), max_gap_h)
    fluct = rh - moving_average(times_h, rh, hours, prof.short_term_window_h)
    return fluct, hours


_Keyed = tuple[int, int, Excursion]
"""An excursion with its sort key: (index of its first sample, 0 for T / 1 for RH)."""


def _run_bounds(mask: BoolArray, gap_after: BoolArray) -> tuple[IntArray, IntArray]:
    """First and last index of each run of True, a gap ending a run."""
    if mask.size == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    continues = mask[:-1] & mask[1:] & ~gap_after[:-1]
    starts = np.flatnonzero(mask & ~np.concatenate(([False], continues)))
    ends = np.flatnonzero(mask & ~np.concatenate((continues, [False])))
    return starts, ends


def _make(
    kind: ExcursionKind,
    quantity: Quantity,
    starts: IntArray,
    ends: IntArray,
    peaks: FloatArray,
    limits: FloatArray,
    stamps: TimeArray,
    hours: FloatArray,
) -> list[_Keyed]:
    end_ns = np.round(hours[ends] * NS_PER_HOUR).astype(np.int64).astype("timedelta64[ns]")
    end_times = stamps[ends] + end_ns
    first_times = stamps[starts]
    order = 0 if quantity == "t" else 1
    return [
        (first, order, Excursion(kind, quantity, first_times[i], end_times[i], peak, limit))
        for i, (first, peak, limit) in enumerate(
            zip(starts.tolist(), peaks.tolist(), limits.tolist(), strict=True)
        )
    ]


def _excursions(
    kind: ExcursionKind,
    quantity: Quantity,
    mask: BoolArray,
    values: FloatArray,
    limit: float,
    stamps: TimeArray,
    hours: FloatArray,
    gap_after: BoolArray,
    *,
    low_limit: float | None = None,
) -> list[_Keyed]:
    starts, ends = _run_bounds(mask, gap_after)
    if starts.size == 0:
        return []
    filled = np.where(mask, values, np.nan)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        highest = np.fmax.reduceat(filled, starts)[: starts.size]
        lowest = np.fmin.reduceat(filled, starts)[: starts.size]
    if low_limit is None:
        peaks = np.where(np.abs(highest) >= np.abs(lowest), highest, lowest)
        limits = np.full(peaks.shape, limit)
    else:
        above = (highest - limit) >= (low_limit - lowest)
        peaks = np.where(above, highest, lowest)
        limits = np.where(above, limit, low_limit)
    return _make(kind, quantity, starts, ends, peaks, limits, stamps, hours)


def _band_excursions(
    quantity: Quantity,
    values: FloatArray,
    below: BoolArray,
    above: BoolArray,
    low: float,
    high: float,
    stamps: TimeArray,
    hours: FloatArray,
    gap_after: BoolArray,
) -> list[_Keyed]:
    out: list[_Keyed] = []
    for mask, limit, reduce in ((below, low, np.fmin), (above, high, np.fmax)):
        starts, ends = _run_bounds(mask, gap_after)
        if starts.size == 0:
            continue
        worst = reduce.reduceat(np.where(mask, values, np.nan), starts)[: starts.size]
        limits = np.full(worst.shape, limit)
        out += _make("band", quantity, starts, ends, worst - limit, limits, stamps, hours)
    return out


def _sorted(excursions: list[_Keyed]) -> tuple[Excursion, ...]:
    """By start, temperature before RH at the same start."""
    excursions.sort(key=lambda keyed: (keyed[0], keyed[1]))
    return tuple(keyed[2] for keyed in excursions)


def _seasonal(
    prof: Profile,
    running: _RunningMeans,
    t: FloatArray,
    w: FloatArray,
    mean_t: float,
    mean_rh: float,
    span_h: float,
) -> SeasonalDrift:
    def extremes(quantity: Quantity, mean: float) -> tuple[float, float]:
        cycle = running(quantity, prof.seasonal_window_h)
        drift = cycle[np.isfinite(cycle) & (w > 0)] - mean
        if drift.size == 0:
            return math.nan, math.nan
        return max(float(np.max(drift)), 0.0), max(float(-np.min(drift)), 0.0)

    t_up, t_down = extremes("t", mean_t) if np.any(np.isfinite(t)) else (math.nan, math.nan)
    rh_up, rh_down = extremes("rh", mean_rh)
    within: bool | None = None
    if prof.has_seasonal_rules:
        checks = []
        if prof.seasonal_t_up_k is not None and math.isfinite(t_up):
            checks.append(t_up <= prof.seasonal_t_up_k + 1e-9)
        if prof.seasonal_t_down_k is not None and math.isfinite(t_down):
            checks.append(t_down <= prof.seasonal_t_down_k + 1e-9)
        if prof.seasonal_rh_pct is not None and math.isfinite(rh_up):
            checks.append(max(rh_up, rh_down) <= prof.seasonal_rh_pct + 1e-9)
        within = all(checks) if checks else None
    return SeasonalDrift(
        t_up_k=t_up,
        t_down_k=t_down,
        rh_up_pct=rh_up,
        rh_down_pct=rh_down,
        allowed_t_up_k=prof.seasonal_t_up_k,
        allowed_t_down_k=prof.seasonal_t_down_k,
        allowed_rh_pct=prof.seasonal_rh_pct,
        within=within,
        span_days=span_h / 24.0,
    )
