"""Faults the simulator can inject, and the text syntax that names them.

A fault spec is ``KIND:TARGET[@START][+DURATION]``:

``KIND``
    ``dehumidifier-failure``, ``hvac-failure``, ``leak``, ``door-open`` act on a room;
    ``sensor-dies`` (stops publishing) and ``sensor-sticks`` (repeats its last values) act on a
    sensor.
``TARGET``
    a room id (``stack-3``, or ``city-archives/stack-3`` when two sites share a room id), or a
    sensor's registry id or device id (``s3-north``, ``shellyht-6A1B2C``).
``START``
    when the fault begins, as a duration after the simulation start (`sensors.durations`:
    ``90s``, ``30m``, ``2h``, ``1d``, ``1h30m``; a number needs its unit). Default ``0``.
``DURATION``
    how long it lasts, same syntax; default: until the end of the run.

Examples: ``dehumidifier-failure:stack-3@2h``, ``sensor-dies:s3-north@30m``,
``door-open:vault-a@1d+45m``, ``leak:stack-1@6h+3h``, ``sensor-sticks:stack-3-north@4h+1d``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from repoclimate.sensors.durations import DurationError, format_duration, parse_seconds
from repoclimate.sensors.simulate.physics import ROOM_FAULTS

SENSOR_FAULTS = frozenset({"sensor-dies", "sensor-sticks"})
"""Fault kinds that act on one sensor."""
FAULT_KINDS = ROOM_FAULTS | SENSOR_FAULTS

_SPEC = re.compile(
    r"^(?P<kind>[a-z-]+):(?P<target>[^@+\s]+)(?:@(?P<start>[^+\s]+))?(?:\+(?P<duration>\S+))?$"
)


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed or does not fit the simulated layout."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault of ``kind`` on ``target`` from ``start_s`` after the run starts, for
    ``duration_s`` seconds (``math.inf``: until the end)."""

    kind: str
    target: str
    start_s: float = 0.0
    duration_s: float = math.inf

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def on_room(self) -> bool:
        return self.kind in ROOM_FAULTS

    def __str__(self) -> str:
        text = f"{self.kind}:{self.target}@{format_duration(self.start_s)}"
        if math.isfinite(self.duration_s):
            text += f"+{format_duration(self.duration_s)}"
        return text


def parse_fault(spec: str) -> Fault:
    """The fault named by ``spec`` (syntax in the module docstring); ``FaultSpecError`` if bad."""
    match = _SPEC.match(spec.strip())
    if match is None:
        raise FaultSpecError(
            f"bad fault {spec!r}: expected KIND:TARGET[@START][+DURATION], "
            "e.g. dehumidifier-failure:stack-3@2h"
        )
    kind = match.group("kind")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(
            f"bad fault {spec!r}: unknown kind {kind!r}; kinds: {', '.join(sorted(FAULT_KINDS))}"
        )
    start = match.group("start")
    duration = match.group("duration")
    try:
        start_s = parse_seconds(start) if start is not None else 0.0
        duration_s = parse_seconds(duration) if duration is not None else math.inf
    except DurationError as exc:
        raise FaultSpecError(f"bad fault {spec!r}: {exc}") from None
    return Fault(kind, match.group("target"), start_s, duration_s)
