"""The simulated climate: outdoor weather and the rooms of a repository, stepped through time.

Pure model: no clock, no I/O. Time is passed in (epoch seconds, UTC) and randomness comes from a
seeded :class:`random.Random`, so a run is reproducible.

Outdoor air
    Temperature is an annual cosine (warmest on ``warmest_day``) plus a daily cosine (warmest at
    ``warmest_hour`` local time) plus a weather anomaly (an AR(1) process on hourly knots, linearly
    interpolated). Moisture follows the dew point, which tracks the seasonal mean temperature
    minus a depression plus its own anomaly and carries no daily cycle — so outdoor RH is high at
    night and low in the afternoon, as it is.

Rooms
    Two state variables, air temperature ``T`` [°C] and water-vapour pressure ``e`` [hPa], each a
    sum of first-order relaxations toward targets::

        dT/dt = (T_free − T)/τ_th + [HVAC] (T_set − T)/τ_hvac + [door] (T_corridor − T)/τ_door
        de/dt = (e_out + L − e)/τ_m + [wet walls] (e_s(T_wall) − e)/τ_wall
                + [dehumidifier, e > e_set] (e_set − e)/τ_dh
                + [leak] (0.98·e_s(T) − e)/τ_leak + [door] (e_out + 1 hPa − e)/τ_door

    ``T_free`` = c·T_out + g·T_ground + (1 − c − g)·T_building mixes the outdoor, the ground's
    and the surrounding building's temperature (c the room's outdoor coupling, g its ground
    coupling); ``L`` is the room's moisture load (people, the building's own moisture), the
    vapour excess over outdoor air a dry-walled room settles at unaided. ``τ_m`` lumps air
    exchange and the buffering of hygroscopic holdings. A step integrates the linear system
    exactly (x ← x_eq + (x − x_eq)·exp(−k·dt)), which is stable for any step; ``e`` never
    exceeds saturation (the excess condenses).

Basements
    A room below ground is held by the soil around it, whose temperature at depth z follows the
    damped, lagged annual wave of a conducting half-space [1]::

        T_ground(z, t) = T_annual + A·exp(−z/d)·cos(ω(t − t_warmest) − z/d)

    with A the outdoor seasonal amplitude, ω = 2π/year and d = √(2κ/ω) the damping depth
    (≈ 2.5 m for moist soil, κ ≈ 0.6 mm²/s [2]): at 2.5 m the swing is a third of the air's and
    two months late. Earth-retaining walls of old masonry are damp — soil moisture wicks
    through them to the inner face, where water evaporates into the room as fast as the air
    takes it. That face is a wet surface at ``T_wall``, a fifth of the way from the room air to
    the ground (an uninsulated wall against soil: U ≈ 1.5 W/m²K against an internal surface
    coefficient of 7.7 W/m²K, EN ISO 6946), so the room's vapour relaxes toward saturation at
    the wall's temperature (``τ_wall``) while the little air exchange pulls it toward outdoors.

    This is why basements are damp in every season and why archives put dehumidifiers in them:
    the dehumidifier removes what the walls give off. When it fails, a ground-coupled basement,
    barely warmer than its walls, climbs within a day or two to 90–97 %RH — above the VTT
    model's critical RH (80 %), where mould grows on paper in weeks even at 10–14 °C — while a
    ground-floor room with dry walls, warmed by the building above outdoor dew points, settles
    at 75–90 %RH depending on the season (summer air is wetter). A working dehumidifier holds
    RH a little above its set point.

References
----------
[1] Carslaw, H. S. & Jaeger, J. C. (1959). Conduction of Heat in Solids, 2nd ed., §2.6
    (periodic surface temperature of a semi-infinite solid). Oxford University Press.
[2] Hillel, D. (1998). Environmental Soil Physics, ch. 12 (soil temperature: damping depth of
    the annual wave). Academic Press.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

HOUR_S = 3600.0
DAY_S = 86400.0

WALL_SURFACE_SHARE = 0.2
"""Where the inner face of an earth-retaining wall sits between room air (0) and ground (1):
U / h_i for an uninsulated wall against soil, ≈ 1.5 / 7.7 W/m²K (module docstring)."""

ROOM_FAULTS = frozenset({"dehumidifier-failure", "hvac-failure", "leak", "door-open"})
"""Fault kinds that act on a room's physics."""


def saturation_vapour_pressure_hpa(t_c: float) -> float:
    """Saturation vapour pressure over water [hPa] (Magnus form, Alduchov & Eskridge 1996)."""
    return 6.1094 * math.exp(17.625 * t_c / (t_c + 243.04))


def relative_humidity_pct(e_hpa: float, t_c: float) -> float:
    """Relative humidity [%RH] of air at ``t_c`` [°C] with vapour pressure ``e_hpa``, ≤ 100."""
    return min(100.0, 100.0 * e_hpa / saturation_vapour_pressure_hpa(t_c))


def dew_point_c(t_c: float, rh_pct: float) -> float:
    """Dew point [°C] of air at ``t_c`` [°C] and ``rh_pct`` [%RH] (inverse Magnus)."""
    gamma = math.log(max(rh_pct, 0.1) / 100.0) + 17.625 * t_c / (243.04 + t_c)
    return 243.04 * gamma / (17.625 - gamma)


@dataclass(frozen=True, slots=True)
class OutdoorClimate:
    """Parameters of a site's outdoor climate (defaults: a temperate maritime city)."""

    annual_mean_c: float = 11.0
    seasonal_amplitude_c: float = 6.5
    warmest_day: float = 200.0
    """Day of the year of the seasonal maximum."""
    daily_amplitude_c: float = 3.5
    warmest_hour: float = 15.0
    """Local hour of the daily maximum."""
    dew_point_depression_c: float = 3.5
    """Annual mean of (seasonal temperature − dew point) [°C]."""
    dew_point_depression_amplitude_c: float = 1.5
    """Seasonal swing of that depression (air is relatively drier in summer) [°C]."""
    weather_sd_c: float = 2.0
    """Standard deviation of the weather anomalies."""
    weather_hours: float = 48.0
    """Correlation time of the weather anomalies."""
    soil_damping_depth_m: float = 2.5
    """Damping depth of the annual temperature wave in the soil, √(2κ/ω) [m]."""


class _Anomaly:
    """AR(1) anomaly on hourly knots from an origin, drawn lazily, linearly interpolated."""

    def __init__(self, rng: random.Random, sd: float, hours: float, origin_s: float) -> None:
        self._rng = rng
        self._sd = sd
        self._phi = math.exp(-1.0 / hours) if hours > 0 else 0.0
        self._innovation = sd * math.sqrt(1.0 - self._phi**2)
        self._origin = origin_s
        self._base = 0
        self._knots = [rng.gauss(0.0, sd)]

    def at(self, t_s: float) -> float:
        hours = (t_s - self._origin) / HOUR_S
        index = math.floor(hours)
        if index < self._base:  # before the oldest knot kept: hold its value
            return self._knots[0]
        while self._base + len(self._knots) <= index + 1:
            self._knots.append(self._phi * self._knots[-1] + self._rng.gauss(0.0, self._innovation))
        if index - self._base > 48:  # time only moves forward: forget knots older than 2 days
            drop = index - self._base - 24
            del self._knots[:drop]
            self._base += drop
        k = index - self._base
        fraction = hours - index
        return self._knots[k] + (self._knots[k + 1] - self._knots[k]) * fraction


class OutdoorModel:
    """Outdoor temperature [°C] and vapour pressure [hPa] at a site, as functions of time."""

    def __init__(
        self, climate: OutdoorClimate, zone: tzinfo, rng: random.Random, origin_s: float
    ) -> None:
        self.climate = climate
        self.zone = zone
        self._temperature_anomaly = _Anomaly(
            rng, climate.weather_sd_c, climate.weather_hours, origin_s
        )
        self._dew_point_anomaly = _Anomaly(
            rng, climate.weather_sd_c * 0.8, climate.weather_hours, origin_s
        )

    def _season(self, t_s: float) -> float:
        """cos of the seasonal phase: 1 on the warmest day, −1 half a year later."""
        moment = datetime.fromtimestamp(t_s, UTC)
        day_of_year = moment.timetuple().tm_yday - 1 + (t_s % DAY_S) / DAY_S
        return math.cos(2.0 * math.pi * (day_of_year - self.climate.warmest_day) / 365.2425)

    def seasonal_c(self, t_s: float) -> float:
        """Seasonal mean temperature (no daily cycle, no weather) [°C]."""
        c = self.climate
        return c.annual_mean_c + c.seasonal_amplitude_c * self._season(t_s)

    def ground_c(self, t_s: float, depth_m: float) -> float:
        """Soil temperature [°C] at ``depth_m`` below ground: the annual wave of the air's
        seasonal mean, damped by exp(−z/d) and late by z/d radians (module docstring)."""
        c = self.climate
        ratio = depth_m / c.soil_damping_depth_m
        lag_days = ratio * 365.2425 / (2.0 * math.pi)
        return c.annual_mean_c + c.seasonal_amplitude_c * math.exp(-ratio) * self._season(
            t_s - lag_days * DAY_S
        )

    def at(self, t_s: float) -> tuple[float, float]:
        """(temperature [°C], vapour pressure [hPa]) outdoors at ``t_s`` (epoch seconds)."""
        c = self.climate
        moment = datetime.fromtimestamp(t_s, UTC)
        offset = self.zone.utcoffset(moment)
        local_hours = (t_s + (offset.total_seconds() if offset else 0.0)) / HOUR_S % 24.0
        season = self._season(t_s)
        seasonal = c.annual_mean_c + c.seasonal_amplitude_c * season
        depression = c.dew_point_depression_c + c.dew_point_depression_amplitude_c * season
        daily = c.daily_amplitude_c * math.cos(2.0 * math.pi * (local_hours - c.warmest_hour) / 24)
        temperature = seasonal + daily + self._temperature_anomaly.at(t_s)
        dew_point = seasonal - depression + self._dew_point_anomaly.at(t_s)
        dew_point = min(dew_point, temperature - 0.3)
        return temperature, saturation_vapour_pressure_hpa(dew_point)


@dataclass(frozen=True, slots=True)
class RoomClimate:
    """Physical parameters of a room and its plant."""

    building_c: float = 18.0
    """Temperature of the surrounding building (and of the corridor behind the door) [°C]."""
    outdoor_coupling: float = 0.35
    """Share of outdoor temperature in the room's free-running temperature, 0…1."""
    ground_coupling: float = 0.0
    """Share of the ground's temperature in the room's free-running temperature, 0…1 (with
    ``outdoor_coupling`` at most 1; the rest is the building's)."""
    below_ground_m: float = 0.0
    """Depth of the room's earth-retaining walls (their middle) below ground [m]."""
    wet_wall_tau_h: float | None = None
    """Time constant of moisture uptake from damp earth-retaining walls [h]; ``None``: the
    walls are dry (above ground, or tanked)."""
    thermal_tau_h: float = 36.0
    moisture_tau_h: float = 8.0
    moisture_load_hpa: float = 3.0
    """Vapour-pressure excess over outdoor air the room settles at without dehumidification."""
    setpoint_c: float | None = None
    """Temperature the HVAC holds; ``None``: no HVAC (free-running)."""
    setpoint_rh: float | None = None
    """RH the dehumidifier holds the room at or below; ``None``: no dehumidifier."""
    hvac_tau_h: float = 1.0
    dehumidifier_tau_h: float = 0.3
    door_tau_h: float = 0.3
    leak_tau_h: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.outdoor_coupling + self.ground_coupling <= 1.0:
            raise ValueError("outdoor_coupling + ground_coupling must be within 0…1")
        if self.wet_wall_tau_h is not None and self.below_ground_m <= 0.0:
            raise ValueError("wet walls need a room below ground (below_ground_m > 0)")

    @property
    def in_ground(self) -> bool:
        return self.below_ground_m > 0.0

    @property
    def has_hvac(self) -> bool:
        return self.setpoint_c is not None

    @property
    def has_dehumidifier(self) -> bool:
        return self.setpoint_rh is not None


class RoomModel:
    """One room's air state, stepped forward in time under its plant and active faults."""

    max_step_s = 300.0

    def __init__(self, climate: RoomClimate, outdoor: OutdoorModel, start_s: float) -> None:
        self.climate = climate
        self.outdoor = outdoor
        self.time_s = start_s
        self.temperature_c, self.vapour_hpa = self._initial_state(start_s)
        self._windows: list[tuple[float, float, str]] = []

    def _initial_state(self, t_s: float) -> tuple[float, float]:
        """The room settled at ``t_s``'s seasonal means: plant at its set points, the vapour at
        the balance of outdoor air, moisture load and walls (capped by the dehumidifier)."""
        c = self.climate
        seasonal = self.outdoor.seasonal_c(t_s)
        _, e_out = self.outdoor.at(t_s)
        ground = self.outdoor.ground_c(t_s, c.below_ground_m) if c.in_ground else 0.0
        temperature = c.setpoint_c if c.setpoint_c is not None else self._free_c(seasonal, ground)
        rate = 1.0 / c.moisture_tau_h
        weighted = rate * (e_out + c.moisture_load_hpa)
        if c.wet_wall_tau_h is not None:
            weighted += self._wall_vapour_hpa(temperature, ground) / c.wet_wall_tau_h
            rate += 1.0 / c.wet_wall_tau_h
        vapour = weighted / rate
        if c.setpoint_rh is not None:
            vapour = min(
                vapour, c.setpoint_rh / 100.0 * saturation_vapour_pressure_hpa(temperature)
            )
        vapour = min(vapour, saturation_vapour_pressure_hpa(temperature))
        return temperature, vapour

    def _free_c(self, outdoor_c: float, ground_c: float) -> float:
        """The free-running temperature the room relaxes toward [°C]."""
        c = self.climate
        building = 1.0 - c.outdoor_coupling - c.ground_coupling
        return (
            c.outdoor_coupling * outdoor_c + c.ground_coupling * ground_c + building * c.building_c
        )

    def _wall_vapour_hpa(self, room_c: float, ground_c: float) -> float:
        """Vapour pressure over the wet inner face of the earth-retaining walls [hPa]."""
        return saturation_vapour_pressure_hpa(room_c + WALL_SURFACE_SHARE * (ground_c - room_c))

    def add_fault(self, kind: str, start_s: float, end_s: float) -> None:
        """Make fault ``kind`` (one of ``ROOM_FAULTS``) act from ``start_s`` until ``end_s``."""
        if kind not in ROOM_FAULTS:
            raise ValueError(f"{kind!r} is not a room fault")
        self._windows.append((start_s, end_s, kind))

    def active_faults(self, t_s: float) -> set[str]:
        """Fault kinds acting at ``t_s``."""
        return {kind for start, end, kind in self._windows if start <= t_s < end}

    @property
    def relative_humidity_pct(self) -> float:
        """Air RH at the room's mean temperature [%RH]."""
        return relative_humidity_pct(self.vapour_hpa, self.temperature_c)

    def advance_to(self, t_s: float) -> None:
        """Step the state to time ``t_s`` (no-op for a time not after the current one)."""
        while self.time_s < t_s:
            end = min(t_s, self.time_s + self.max_step_s)
            for start, stop, _ in self._windows:  # split steps where a fault starts or stops
                for edge in (start, stop):
                    if self.time_s < edge < end:
                        end = edge
            self._step(end - self.time_s)

    def _step(self, dt_s: float) -> None:
        c = self.climate
        middle = self.time_s + dt_s / 2.0
        faults = self.active_faults(middle)
        t_out, e_out = self.outdoor.at(middle)
        ground = self.outdoor.ground_c(middle, c.below_ground_m) if c.in_ground else 0.0
        dt_h = dt_s / HOUR_S

        rate = 1.0 / c.thermal_tau_h
        weighted = rate * self._free_c(t_out, ground)
        if c.setpoint_c is not None and "hvac-failure" not in faults:
            weighted += c.setpoint_c / c.hvac_tau_h
            rate += 1.0 / c.hvac_tau_h
        door = "door-open" in faults
        if door:
            weighted += c.building_c / c.door_tau_h
            rate += 1.0 / c.door_tau_h
        self.temperature_c = _relax(self.temperature_c, weighted / rate, rate, dt_h)

        saturation = saturation_vapour_pressure_hpa(self.temperature_c)
        rate = 1.0 / c.moisture_tau_h
        weighted = rate * (e_out + c.moisture_load_hpa)
        if c.wet_wall_tau_h is not None:
            weighted += self._wall_vapour_hpa(self.temperature_c, ground) / c.wet_wall_tau_h
            rate += 1.0 / c.wet_wall_tau_h
        if door:
            weighted += (e_out + 1.0) / c.door_tau_h
            rate += 1.0 / c.door_tau_h
        if "leak" in faults:
            weighted += 0.98 * saturation / c.leak_tau_h
            rate += 1.0 / c.leak_tau_h
        if c.setpoint_rh is not None and "dehumidifier-failure" not in faults:
            e_set = c.setpoint_rh / 100.0 * saturation
            if self.vapour_hpa > e_set:
                weighted += e_set / c.dehumidifier_tau_h
                rate += 1.0 / c.dehumidifier_tau_h
        self.vapour_hpa = min(_relax(self.vapour_hpa, weighted / rate, rate, dt_h), saturation)
        self.time_s += dt_s


def _relax(value: float, target: float, rate_per_h: float, dt_h: float) -> float:
    return target + (value - target) * math.exp(-rate_per_h * dt_h)
