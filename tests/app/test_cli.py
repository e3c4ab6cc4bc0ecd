"""The ``repoclimate`` command: decode, check-config, and collect + simulate against Mosquitto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from repoclimate.app.cli import app
from repoclimate.history.sqlite import SQLiteStore
from tests.servers import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "config.yaml"
RECEIVED = "2026-11-20T03:15:00Z"

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("REPOCLIMATE_"):
            monkeypatch.delenv(name)


def decode(topic: str, payload: str, *extra: str) -> Any:
    args = ["decode", "--config", str(CONFIG), "--topic", topic, "--payload", payload]
    return runner.invoke(app, [*args, "--received-at", RECEIVED, *extra])


def readings(result: Any) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


# Real device messages (from the project's shared payload samples) and what the collector makes
# of them with examples/registry.yaml: registry sensor id, site/room, calibrated values.
SAMPLES = [
    (
        "zigbee2mqtt/stack-3-north",
        '{"battery":100,"humidity":58.12,"linkquality":120,"temperature":19.34,"voltage":3025}',
        [{"sensor": "stack-3-north", "temperature": 19.44, "humidity": 56.12, "battery": 100.0}],
    ),
    (
        "tele/vault-a/SENSOR",
        '{"Time":"2026-11-20T11:15:00","BME280":{"Temperature":15.2,"Humidity":41.0,'
        '"DewPoint":2.1,"Pressure":1009.8},"PressureUnit":"hPa","TempUnit":"C"}',
        [{"sensor": "vault-a", "time": "2026-11-20T11:15:00Z", "temperature": 15.5}],
    ),
    (
        "shellies/shellyht-6A1B2C/sensor/temperature",
        "18.25",
        [{"sensor": "photo-store-ht", "time": RECEIVED, "temperature": 18.25}],
    ),
    (
        "shellyhtg3-84fce63a9d10/events/rpc",
        '{"src":"shellyhtg3-84fce63a9d10","dst":"shellyhtg3-84fce63a9d10/events",'
        '"method":"NotifyStatus","params":{"ts":1763608500.02,"humidity:0":{"id":0,"rh":63.9}}}',
        [{"sensor": "photo-store-g3", "time": "2025-11-20T03:15:00.020Z", "humidity": 63.9}],
    ),
    (
        "archive-node-2/sensor/stack_5_humidity/state",
        "55.4",
        [{"sensor": "stack-5", "room": "stack-5", "humidity": 55.4}],
    ),
    (
        "v3/city-archives@ttn/devices/em300-stack-7/up",
        '{"end_device_ids":{"device_id":"em300-stack-7"},"received_at":"2026-11-20T03:15:01.5Z",'
        '"uplink_message":{"f_port":85,"decoded_payload":{"battery":100,"humidity":52,'
        '"temperature":19.3}}}',
        [{"sensor": "em300-stack-7", "time": "2026-11-20T03:15:01.500Z", "humidity": 52.0}],
    ),
]


@pytest.mark.parametrize(("topic", "payload", "expected"), SAMPLES)
def test_decode_real_samples(topic: str, payload: str, expected: list[dict[str, Any]]) -> None:
    decoded = readings(decode(topic, payload))
    assert len(decoded) == len(expected)
    for got, want in zip(decoded, expected, strict=True):
        assert got["site"] == "city-archives"
        assert got.items() >= want.items(), got
        assert got["time"].endswith("Z")


def test_decode_status_message_prints_nothing_and_succeeds() -> None:
    result = decode("zigbee2mqtt/bridge/state", '{"state":"online"}')
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no readings" in result.stderr


@pytest.mark.parametrize(
    ("topic", "payload", "message"),
    [
        (
            "zigbee2mqtt/reading-room",
            '{"temperature":19.3,"humidity":150}',
            "rejected (out_of_range): humidity 150 outside 0–100 %",
        ),
        (
            "repoclimate/city-archives/stack-3/s3-north",
            '{"temperature":19.3',
            "rejected (malformed_json): malformed JSON",
        ),
        (
            "archive-node-2/sensor/stack_5_humidity/state",
            "nan",
            "rejected (not_a_number): humidity 'nan' is not a number",
        ),
        (
            "v3/city-archives@ttn/devices/em300-stack-7/up",
            '{"end_device_ids":{"device_id":"em300-stack-7"},"uplink_message":{"f_port":85,'
            '"frm_payload":"AXVk"}}',
            "rejected (no_decoded_payload): uplink has no decoded payload",
        ),
    ],
)
def test_decode_rejection_exits_2_with_the_reason(topic: str, payload: str, message: str) -> None:
    result = decode(topic, payload)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message)


def test_decode_topic_without_route_says_what_the_collector_subscribes_to() -> None:
    result = decode("tele/stack1/STATE", '{"Uptime":"0T01:00:00"}')
    assert result.exit_code == 2
    assert result.stderr.startswith("rejected (bad_topic)")
    assert "tele/+/SENSOR" in result.stderr


def test_decode_format_option_overrides_the_routes() -> None:
    line = "climate,sensor=bms-searchroom temperature=20.5,humidity=45.5 1763608500000000000"
    (reading,) = readings(decode("bms/export", line, "--format", "lineprotocol"))
    assert reading["sensor"] == "reading-room-lp"
    assert reading["room"] == "reading-room"
    assert reading["time"] == "2025-11-20T03:15:00Z"


def test_decode_payload_from_file_and_stdin(tmp_path: Path) -> None:
    payload = '{"time":"2026-11-20T03:15:00Z","temperature":19.34,"humidity":58.1}'
    topic = "repoclimate/city-archives/stack-3/s3-north"
    (tmp_path / "p.json").write_text(payload)
    from_file = readings(decode(topic, f"@{tmp_path / 'p.json'}"))
    args = ["decode", "-c", str(CONFIG), "-t", topic, "-p", "-"]
    from_stdin = readings(runner.invoke(app, args, input=payload))
    assert from_file == from_stdin
    assert from_file[0]["temperature"] == 19.14  # calibrated: −0.2 K from 2026-01-10


def test_decode_without_config_keeps_devices_unassigned() -> None:
    args = ["decode", "-t", "zigbee2mqtt/x1", "-p", '{"temperature":20,"humidity":50}']
    (reading,) = readings(runner.invoke(app, [*args, "--received-at", RECEIVED]))
    assert reading == {
        "sensor": "x1",
        "time": RECEIVED,
        "temperature": 20.0,
        "humidity": 50.0,
        "site": "unassigned",
        "room": "unassigned",
    }


def test_decode_refuses_a_received_at_without_zone() -> None:
    args = ["decode", "-t", "zigbee2mqtt/x1", "-p", "{}", "--received-at", "2026-11-20T03:15"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "no time zone" in result.stderr


def test_decode_with_bad_settings_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("store:\n  api_version: v3\n")
    result = runner.invoke(app, ["decode", "-c", str(config), "-t", "a/b", "-p", "{}"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{config}:2: store.api_version: Input should be 'v1' or 'v2'"


# ----- check-config ----------------------------------------------------------------------------


def test_check_config_good() -> None:
    result = runner.invoke(app, ["check-config", "--config", str(CONFIG)])
    assert result.exit_code == 0, result.stderr
    assert "config OK" in result.stdout
    assert "1 site, 8 rooms, 13 sensors" in result.stdout
    assert "broker: mqtt://127.0.0.1:1883 (MQTT 5)" in result.stdout


def test_check_config_without_anything_uses_defaults() -> None:
    result = runner.invoke(app, ["check-config"])
    assert result.exit_code == 0, result.stderr
    assert "registry: none" in result.stdout
    assert "store: sqlite" in result.stdout


def test_check_config_bad_registry_names_file_line_and_field(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "sites:\n"
        "  - id: town-archive\n"
        "    timezone: Europe/Berlin\n"
        "    rooms:\n"
        "      - id: magazin-1\n"
        "        profile: no-such-profile\n"
        "        holdings: paper\n"
        "        sensors:\n"
        "          - id: m1\n"
        "            expected_interval_s: -5\n"
    )
    result = runner.invoke(app, ["check-config", "--registry", str(registry)])
    assert result.exit_code == 1
    assert (
        f"{registry}:10: sites[0].rooms[0].sensors[0].expected_interval_s: "
        "Input should be greater than 0"
    ) in result.stderr


def test_check_config_unknown_profile_is_located(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "sites:\n"
        "  - id: town-archive\n"
        "    timezone: Europe/Berlin\n"
        "    rooms:\n"
        "      - id: magazin-1\n"
        "        profile: no-such-profile\n"
        "        holdings: paper\n"
    )
    result = runner.invoke(app, ["check-config", "--registry", str(registry)])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"{registry}:6: sites[0].rooms[0].profile: unknown climate profile 'no-such-profile'"
    )
    assert "iso11799-paper" in result.stderr  # the valid ids are listed


def test_check_config_bad_settings_are_located(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("mqtt:\n  url: http://broker\n  keepalive: 30\n")
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    lines = sorted(result.stderr.splitlines())
    assert lines == [
        f"{config}:2: mqtt.url: must look like mqtt://host:port or mqtts://host:port",
        f"{config}:3: mqtt.keepalive: unknown key (did you mean 'keepalive_s'?)",
    ]


def test_check_config_bad_alert_rules_are_located(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("defaults:\n  excursion:\n    for_minutes: -1\n")
    config = tmp_path / "config.yaml"
    config.write_text("alerts:\n  rules: alerts.yaml\n")
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{rules}:3: defaults.excursion.for_minutes")


def test_check_config_reports_the_same_mistake_the_same_way_in_every_file(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "sites:\n"
        "  - id: town-archive\n"
        "    timezone: Europe/Berln\n"
        "    rooms:\n"
        "      - id: magazin-1\n"
        "        profile: iso11799-paper\n"
        "        holding: paper\n"
    )
    (tmp_path / "alerts.yaml").write_text(
        "sites:\n  town-archive:\n    health: {silent_factr: 2}\n"
    )
    (tmp_path / "rota.yaml").write_text("timezone: Europe/Berln\nreminder_minute: 60\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "registry: registry.yaml\n"
        f"collector: {{spool_dir: {tmp_path / 'spool'}}}\n"
        "alerts:\n"
        "  rules: alerts.yaml\n"
        "  rota: rota.yaml\n"
        f"  state_path: {tmp_path / 'alerts.sqlite'}\n"
    )
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stdout == ""
    zone = "unknown time zone 'Europe/Berln' (use an IANA name such as 'Europe/London')"
    assert result.stderr.splitlines() == [
        f"{registry}:3: sites[0].timezone: {zone}",
        f"{registry}:5: sites[0].rooms[0].holdings: Field required",
        f"{registry}:7: sites[0].rooms[0].holding: unknown key (did you mean 'holdings'?)",
        f"{tmp_path / 'alerts.yaml'}:3: sites.town-archive.health.silent_factr: unknown key "
        "(did you mean 'silent_factor'?)",
        f"{tmp_path / 'rota.yaml'}:1: timezone: {zone}",
        f"{tmp_path / 'rota.yaml'}:2: reminder_minute: unknown key "
        "(did you mean 'reminder_minutes'?)",
    ]


def test_check_config_reports_state_and_spool_paths_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A regular file where a directory must be: unwritable for root too, unlike chmod.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    (tmp_path / "taken").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        "collector:\n"
        f"  spool_dir: {blocker / 'spool'}\n"
        "alerts:\n"
        f"  state_path: {tmp_path / 'taken'}\n"
    )
    monkeypatch.setenv("REPOCLIMATE_STORE__SQLITE_PATH", str(blocker / "deep" / "r.sqlite"))
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    assert "config OK" not in result.stdout
    assert result.stderr.splitlines() == [
        f"{config}:2: collector.spool_dir: cannot create directory {blocker / 'spool'}: "
        f"{blocker} is not a directory",
        "REPOCLIMATE_STORE__SQLITE_PATH: store.sqlite_path: cannot create directory "
        f"{blocker / 'deep'}: {blocker} is not a directory",
        f"{config}:4: alerts.state_path: {tmp_path / 'taken'} is a directory, not a file",
    ]


def test_check_config_accepts_directories_it_will_create(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"collector: {{spool_dir: {tmp_path / 'var' / 'spool'}}}\n"
        f"store: {{sqlite_path: {tmp_path / 'var' / 'readings.sqlite'}}}\n"
        f"alerts: {{state_path: {tmp_path / 'var' / 'lib' / 'alerts.sqlite'}}}\n"
    )
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    assert "config OK" in result.stdout
    assert not (tmp_path / "var").exists()  # checking creates nothing


def test_check_config_reports_directories_the_service_may_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The permission answer as a service user would get it (root may write anywhere).
    from repoclimate.app import checks

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        checks.os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode)
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"collector:\n  spool_dir: {locked / 'new' / 'spool'}\n"
        f"alerts:\n  state_path: {locked / 'alerts.sqlite'}\n"
    )
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{config}:2: collector.spool_dir: cannot create directory {locked / 'new' / 'spool'}: "
        f"{locked} is not writable",
        f"{config}:4: alerts.state_path: directory {locked} is not writable",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only directory")
def test_check_config_reports_a_read_only_state_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    config = tmp_path / "config.yaml"
    config.write_text(f"alerts:\n  state_path: {locked / 'alerts.sqlite'}\n")
    try:
        result = runner.invoke(app, ["check-config", "--config", str(config)])
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"{config}:2: alerts.state_path: directory {locked} is not writable"
    )


def test_alerts_commands_are_mounted() -> None:
    result = runner.invoke(app, ["alerts", "--help"])
    assert result.exit_code == 0
    for command in ("list", "ack", "silence", "evaluate", "backtest"):
        assert command in result.stdout


# ----- collect + simulate, as processes, through a real Mosquitto ----------------------------


def repoclimate(*args: str) -> list[str]:
    return [sys.executable, "-m", "repoclimate.app", *args]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("REPOCLIMATE_")}


def test_collect_stores_what_simulate_publishes(tmp_path: Path, mosquitto: Mosquitto) -> None:
    registry = tmp_path / "registry.yaml"
    done = subprocess.run(
        repoclimate("simulate", "--formats", "mixed", "--write-registry", str(registry)),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert done.returncode == 0, done.stderr
    config = tmp_path / "config.yaml"
    config.write_text(
        f"mqtt: {{url: 'mqtt://127.0.0.1:{mosquitto.port}', client_id: app-cli-test}}\n"
        "collector: {spool_dir: spool, batch_interval_s: 0.2}\n"
        "store: {kind: sqlite, sqlite_path: readings.sqlite}\n"
        "registry: registry.yaml\n"
    )
    log = tmp_path / "collect.log"
    with log.open("w") as log_file:
        collector = subprocess.Popen(
            repoclimate("collect", "--config", str(config)),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
    try:
        wait_for(lambda: "connected to" in log.read_text(), 20)
        published = subprocess.run(
            repoclimate("simulate", "-c", str(config), "--count", "300", "--formats", "mixed"),
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
        )
        assert published.returncode == 0, published.stderr
        assert published.stdout.startswith("published 300 messages")
        store = SQLiteStore(tmp_path / "readings.sqlite")
        try:
            wait_for(lambda: store.count() >= 250, 30)
            placed = store.latest()
        finally:
            store.close()
        assert {r.site for r in placed} == {"city-archives"}  # every device placed
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)
    output = log.read_text()
    assert collector.returncode == 0, output
    assert "Traceback" not in output


def test_collect_with_bad_settings_fails_at_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("store: {kind: postgres}\n")
    done = subprocess.run(
        repoclimate("collect", "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"{config}:1: store.kind: Input should be")


def test_simulate_unreachable_broker_fails_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("mqtt: {url: 'mqtt://127.0.0.1:9'}\n")
    done = subprocess.run(
        repoclimate("simulate", "-c", str(config), "--count", "5"),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert done.returncode == 1
    assert "cannot connect to MQTT broker 127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_simulate_bad_fault_is_a_usage_error() -> None:
    result = runner.invoke(app, ["simulate", "--count", "5", "--fault", "flood:stack-3"])
    assert result.exit_code == 2
    assert "flood" in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["simulate", "--count", "5", "--fault", "leak:stack-3@6"], "bad fault 'leak:stack-3@6'"),
        (["simulate", "--duration", "6"], "Invalid value for --duration"),
        (["demo", "--duration", "20", "--no-live"], "Invalid value for --duration"),
        (["demo", "--backfill", "48", "--no-live"], "Invalid value for --backfill"),
        (["demo", "--interval", "300", "--no-live"], "Invalid value for --interval"),
    ],
)
def test_a_duration_without_a_unit_is_a_usage_error(args: list[str], named: str) -> None:
    # "@6" used to mean six seconds without a word: every duration option needs a unit.
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.replace("│", " ").split())  # unwrap rich's error box
    assert named in message
    assert "has no unit: write" in message


def wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)
