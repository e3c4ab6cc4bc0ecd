"""The engine over real stores (SQLite and InfluxDB): findings become alerts and notifications in
one transaction, derived series are written, a restart does not re-notify, a store outage
resolves nothing."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from repoclimate.alerts.clock import ManualClock
from repoclimate.alerts.engine import _COLLECTOR, AlertEngine
from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import Alert, AlertState, Finding, Severity, Subject, from_epoch
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.topology import RoomNode, SensorNode, SiteNode, Topology
from repoclimate.history import HistoryStore, StoreSettings, open_store
from repoclimate.history.derived import PRESERVATION
from repoclimate.preservation.decay import preservation_index
from repoclimate.preservation.mechanical import wood_emc
from repoclimate.preservation.metrics import room_metrics
from repoclimate.preservation.psychrometrics import dew_point
from repoclimate.sensors.reading import Reading
from tests.alerts.conftest import T0, at, bands, series, topology
from tests.servers import InfluxDB, free_port

ROTA = Rota.model_validate(
    {
        "people": {"alice": {"contacts": [{"email": "alice@example.org"}]}},
        "shifts": [{"who": ["alice"]}],
    }
)


def readings(s: SensorSeries, room: str = "stack-3") -> list[Reading]:
    out = []
    for i in range(len(s)):
        out.append(
            Reading(
                sensor=s.sensor,
                time=T0 + timedelta(seconds=float(s.times[i] - T0.timestamp())),
                temperature=None if np.isnan(s.temperature[i]) else float(s.temperature[i]),
                humidity=None if np.isnan(s.humidity[i]) else float(s.humidity[i]),
                site="city",
                room=room,
            )
        )
    return out


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    if request.param == "sqlite":
        settings = StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite")
    else:
        influxdb: InfluxDB = request.getfixturevalue("influxdb")
        settings = StoreSettings(
            kind="influxdb",
            url=influxdb.url,
            api_version="v1",
            database=request.getfixturevalue("influx_db_name"),
        )
    opened = open_store(settings)
    yield opened
    opened.close()


def damp(h: np.ndarray) -> np.ndarray:
    return np.where(h < 2, 50.0, 70.0)


def make_engine(store: HistoryStore, state: AlertStore, clock: ManualClock) -> AlertEngine:
    return AlertEngine(store, topology(("s1", "s2")), state, rota=ROTA, bands=bands, clock=clock)


def test_engine_over_a_real_store(store: HistoryStore, tmp_path: Path) -> None:
    store.write(readings(series("s1", 6, humidity=damp)))
    store.write(readings(series("s2", 6, humidity=damp)))
    state = AlertStore(tmp_path / "alerts.sqlite")
    clock = ManualClock(at(2.5))
    engine = make_engine(store, state, clock)
    engine.evaluate()
    (pending, _) = sorted(engine.open_alerts(), key=lambda a: a.subject.id)
    assert pending.state is AlertState.PENDING and pending.rule == "excursion.humidity_high"
    clock.set(at(3))
    report = engine.run()
    assert [a.state for a in report.open_alerts] == [AlertState.FIRING, AlertState.FIRING]
    # the two sensors of the room: one notification, written with the state change
    (row,) = state.outbox()
    assert row.kind == "firing" and len(row.alert_ids) == 2
    assert report.derived_rows == 3  # two sensors and the room

    # a new engine on the same state (a restart) does not notify again
    state.close()
    state = AlertStore(tmp_path / "alerts.sqlite")
    clock.set(at(3.5))
    again = make_engine(store, state, clock)
    assert [a.state for a in again.evaluate()] == [AlertState.FIRING, AlertState.FIRING]
    assert len(state.outbox()) == 1


def test_derived_series_reach_the_store(
    store: HistoryStore, request: pytest.FixtureRequest
) -> None:
    store.write(readings(series("s1", 5, temperature=20.0, humidity=50.0)))
    engine = AlertEngine(store, topology(("s1",)), AlertStore(":memory:"), bands=bands)
    engine.evaluate(at(4.5))
    if request.node.callspec.params["store"] == "sqlite":
        rows = store.derived(PRESERVATION, T0, at(5))  # type: ignore[attr-defined]
        sensor_row = next(row for row in rows if row.tags["scope"] == "sensor")
        assert sensor_row.time == at(3)  # the last complete hour before 04:30
        assert sensor_row.tags == {
            "site": "city",
            "room": "stack-3",
            "sensor": "s1",
            "scope": "sensor",
        }
        fields = dict(sensor_row.fields)
    else:
        influxdb: InfluxDB = request.getfixturevalue("influxdb")
        answer = influxdb.query(
            "SELECT * FROM preservation WHERE scope = 'sensor'",
            request.getfixturevalue("influx_db_name"),
        )
        result = answer["results"][0]["series"][0]  # type: ignore[index]
        (values,) = result["values"]
        fields = dict(zip(result["columns"], values, strict=True))
        assert fields["time"] == int(at(3).timestamp() * 1e9)
    # the fields are `RoomMetrics.series()`'s, with the science's values for 20 °C / 50 %RH
    assert fields["temperature"] == 20.0 and fields["humidity"] == 50.0
    assert fields["dew_point"] == pytest.approx(float(dew_point(20.0, 50.0)), rel=1e-9)
    assert fields["dew_point"] == pytest.approx(9.26, abs=0.02)  # published tables
    assert fields["preservation_index"] == pytest.approx(float(preservation_index(20.0, 50.0)))
    assert fields["preservation_index"] == pytest.approx(44, abs=1)  # IPI dpcalc: 44 years
    assert fields["emc"] == pytest.approx(float(wood_emc(20.0, 50.0)), rel=1e-9)
    assert fields["emc"] == pytest.approx(9.27, abs=0.3)
    assert fields["lifetime_multiplier"] == pytest.approx(1.0)  # the reference climate
    assert "days_to_mould" not in fields  # no germination at 50 %RH (infinite: not written)
    assert fields["mould_risk_factor"] == 0.0
    assert fields["vtt_mould_index"] == 0.0


@pytest.mark.parametrize(
    ("holdings", "c_mat"),
    [("paper", 0.25), ("wood", 1.0)],  # "relatively low decline"; pine, the model's reference
)
def test_mould_index_declines_as_the_holdings_class_says(
    tmp_path: Path, holdings: str, c_mat: float
) -> None:
    # Ten days at 22 °C / 97 %RH, then five days at 50 %RH: per Ojanen et al. (2010) the VTT
    # index then falls by C_mat × (6 h × 0.032/24 + 0 for hours 6–24 + 96 h × 0.016/24).
    damp_h, dry_h = 240, 120
    rh = lambda h: np.where(h < damp_h, 97.0, 50.0)  # noqa: E731
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    history = series("s1", damp_h + dry_h, temperature=22.0, humidity=rh, step_s=1800)
    store.write(readings(history))
    engine = AlertEngine(
        store, topology(("s1",), holdings=holdings), AlertStore(":memory:"), bands=bands
    )
    engine.evaluate(at(damp_h), ["mould"])
    engine.evaluate(at(damp_h + dry_h), ["mould"])
    rows = [
        row
        for row in store.derived(PRESERVATION, T0, at(damp_h + dry_h))  # type: ignore[attr-defined]
        if row.tags["scope"] == "sensor"
    ]
    peak, after = (float(row.fields["vtt_mould_index"]) for row in rows)
    assert peak > 0.5
    assert peak - after == pytest.approx(c_mat * (6 * 0.032 + 96 * 0.016) / 24, rel=1e-6)

    # the report's numbers for the same hours are the alert's
    means = hourly_means(history)
    report = room_metrics(means[0], means[1], means[2], holdings=holdings)
    assert report.vtt_index[damp_h - 1] == pytest.approx(peak)
    assert report.vtt_index[-1] == pytest.approx(after)
    store.close()


def hourly_means(s: SensorSeries) -> tuple[list[datetime], np.ndarray, np.ndarray]:
    hours = np.floor((s.times - T0.timestamp()) / 3600.0).astype(int)
    count = np.bincount(hours)
    times = [at(float(h)) for h in range(count.size)]
    return (
        times,
        np.bincount(hours, weights=s.temperature) / count,
        np.bincount(hours, weights=s.humidity) / count,
    )


def test_since_is_never_before_the_first_reading(tmp_path: Path) -> None:
    # A store whose readings begin at 10:00 (the demo's, or a new site's): the evaluation window
    # reaches hours further back, over nothing.
    first = at(10)
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    store.write(readings(series("s1", 3, humidity=70.0, start=first)))  # above the band at once
    store.write(readings(series("s2", 3, humidity=50.0, start=first)))
    state = AlertStore(":memory:")  # s3 never reports
    engine = AlertEngine(store, topology(("s1", "s2", "s3")), state, bands=bands)

    def alert(rule: str) -> Alert:
        (found,) = [a for a in state.open_alerts() if a.rule == rule]
        return found

    engine.evaluate(first + timedelta(minutes=30), ["excursion", "health"])
    engine.evaluate(first + timedelta(minutes=45), ["excursion", "health"])
    excursion = alert("excursion.humidity_high")
    assert excursion.since == first
    assert excursion.state is AlertState.PENDING  # 45 min of 60: the duration still counts
    silent = alert("sensor.silent")
    assert silent.subject.sensor == "s3"
    assert silent.since == first  # when the room's readings begin, not the window's start
    engine.evaluate(first + timedelta(minutes=60), ["excursion", "health"])
    assert alert("excursion.humidity_high").state is AlertState.FIRING
    store.close()


def test_alerts_of_sensors_removed_from_the_registry_are_resolved(tmp_path: Path) -> None:
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    store.write(readings(series("s1", 4, humidity=damp)))
    store.write(readings(series("s2", 4, humidity=damp)))
    state = AlertStore(":memory:")
    AlertEngine(store, topology(("s1", "s2")), state, bands=bands).evaluate(at(3.5))
    with state.transaction() as tx:  # a failing notification channel: not about the registry
        channel = Finding(
            "delivery.channel_failing", Subject(key="channel:email"), Severity.WARNING,
            at(3), 5.0, 3.0, "", "e-mail failing", "check the SMTP server",
        )  # fmt: skip
        apply_findings(tx, [channel], [channel.rule], [channel.subject.id], at(3))
    assert {a.subject.id for a in state.open_alerts()} == {
        "city/stack-3/s1", "city/stack-3/s2", "channel:email"
    }  # fmt: skip

    # s2 is taken out of the registry; the engine restarts with the new one
    AlertEngine(store, topology(("s1",)), state, bands=bands).evaluate(at(4), ["mould"])
    assert {a.subject.id for a in state.open_alerts()} == {"city/stack-3/s1", "channel:email"}
    (removed,) = [a for a in state.list_alerts() if a.subject.sensor == "s2"]
    assert removed.state is AlertState.RESOLVED and removed.resolved_at == at(4)
    last = state.events(removed.id)[-1]
    assert (last.actor, last.note) == ("system", "sensor removed from registry")
    store.close()


def test_catching_up_gives_the_alerts_of_evaluating_on_time(tmp_path: Path) -> None:
    # RH above the band from 2 h to 5 h at s1; s2 falls silent at 6 h
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    rh = lambda h: np.where((h >= 2) & (h < 5), 70.0, 50.0)  # noqa: E731
    store.write(readings(series("s1", 10, humidity=rh)))
    store.write(readings(series("s2", 6)))

    def history(state: AlertStore) -> list[tuple[object, ...]]:
        return sorted(
            (a.rule, a.subject.id, a.since, a.created_at, a.fired_at, a.resolved_at)
            for a in state.list_alerts()
        )

    on_time = AlertStore(":memory:")
    engine = AlertEngine(store, topology(("s1", "s2")), on_time, bands=bands)
    for t in np.arange(at(1).timestamp() + 300, at(10).timestamp() + 1, 300.0):
        due = [c for c, every in engine.intervals.items() if t % every == 0]
        engine.run(from_epoch(t), due)

    caught_up = AlertStore(":memory:")
    engine = AlertEngine(store, topology(("s1", "s2")), caught_up, bands=bands)
    engine.catch_up(at(1), at(4))
    engine.catch_up(at(4), at(10))
    assert history(caught_up) == history(on_time)
    assert {a[0] for a in history(on_time)} == {"excursion.humidity_high", "sensor.silent"}
    store.close()


def test_store_outage_resolves_nothing(tmp_path: Path) -> None:
    sqlite = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "r.sqlite"))
    sqlite.write(readings(series("s1", 6, humidity=damp)))
    state = AlertStore(":memory:")
    engine = AlertEngine(sqlite, topology(("s1",)), state, bands=bands)
    engine.evaluate(at(4))
    assert len(state.open_alerts()) == 1
    down = open_store(
        StoreSettings(
            kind="influxdb", url=f"http://127.0.0.1:{free_port()}", api_version="v1", timeout_s=1
        )
    )
    outage = AlertEngine(down, topology(("s1",)), state, bands=bands)
    report = outage.run(at(4.5))
    assert report.failed_rooms == ["city/stack-3"]
    assert [a.state for a in state.open_alerts()] == [AlertState.FIRING]
    sqlite.close()


def test_unknown_rule_class_is_refused() -> None:
    engine = AlertEngine(
        None,
        topology(),
        AlertStore(":memory:"),  # type: ignore[arg-type]
        bands=bands,
    )
    with pytest.raises(ValueError, match="unknown rule classes"):
        engine.evaluate(T0, ["nonsense"])


def two_sites() -> Topology:
    """The test room at two sites: "city" (s1) and "town" (t1)."""
    city = topology(("s1",)).sites[0]
    room = RoomNode("town", "vault", "test-paper", "paper", (SensorNode("t1", "town", "vault"),))
    return Topology([city, SiteNode("town", ZoneInfo("Europe/London"), (room,))])


def test_sites_limit_what_is_evaluated_and_resolved(tmp_path: Path) -> None:
    # both sites damp for 3 h, then town dries; an alert about a room town no longer has
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    store.write(readings(series("s1", 6, humidity=damp)))
    drying = lambda h: np.where((h >= 2) & (h < 3.5), 70.0, 50.0)  # noqa: E731
    store.write(
        [replace(r, site="town", room="vault") for r in readings(series("t1", 6, humidity=drying))]
    )
    state = AlertStore(":memory:")
    with state.transaction() as tx:
        gone = Finding(
            "sensor.silent", Subject("town", "old-room", "t9"), Severity.WARNING,
            at(2), 1.0, 1.0, "s", "silent", "check it",
        )  # fmt: skip
        apply_findings(tx, [gone], [gone.rule], [gone.subject.id], at(2))
    engine = AlertEngine(store, two_sites(), state, bands=bands)

    def open_ids() -> set[str]:
        return {f"{a.rule}@{a.subject.id}" for a in state.open_alerts()}

    engine.evaluate(at(3.25), ["excursion"], sites={"city"})
    assert open_ids() == {
        "excursion.humidity_high@city/stack-3/s1",
        "sensor.silent@town/old-room/t9",
    }
    engine.catch_up(at(3), at(3.25), ["excursion"], sites=["town"])
    assert open_ids() == {
        "excursion.humidity_high@city/stack-3/s1",
        "excursion.humidity_high@town/vault/t1",
    }  # town's removed room resolved by the engine holding town, city's alert untouched
    (removed,) = [a for a in state.list_alerts() if a.subject.sensor == "t9"]
    assert state.events(removed.id)[-1].note == "sensor removed from registry"
    # city clears nothing of town's: town's episode ended at 3.5 h, city's goes on
    engine.evaluate(at(5), ["excursion"], sites={"city"})
    assert "excursion.humidity_high@town/vault/t1" in open_ids()
    engine.evaluate(at(5), ["excursion"], sites={"town"})
    assert open_ids() == {"excursion.humidity_high@city/stack-3/s1"}
    # an empty partition evaluates nothing and resolves nothing
    report = engine.run(at(5.5), sites=())
    assert report.transitions == [] and open_ids() == {"excursion.humidity_high@city/stack-3/s1"}
    store.close()


def test_unknown_evaluator_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown evaluator 'fast'"):
        AlertEngine(
            None,  # type: ignore[arg-type]
            topology(),
            AlertStore(":memory:"),
            bands=bands,
            evaluator="fast",  # type: ignore[arg-type]
        )


def test_the_report_holds_the_open_alerts_as_the_evaluation_committed(tmp_path: Path) -> None:
    """`EvaluationReport.open_alerts` (built from the rows the transaction kept in step with
    its writes) is what a read after the evaluation gives — after alerts opened, fired,
    changed and resolved, by `run` and `catch_up` — and stays so when the state changes
    later."""
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    rh = lambda h: np.where((h >= 2) & (h < 5), 70.0 + h, 50.0)  # noqa: E731
    store.write(readings(series("s1", 8, humidity=rh)))
    store.write(readings(series("s2", 5, humidity=rh)))
    state = AlertStore(tmp_path / "alerts.sqlite")
    engine = AlertEngine(store, topology(("s1", "s2")), state, rota=ROTA, bands=bands)
    seen = set()
    for hours in (2.5, 3, 3.5, 4.5, 6, 7.5):
        report = engine.run(at(hours))
        assert report.open_alerts == state.open_alerts(), hours
        seen.update((a.rule, a.state) for a in report.open_alerts)
    assert {
        ("excursion.humidity_high", AlertState.PENDING),
        ("excursion.humidity_high", AlertState.FIRING),
        ("sensor.silent", AlertState.FIRING),
    } <= seen
    report = engine.catch_up(at(7.5), at(8))
    held = list(report.open_alerts)
    assert held == state.open_alerts() and held
    with state.transaction() as tx:  # another connection's change, after the report
        tx.update_alert(held[0].id, at(8), acknowledged_by="bob")
    assert report.open_alerts == held
    store.close()


def test_the_garbage_collector_is_held_off_while_an_evaluation_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off during `run` and `catch_up` (also when they fail), on again after; a collector the
    process disabled stays off; ``hold_collector=False`` leaves it alone."""
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    store.write(readings(series("s1", 3)))
    engine = AlertEngine(store, topology(("s1",)), AlertStore(":memory:"), bands=bands)
    inner = engine.evaluator.run
    during: list[bool] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        during.append(gc.isenabled())
        return inner(*args, **kwargs)

    monkeypatch.setattr(engine.evaluator, "run", recording)
    assert gc.isenabled()
    engine.run(at(2))
    engine.catch_up(at(2), at(2.5), ["excursion"])
    assert during and not any(during) and gc.isenabled()

    def failing(*args: Any, **kwargs: Any) -> Any:
        during.append(gc.isenabled())
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(engine.evaluator, "run", failing)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        engine.run(at(3))
    assert during[-1] is False and gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(engine.evaluator, "run", recording)
        engine.run(at(3))
        assert not gc.isenabled()  # the process's own choice is kept
    finally:
        gc.enable()
    engine.hold_collector = False
    engine.run(at(3.5))
    assert during[-1] is True
    store.close()


def test_evaluations_in_two_threads_share_one_hold_of_the_collector() -> None:
    """The collector comes back on only when the last of overlapping evaluations ends."""
    first_in, second_in, first_may_end = threading.Event(), threading.Event(), threading.Event()
    states: list[bool] = []

    def first() -> None:
        with _COLLECTOR.held():
            first_in.set()
            first_may_end.wait(5)
        states.append(gc.isenabled())  # the second still holds it

    def second() -> None:
        first_in.wait(5)
        with _COLLECTOR.held():
            second_in.set()
            first_may_end.set()
            thread.join(5)
            states.append(gc.isenabled())

    thread = threading.Thread(target=first)
    thread.start()
    second()
    assert states == [False, False] and gc.isenabled()
