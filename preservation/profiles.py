"""Climate profiles: the numbers of the standards archives are held to, as data.

A profile is a band for temperature and RH, an allowance for short-term fluctuations around the
running mean, and an allowance for the seasonal drift of that mean away from the room's set
point; `preservation.compliance` measures a series against one (and says how a series is split
into set point, seasonal drift and short-term fluctuation).

Each profile says where its numbers come from (``source``) and whether they were confirmed
against the standard or an authoritative summary of it while this module was written
(``verified``); ``notes`` say how ranges were derived and what could not be confirmed.

Profile ids follow the standards' current names; older names stay accepted as aliases
(:data:`OLD_PROFILE_IDS`, e.g. ASHRAE's pre-2019 ``ashrae-as`` for class A1):
:func:`get_profile` takes either, and :func:`lookup_profile` also tells which was used, so
``check-config`` can warn about old names.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

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
_ASHRAE_2019 = (
    " Class names AA, A1, A2, B, C, D as in the 2019 chapter (confirmed: CCI, Michalski, "
    "'ASHRAE types of control', whose sections are AA, A1 and A2, B, C, D); the numbers were "
    "not re-checked against the 2019 text itself in the session that added the names (the "
    "text could not be consulted): they are the ones this profile had under its old name."
)
_JGJ25 = "JGJ 25-2010 Code for design of archives buildings (China), §5.2"
_JGJ25_DAILY = "§5.2.3: once set, daily variation within ±2 °C and ±5 % RH."

_CURRENT: dict[str, Profile] = {
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
            "short-term ±5 % band (a larger drift can only be a seasonal set-point change)."
            + _ASHRAE_2019,
        ),
        Profile(
            id="ashrae-a1",
            name="ASHRAE class A1 (precision control, seasonal changes; formerly As)",
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
            notes=_ASHRAE_DERIVATION + "Short-term ±5 % RH, ±2 K; seasonal RH ±10 %, T +5/−10 K. "
            "Before 2019 this class was called As (old id 'ashrae-as')." + _ASHRAE_2019,
        ),
        Profile(
            id="ashrae-a2",
            name="ASHRAE class A2 (small fluctuations, no seasonal RH change; formerly A)",
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
            notes=_ASHRAE_DERIVATION + "Short-term ±10 % RH, ±2 K, no seasonal RH change (the "
            "seasonal cycle stays within the short-term band), T +5/−10 K. Before 2019 this was "
            "the first of class A's two options (old id 'ashrae-a'); the second became A1."
            + _ASHRAE_2019,
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
            "but not above 30 °C, down as far as needed to hold RH (no lower limit)."
            + _ASHRAE_2019,
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
            "band uses 30 °C). No short-term or seasonal rule." + _ASHRAE_2019,
        ),
        Profile(
            id="ashrae-d",
            name="ASHRAE class D (prevent dampness)",
            source=_ASHRAE,
            rh_max_pct=75.0,
            verified=True,
            notes="RH reliably below 75 %. No temperature rule." + _ASHRAE_2019,
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
"""The profiles by current id."""

OLD_PROFILE_IDS: dict[str, str] = {"ashrae-as": "ashrae-a1", "ashrae-a": "ashrae-a2"}
"""Old profile ids, still accepted, and the current id each stands for (ASHRAE renamed its
classes As and A to A1 and A2 in 2019)."""


class ProfileTable(Mapping[str, Profile]):
    """The profiles by id: iterating, ``len`` and ``keys`` give the current ids only; looking up
    (``[]``, ``get``, ``in``) also takes an old id and gives the profile it now names."""

    def __init__(self, current: Mapping[str, Profile], old: Mapping[str, str]) -> None:
        self._current = dict(current)
        self._old = dict(old)

    def __getitem__(self, profile_id: str) -> Profile:
        return self._current[self._old.get(profile_id, profile_id)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current)

    def __len__(self) -> int:
        return len(self._current)


PROFILES: ProfileTable = ProfileTable(_CURRENT, OLD_PROFILE_IDS)
"""All profiles by id (current ids; old ones accepted on look-up)."""

KNOWN_PROFILE_IDS: frozenset[str] = frozenset(PROFILES) | frozenset(OLD_PROFILE_IDS)
"""Every id a registry may name: the current ones and the old names."""


class UnknownProfileError(KeyError):
    """A profile id that is not in :data:`PROFILES`; the message lists the valid ids."""

    def __init__(self, profile_id: str) -> None:
        self.profile_id = profile_id
        super().__init__(
            f"unknown climate profile {profile_id!r}; valid ids: {', '.join(sorted(PROFILES))}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class ProfileLookup:
    """A profile found by id, and the old name it was asked for by (None for a current id)."""

    profile: Profile
    old_name: str | None = None

    @property
    def warning(self) -> str | None:
        """ "profile ashrae-as is the old name of ashrae-a1", or None for a current id."""
        if self.old_name is None:
            return None
        return f"profile {self.old_name} is the old name of {self.profile.id}"


def lookup_profile(profile_id: str) -> ProfileLookup:
    """The profile with this id or old name (:data:`OLD_PROFILE_IDS`), telling which was used;
    raises :class:`UnknownProfileError` (a ``KeyError``)."""
    try:
        profile = PROFILES[profile_id]
    except KeyError:
        raise UnknownProfileError(profile_id) from None
    return ProfileLookup(profile, None if profile_id in _CURRENT else profile_id)


def get_profile(profile_id: str) -> Profile:
    """The profile with this id or old name; raises :class:`UnknownProfileError` (a
    ``KeyError``)."""
    return lookup_profile(profile_id).profile
