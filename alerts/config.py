"""The rules file: pydantic models, layered defaults, loading with errors that name the file,
line and field. (The rota and escalation chain live in `repoclimate.alerts.rota`.)

Rules file (``examples/alerts.yaml``)::

    defaults:            # every room; unset fields keep the built-in defaults
      excursion: {for_minutes: 60}
    profiles:            # per climate profile id
      iso11799-paper: {mould: {sensitivity: sensitive}}
    sites:               # per site id
      city-archives: {health: {silent_factor: 4}}
    rooms:               # per "site/room"
      city-archives/stack-3: {excursion: {rh_max: 55}}
    sensors:             # per sensor id
      s3-door: {health: {stuck_hours: 24}}

The most specific layer wins field by field: built-in < defaults < profile < site < room < sensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from repoclimate.preservation.mould import Sensitivity
from repoclimate.sensors.yamlfile import (
    ConfigError,
    FieldPath,
    Issue,
    issue_at,
    issues_from,
    load_yaml,
)

RULE_CLASSES = ("excursion", "fluctuation", "mould", "condensation", "decay", "health")
RuleClass = Literal["excursion", "fluctuation", "mould", "condensation", "decay", "health"]
SensitivityClass = Sensitivity
"""A VTT mould sensitivity class (Ojanen et al. 2010), as `preservation.mould` names them."""
SeverityName = Literal["info", "warning", "critical"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class ExcursionParams(_Params):
    """Temperature or RH outside the room's band for longer than ``for_minutes``.

    The band comes from the room's climate profile unless ``t_min``… are set. An excursion clears
    only once back inside the band by the margin (hysteresis). Beyond the band by the critical
    offset it is critical.

    ``clear_after_minutes`` (30): a firing excursion resolves only after that long back inside
    the band. The margin stops noise from clearing it; the hold stops a brief dip inside (a
    dehumidifier's cycle, a door shut for a while) from giving an all-clear that the next
    half-hour takes back. Short, so a real end is reported within the half-hour.
    """

    for_minutes: float = Field(default=60.0, ge=0)
    clear_after_minutes: float = Field(default=30.0, ge=0)
    t_min: float | None = None
    t_max: float | None = None
    rh_min: float | None = Field(default=None, ge=0, le=100)
    rh_max: float | None = Field(default=None, ge=0, le=100)
    t_margin: float = Field(default=0.5, ge=0)
    rh_margin: float = Field(default=2.0, ge=0)
    critical_t_offset: float = Field(default=3.0, gt=0)
    critical_rh_offset: float = Field(default=10.0, gt=0)


class FluctuationParams(_Params):
    """Short-term fluctuation: a reading further from the trailing mean of the last
    ``window_hours`` than the profile's short-term allowance (ASHRAE class limits, JGJ 25's
    daily limits). Unset fields come from the room's profile.

    ``clear_after_minutes`` (1440): a firing fluctuation alert resolves only after a whole day
    without an exceedance. Swings usually follow a daily pattern (heating, air handling,
    opening hours): with a shorter hold each day's swing would page afresh and give its
    all-clear hours later; with a day the pattern stays one alert until it has stopped.
    """

    window_hours: float | None = Field(default=None, gt=0, le=24 * 60)
    t_deviation_max: float | None = Field(default=None, gt=0)
    rh_deviation_max: float | None = Field(default=None, gt=0)
    t_margin: float = Field(default=0.3, ge=0)
    rh_margin: float = Field(default=1.0, ge=0)
    critical_factor: float = Field(default=2.0, ge=1)
    for_minutes: float = Field(default=30.0, ge=0)
    clear_after_minutes: float = Field(default=1440.0, ge=0)
    min_coverage: float = Field(default=0.5, gt=0, le=1)


class MouldParams(_Params):
    """IPI mould risk factor and VTT mould index at each sensor over its recent history.

    ``sensitivity`` (VTT class) defaults from the room's holdings. Warning and critical levels
    apply to either index; an alert clears once both are below ``clear_ratio`` × warning.

    ``clear_after_minutes`` (0): the indices are slow, cumulative and cleared with the
    ``clear_ratio`` hysteresis, so they cannot flap; once they have fallen that far the risk
    has receded and is reported at once.

    ``settle_hours`` (6): the models' state carried between evaluations is kept this many hours
    behind the newest complete hour, and the hours after it are recomputed from the store at
    every evaluation, so readings that arrive late (a spool draining after a store outage, a
    gateway that buffers) still count. Data later than this is not taken into the carried state.
    """

    sensitivity: SensitivityClass | None = None
    lookback_days: float = Field(default=30.0, gt=0, le=366)
    settle_hours: int = Field(default=6, ge=0, le=7 * 24)
    mrf_warning: float = Field(default=0.5, gt=0)
    mrf_critical: float = Field(default=1.0, gt=0)
    vtt_warning: float = Field(default=0.5, gt=0)
    vtt_critical: float = Field(default=1.0, gt=0)
    clear_ratio: float = Field(default=0.8, gt=0, le=1)
    clear_after_minutes: float = Field(default=0.0, ge=0)
    max_gap_hours: int = Field(default=6, ge=0)

    @model_validator(mode="after")
    def _levels(self) -> MouldParams:
        if self.mrf_critical < self.mrf_warning or self.vtt_critical < self.vtt_warning:
            raise ValueError("critical levels must not be below warning levels")
        return self


class CondensationParams(_Params):
    """Dew point of the room air close to a surface temperature (surface sensors), or RH near
    saturation at sensors of rooms without one.

    ``clear_after_minutes`` (60): a firing condensation alert resolves only after an hour clear.
    Surface temperature and dew point approach each other in cycles (night cooling, heating
    switching), and water that formed does not dry the moment the margin reopens.
    """

    dew_point_margin_k: float = Field(default=2.0, ge=0)
    critical_margin_k: float = Field(default=0.5, ge=0)
    clear_margin_k: float = Field(default=1.0, ge=0)
    rh_warning: float = Field(default=95.0, gt=0, le=100)
    rh_critical: float = Field(default=98.0, gt=0, le=100)
    rh_clear_margin: float = Field(default=3.0, ge=0)
    for_minutes: float = Field(default=30.0, ge=0)
    clear_after_minutes: float = Field(default=60.0, ge=0)
    max_age_minutes: float = Field(default=30.0, gt=0)


class DecayParams(_Params):
    """A falling TWPI: the last week's time-weighted preservation index below the preceding
    weeks' by ``drop_pct`` — reported in the weekly digest, never paged.

    ``clear_after_minutes`` (0): evaluated weekly over weekly windows, it cannot flap.
    """

    baseline_weeks: int = Field(default=4, ge=1, le=52)
    drop_pct: float = Field(default=10.0, gt=0, lt=100)
    min_coverage: float = Field(default=0.5, gt=0, le=1)
    clear_after_minutes: float = Field(default=0.0, ge=0)


class HealthParams(_Params):
    """Sensor health: silent, stuck, battery low, readings outside the physical range.

    ``clear_after_minutes`` (0) holds silent, stuck and battery alerts open: a sensor that
    speaks again, or whose readings vary again, is evidence enough and is cleared at once (a
    stuck episode needs ``stuck_hours`` of identical readings to come back, so it cannot flap
    fast); battery levels clear only ``battery_margin`` above the warning level, which already
    absorbs the battery's daily temperature swing. ``out_of_range_clear_minutes`` (60) for
    impossible readings: a failing probe tends to send them in bursts between good ones, which
    should be one alert, not one per bad reading.
    """

    silent_factor: float = Field(default=3.0, ge=1)
    clear_after_minutes: float = Field(default=0.0, ge=0)
    out_of_range_clear_minutes: float = Field(default=60.0, ge=0)
    stuck_hours: float = Field(default=12.0, gt=0)
    stuck_min_readings: int = Field(default=6, ge=2)
    battery_warning: float = Field(default=15.0, ge=0, le=100)
    battery_critical: float = Field(default=5.0, ge=0, le=100)
    battery_margin: float = Field(default=5.0, ge=0)
    temperature_range: tuple[float, float] = (-30.0, 60.0)
    humidity_range: tuple[float, float] = (0.5, 100.0)


PARAMS: dict[str, type[_Params]] = {
    "excursion": ExcursionParams,
    "fluctuation": FluctuationParams,
    "mould": MouldParams,
    "condensation": CondensationParams,
    "decay": DecayParams,
    "health": HealthParams,
}


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The resolved parameters of every rule class for one room or sensor."""

    excursion: ExcursionParams
    fluctuation: FluctuationParams
    mould: MouldParams
    condensation: CondensationParams
    decay: DecayParams
    health: HealthParams


class _Layer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    excursion: dict[str, Any] = Field(default_factory=dict)
    fluctuation: dict[str, Any] = Field(default_factory=dict)
    mould: dict[str, Any] = Field(default_factory=dict)
    condensation: dict[str, Any] = Field(default_factory=dict)
    decay: dict[str, Any] = Field(default_factory=dict)
    health: dict[str, Any] = Field(default_factory=dict)


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: _Layer = Field(default_factory=_Layer)
    profiles: dict[str, _Layer] = Field(default_factory=dict)
    sites: dict[str, _Layer] = Field(default_factory=dict)
    rooms: dict[str, _Layer] = Field(default_factory=dict)
    sensors: dict[str, _Layer] = Field(default_factory=dict)


class RulesConfig:
    """Layered rule parameters; `resolve` gives the `RuleSet` for a room or sensor."""

    def __init__(self, layers: _RulesFile | None = None, source: str = "built-in") -> None:
        self._file = layers or _RulesFile()
        self.source = source
        self._cache: dict[tuple[str | None, ...], RuleSet] = {}

    @classmethod
    def builtin(cls) -> RulesConfig:
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> RulesConfig:
        """Validate a parsed rules document (errors name fields, not lines)."""
        return cls._validated(data, source, {})

    @classmethod
    def load(cls, path: Path) -> RulesConfig:
        """Load and validate a rules YAML file; raise `ConfigError` naming file, line, field."""
        data, lines = load_yaml(path)
        return cls._validated(data if data is not None else {}, str(path), lines)

    @classmethod
    def _validated(cls, data: Any, source: str, lines: Mapping[FieldPath, int]) -> RulesConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(
                issue_at(source, lines, (), "the rules file must be a mapping of keys")
            )
        try:
            parsed = _RulesFile.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(issues_from(exc, _RulesFile, source=source, lines=lines)) from None
        layers: list[tuple[FieldPath, _Layer]] = [(("defaults",), parsed.defaults)]
        issues: list[Issue] = []
        for group in ("profiles", "sites", "rooms", "sensors"):
            for key, layer in getattr(parsed, group).items():
                layers.append(((group, key), layer))
                if group == "rooms" and "/" not in key:
                    issues.append(
                        issue_at(source, lines, (group, key), "room keys are 'site/room'")
                    )
        for prefix, layer in layers:
            for name, model in PARAMS.items():
                try:
                    model.model_validate(getattr(layer, name))
                except ValidationError as exc:
                    issues.extend(
                        issues_from(exc, model, source=source, lines=lines, prefix=(*prefix, name))
                    )
        if issues:
            issues.sort(key=lambda issue: issue.line or 0)
            raise ConfigError(issues)
        return cls(parsed, source)

    def resolve(
        self,
        site: str | None = None,
        room: str | None = None,
        profile: str | None = None,
        sensor: str | None = None,
    ) -> RuleSet:
        """Parameters for a sensor (or a room when ``sensor`` is None), most specific wins."""
        key = (site, room, profile, sensor)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        chain: list[_Layer] = [self._file.defaults]
        if profile is not None and profile in self._file.profiles:
            chain.append(self._file.profiles[profile])
        if site is not None and site in self._file.sites:
            chain.append(self._file.sites[site])
        if site is not None and room is not None and f"{site}/{room}" in self._file.rooms:
            chain.append(self._file.rooms[f"{site}/{room}"])
        if sensor is not None and sensor in self._file.sensors:
            chain.append(self._file.sensors[sensor])
        resolved: dict[str, _Params] = {}
        for name, model in PARAMS.items():
            merged: dict[str, Any] = {}
            for layer in chain:
                merged.update(getattr(layer, name))
            try:
                resolved[name] = model.model_validate(merged)
            except ValidationError as exc:
                where = "/".join(p for p in (site, room, sensor) if p) or "defaults"
                reasons = "; ".join(issue.reason for issue in issues_from(exc, model))
                raise ConfigError(
                    Issue(
                        self.source,
                        None,
                        f"{name} for {where}",
                        f"the layers combine into invalid parameters: {reasons}",
                    )
                ) from exc
        rules = RuleSet(**resolved)  # type: ignore[arg-type]
        self._cache[key] = rules
        return rules
