"""`repoclimate demo` as a user runs it: a process that stores readings, raises alerts, and stops
cleanly by itself or on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.state import AlertStore
from app.demo import DemoState, SimClock
from app.live import LatestValues, classify, rooms_table
from history.sqlite import SQLiteStore
from sensors.reading import Reading
from sensors.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]


def demo_process(*args: str, **env: str) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REPOCLIMATE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "app", "demo", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment | env,
    )


def stored(path: Path) -> int:
    if not path.exists():
        return 0
    store = SQLiteStore(path)
    try:
        return store.count()
    finally:
        store.close()


def test_demo_runs_headless_and_stops_by_itself(tmp_path: Path) -> None:
    started = time.monotonic()
    demo = demo_process(
        "--duration", "20", "--no-live", "--data-dir", str(tmp_path),
        "--fault", "sensor-dies:s3-north@2h",
    )  # fmt: skip
    stdout, stderr = demo.communicate(timeout=90)
    assert demo.returncode == 0, stderr
    assert time.monotonic() - started < 60
    assert "Traceback" not in stderr
    assert "13 sensors reporting" in stdout
    assert stored(tmp_path / "readings.sqlite") > 1000  # ~20 simulated hours of 13 sensors

    alerts = AlertStore(tmp_path / "alerts.sqlite")
    try:
        open_rules = {(alert.rule, alert.subject.sensor) for alert in alerts.open_alerts()}
    finally:
        alerts.close()
    assert ("sensor.silent", "s3-north") in open_rules  # the fault was noticed
    assert "notification:" in stdout


def test_demo_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    # TTY_COMPATIBLE makes rich draw the live view although the output is a pipe.
    demo = demo_process("--data-dir", str(tmp_path), TTY_COMPATIBLE="1")
    try:
        deadline = time.monotonic() + 60
        while stored(tmp_path / "readings.sqlite") < 100:
            assert demo.poll() is None, demo.communicate()[1]
            assert time.monotonic() < deadline, "the demo stored nothing"
            time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "KeyboardInterrupt" not in stderr
    assert "simulated time" in stdout  # the live view was drawn
    assert "°C" in stdout


def test_live_table_colours_values_against_the_profile_band() -> None:
    registry = load_registry(ROOT / "examples" / "registry.yaml")
    now = datetime.now(UTC)
    state = DemoState(
        broker_url="mqtt://127.0.0.1:1",
        data_dir=Path("."),
        store_path=Path("x"),
        store=None,  # type: ignore[arg-type]  # the table does not read the store
        registry=registry,
        clock=SimClock(now, 1.0),
        speed=1.0,
    )
    latest = LatestValues()
    latest.update(
        [
            Reading("s3-north", now, 17.0, 40.0, site="city-archives", room="stack-3"),
            Reading("s3-north", now - timedelta(minutes=1), 30.0, 90.0),  # older: ignored
            Reading("vault-a", now - timedelta(hours=2), 4.0, 35.0, None, None, "city-archives"),
            Reading("stray", now, 20.0, 50.0, site="unassigned", room="unassigned"),
        ]
    )
    assert latest.sensors["s3-north"].temperature == 17.0
    table = rooms_table(state, latest)
    cells = {column.header: [str(cell) for cell in column.cells] for column in table.columns}
    row = cells["sensor"].index("s3-north")
    assert cells["°C"][row] == "17.0"
    assert "silent" in cells["last reading"][cells["sensor"].index("vault-a")]
    assert cells["last reading"][cells["sensor"].index("em300-stack-7")] == "waiting"
    assert "stray" in cells["sensor"]  # unassigned sensors are shown, not dropped


def test_classify() -> None:
    assert classify(20.0, 16.0, 25.0, 0.5) == "ok"
    assert classify(24.8, 16.0, 25.0, 0.5) == "near"
    assert classify(25.1, 16.0, 25.0, 0.5) == "out"
    assert classify(None, 16.0, 25.0, 0.5) == "none"
    assert classify(5.0, float("-inf"), 25.0, 0.5) == "ok"
