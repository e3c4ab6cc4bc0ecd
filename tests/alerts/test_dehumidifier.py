"""The demo's scenario: the simulated dehumidifier of stack 3 fails; the mould alert fires when
the science (IPI mould risk factor, VTT index over the stored hourly means) says the warning
level is reached — not before — while the room's RH excursion fires within hours."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from alerts.config import RulesConfig
from alerts.engine import AlertEngine
from alerts.model import AlertState
from alerts.series import HourlySeries, SensorSeries
from alerts.state import AlertStore
from app.demo import DemoState, SimClock
from app.live import alerts_lines
from history import StoreSettings, open_store
from preservation.mould import mould_risk_factor, vtt_mould_index
from sensors.registry import load_registry
from sensors.simulate.engine import Simulation
from sensors.simulate.layout import Layout, demo_layout

START = datetime(2026, 7, 1, tzinfo=UTC)
FAILURE = START + timedelta(hours=2)
DAYS = 40


def stack_3_only() -> Layout:
    layout = demo_layout()
    site = layout.sites[0]
    rooms = tuple(room for room in site.rooms if room.id == "stack-3")
    return Layout((dataclasses.replace(site, rooms=rooms),))


def test_dehumidifier_failure_raises_mould_risk_when_the_science_predicts(tmp_path: Path) -> None:
    layout = stack_3_only()
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(layout.registry_yaml())
    registry = load_registry(registry_path)
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    simulation = Simulation(layout, start=START, faults=["dehumidifier-failure:stack-3@2h"])
    batch = []
    for message in simulation.messages(until=START + timedelta(days=DAYS)):
        batch.append(message.expected)
        if len(batch) >= 5000:
            store.write(batch)
            batch.clear()
    store.write(batch)

    # the science, straight from the stored history: when does a sensor first reach the
    # warning level (MRF 0.5 or VTT 0.5, "sensitive" material for paper)?
    rules = RulesConfig.builtin().resolve().mould
    predicted = None
    for _, _room, sensor in layout.sensors():
        readings = store.history(sensor.id, START, START + timedelta(days=DAYS))
        series = SensorSeries.from_readings(sensor.id, readings, START.timestamp())
        hourly = HourlySeries.from_series(
            series, START.timestamp(), (START + timedelta(days=DAYS)).timestamp(), 6
        )
        mrf = mould_risk_factor(hourly.temperature, hourly.humidity, 1.0)
        vtt = vtt_mould_index(hourly.temperature, hourly.humidity, 1.0, sensitivity="sensitive")
        crossed = np.nonzero((mrf >= rules.mrf_warning) | (vtt >= rules.vtt_warning))[0]
        if crossed.size:
            when = datetime.fromtimestamp(hourly.hours[crossed[0]] + 3600, UTC)
            predicted = when if predicted is None else min(predicted, when)
    assert predicted is not None, "the failed dehumidifier must make the room mouldy"
    assert timedelta(days=7) < predicted - FAILURE < timedelta(days=DAYS)

    state = AlertStore(":memory:")
    engine = AlertEngine(store, registry, state, write_derived=False)
    engine.evaluate(FAILURE + timedelta(hours=6), ["excursion"])
    rh_alerts = [a for a in state.open_alerts() if a.rule == "excursion.humidity_high"]
    assert rh_alerts and all(a.state is AlertState.FIRING for a in rh_alerts)

    before = engine.evaluate(predicted - timedelta(hours=1), ["mould"])
    assert not [a for a in before if a.rule == "mould.risk"]
    after = engine.evaluate(predicted + timedelta(minutes=30), ["mould"])
    mould = [a for a in after if a.rule == "mould.risk"]
    assert mould and mould[0].state is AlertState.FIRING
    assert mould[0].subject.room == "stack-3"

    # the demo's live view lists it
    view = DemoState(
        broker_url="mqtt://127.0.0.1:1883",
        data_dir=tmp_path,
        store_path=tmp_path / "readings.sqlite",
        store=store,
        registry=registry,
        clock=SimClock(START, 3600.0),
        speed=3600.0,
        open_alerts=engine.open_alerts(),
    )
    lines = alerts_lines(view)
    assert any("Mould risk factor" in line and "firing" in line for line in lines)
    store.close()
