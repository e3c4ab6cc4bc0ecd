"""``repoclimate alerts list|ack|silence|silences|unsilence|backtest|evaluate`` (app/alerts_cli.py):
what they show, in whose time, and what they refuse."""

from __future__ import annotations

import ast
import os
import re
import shlex
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import Finding, Severity, Subject
from repoclimate.alerts.state import AlertStore
from repoclimate.app.alerts_cli import CONFIG_ENV_VAR, alerts_app
from repoclimate.app.settings import CONFIG_ENV_VAR as SERVICE_CONFIG_ENV_VAR
from repoclimate.history import StoreSettings, open_store
from tests.alerts.conftest import series
from tests.alerts.test_engine import readings

runner = CliRunner()
WIDE = {"COLUMNS": "250", CONFIG_ENV_VAR: ""}
"""A wide table (no wrapped cells to search across) and no config from the environment."""

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
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d (GMT|BST)")


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(alerts_app, list(args), env=WIDE)
    return result.exit_code, result.output


def write_alert(path: Path, finding: Finding, now: datetime) -> None:
    state = AlertStore(path)
    with state.transaction() as tx:
        apply_findings(tx, [finding], [finding.rule], [finding.subject.id], now)
    state.close()


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.sqlite"
    now = datetime.now(UTC)
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
    write_alert(path, finding, now)
    return path


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY)
    return path


def test_list_and_ack(state_path: Path) -> None:
    code, listed = invoke("list", "--state", str(state_path))
    assert code == 0, listed
    assert "firing" in listed and "Mould risk" in listed
    assert "city/stack-3/s1" in listed
    code, acked = invoke(
        "ack", "1", "--state", str(state_path), "--by", "alice", "--note", "dehumidifier emptied"
    )
    assert code == 0, acked
    assert "Acknowledged alert 1" in acked
    code, again = invoke("ack", "1", "--state", str(state_path), "--by", "bob")
    assert code == 1
    assert "already acknowledged by alice" in again
    code, missing = invoke("ack", "42", "--state", str(state_path))
    assert code == 1 and "no alert with id 42" in missing
    _, as_json = invoke("list", "--json", "--state", str(state_path))
    assert '"acknowledged_by": "alice"' in as_json


def test_list_is_a_table_with_a_header_and_aligned_columns(state_path: Path) -> None:
    since = datetime.now(UTC)
    write_alert(
        state_path,
        Finding(
            "sensor.silent",
            Subject("city", "reading-room", "rr-long-sensor-name"),
            Severity.WARNING,
            since,
            1800.0,
            900.0,
            "s",
            "No reading for 30 min",
            "battery",
        ),
        since,
    )
    code, out = invoke("list", "--state", str(state_path))
    assert code == 0, out
    lines = out.splitlines()
    header = next(line for line in lines if "severity" in line)
    assert re.search(r"\bid\b.*\bstate\b.*\bseverity\b.*\balert\b.*\bwhere\b.*\bsince\b", header)
    rows = [line for line in lines if "city/" in line]
    assert len(rows) == 2
    for row in rows:
        where = re.search(r"city/\S+", row)
        since = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row)
        assert where and where.start() == header.index("where"), row
        assert since and since.start() == header.index("since"), row
        assert row.index("firing") == header.index("state"), row
    assert "city/reading-room/rr-long-sensor-name" in out  # the place is never cut short


def test_list_finds_the_config_in_the_environment_and_shows_site_local_time(
    tmp_path: Path, registry_path: Path
) -> None:
    state_path = tmp_path / "alerts.sqlite"
    config = tmp_path / "config.yaml"
    config.write_text(f"registry: {registry_path}\nalerts:\n  state_path: {state_path}\n")
    since = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 13:00 British Summer Time
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
    write_alert(state_path, finding, since)

    # no --config, no --state: REPOCLIMATE_CONFIG names the file, as for the other commands
    assert CONFIG_ENV_VAR == SERVICE_CONFIG_ENV_VAR == "REPOCLIMATE_CONFIG"
    listed = runner.invoke(
        alerts_app, ["list"], env={"REPOCLIMATE_CONFIG": str(config), "COLUMNS": "200"}
    )
    assert listed.exit_code == 0, listed.output
    assert "2026-07-01 13:00 BST" in listed.output
    # --state with --registry, or the demo's data directory
    _, direct = invoke("list", "--state", str(state_path), "--registry", str(registry_path))
    assert "2026-07-01 13:00 BST" in direct
    _, demo = invoke("list", "--data-dir", str(tmp_path))
    assert "2026-07-01 13:00 BST" in demo
    _, bare = invoke("list", "--state", str(state_path))
    assert "2026-07-01 12:00 UTC" in bare  # no registry: no site zone to use, and it says so


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["silences"],
        ["ack", "1"],
        ["unsilence", "1"],
        ["silence", "--site", "city", "--for", "1h", "--reason", "x"],
    ],
)
def test_commands_refuse_a_missing_state_file_and_create_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    mistyped = tmp_path / "typo" / "alerts.sqlite"
    code, out = invoke(*command, "--state", str(mistyped))
    assert code == 1
    assert f"no alert state at {mistyped}" in out
    assert "No open alerts" not in out
    assert not (tmp_path / "typo").exists()


def test_a_state_file_from_a_newer_version_is_refused_in_one_line(state_path: Path) -> None:
    with sqlite3.connect(state_path) as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    before = state_path.read_bytes()
    code, out = invoke("list", "--state", str(state_path))
    assert code == 1
    assert "schema revision 0099" in out and str(state_path) in out
    assert "Traceback" not in out
    assert state_path.read_bytes() == before


def test_data_dir_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    code, out = invoke("list", "--data-dir", str(tmp_path / "nope"))
    assert code == 1 and "no such directory" in out
    assert not (tmp_path / "nope").exists()


def test_silence_commands(state_path: Path) -> None:
    code, made = invoke(
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
    )
    assert code == 0, made
    assert made.startswith("Silence 1 until")
    _, listed = invoke("silences", "--state", str(state_path))
    assert "site=city room=stack-3" in listed and "dehumidifier service" in listed
    code, _ = invoke("unsilence", "1", "--state", str(state_path))
    assert code == 0
    assert "No silences" in invoke("silences", "--state", str(state_path))[1]
    code, bad = invoke("silence", "--state", str(state_path), "--reason", "x", "--for", "2h")
    assert code == 1 and "needs a site" in bad
    code, both = invoke("silence", "--state", str(state_path), "--reason", "x", "--site", "city")
    assert code == 1 and "exactly one of --for and --until" in both
    code, unitless = invoke(
        "silence", "--state", str(state_path), "--reason", "x", "--site", "city", "--for", "6"
    )
    assert code == 2 and "no unit" in unitless


@pytest.mark.parametrize(
    ("target", "named"),
    [
        (["--room", "stack-77"], "no room 'stack-77'"),
        (["--site", "town"], "no site 'town'"),
        (["--site", "city", "--room", "stack-4"], "no room 'stack-4' in the registry at city"),
        (["--sensor", "s9"], "no sensor 's9'"),
        (["--rule", "mold"], "no rule 'mold'"),
    ],
)
def test_silence_of_an_unknown_place_or_rule_is_refused_naming_it(
    state_path: Path, registry_path: Path, target: list[str], named: str
) -> None:
    args = ["silence", "--state", str(state_path), "--registry", str(registry_path)]
    code, out = invoke(*args, *target, "--for", "2h", "--reason", "service")
    assert code == 1, out
    assert named in out
    store = AlertStore(state_path)
    assert store.silences() == []  # nothing was recorded
    store.close()


def test_silence_without_a_registry_checks_the_places_alerts_were_raised_for(
    state_path: Path,
) -> None:
    code, out = invoke(
        "silence", "--state", str(state_path), "--room", "stack-77", "--for", "1h", "--reason", "x"
    )
    assert code == 1
    assert "no room 'stack-77'" in out and "--registry" in out
    assert "did you mean stack-3" in out
    code, out = invoke(
        "silence", "--state", str(state_path), "--room", "stack-3", "--for", "1h", "--reason", "x"
    )
    assert code == 0, out


def test_silenced_alerts_are_marked_in_the_list(state_path: Path, registry_path: Path) -> None:
    where = ["--state", str(state_path), "--registry", str(registry_path)]
    _, before = invoke("list", *where)
    assert "silenced" not in before
    code, out = invoke("silence", *where, "--sensor", "s1", "--for", "3h", "--reason", "service")
    assert code == 0, out
    _, after = invoke("list", *where)
    (row,) = [line for line in after.splitlines() if "city/stack-3/s1" in line]
    assert re.search(r"firing, silenced until " + LOCAL_TIME.pattern, row)
    _, as_json = invoke("list", "--json", *where)
    assert '"silenced_by": [\n      1\n    ]' in as_json


def test_silence_times_are_site_local_with_the_zone_and_typed_times_too(
    state_path: Path, registry_path: Path
) -> None:
    where = ["--state", str(state_path), "--registry", str(registry_path)]
    # no offset: London time (BST in July) …
    code, out = invoke(
        "silence", *where, "--site", "city", "--until", "2030-07-01T15:00", "--reason", "a"
    )
    assert code == 0, out
    assert "until 2030-07-01 15:00 BST" in out
    # … an offset is taken as given
    code, out = invoke(
        "silence", *where, "--site", "city", "--until", "2030-07-01T15:00+00:00", "--reason", "b"
    )
    assert code == 0, out
    assert "until 2030-07-01 16:00 BST" in out
    store = AlertStore(state_path)
    ends = [s.ends_at for s in store.silences()]
    store.close()
    assert ends == [datetime(2030, 7, 1, 14, tzinfo=UTC), datetime(2030, 7, 1, 15, tzinfo=UTC)]
    _, listed = invoke("silences", *where)
    assert "2030-07-01 15:00 BST" in listed and "2030-07-01 16:00 BST" in listed
    assert "+00:00" not in listed and not re.search(r"\d\d:\d\d:\d\d\.\d+", listed)


def write_store(path: Path) -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=path))
    rh = lambda h: np.where((h > 4) & (h < 9), 52.0, 40.0)  # noqa: E731  (band 30–45 %)
    store.write(readings(series("s1", 24, temperature=16.0, humidity=rh, start=start)))
    store.close()


def test_backtest_prints_what_would_have_fired(tmp_path: Path, registry_path: Path) -> None:
    store_path = tmp_path / "readings.sqlite"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"registry: registry.yaml\nstore:\n  kind: sqlite\n  sqlite_path: {store_path}\n"
    )
    write_store(store_path)
    rules = tmp_path / "alerts.yaml"
    rules.write_text("defaults:\n  excursion: {for_minutes: 60}\n")
    period = ["--start", "2026-01-05T00:00", "--end", "2026-01-06T00:00"]
    code, out = invoke(
        "backtest",
        "--config",
        str(config),
        "--rules",
        str(rules),
        *period,
        "--classes",
        "excursion",
    )
    assert code == 0, out
    lines = out.splitlines()
    assert "1 alerts fired" in lines[0]
    assert "2026-01-05 00:00 GMT → 2026-01-06 00:00 GMT" in lines[0]  # the site's time, as typed
    assert "2026-01-05 05:05 GMT  FIRED     warning  Relative humidity above band" in lines[1]
    # last seen 08:55; excursion's 30-min clear-hold
    assert "2026-01-05 09:25 GMT  RESOLVED" in lines[2]
    code, bad = invoke("backtest", "--config", str(config), *period, "--classes", "excursoin")
    assert code == 1 and "unknown rule classes" in bad


def test_backtest_reads_a_demo_data_dir(tmp_path: Path, registry_path: Path) -> None:
    write_store(tmp_path / "readings.sqlite")
    period = ["--start", "2026-01-05T00:00", "--end", "2026-01-06T00:00"]
    code, out = invoke("backtest", "--data-dir", str(tmp_path), *period, "--classes", "excursion")
    assert code == 0, out
    assert "1 alerts fired" in out and "Relative humidity above band" in out


def test_the_readmes_alerts_commands_on_a_demo_data_dir_run(
    tmp_path: Path, state_path: Path, registry_path: Path
) -> None:
    """The README shows how to read and backtest a demo's ``--data-dir``: those lines run."""
    write_store(tmp_path / "readings.sqlite")  # beside the state and registry: a data dir
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    commands = [
        shlex.split(line)
        for line in readme.splitlines()
        if line.startswith("repoclimate alerts ") and "--data-dir demo-data" in line
    ]
    assert {c[2] for c in commands} >= {"list", "backtest"}
    for command in commands:
        args = [str(tmp_path) if arg == "demo-data" else arg for arg in command[2:]]
        code, out = invoke(*args)
        assert code == 0, (command, out)


def test_backtest_without_config_or_store_refuses_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    period = ["--start", "2026-01-05", "--end", "2026-01-06"]
    code, out = invoke("backtest", *period)
    assert code == 1
    assert "--config" in out and "--data-dir" in out
    assert "0 readings" not in out
    config = work / "config.yaml"
    config.write_text(f"registry: {registry_path}\nstore: {{sqlite_path: nowhere.sqlite}}\n")
    code, out = invoke("backtest", "--config", str(config), *period)
    assert code == 1 and f"no readings store at {work / 'nowhere.sqlite'}" in out
    assert os.listdir(work) == ["config.yaml"]


def test_evaluate_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "registry.yaml").write_text(REGISTRY)
    config = tmp_path / "config.yaml"
    config.write_text("registry: registry.yaml\nstore: {kind: sqlite, sqlite_path: r.sqlite}\n")
    code, out = invoke("evaluate", "--config", str(config))
    assert code == 0, out
    # a sensor that never reported is silent
    assert "Sensor silent" in out
    assert "notifications: 1 sent" in out  # recorded by the log channel


def test_no_package_imports_the_app() -> None:
    """``app`` wires the packages; none of them may import it, not even inside a function
    (the alerts CLI once did, a hidden cycle)."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for package in ("sensors", "ingest", "history", "preservation", "alerts", "dashboards"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                if any(n == "repoclimate.app" or n.startswith("repoclimate.app.") for n in names):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
