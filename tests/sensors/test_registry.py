"""The sensor registry: loading, errors that name file/line/field, and placing readings."""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from repoclimate.sensors.reading import UNASSIGNED, Reading
from repoclimate.sensors.registry import (
    Registry,
    RegistryError,
    load_registry,
    parse_registry,
    topic_matches,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registry.yaml"
WHEN = datetime(2026, 11, 20, 3, 15, tzinfo=UTC)


def registry_text(sensors: str = "", *, room_extra: str = "", site_extra: str = "") -> str:
    """A one-site, one-room registry with the given sensor entries (YAML, indented 10)."""
    text = textwrap.dedent(
        """\
        sites:
          - id: city-archives
            name: City Archives
            timezone: Europe/London
        {site_extra}
            rooms:
              - id: stack-3
                profile: iso11799-paper
                holdings: paper
        {room_extra}
                sensors:
        {sensors}
        """
    )
    return text.format(
        sensors=textwrap.indent(textwrap.dedent(sensors), " " * 10) or "          []",
        room_extra=textwrap.indent(textwrap.dedent(room_extra), " " * 8),
        site_extra=textwrap.indent(textwrap.dedent(site_extra), " " * 4),
    )


def errors_of(text: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, "registry.yaml")
    return str(caught.value).splitlines()


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


# ----- loading ---------------------------------------------------------------------------------


def test_example_registry_loads() -> None:
    registry = load_registry(EXAMPLE)
    assert registry.source == str(EXAMPLE)
    assert [site.id for site in registry.sites] == ["city-archives"]
    rooms = [room.id for _, room in registry.rooms()]
    assert rooms[:2] == ["stack-1", "stack-3"]
    assert {"vault-a", "map-room", "photo-store"} <= set(rooms)
    site, room, sensor = registry.locate("s3-north")
    assert (site.id, room.id, sensor.expected_interval_s) == ("city-archives", "stack-3", 300)
    assert registry.sensor("photo-store-ht").device == "shellyht-6A1B2C"
    assert registry.room("city-archives", "vault-a").profile == "film-cold"
    assert registry.default_timezone == ZoneInfo("Europe/London")
    with pytest.raises(KeyError, match="nope"):
        registry.sensor("nope")


def test_example_covers_every_sample_device() -> None:
    """The devices of tests/sensors/payloads are all placed by the example registry."""
    registry = load_registry(EXAMPLE)
    samples = [
        ("generic", "repoclimate/city-archives/stack-3/s3-north", "s3-north", "stack-3"),
        ("zigbee2mqtt", "zigbee2mqtt/stack-3-north", "stack-3-north", "stack-3"),
        ("tasmota", "tele/stack1/SENSOR", "stack1", "stack-1"),
        ("tasmota", "tele/vault-a/SENSOR", "vault-a", "vault-a"),
        ("shelly", "shellies/shellyht-6A1B2C/sensor/humidity", "shellyht-6A1B2C", "photo-store"),
        ("shelly", "shellyhtg3-84fce63a9d10/events/rpc", "shellyhtg3-84fce63a9d10", "photo-store"),
        ("esphome", "archive-node-2/sensor/stack_5_rh/state", "archive-node-2/stack_5", "stack-5"),
        ("ttn", "v3/city-archives@ttn/devices/em300-stack-7/up", "em300-stack-7", "stack-7"),
        ("ttn", "v3/city-archives@ttn/devices/ers-map-room/up", "ers-map-room", "map-room"),
        ("zigbee2mqtt", "zigbee2mqtt/reading-room", "reading-room", "reading-room"),
    ]  # fmt: skip
    for fmt, topic, device, room in samples:
        placed = registry.resolve(fmt, topic, Reading(device, WHEN, 19.0, 50.0))
        assert (placed.site, placed.room) == ("city-archives", room), device


def test_example_profiles_are_known_climate_profiles() -> None:
    profiles = pytest.importorskip("repoclimate.preservation.profiles")
    load_registry(EXAMPLE).check_profiles(profiles.KNOWN_PROFILE_IDS)  # old names too


def test_empty_registry_keeps_everything_unassigned() -> None:
    registry = Registry.empty()
    placed = registry.resolve("generic", "repoclimate/x/y/z", Reading("z", WHEN, 20.0, 50.0))
    assert (placed.sensor, placed.site, placed.room) == ("z", UNASSIGNED, UNASSIGNED)
    assert registry.default_timezone == ZoneInfo("UTC")
    assert list(registry.rooms()) == []


# ----- errors name file, line and field --------------------------------------------------------


def test_error_names_file_line_and_field() -> None:
    text = registry_text(
        """\
        - id: s3-north
          expected_interval_s: 300
        - id: s3-south
          expected_interval_s: 0
        """
    )
    line = line_of(text, "expected_interval_s: 0")
    assert errors_of(text) == [
        f"registry.yaml:{line}: sites[0].rooms[0].sensors[1].expected_interval_s: "
        "Input should be greater than 0"
    ]


def test_unknown_keys_are_rejected_where_they_are() -> None:
    text = registry_text("- id: s3-north\n  expected_interval: 300\n", room_extra="colour: red\n")
    assert errors_of(text) == [
        f"registry.yaml:{line_of(text, 'colour')}: sites[0].rooms[0].colour: unknown key "
        "(known keys: id, name, profile, holdings, sensors)",
        f"registry.yaml:{line_of(text, 'expected_interval')}: "
        "sites[0].rooms[0].sensors[0].expected_interval: unknown key "
        "(did you mean 'expected_interval_s'?)",
    ]


def test_missing_field_points_at_its_parent() -> None:
    text = registry_text("- id: s3-north\n").replace("        holdings: paper\n", "")
    [error] = errors_of(text)
    assert error == (
        f"registry.yaml:{line_of(text, '- id: stack-3')}: sites[0].rooms[0].holdings: "
        "Field required"
    )


@pytest.mark.parametrize(
    ("sensor", "needle", "field", "message"),
    [
        ("- id: a\n  match: {format: modbus}\n", "modbus", "match.format", "Input should be"),
        ("- id: a\n  match: {topic: 'a/#/b'}\n", "a/#/b", "match.topic", "'#' must be"),
        ("- id: a\n  match: {topic: 'a/b+'}\n", "b+", "match.topic", "'+' must be a whole level"),
        ("- id: 'bad id'\n", "bad id", "id", "String should match pattern"),
        ("- id: a\n  quantity: pressure\n", "pressure", "quantity", "Input should be"),
        (
            "- id: a\n  match: {format: tasmota}\n  quantity: humidity\n",
            "quantity",
            "quantity",
            "quantity applies to ESPHome sensors only",
        ),
        (
            "- id: a\n  calibration:\n    - {from: 2026-01-10, humidity_offset: 40}\n",
            "humidity_offset",
            "calibration[0].humidity_offset",
            "less than or equal to 25",
        ),
        (
            "- id: a\n  calibration:\n    - {from: last tuesday}\n",
            "last tuesday",
            "calibration[0].from",
            "Input should be a date",
        ),
        ("- id: a\n  humidity_fraction: maybe\n", "maybe", "humidity_fraction", "valid boolean"),
        ('- id: a\n  match: {device: "x\\t"}\n', "device:", "match.device", "control character"),
        ("- id: a\n  match: {device: 'x\\\\'}\n", "device:", "match.device", "backslash"),
    ],
)
def test_sensor_field_errors(sensor: str, needle: str, field: str, message: str) -> None:
    text = registry_text(sensor)
    [error] = errors_of(text)
    prefix = f"registry.yaml:{line_of(text, needle)}: sites[0].rooms[0].sensors[0].{field}: "
    assert error.startswith(prefix), error
    assert message in error


def test_bad_timezone_is_named() -> None:
    text = registry_text("- id: a\n").replace("Europe/London", "Europe/Londn")
    assert errors_of(text) == [
        f"registry.yaml:{line_of(text, 'Europe/Londn')}: sites[0].timezone: unknown time zone "
        "'Europe/Londn' (use an IANA name such as 'Europe/London')"
    ]


def test_duplicate_sensor_ids_name_both_places() -> None:
    text = registry_text("- id: s3-north\n- id: other\n- id: s3-north\n  match: {format: ttn}\n")
    first, second = line_of(text, "id: s3-north", 1), line_of(text, "id: s3-north", 2)
    assert errors_of(text) == [
        f"registry.yaml:{second}: sites[0].rooms[0].sensors[2].id: duplicate sensor id "
        f"'s3-north' (first at line {first}, sites[0].rooms[0].sensors[0].id)"
    ]


def test_duplicate_rooms_sites_and_matches() -> None:
    text = textwrap.dedent(
        """\
        sites:
          - id: a
            timezone: UTC
            rooms:
              - {id: r, profile: p, holdings: paper, sensors: [{id: s1}]}
              - {id: r, profile: p, holdings: paper, sensors: [{id: s2, match: {device: s1}}]}
          - id: a
            timezone: UTC
        """
    )
    errors = errors_of(text)
    assert errors == [
        "registry.yaml:6: sites[0].rooms[1].id: duplicate room id 'r' "
        "(first at line 5, sites[0].rooms[0].id)",
        "registry.yaml:6: sites[0].rooms[1].sensors[0].match: duplicate match (device 's1', "
        "same format and topic) (first at line 5, sites[0].rooms[0].sensors[0].match)",
        "registry.yaml:7: sites[1].id: duplicate site id 'a' (first at line 2, sites[0].id)",
    ]


def test_duplicate_yaml_keys_are_errors() -> None:
    text = registry_text("- id: a\n  expected_interval_s: 60\n  expected_interval_s: 600\n")
    first = line_of(text, "expected_interval_s", 1)
    second = line_of(text, "expected_interval_s", 2)
    assert errors_of(text) == [
        f"registry.yaml:{second}: sites[0].rooms[0].sensors[0].expected_interval_s: "
        f"duplicate key 'expected_interval_s' (first at line {first})"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sites:\n  - id: a\n    rooms: [\n", "registry.yaml:4: invalid YAML"),
        ("", "registry.yaml:1: the registry is empty"),
        ("- a\n- b\n", "registry.yaml:1: expected a mapping with a 'sites' list"),
        ("sites: 3\n", "registry.yaml:1: sites: Input should be a valid tuple"),
    ],
)
def test_document_level_errors(text: str, expected: str) -> None:
    assert errors_of(text)[0].startswith(expected)


def test_errors_collect_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(registry_text("- id: a\n  expected_interval_s: -1\n- id: b\n  surface: 3\n"))
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert [issue.field for issue in caught.value.issues] == [
        "sites[0].rooms[0].sensors[0].expected_interval_s",
        "sites[0].rooms[0].sensors[1].surface",
    ]
    assert all(issue.source == str(path) and issue.line for issue in caught.value.issues)


def test_missing_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"nope\.yaml: file not found$"):
        load_registry(tmp_path / "nope.yaml")


def test_check_profiles_names_the_room_line() -> None:
    text = registry_text("- id: a\n").replace("iso11799-paper", "iso-paper")
    registry = parse_registry(text, "registry.yaml")
    registry.check_profiles({"iso-paper"})
    with pytest.raises(RegistryError) as caught:
        registry.check_profiles(["ashrae-a", "bs4971"])
    assert str(caught.value) == (
        f"registry.yaml:{line_of(text, 'iso-paper')}: sites[0].rooms[0].profile: unknown "
        "climate profile 'iso-paper'; known: ashrae-a, bs4971"
    )


# ----- placing readings ------------------------------------------------------------------------


def test_resolve_places_and_renames() -> None:
    registry = parse_registry(
        registry_text("- id: north\n  match: {format: zigbee2mqtt, device: 'Stack 3 North'}\n")
    )
    reading = Reading("Stack 3 North", WHEN, 19.3, 58.1, battery=90, linkquality=120)
    placed = registry.resolve("zigbee2mqtt", "zigbee2mqtt/Stack 3 North", reading)
    assert placed == Reading(
        "north", WHEN, 19.3, 58.1, 90, 120, site="city-archives", room="stack-3"
    )


def test_unknown_sensor_is_kept_unassigned() -> None:
    registry = load_registry(EXAMPLE)
    reading = Reading("mystery-7", WHEN, 21.5, 0.4, battery=50)
    placed = registry.resolve("zigbee2mqtt", "zigbee2mqtt/mystery-7", reading)
    assert placed == Reading("mystery-7", WHEN, 21.5, 0.4, 50, site=UNASSIGNED, room=UNASSIGNED)


def test_format_and_topic_must_match_when_given() -> None:
    registry = load_registry(EXAMPLE)
    reading = Reading("s3-north", WHEN, 19.0, 50.0)
    # s3-north is generic under repoclimate/city-archives/#
    assert registry.resolve("generic", "repoclimate/city-archives/a/s3-north", reading).room == (
        "stack-3"
    )
    assert registry.resolve("tasmota", "tele/s3-north/SENSOR", reading).room == UNASSIGNED
    assert registry.resolve("generic", "repoclimate/elsewhere/s3-north", reading).room == (
        UNASSIGNED
    )
    # "auto" (format not known) matches any format
    assert registry.resolve("auto", "repoclimate/city-archives/x/s3-north", reading).room == (
        "stack-3"
    )


def test_most_specific_match_wins() -> None:
    registry = parse_registry(
        registry_text(
            """\
            - id: any-format
              match: {device: dev}
            - id: by-format
              match: {format: tasmota, device: dev}
            - id: by-topic
              match: {device: dev, topic: 'site-b/#'}
            - id: by-both
              match: {format: tasmota, device: dev, topic: 'site-b/+/SENSOR'}
            """
        )
    )
    reading = Reading("dev", WHEN, 20.0)
    assert registry.resolve("generic", "x/dev", reading).sensor == "any-format"
    assert registry.resolve("tasmota", "tele/dev/SENSOR", reading).sensor == "by-format"
    assert registry.resolve("generic", "site-b/dev", reading).sensor == "by-topic"
    assert registry.resolve("tasmota", "site-b/dev/SENSOR", reading).sensor == "by-both"


def test_humidity_fraction_is_scaled() -> None:
    registry = load_registry(EXAMPLE)
    placed = registry.resolve("generic", "x", Reading("s3-south", WHEN, 19.3, 0.581))
    assert placed.humidity == 58.1
    assert placed.temperature == 19.3


def test_resolve_is_fast() -> None:
    registry = load_registry(EXAMPLE)
    readings = [
        Reading(device, WHEN, 19.0 + i * 0.01, 50.0)
        for i, device in enumerate(["s3-north", "stack-3-north", "vault-a", "unknown-1"] * 12_500)
    ]
    started = time.perf_counter()
    for reading in readings:
        registry.resolve("generic", "repoclimate/city-archives/stack-3/x", reading)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.5, f"{len(readings) / elapsed:.0f} readings/s"  # > 20 000/s with margin


def test_timezones() -> None:
    text = registry_text("- id: a\n").replace(
        "    rooms:", "    rooms: []\n  - id: depot\n    timezone: Asia/Shanghai\n    rooms:", 1
    )
    registry = parse_registry(text)
    assert registry.default_timezone == ZoneInfo("Europe/London")
    assert registry.timezone_for_sensor("a") == ZoneInfo("Asia/Shanghai")
    assert registry.timezone_for_sensor("unknown") == ZoneInfo("Europe/London")
    timezone_for = registry.timezone_resolver()
    assert timezone_for("a") == ZoneInfo("Asia/Shanghai")
    assert timezone_for("a") == ZoneInfo("Asia/Shanghai")  # cached
    assert timezone_for("unknown") == ZoneInfo("Europe/London")


def test_quantity_for_esphome_topics() -> None:
    registry = load_registry(EXAMPLE)
    assert registry.quantity_for("archive-node-2/sensor/stack_5_wall/state") == "temperature"
    assert registry.quantity_for("archive-node-2/sensor/stack_5_humidity/state") is None
    assert registry.quantity_for("zigbee2mqtt/stack-3-north") is None
    by_topic = parse_registry(
        registry_text(
            "- id: p\n  match: {format: esphome, device: n/p, topic: 'n/sensor/probe/state'}\n"
            "  quantity: humidity\n"
        )
    )
    assert by_topic.quantity_for("n/sensor/probe/state") == "humidity"


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a/b/c", True),
        ("a/#", "a", True),
        ("+/b/#", "x/b", True),
        ("#", "$SYS/broker", False),
        ("+/x", "$SYS/x", False),
        ("a/b", "a/c", False),
    ],
)
def test_topic_matches(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches
