"""The hot path without a network: routing, limits, registry placement, validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.settings import DEFAULT_ROUTES, TopicRoute
from repoclimate.sensors.reading import UNASSIGNED, DecodeError
from repoclimate.sensors.registry import Registry, load_registry, parse_registry
from tests.ingest.helpers import REGISTRY

NOW = datetime(2026, 11, 20, 3, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(load_registry(REGISTRY), DEFAULT_ROUTES, max_payload_bytes=1024)


def test_a_reading_is_placed_and_calibrated_by_the_registry(pipeline: Pipeline) -> None:
    [reading] = pipeline.process(
        "repoclimate/city-archives/stack-3/s3-north",
        b'{"time":"2026-11-20T03:00:00Z","temperature":19.34,"humidity":58.1}',
        NOW,
    )
    assert (reading.sensor, reading.site, reading.room) == ("s3-north", "city-archives", "stack-3")
    assert reading.temperature == pytest.approx(19.14)  # offset -0.2 °C from 2026-01-10
    assert reading.humidity == pytest.approx(59.6)  # offset +1.5 %RH
    assert reading.time == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def test_a_payload_without_time_takes_the_receive_time(pipeline: Pipeline) -> None:
    [reading] = pipeline.process(
        "zigbee2mqtt/reading-room", b'{"temperature":21,"humidity":47}', NOW
    )
    assert reading.time == NOW
    assert reading.room == "reading-room"


def test_an_unknown_sensor_is_kept_unassigned(pipeline: Pipeline) -> None:
    [reading] = pipeline.process("repoclimate/x/y/stranger", b'{"temperature":20.5}', NOW)
    assert (reading.sensor, reading.site, reading.room) == ("stranger", UNASSIGNED, UNASSIGNED)


def test_status_messages_carry_no_reading(pipeline: Pipeline) -> None:
    assert pipeline.process("zigbee2mqtt/bridge/state", b'{"state":"online"}', NOW) == []


def test_the_first_matching_route_names_the_format(pipeline: Pipeline) -> None:
    assert pipeline.format_for("repoclimate/city-archives/lines") == "lineprotocol"
    assert pipeline.format_for("repoclimate/city-archives/stack-3/s3-north") == "generic"
    assert pipeline.format_for("tele/stack1/SENSOR") == "tasmota"
    assert pipeline.format_for("elsewhere/entirely") is None
    readings = pipeline.process(
        "repoclimate/city-archives/lines",
        b"climate,sensor=a temperature=19.3 1763608500000000000\n"
        b"climate,sensor=b humidity=50.5 1763608500000000000",
        NOW,
    )
    assert [r.sensor for r in readings] == ["a", "b"]


def test_auto_routes_detect_the_format_per_message() -> None:
    pipeline = Pipeline(Registry.empty(), [TopicRoute(filter="#", format="auto")], 1024)
    [zigbee] = pipeline.process("zigbee2mqtt/z1", b'{"temperature":20}', NOW)
    [tasmota] = pipeline.process(
        "tele/t1/SENSOR", b'{"Time":"2026-11-20T03:00:00","AM2301":{"Temperature":19.5}}', NOW
    )
    assert (zigbee.sensor, tasmota.sensor) == ("z1", "t1")


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("elsewhere/entirely", b'{"temperature":20}', "bad_topic"),
        ("repoclimate/a/b/c", b"x" * 1025, "too_large"),
        ("repoclimate/a/b/c", b'{"temperature":20', "malformed_json"),
        ("repoclimate/a/b/c", b'{"humidity":150}', "out_of_range"),
        ("repoclimate/a/b/c", b'{"temperature":NaN}', "not_a_number"),
        ("repoclimate/a/b/c", b'{"time":"2031-01-01T00:00:00Z","temperature":20}', "bad_time"),
        ("repoclimate/a/b/c", b"\xff\xfe\x00", "not_utf8"),
    ],
)
def test_bad_messages_raise_decode_errors_with_a_reason(
    pipeline: Pipeline, topic: str, payload: bytes, reason: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        pipeline.process(topic, payload, NOW)
    assert caught.value.reason == reason
    assert str(caught.value)


def test_the_size_limit_is_checked_before_parsing(pipeline: Pipeline) -> None:
    exactly = b'{"temperature":20.5' + b" " * (1024 - 20) + b"}"
    assert len(exactly) == 1024
    assert pipeline.process("repoclimate/a/b/c", exactly, NOW)[0].temperature == 20.5
    with pytest.raises(DecodeError, match="1025 bytes exceeds the limit of 1024"):
        pipeline.process("repoclimate/a/b/c", exactly + b" ", NOW)


def test_a_pipeline_needs_a_route() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Pipeline(Registry.empty(), [], 1024)


TWO_SITES = """
sites:
  - id: london
    name: London
    timezone: Europe/London
    rooms:
      - id: stack
        name: Stack
        profile: iso11799-paper
        holdings: paper
        sensors:
          - id: lon-1
            match: {format: tasmota, device: lon-tasmota}
  - id: shanghai
    name: Shanghai
    timezone: Asia/Shanghai
    rooms:
      - id: vault
        name: Vault
        profile: iso11799-paper
        holdings: paper
        sensors:
          - id: sha-1
            match: {format: tasmota, device: sha-tasmota}
"""


def test_device_local_times_are_read_in_the_zone_of_the_devices_own_site() -> None:
    pipeline = Pipeline(parse_registry(TWO_SITES), DEFAULT_ROUTES, max_payload_bytes=1024)
    payload = b'{"Time":"2026-11-20T11:15:00","AM2301":{"Temperature":19.5}}'
    [shanghai] = pipeline.process("tele/sha-tasmota/SENSOR", payload, NOW)
    assert (shanghai.sensor, shanghai.site) == ("sha-1", "shanghai")
    assert shanghai.time == datetime(2026, 11, 20, 3, 15, tzinfo=UTC)  # 11:15 CST = 03:15Z
    early = b'{"Time":"2026-11-20T03:10:00","AM2301":{"Temperature":19.5}}'
    [london] = pipeline.process("tele/lon-tasmota/SENSOR", early, NOW)
    assert london.time == datetime(2026, 11, 20, 3, 10, tzinfo=UTC)  # GMT in November
    [stranger] = pipeline.process("tele/stranger/SENSOR", early, NOW)
    assert stranger.time == datetime(2026, 11, 20, 3, 10, tzinfo=UTC)  # first site's zone
