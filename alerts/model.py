"""The records the alerting stages pass to each other: findings from rules, alerts and their
events from the lifecycle, silences.

Times are timezone-aware UTC ``datetime`` everywhere; the numeric series code works in epoch
seconds and converts at its edges (`to_epoch`, `from_epoch`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Severity(enum.IntEnum):
    """How bad: ``info`` goes to the weekly digest, ``warning`` and ``critical`` page."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError as exc:
            raise ValueError(f"unknown severity {text!r} (info, warning, critical)") from exc


class AlertState(enum.StrEnum):
    """Where an alert is in its life: pending → firing → acknowledged → resolved."""

    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


OPEN_STATES = (AlertState.PENDING, AlertState.FIRING, AlertState.ACKNOWLEDGED)


def to_epoch(when: datetime) -> float:
    """Seconds since the epoch of an aware datetime."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: times must be timezone-aware")
    return when.timestamp()


def from_epoch(seconds: float) -> datetime:
    """The aware UTC datetime of epoch seconds."""
    return datetime.fromtimestamp(float(seconds), tz=UTC)


class EpochTimes(dict[float, datetime]):
    """`from_epoch` of each epoch second converted once: ``times[seconds]``. The findings of one
    episode (one per step, thousands in a backtest) all carry its start time."""

    def __missing__(self, seconds: float) -> datetime:
        when = self[seconds] = from_epoch(seconds)
        return when


@dataclass(frozen=True, slots=True, order=True)
class Subject:
    """What an alert is about: a sensor, a room, or (``key`` set) something else such as a
    notification channel."""

    site: str | None = None
    room: str | None = None
    sensor: str | None = None
    key: str | None = None

    @property
    def id(self) -> str:
        """Stable text id, unique per subject: ``site/room/sensor``, ``site/room`` or ``key``."""
        if self.key is not None:
            return self.key
        return "/".join(part for part in (self.site, self.room, self.sensor) if part is not None)

    @property
    def where(self) -> str:
        """Human description of the place."""
        if self.key is not None:
            return self.key
        parts = []
        if self.sensor:
            parts.append(f"sensor {self.sensor}")
        if self.room:
            parts.append(f"room {self.room}")
        if self.site:
            parts.append(f"site {self.site}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict that a condition holds at an instant.

    ``since`` is when the condition began (from the data, not from when it was noticed);
    ``for_s`` how long it must hold before the alert fires; ``clear_s`` how long it must stay
    absent before a firing alert resolves (a return within it continues the same alert);
    ``value`` and ``threshold`` the measured quantity and the limit it crossed, in ``unit``.
    ``page`` false sends it to the digest instead of paging.
    """

    rule: str
    subject: Subject
    severity: Severity
    since: datetime
    value: float
    threshold: float
    unit: str
    summary: str
    advice: str
    for_s: float = 0.0
    page: bool = True
    clear_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as stored: one open alert per (rule, subject) at a time."""

    id: int
    rule: str
    subject: Subject
    state: AlertState
    severity: Severity
    since: datetime
    value: float
    threshold: float
    unit: str
    summary: str
    advice: str
    page: bool
    created_at: datetime
    fired_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    ack_token: str
    for_s: float = 0.0
    peak_value: float | None = None
    clear_s: float = 0.0
    last_seen: datetime | None = None
    """When the condition was last found: a firing alert resolves ``clear_s`` after it."""


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded transition of an alert, with who or what made it."""

    alert_id: int
    time: datetime
    from_state: AlertState | None
    to_state: AlertState
    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Silence:
    """Suppresses notifications (not evaluation) for matching alerts until ``ends_at``.

    A ``None`` matcher field matches anything; a silence with only ``site`` set covers the site.
    """

    id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    site: str | None = None
    room: str | None = None
    sensor: str | None = None
    rule: str | None = None
    created_at: datetime | None = None

    def active_at(self, when: datetime) -> bool:
        return self.starts_at <= when < self.ends_at

    def matches(self, rule: str, subject: Subject) -> bool:
        if self.rule is not None and not (rule == self.rule or rule.startswith(self.rule + ".")):
            return False
        if self.site is not None and subject.site != self.site:
            return False
        if self.room is not None and subject.room != self.room:
            return False
        return self.sensor is None or subject.sensor == self.sensor


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change the lifecycle made in one evaluation (what backtest prints)."""

    alert_id: int
    rule: str
    subject: Subject
    time: datetime
    from_state: AlertState | None
    to_state: AlertState
    severity: Severity
    value: float
    threshold: float
    unit: str
    summary: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def slot_writers(cls: type, fields: tuple[str, ...], user: str) -> tuple[Any, ...]:
    """The writers of a frozen slotted dataclass's fields, in ``fields``' order, for code
    that builds many of them by writing their slots on ``object.__new__(cls)`` — the same
    object as ``cls(...)`` in a fraction of its time (a frozen dataclass's ``__init__`` makes
    an ``object.__setattr__`` call per field). Refuses (``TypeError`` naming ``user``, which
    must then be updated) unless ``cls`` has exactly these fields and no ``__post_init__``:
    writing slots skips both."""
    slots = getattr(cls, "__slots__", ())
    if slots != fields or hasattr(cls, "__post_init__"):
        raise TypeError(
            f"{user} writes {cls.__name__}'s fields {fields} unchecked, but {cls.__name__} now "
            f"has {slots} or a __post_init__: update {user}"
        )
    return tuple(cls.__dict__[name].__set__ for name in fields)
