"""The simulator: its physics, its faults, its encoders (checked against the real decoders) and
publishing through a real Mosquitto."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from repoclimate.sensors.formats import decode_message, detect_format
from repoclimate.sensors.formats.base import DecodeContext
from repoclimate.sensors.reading import UNASSIGNED, Reading
from repoclimate.sensors.registry import Registry, load_registry, parse_registry
from repoclimate.sensors.simulate.encoders import encode
from repoclimate.sensors.simulate.engine import SimMessage, Simulation
from repoclimate.sensors.simulate.faults import Fault, FaultSpecError, parse_fault
from repoclimate.sensors.simulate.layout import demo_layout, layout_from_registry
from repoclimate.sensors.simulate.physics import OutdoorClimate, OutdoorModel
from repoclimate.sensors.simulator import (
    SimulatorError,
    generate_messages,
    simulate,
    simulated_registry_yaml,
)
from repoclimate.sensors.validate import check_reading
from tests.servers import Mosquitto, free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registry.yaml"
SUMMER = datetime(2026, 7, 1, tzinfo=UTC)
WINTER = datetime(2026, 1, 5, tzinfo=UTC)
FORMAT_OPTIONS = [
    "mixed",
    "generic",
    "zigbee2mqtt",
    "tasmota",
    "shelly",
    "esphome",
    "ttn",
    "lineprotocol",
    "tasmota,ttn,esphome",
]


# ----- fault specs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("dehumidifier-failure:stack-3@2h", Fault("dehumidifier-failure", "stack-3", 7200.0)),
        ("sensor-dies:s3-north@30m", Fault("sensor-dies", "s3-north", 1800.0)),
        ("door-open:vault-a@1d+45m", Fault("door-open", "vault-a", 86400.0, 2700.0)),
        ("leak:city-archives/stack-1", Fault("leak", "city-archives/stack-1", 0.0)),
        ("sensor-sticks:shellyht-6A1B2C@1h30m+90s", Fault("sensor-sticks", "shellyht-6A1B2C", 5400, 90)),  # noqa: E501
        ("hvac-failure:vault-a@0.5h", Fault("hvac-failure", "vault-a", 1800.0)),
    ],
)  # fmt: skip
def test_fault_specs_parse(spec: str, fault: Fault) -> None:
    assert parse_fault(spec) == fault
    assert parse_fault(str(fault)) == fault


@pytest.mark.parametrize(
    "spec",
    ["flood:stack-3", "leak", "leak:stack-3@soon", "leak:stack-3@2h+", "leak:stack-3@-1h", ""],
)
def test_bad_fault_specs(spec: str) -> None:
    with pytest.raises(FaultSpecError, match="bad fault"):
        parse_fault(spec)


def test_a_fault_time_without_a_unit_is_refused() -> None:
    # "@6" used to mean six seconds without a word; a number needs its unit (sensors.durations).
    with pytest.raises(FaultSpecError, match=r"bad fault .*'6' has no unit: write 6s, 6m, 6h"):
        parse_fault("dehumidifier-failure:stack-3@6")
    with pytest.raises(FaultSpecError, match="has no unit"):
        parse_fault("leak:stack-3@2h+90")
    assert parse_fault("leak:stack-3@1w2d+0").start_s == 9 * 86400


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("leak:stack-99", "no room 'stack-99'"),
        ("dehumidifier-failure:stack-7", "has no dehumidifier"),
        ("hvac-failure:stack-3", "has no HVAC"),
        ("sensor-dies:ghost", "no sensor 'ghost'"),
    ],
)
def test_faults_must_fit_the_layout(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        Simulation(demo_layout(), start=SUMMER, faults=[spec])


# ----- physics ---------------------------------------------------------------------------------


def sample(
    sim: Simulation, room: str, start: datetime, hours: float, step_min: float = 10
) -> list[tuple[float, float]]:
    """(temperature, RH) of a room every ``step_min`` minutes for ``hours`` from ``start``."""
    model = sim.room_model(room)
    values = []
    for k in range(int(hours * 60 / step_min) + 1):
        model.advance_to(start.timestamp() + k * step_min * 60)
        values.append((model.temperature_c, model.relative_humidity_pct))
    return values


def spread(values: list[float]) -> float:
    return max(values) - min(values)


def test_daily_cycle_is_damped_indoors() -> None:
    sim = Simulation(demo_layout(), start=SUMMER, seed=3)
    day = SUMMER + timedelta(days=1)
    sample(sim, "stack-7", SUMMER, 24)  # settle for a day
    outdoor = sim.room_model("stack-7").outdoor
    outdoor_t = [outdoor.at(day.timestamp() + k * 600)[0] for k in range(145)]
    outstore_t = [t for t, _ in sample(sim, "stack-7", day, 24)]
    conditioned_t = [t for t, _ in sample(sim, "stack-5", day, 24)]
    assert 4.0 < spread(outdoor_t) < 16.0
    assert 0.3 < spread(outstore_t) < 0.5 * spread(outdoor_t)
    assert spread(conditioned_t) < 0.3
    # the free-running room is warmest in the evening, after the outdoor afternoon peak
    warmest = outstore_t.index(max(outstore_t)) * 10 / 60
    assert 14 <= warmest <= 24


def test_seasons_drift_free_running_rooms() -> None:
    summer = Simulation(demo_layout(), start=SUMMER)
    winter = Simulation(demo_layout(), start=WINTER)
    summer_t = [t for t, _ in sample(summer, "stack-3", SUMMER, 48, 60)]
    winter_t = [t for t, _ in sample(winter, "stack-3", WINTER, 48, 60)]
    assert sum(summer_t) / len(summer_t) > sum(winter_t) / len(winter_t) + 2.0
    vault_summer = [t for t, _ in sample(summer, "vault-a", SUMMER, 48, 60)]
    assert all(abs(t - 1.0) < 0.5 for t in vault_summer)


def test_dehumidifier_holds_its_set_point() -> None:
    sim = Simulation(demo_layout(), start=SUMMER)
    rh = [h for _, h in sample(sim, "stack-3", SUMMER, 24 * 7, 60)]
    assert all(39.0 < h < 43.0 for h in rh)


def test_dehumidifier_failure_raises_rh_over_hours() -> None:
    sim = Simulation(demo_layout(), start=SUMMER, faults=["dehumidifier-failure:stack-3@6h"])
    rh = [h for _, h in sample(sim, "stack-3", SUMMER, 6 + 48, 60)]
    before, after_1h, after_6h, after_24h = rh[6], rh[7], rh[12], rh[30]
    assert before < 43.0
    assert after_1h - before < 6.0  # not a step: air exchange and the holdings buffer it
    assert all(a < b for a, b in itertools.pairwise(rh[6:31]))  # climbing for a day
    assert after_6h > before + 10.0
    assert after_24h > 80.0  # mould territory within a day


def test_one_reporting_interval_for_every_sensor() -> None:
    layout = demo_layout().with_interval(3600)
    assert {sensor.interval_s for _, _, sensor in layout.sensors()} == {3600}
    registry = parse_registry(layout.registry_yaml(), "registry.yaml")
    assert {spec.expected_interval_s for _, _, spec in registry.sensors()} == {3600.0}
    assert demo_layout().with_interval(None) == demo_layout()
    with pytest.raises(ValueError, match="at least 1 s"):
        demo_layout().with_interval(0)


def test_ground_temperature_is_the_damped_lagged_annual_wave() -> None:
    # Carslaw & Jaeger §2.6: at one damping depth the annual swing is 1/e of the surface's and
    # one radian (58 days) late.
    climate = OutdoorClimate()
    outdoor = OutdoorModel(climate, ZoneInfo("UTC"), random.Random(0), WINTER.timestamp())
    depth = climate.soil_damping_depth_m
    days = range(365)
    ground = [outdoor.ground_c(WINTER.timestamp() + d * 86400.0, depth) for d in days]
    swing = (max(ground) - min(ground)) / 2
    assert swing == pytest.approx(climate.seasonal_amplitude_c / math.e, rel=1e-3)
    warmest = (WINTER + timedelta(days=ground.index(max(ground)))).timetuple().tm_yday
    assert warmest - climate.warmest_day == pytest.approx(365.2425 / (2 * math.pi), abs=1.5)
    assert sum(ground) / len(ground) == pytest.approx(climate.annual_mean_c, abs=0.05)


@pytest.mark.parametrize("start", [WINTER, SUMMER])
def test_a_basement_turns_damp_within_two_days_when_its_dehumidifier_fails(
    start: datetime,
) -> None:
    sim = Simulation(demo_layout(), start=start, faults=["dehumidifier-failure:stack-1@2h"])
    values = sample(sim, "stack-1", start, 2 + 72, 60)
    rh = [h for _, h in values]
    assert 39.0 < rh[2] < 43.0  # the dehumidifier at work
    assert all(a < b for a, b in itertools.pairwise(rh[2:26]))
    assert 65.0 < rh[2 + 12] < 85.0  # buffered by the holdings: hours, not minutes
    assert rh[2 + 48] > 90.0  # the damp walls win: above VTT's critical 80 %RH
    assert max(rh) <= 100.0
    assert all(9.0 < t < 15.0 for t, _ in values)  # held near the soil's temperature
    # the ground-floor stack's walls are dry: in winter it stays drier than the basement
    if start is WINTER:
        ground_floor = Simulation(
            demo_layout(), start=start, faults=["dehumidifier-failure:stack-3@2h"]
        )
        assert sample(ground_floor, "stack-3", start, 2 + 48, 60)[-1][1] < rh[2 + 48] - 5.0


def test_vault_condenses_when_its_dehumidifier_fails() -> None:
    sim = Simulation(demo_layout(), start=WINTER, faults=["dehumidifier-failure:vault-a"])
    rh = [h for _, h in sample(sim, "vault-a", WINTER, 72, 60)]
    assert rh[0] < 40.0
    assert rh[-1] > 80.0
    assert max(rh) <= 100.0


def test_door_open_steps_toward_the_corridor_and_recovers() -> None:
    sim = Simulation(demo_layout(), start=WINTER, faults=["door-open:vault-a@2h+1h"])
    values = sample(sim, "vault-a", WINTER, 24, 10)
    t_before, rh_before = values[12]
    t_open, _ = values[18]  # one hour open
    t_later, rh_later = values[-1]
    assert t_open > t_before + 5.0
    assert abs(t_later - t_before) < 1.0
    assert abs(rh_later - rh_before) < 5.0


def test_leak_drives_rh_high_quickly() -> None:
    sim = Simulation(demo_layout(), start=WINTER, faults=["leak:stack-1@1h+4h"])
    rh = [h for _, h in sample(sim, "stack-1", WINTER, 12, 30)]
    assert rh[2] < 55.0
    assert rh[6] > rh[2] + 25.0  # two hours into the leak, dehumidifier running
    assert rh[-1] < 60.0  # leak fixed, dehumidifier dries it out


# ----- faults on sensors -----------------------------------------------------------------------


def readings_of(messages: Iterator[SimMessage], sensor: str) -> list[Reading]:
    return [m.expected for m in messages if m.expected.sensor == sensor]


def test_dead_sensor_stops_publishing() -> None:
    messages = generate_messages(start=SUMMER, duration="4h", faults=["sensor-dies:s3-north@1h+2h"])
    times = [r.time for r in readings_of(messages, "s3-north")]
    dead = [t for t in times if SUMMER + timedelta(hours=1) <= t < SUMMER + timedelta(hours=3)]
    assert dead == []
    assert len([t for t in times if t < SUMMER + timedelta(hours=1)]) == 12
    assert len([t for t in times if t >= SUMMER + timedelta(hours=3)]) == 12


def test_stuck_sensor_repeats_its_last_values() -> None:
    messages = list(
        generate_messages(start=SUMMER, duration="6h", faults=["sensor-sticks:stack1@2h+2h"])
    )
    readings = readings_of(iter(messages), "stack1")
    stuck = [
        (r.temperature, r.humidity)
        for r in readings
        if SUMMER + timedelta(hours=2) <= r.time < SUMMER + timedelta(hours=4)
    ]
    last_before = next(
        (r.temperature, r.humidity)
        for r in reversed(readings)
        if r.time < SUMMER + timedelta(hours=2)
    )
    assert len(stuck) == 24
    assert set(stuck) == {last_before}
    after = {(r.temperature, r.humidity) for r in readings if r.time >= SUMMER + timedelta(hours=4)}
    assert len(after) > 10
    # a stuck sensor still reports on time
    stuck_payloads = [m.payload for m in messages if m.topic == "tele/stack1/SENSOR"]
    assert len(set(stuck_payloads)) == len(stuck_payloads)  # the Time field still advances


def test_same_seed_same_messages_other_seed_other_values() -> None:
    def run(seed: int) -> list[tuple[str, bytes]]:
        return [(m.topic, m.payload) for m in generate_messages(start=SUMMER, count=300, seed=seed)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_counts_and_durations() -> None:
    assert len(list(generate_messages(start=SUMMER, count=123))) == 123
    messages = list(generate_messages(start=SUMMER, duration=timedelta(hours=2)))
    assert max(m.expected.time for m in messages) < SUMMER + timedelta(hours=2)
    # every sensor reports once per expected interval
    per_sensor = Counter(m.expected.sensor for m in messages if m.fmt != "esphome")
    assert per_sensor["s3-north"] == 24 and per_sensor["em300-stack-7"] == 12


# ----- encoders against the real decoders ------------------------------------------------------


def decode_and_place(message: SimMessage, registry: Registry, received_at: datetime) -> Reading:
    assert detect_format(message.topic, message.payload) == message.fmt
    context = DecodeContext(
        received_at=received_at,
        timezone=registry.timezone_for_sensor(message.expected.sensor),
        quantity_for=registry.quantity_for,
    )
    [reading] = decode_message(message.topic, message.payload, message.fmt, context)
    placed = registry.resolve(message.fmt, message.topic, reading)
    check_reading(placed)
    return placed


def expected_at(message: SimMessage, received_at: datetime) -> Reading:
    if message.timestamped:
        return message.expected
    return dataclasses.replace(message.expected, time=received_at)


@pytest.mark.parametrize("formats", FORMAT_OPTIONS)
def test_every_encoding_decodes_back_to_the_expected_reading(formats: str) -> None:
    registry = parse_registry(simulated_registry_yaml(formats=formats))
    encodings: Counter[str] = Counter()
    for start in (SUMMER, WINTER + timedelta(days=7)):  # BST and GMT for local-time formats
        for message in generate_messages(start=start, duration="2h", formats=formats):
            received_at = message.expected.time + timedelta(seconds=2)
            placed = decode_and_place(message, registry, received_at)
            assert placed == expected_at(message, received_at), message
            encodings[message.encoding] += 1
    if formats == "mixed":
        assert set(encodings) == {
            "generic",
            "zigbee2mqtt",
            "tasmota",
            "shelly-gen1",
            "shelly-gen2",
            "esphome",
            "ttn",
            "lineprotocol",
        }


def test_calibration_and_humidity_fraction_reach_the_expected_reading() -> None:
    """s3-north's device reads 0.2 °C high and 1.5 %RH low; its calibration corrects it."""
    registry = parse_registry(simulated_registry_yaml())
    start = datetime(2026, 1, 9, 23, tzinfo=UTC)
    for message in generate_messages(start=start, duration="2h"):
        if message.expected.sensor not in ("s3-north", "s3-south"):
            continue
        placed = decode_and_place(message, registry, message.expected.time)
        assert placed == message.expected
        if message.expected.sensor == "s3-south":
            assert b'"humidity":0.' in message.payload  # sent as a fraction
    raw = Reading("s3-north", start + timedelta(hours=2), 19.3, 58.1, site="city-archives")
    [(_, payload)] = encode("generic", "s3-north", dataclasses.replace(raw, room="stack-3"))
    assert payload == b'{"time":"2026-01-10T01:00:00Z","temperature":19.3,"humidity":58.1}'


def test_payload_shapes_follow_the_real_devices() -> None:
    reading = Reading(
        "x", datetime(2026, 11, 20, 3, 15, tzinfo=UTC), 19.3, 52.0, 100.0, site="city-archives"
    )
    [(topic, payload)] = encode("tasmota", "stack1", reading, timezone=ZoneInfo("Asia/Shanghai"))
    assert topic == "tele/stack1/SENSOR"
    assert payload.startswith(b'{"Time":"2026-11-20T11:15:00","AM2301":{"Temperature":19.3,')
    [(topic, payload)] = encode("ttn", "em300-stack-7", reading)
    assert topic == "v3/city-archives@ttn/devices/em300-stack-7/up"
    assert b'"frm_payload":"AXVkA2fBAARoaA=="' in payload  # the real sample's EM300 bytes
    assert [t for t, _ in encode("esphome", "archive-node-2/stack_5", reading)] == [
        "archive-node-2/sensor/stack_5_temperature/state",
        "archive-node-2/sensor/stack_5_humidity/state",
    ]
    assert encode("shelly-gen1", "shellyht-6A1B2C", reading) == [
        ("shellies/shellyht-6A1B2C/sensor/temperature", b"19.3"),
        ("shellies/shellyht-6A1B2C/sensor/humidity", b"52.0"),
        ("shellies/shellyht-6A1B2C/sensor/battery", b"100"),
    ]
    [(topic, payload)] = encode("lineprotocol", "bms searchroom", reading)
    assert payload == (
        b"climate,sensor=bms\\ searchroom temperature=19.3,humidity=52.0,battery=100.0 "
        b"1795144500000000000"
    )


def test_one_format_for_all_and_copies() -> None:
    yaml_text = simulated_registry_yaml(formats="esphome", copies=3)
    registry = parse_registry(yaml_text)
    assert len(list(registry.sensors())) == 3 * 13
    assert registry.sensor("s3-north-x2").match.device == "stack-3-node/s3_north_x2"
    messages = list(generate_messages(start=SUMMER, duration="1h", formats="esphome", copies=3))
    assert {m.encoding for m in messages} == {"esphome"}
    assert len({m.expected.sensor for m in messages}) == 39


def test_example_registry_matches_the_demo_layout() -> None:
    example = load_registry(EXAMPLE)
    demo = parse_registry(simulated_registry_yaml())

    def summary(registry: Registry) -> set[tuple[Any, ...]]:
        return {
            (
                site.id,
                room.id,
                room.profile,
                room.holdings,
                sensor.id,
                sensor.device,
                sensor.match.format,
                sensor.quantity,
                sensor.expected_interval_s,
                sensor.humidity_fraction,
                tuple(
                    (c.from_, c.temperature_offset, c.humidity_offset) for c in sensor.calibration
                ),
            )
            for site, room, sensor in registry.sensors()
        }

    assert summary(example) == summary(demo)
    # so the demo's messages are all placed by the example registry
    for message in generate_messages(start=SUMMER, duration="1h"):
        placed = decode_and_place(message, example, message.expected.time)
        assert (placed.sensor, placed.room) == (message.expected.sensor, message.expected.room)


def test_layout_from_a_registry_publishes_its_devices() -> None:
    registry = load_registry(EXAMPLE)
    layout = layout_from_registry(registry)
    assert {s.device for _, _, s in layout.sensors()} == {
        s.device for _, _, s in registry.sensors()
    }
    for message in generate_messages(registry=EXAMPLE, start=WINTER, duration="1h"):
        placed = decode_and_place(message, registry, message.expected.time)
        assert placed.room != UNASSIGNED
        assert placed == expected_at(message, message.expected.time)


# ----- publishing through Mosquitto ------------------------------------------------------------


class Subscriber:
    """A paho subscriber collecting every non-retained message on the simulator's topics."""

    TOPICS = (
        "repoclimate/#",
        "zigbee2mqtt/#",
        "tele/#",
        "shellies/#",
        "+/events/rpc",
        "+/sensor/+/state",
        "v3/#",
    )

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{port}-{id(self)}")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10), "subscriber did not connect"

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(topic, 1) for topic in self.TOPICS])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not message.retain:
            self.received.append((message.topic, message.payload))

    def wait_for(self, count: int, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_publishes_every_message_through_mosquitto(mosquitto: Mosquitto, protocol: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    options: dict[str, Any] = {
        "start": start,
        "duration": "90m",
        "seed": 11,
        "faults": ["sensor-dies:s3-north@30m"],
    }
    expected = list(generate_messages(**options))
    subscriber = Subscriber(mosquitto.port)
    try:
        report = simulate(host="127.0.0.1", port=mosquitto.port, protocol=protocol, **options)
        subscriber.wait_for(len(expected))
    finally:
        subscriber.close()
    assert report.total == len(expected)
    assert report.published == Counter(m.encoding for m in expected)
    assert not report.rejected
    assert Counter(subscriber.received) == Counter((m.topic, m.payload) for m in expected)
    registry = parse_registry(simulated_registry_yaml())
    by_message = {(m.topic, m.payload): m for m in expected}
    for topic, payload in subscriber.received:
        message = by_message[(topic, payload)]
        received_at = datetime.now(UTC)
        assert decode_and_place(message, registry, received_at) == expected_at(message, received_at)


def test_max_rate_paces_publishing(mosquitto: Mosquitto) -> None:
    started = time.monotonic()
    report = simulate(
        port=mosquitto.port, start=SUMMER, count=40, max_rate=100.0, formats="generic"
    )
    elapsed = time.monotonic() - started
    assert report.total == 40
    assert elapsed >= 0.35


def test_speed_paces_simulated_time(mosquitto: Mosquitto) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    report = simulate(port=mosquitto.port, start=start, duration="2h", speed=7200 * 2.5)
    assert report.first_time is not None and report.last_time is not None
    assert (
        report.wall_s
        >= (report.last_time - report.first_time).total_seconds() / (7200 * 2.5) - 0.05
    )
    assert report.total == len(list(generate_messages(start=start, duration="2h")))


def test_stop_ends_an_endless_run(mosquitto: Mosquitto) -> None:
    stop = threading.Event()
    seen: list[int] = []

    def progress(report: Any) -> None:
        seen.append(report.sent)
        if report.sent >= 50:
            stop.set()

    report = simulate(
        port=mosquitto.port,
        start=SUMMER,
        formats="zigbee2mqtt",
        max_rate=2000,
        stop=stop,
        on_progress=progress,
        progress_every_s=0.01,
    )
    assert 50 <= report.total == report.sent < 1000
    assert seen


def test_unreachable_broker_is_an_error() -> None:
    with pytest.raises(SimulatorError, match="cannot connect"):
        simulate(port=free_port(), start=SUMMER, count=1)


def test_no_messages_from_the_future() -> None:
    """A run that would pass the present publishes nothing beyond it (the collector would refuse
    it); generate_messages itself is not paced, so check the release rule on its output."""
    now = datetime.now(UTC)
    messages = list(generate_messages(duration="1h"))
    assert messages and all(m.expected.time <= now for m in messages)
    assert math.isclose(
        (now - min(m.expected.time for m in messages)).total_seconds(), 3600, abs_tol=600
    )
