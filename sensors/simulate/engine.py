"""The simulation run: rooms stepped in time, sensors reading them on schedule, faults applied,
readings encoded as MQTT messages — with, for each message, the reading it should become.

No network and no clock: :class:`Simulation` is driven by the simulated time of its schedule, so
the same layout, start, seed and faults always give the same messages.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from repoclimate.sensors.calibration import CalibrationTable, correct
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.simulate.encoders import (
    DECODER_FORMAT,
    TIMESTAMPED,
    device_values,
    encode_messages,
)
from repoclimate.sensors.simulate.faults import Fault, FaultSpecError, parse_fault
from repoclimate.sensors.simulate.layout import Layout, SimRoom, SimSensor, SimSite
from repoclimate.sensors.simulate.physics import (
    ROOM_FAULTS,
    OutdoorModel,
    RoomModel,
    relative_humidity_pct,
)

TEMPERATURE_NOISE_C = 0.05
"""Standard deviation of a sensor's temperature noise [°C]."""
HUMIDITY_NOISE_PCT = 0.4
"""Standard deviation of a sensor's humidity noise [%RH]."""
SURFACE_COUPLING = 0.15
"""Share of the room-to-outdoor temperature difference a wall surface sits below the air."""


class SimMessage(NamedTuple):
    """One simulated MQTT message and the reading a collector should make of it.

    ``expected`` is the reading as stored: registry sensor id, site and room, calibrated values,
    and the simulated time of the observation. For encodings that carry no time in the payload
    (``timestamped`` false: esphome, shelly-gen1) the collector stamps the time of receipt
    instead.
    """

    topic: str
    payload: bytes
    expected: Reading
    fmt: str
    """Decoder format name (``sensors.formats``)."""
    encoding: str
    """Encoding the simulator used (``shelly-gen1`` / ``shelly-gen2`` are both ``shelly``)."""
    timestamped: bool


@dataclass
class _SensorRun:
    site: SimSite
    room: SimRoom
    sensor: SimSensor
    model: RoomModel
    outdoor: OutdoorModel
    zone: ZoneInfo
    table: CalibrationTable
    rng: random.Random
    next_s: int
    battery_start: float
    dies: list[tuple[float, float]] = field(default_factory=list)
    sticks: list[tuple[float, float]] = field(default_factory=list)
    last: tuple[float | None, float | None] | None = None
    stuck: tuple[float | None, float | None] | None = None


def _active(windows: list[tuple[float, float]], t_s: float) -> bool:
    return any(start <= t_s < end for start, end in windows)


class Simulation:
    """A repository's climate and sensors from ``start`` on, as a stream of MQTT messages."""

    def __init__(
        self,
        layout: Layout,
        *,
        start: datetime,
        seed: int = 0,
        faults: Iterable[Fault | str] = (),
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.layout = layout
        self.start = start.astimezone(UTC).replace(microsecond=0)
        self.seed = seed
        start_s = self.start.timestamp()
        self._start_s = start_s
        self._rooms: dict[tuple[str, str], RoomModel] = {}
        self._runs: list[_SensorRun] = []
        for site in layout.sites:
            zone = site.zone
            outdoor = OutdoorModel(
                site.outdoor, zone, random.Random(f"{seed}/outdoor/{site.id}"), start_s
            )
            for room in site.rooms:
                model = RoomModel(room.climate, outdoor, start_s)
                self._rooms[(site.id, room.id)] = model
                for sensor in room.sensors:
                    rng = random.Random(f"{seed}/sensor/{sensor.id}")
                    self._runs.append(
                        _SensorRun(
                            site=site,
                            room=room,
                            sensor=sensor,
                            model=model,
                            outdoor=outdoor,
                            zone=zone,
                            table=CalibrationTable.build(sensor.calibration, zone),
                            rng=rng,
                            next_s=int(start_s) + rng.randrange(max(1, sensor.interval_s)),
                            battery_start=100.0 - rng.uniform(0.0, 15.0),
                        )
                    )
        self.faults = [self._apply(parse_fault(f) if isinstance(f, str) else f) for f in faults]
        self._queue = [(run.next_s, order) for order, run in enumerate(self._runs)]
        heapq.heapify(self._queue)

    # ----- faults ---------------------------------------------------------------------------

    def _apply(self, fault: Fault) -> Fault:
        begin = self._start_s + fault.start_s
        end = self._start_s + fault.end_s
        if fault.kind in ROOM_FAULTS:
            (_, room), model = self._room_entry(fault)
            climate = model.climate
            if fault.kind == "dehumidifier-failure" and not climate.has_dehumidifier:
                raise FaultSpecError(f"fault {fault}: room {room} has no dehumidifier")
            if fault.kind == "hvac-failure" and not climate.has_hvac:
                raise FaultSpecError(f"fault {fault}: room {room} has no HVAC")
            model.add_fault(fault.kind, begin, end)
        else:
            runs = [run for run in self._runs if fault.target in (run.sensor.id, run.sensor.device)]
            if not runs:
                known = ", ".join(sorted(run.sensor.id for run in self._runs)[:40])
                raise FaultSpecError(f"fault {fault}: no sensor {fault.target!r}; sensors: {known}")
            for run in runs:
                windows = run.dies if fault.kind == "sensor-dies" else run.sticks
                windows.append((begin, end))
        return fault

    def _room_entry(self, fault: Fault) -> tuple[tuple[str, str], RoomModel]:
        site_id, slash, room_id = fault.target.rpartition("/")
        found = [
            (key, model)
            for key, model in self._rooms.items()
            if key[1] == room_id and (not slash or key[0] == site_id)
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            known = ", ".join(sorted({room for _, room in self._rooms}))
            raise FaultSpecError(f"fault {fault}: no room {fault.target!r}; rooms: {known}")
        raise FaultSpecError(
            f"fault {fault}: room {room_id!r} is in several sites; write <site>/<room>"
        )

    # ----- access for tests and demos ------------------------------------------------------

    def room_model(self, room: str) -> RoomModel:
        """The model of room ``room`` (``<room>`` or ``<site>/<room>``)."""
        return self._room_entry(Fault("door-open", room))[1]

    # ----- the message stream ----------------------------------------------------------------

    def messages(
        self, *, until: datetime | None = None, count: int | None = None
    ) -> Iterator[SimMessage]:
        """Messages in simulated-time order, up to (not including) ``until`` and at most
        ``count`` of them; endless when both are ``None``. Calling it again continues."""
        until_s = math.inf if until is None else until.timestamp()
        emitted = 0
        queue = self._queue
        while queue and (count is None or emitted < count):
            t_s, order = queue[0]
            if t_s >= until_s:
                return
            run = self._runs[order]
            heapq.heapreplace(queue, (t_s + max(1, run.sensor.interval_s), order))
            for message in self._observe(run, t_s):
                yield message
                emitted += 1
                if count is not None and emitted >= count:
                    return

    def _observe(self, run: _SensorRun, t_s: int) -> list[SimMessage]:
        sensor = run.sensor
        run.model.advance_to(t_s)
        spot_c = run.model.temperature_c + sensor.position_c
        if sensor.surface:
            outdoor_c, _ = run.outdoor.at(t_s)
            spot_c -= SURFACE_COUPLING * (run.model.temperature_c - outdoor_c)
        rh = relative_humidity_pct(run.model.vapour_hpa, spot_c)
        temperature: float | None = spot_c + sensor.bias_c + run.rng.gauss(0, TEMPERATURE_NOISE_C)
        humidity: float | None = min(
            100.0, max(0.0, rh + sensor.bias_rh + run.rng.gauss(0, HUMIDITY_NOISE_PCT))
        )
        linkquality = None
        if sensor.encoding == "zigbee2mqtt":
            linkquality = float(run.rng.randint(60, 160))
        elif sensor.encoding == "ttn":
            linkquality = float(run.rng.randint(-112, -70))
        if sensor.quantity == "temperature":
            humidity = None
        elif sensor.quantity == "humidity":
            temperature = None
        if _active(run.dies, t_s):
            return []
        if _active(run.sticks, t_s):
            if run.stuck is None:
                run.stuck = run.last or (temperature, humidity)
            temperature, humidity = run.stuck
        else:
            run.stuck = None
            run.last = (temperature, humidity)
        battery = None
        if sensor.battery:
            days = (t_s - self._start_s) / 86400.0
            battery = float(max(1, round(run.battery_start - 0.03 * days)))

        time = datetime.fromtimestamp(t_s, UTC)
        raw = Reading(
            sensor.device,
            time,
            temperature,
            humidity,
            battery,
            linkquality,
            run.site.id,
            run.room.id,
        )
        values = device_values(
            sensor.encoding, raw, humidity_fraction=sensor.humidity_fraction, model=sensor.model
        )
        encoded = encode_messages(
            sensor.encoding,
            sensor.device,
            raw,
            timezone=run.zone,
            humidity_fraction=sensor.humidity_fraction,
            model=sensor.model,
            explicit_quantity=sensor.quantity is not None,
        )
        fmt = DECODER_FORMAT[sensor.encoding]
        timestamped = sensor.encoding in TIMESTAMPED
        messages = []
        for message in encoded:
            carried = message.quantities
            t_value, h_value = correct(
                values.temperature if "temperature" in carried else None,
                values.humidity if "humidity" in carried else None,
                time,
                table=run.table,
                humidity_fraction=sensor.humidity_fraction,
            )
            expected = Reading(
                sensor.id,
                time,
                t_value,
                h_value,
                values.battery if "battery" in carried else None,
                values.linkquality if "linkquality" in carried else None,
                run.site.id,
                run.room.id,
            )
            messages.append(
                SimMessage(
                    message.topic, message.payload, expected, fmt, sensor.encoding, timestamped
                )
            )
        return messages


def default_start(
    layout: Layout,
    *,
    now: datetime,
    duration: timedelta | None = None,
    count: int | None = None,
) -> datetime:
    """A start such that the run ends about ``now``: ``now − duration``; for a message count,
    ``now −`` the simulated time that many messages take; otherwise a week before ``now``."""
    if duration is not None:
        span = duration
    elif count is not None:
        per_hour = max(layout.messages_per_hour(), 1e-9)
        span = timedelta(hours=count / per_hour)
    else:
        span = timedelta(days=7)
    span = min(span, timedelta(days=3650))
    return (now - span).replace(microsecond=0)


__all__ = ["SimMessage", "Simulation", "default_start"]
