"""The on-call rota and escalation chain: who is reached how (contacts), who is on duty when
(shifts in the rota's time zone), whom each escalation step calls, and the rota file's loader.

Rota file (``examples/rota.yaml``): ``timezone``, ``people`` (id → name and contacts), ``shifts``
(who is on duty when, first match wins), ``escalation`` (steps after N minutes unacknowledged),
``reminder_minutes``, ``broadcast`` (contacts that receive every notification), ``digest_to``;
a person marked ``manager`` receives the monthly condition report.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from repoclimate.alerts.model import Severity
from repoclimate.sensors.yamlfile import FieldIssuesError, FieldPath, TimeZoneName, load_model

SeverityName = Literal["info", "warning", "critical"]


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ChannelKind = Literal["email", "webhook", "apprise", "mqtt", "grafana", "console"]


class Contact(BaseModel):
    """One way to reach someone: exactly one of ``email``, ``webhook``, ``apprise`` (any apprise
    URL: chat, SMS gateways, ntfy…), ``mqtt`` (a topic), ``grafana`` (a Grafana's URL: alert
    periods become annotations; a ``broadcast`` contact) or ``console``.

    ``min_severity`` keeps a noisy channel (SMS) for what is bad enough.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    webhook: str | None = Field(default=None, pattern=r"^https?://")
    apprise: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+._-]+://")
    mqtt: str | None = Field(default=None, min_length=1)
    grafana: str | None = Field(default=None, pattern=r"^https?://")
    console: bool = False
    min_severity: SeverityName = "info"

    @model_validator(mode="after")
    def _exactly_one(self) -> Contact:
        given = [k for k in ("email", "webhook", "apprise", "mqtt", "grafana") if getattr(self, k)]
        if self.console:
            given.append("console")
        if len(given) != 1:
            raise ValueError(
                "a contact has exactly one of email, webhook, apprise, mqtt, grafana, console "
                f"(got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def channel(self) -> ChannelKind:
        kinds: tuple[ChannelKind, ...] = ("email", "webhook", "apprise", "mqtt", "grafana")
        for kind in kinds:
            if getattr(self, kind):
                return kind
        return "console"

    @property
    def target(self) -> str:
        value = getattr(self, self.channel)
        return "-" if value is True else str(value)

    def wants(self, severity: Severity) -> bool:
        return severity >= Severity.parse(self.min_severity)


class Person(BaseModel):
    """Someone the rota can reach. ``manager`` marks who receives the monthly condition report
    (`repoclimate.reports.schedule`) at their e-mail contacts: ``true`` for every site, or a
    list of site ids; ``language`` is the report's (``en`` or ``zh-Hans``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    contacts: list[Contact] = Field(min_length=1)
    manager: bool | list[str] = False
    language: Literal["en", "zh-Hans"] = "en"

    def manages(self, site: str) -> bool:
        """Whether this person receives ``site``'s reports."""
        return self.manager is True or (isinstance(self.manager, list) and site in self.manager)


class Shift(BaseModel):
    """Who is on duty (in order: first the primary, then whom escalation calls next) on which
    days (of the shift's start) between ``from`` and ``to`` local time; ``to`` ≤ ``from`` runs
    past midnight; no times means all day."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    who: list[str] = Field(min_length=1)
    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    start: time = Field(default=time(0, 0), alias="from")
    end: time = Field(default=time(0, 0), alias="to")
    sites: list[str] | None = None

    def covers(self, local: datetime, site: str | None) -> bool:
        if self.sites is not None and site is not None and site not in self.sites:
            return False
        now = local.time().replace(tzinfo=None)
        today = DAYS[local.weekday()]
        yesterday = DAYS[(local.weekday() - 1) % 7]
        if self.start < self.end:
            return today in self.days and self.start <= now < self.end
        # all day (start == end) or running past midnight
        if today in self.days and now >= self.start:
            return True
        return self.start != self.end and yesterday in self.days and now < self.end


class EscalationStep(BaseModel):
    """After ``after_minutes`` unacknowledged: notify ``notify`` (person ids), or by default the
    next person of the shift on duty (step 0 the first, step 1 the second…)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_minutes: float = Field(ge=0)
    notify: list[str] | None = None


class Rota(BaseModel):
    """The on-call rota and escalation chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZoneName = "UTC"
    people: dict[str, Person] = Field(default_factory=dict)
    shifts: list[Shift] = Field(default_factory=list)
    escalation: list[EscalationStep] = Field(
        default_factory=lambda: [EscalationStep(after_minutes=0)]
    )
    reminder_minutes: float | None = Field(default=240.0, gt=0)
    broadcast: list[Contact] = Field(default_factory=list)
    digest_to: list[str] | None = None

    @model_validator(mode="after")
    def _references(self) -> Rota:
        # FieldIssuesError: each problem is reported at its own field's line.
        known = set(self.people)
        problems: list[tuple[FieldPath, str, FieldPath | None]] = []

        def check(path: FieldPath, who: str) -> None:
            if who not in known:
                problems.append((path, f"unknown person {who!r}", None))

        for i, shift in enumerate(self.shifts):
            for j, who in enumerate(shift.who):
                check(("shifts", i, "who", j), who)
        for i, step in enumerate(self.escalation):
            for j, who in enumerate(step.notify or []):
                check(("escalation", i, "notify", j), who)
            if i and step.after_minutes <= self.escalation[i - 1].after_minutes:
                problems.append(
                    (
                        ("escalation", i, "after_minutes"),
                        "escalation steps must have increasing after_minutes",
                        None,
                    )
                )
        for j, who in enumerate(self.digest_to or []):
            check(("digest_to", j), who)
        if not self.escalation:
            problems.append((("escalation",), "escalation needs at least one step", None))
        if problems:
            raise FieldIssuesError(problems)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def load(cls, path: Path) -> Rota:
        """Load and validate a rota YAML file; raise `ConfigError` naming file, line, field."""
        return load_model(path, cls, what="the rota file")

    def on_duty(self, when: datetime, site: str | None = None) -> list[str]:
        """The people of the first shift covering ``when`` (for ``site``), in escalation order."""
        local = when.astimezone(self.zone)
        for shift in self.shifts:
            if shift.covers(local, site):
                return list(shift.who)
        return []

    def step_people(self, step: int, when: datetime, site: str | None = None) -> list[str]:
        """Whom escalation step ``step`` calls at ``when``."""
        if step >= len(self.escalation):
            return []
        explicit = self.escalation[step].notify
        if explicit is not None:
            return list(explicit)
        duty = self.on_duty(when, site)
        return [duty[step]] if step < len(duty) else []

    def managers(self, site: str) -> list[str]:
        """The people marked as managers of ``site``, in the rota's order."""
        return [who for who, person in self.people.items() if person.manages(site)]

    def digest_people(self, when: datetime, site: str | None = None) -> list[str]:
        if self.digest_to is not None:
            return list(self.digest_to)
        return self.step_people(0, when, site)
