"""``repoclimate alerts list|ack|silence|silences|unsilence|backtest|evaluate``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from repoclimate.alerts.cli import CONFIG_ENV_VAR, alerts_app
from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import Finding, Severity, Subject
from repoclimate.alerts.state import AlertStore
from repoclimate.app.settings import CONFIG_ENV_VAR as SERVICE_CONFIG_ENV_VAR
from repoclimate.history import StoreSettings, open_store
from tests.alerts.conftest import series
from tests.alerts.test_engine import readings

runner = CliRunner()

REGISTRY = """
sites:
  - id: city
    name: City Archives
    timezone: Europe/London
    rooms:
      - id: stack-3
        name: Stack 3
        profile: iso11799-paper
        holdings: paper
        sensors:
          - {id: s1, expected_interval_s: 300}
"""


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.sqlite"
    state = AlertStore(path)
    now = datetime.now(UTC)
    with state.transaction() as tx:
        finding = Finding(
            "mould.risk",
            Subject("city", "stack-3", "s1"),
            Severity.CRITICAL,
            now - timedelta(hours=3),
            1.1,
            1.0,
            "MRF",
            "Mould risk factor 1.10",
            "dehumidifier",
            0.0,
        )
        apply_findings(tx, [finding], ["mould.risk"], ["city/stack-3/s1"], now)
    state.close()
    return path


def test_list_and_ack(state_path: Path) -> None:
    listed = runner.invoke(alerts_app, ["list", "--state", str(state_path)])
    assert listed.exit_code == 0, listed.output
    assert "firing" in listed.output and "Mould risk" in listed.output
    assert "city/stack-3/s1" in listed.output
    acked = runner.invoke(
        alerts_app,
        ["ack", "1", "--state", str(state_path), "--by", "alice", "--note", "dehumidifier emptied"],
    )
    assert acked.exit_code == 0, acked.output
    assert "Acknowledged alert 1" in acked.output
    again = runner.invoke(alerts_app, ["ack", "1", "--state", str(state_path), "--by", "bob"])
    assert again.exit_code == 1
    assert "already acknowledged by alice" in again.output
    missing = runner.invoke(alerts_app, ["ack", "42", "--state", str(state_path)])
    assert missing.exit_code == 1 and "no alert with id 42" in missing.output
    as_json = runner.invoke(alerts_app, ["list", "--json", "--state", str(state_path)])
    assert '"acknowledged_by": "alice"' in as_json.output


def test_list_finds_the_config_in_the_environment_and_shows_site_local_time(
    tmp_path: Path,
) -> None:
    (tmp_path / "registry.yaml").write_text(REGISTRY)
    state_path = tmp_path / "alerts.sqlite"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"registry: {tmp_path / 'registry.yaml'}\nalerts:\n  state_path: {state_path}\n"
    )
    state = AlertStore(state_path)
    since = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 13:00 British Summer Time
    with state.transaction() as tx:
        finding = Finding(
            "excursion.humidity_high",
            Subject("city", "stack-3", "s1"),
            Severity.WARNING,
            since,
            70.0,
            45.0,
            "%RH",
            "RH 70 %",
            "dehumidifier",
        )
        apply_findings(tx, [finding], [finding.rule], ["city/stack-3/s1"], since)
    state.close()

    # no --config, no --state: REPOCLIMATE_CONFIG names the file, as for the other commands
    assert CONFIG_ENV_VAR == SERVICE_CONFIG_ENV_VAR == "REPOCLIMATE_CONFIG"
    listed = runner.invoke(alerts_app, ["list"], env={"REPOCLIMATE_CONFIG": str(config)})
    assert listed.exit_code == 0, listed.output
    assert "since 2026-07-01 13:00 BST" in listed.output
    # --state with --registry: the demo's data directory
    direct = runner.invoke(
        alerts_app,
        ["list", "--state", str(state_path), "--registry", str(tmp_path / "registry.yaml")],
        env={"REPOCLIMATE_CONFIG": ""},
    )
    assert "since 2026-07-01 13:00 BST" in direct.output
    bare = runner.invoke(alerts_app, ["list", "--state", str(state_path)])
    assert "since 2026-07-01 12:00 UTC" in bare.output  # no registry: no site zone to use


def test_silence_commands(state_path: Path) -> None:
    made = runner.invoke(
        alerts_app,
        [
            "silence",
            "--state",
            str(state_path),
            "--site",
            "city",
            "--room",
            "stack-3",
            "--for",
            "2h",
            "--reason",
            "dehumidifier service",
            "--by",
            "alice",
        ],
    )
    assert made.exit_code == 0, made.output
    assert made.output.startswith("Silence 1 until")
    listed = runner.invoke(alerts_app, ["silences", "--state", str(state_path)])
    assert "site=city room=stack-3" in listed.output and "dehumidifier service" in listed.output
    ended = runner.invoke(alerts_app, ["unsilence", "1", "--state", str(state_path)])
    assert ended.exit_code == 0
    assert (
        "No silences" in runner.invoke(alerts_app, ["silences", "--state", str(state_path)]).output
    )
    bad = runner.invoke(
        alerts_app, ["silence", "--state", str(state_path), "--reason", "x", "--for", "2h"]
    )
    assert bad.exit_code == 1 and "needs a site" in bad.output
    both = runner.invoke(
        alerts_app, ["silence", "--state", str(state_path), "--reason", "x", "--site", "city"]
    )
    assert both.exit_code == 1 and "exactly one of --for and --until" in both.output


def test_backtest_prints_what_would_have_fired(tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text(REGISTRY)
    store_path = tmp_path / "readings.sqlite"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"registry: registry.yaml\nstore:\n  kind: sqlite\n  sqlite_path: {store_path}\n"
    )
    start = datetime(2026, 1, 5, tzinfo=UTC)
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=store_path))
    rh = lambda h: np.where((h > 4) & (h < 9), 52.0, 40.0)  # noqa: E731  (band 30–45 %)
    store.write(readings(series("s1", 24, temperature=16.0, humidity=rh, start=start)))
    store.close()
    rules = tmp_path / "alerts.yaml"
    rules.write_text("defaults:\n  excursion: {for_minutes: 60}\n")
    result = runner.invoke(
        alerts_app,
        [
            "backtest",
            "--config",
            str(config),
            "--rules",
            str(rules),
            "--start",
            "2026-01-05T00:00",
            "--end",
            "2026-01-06T00:00",
            "--classes",
            "excursion",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "1 alerts fired" in lines[0]
    assert "2026-01-05 05:05 GMT  FIRED     warning  Relative humidity above band" in lines[1]
    # last seen 08:55; excursion's 30-min clear-hold
    assert "2026-01-05 09:25 GMT  RESOLVED" in lines[2]
    bad = runner.invoke(
        alerts_app,
        [
            "backtest",
            "--config",
            str(config),
            "--start",
            "2026-01-05",
            "--end",
            "2026-01-06",
            "--classes",
            "excursoin",
        ],
    )
    assert bad.exit_code == 1 and "unknown rule classes" in bad.output


def test_evaluate_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "registry.yaml").write_text(REGISTRY)
    config = tmp_path / "config.yaml"
    config.write_text("registry: registry.yaml\nstore: {kind: sqlite, sqlite_path: r.sqlite}\n")
    result = runner.invoke(alerts_app, ["evaluate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    # a sensor that never reported is silent
    assert "Sensor silent" in result.output
    assert "notifications: 1 sent" in result.output  # recorded by the log channel
