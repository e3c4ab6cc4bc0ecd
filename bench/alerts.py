"""Benchmark of the alert engine: one evaluation cycle over 10 000 sensors, and a one-year
backtest of one site of 50 sensors — each with the fleet evaluator (every rule class across
sensors in one array pass, `alerts.fleet`) and the reference one (sensor by sensor,
`alerts.evaluate.Evaluator`), in the same run, with the counts that show both found the same.

Measured:
- ``cycle (arrays)``: every rule class (excursion, fluctuation, condensation, health, mould,
  decay) for 10 000 sensors in 1 000 rooms, history preloaded as arrays (30 days: hourly means
  for the mould and decay windows, the last 26 h at 5 min), plus the lifecycle and dispatch in
  one transaction on a SQLite state file, plus the derived series rows: the first cycle (mould
  integrated from nothing) and the next, 5 minutes later ("after warm-up": mould continued from
  its checkpoints). ``--growth`` adds the fleet cycle at 1 000 and 100 000 sensors (100 000:
  about 2 min of CPU and a peak of about 10 GB: not on a machine others are using). RSS is the
  process's resident memory after the cycle; the peak, its highest during each cycle (Linux's
  VmHWM, counted afresh before each), printed with the history's RSS and the first cycle's CPU.
- ``cycle (SQLite store)``: the 5-minute classes (excursion, fluctuation, condensation, health)
  for the same 10 000 sensors read from the embedded SQLite store holding their last 26 h at
  5 min (readings written before timing), whole windows; then the incremental source
  (`alerts.incremental`): a first cycle reading the windows whole, one new reading per sensor
  written, and the next cycle 5 minutes later reading only what arrived (plus the settle window)
  in one query for all sensors; beside it, the same run's baseline: that cycle's reading alone,
  sensor by sensor (``bulk=False``, one query per window, as before) and in bulk.
- ``cycle (InfluxDB)`` (``--influx``): the same incremental cycle and baseline on a private
  InfluxDB 1.x (Debian's, started as the tests start it; the write of 3.1 million readings
  takes minutes and is not timed; ``--influx-dir DIR`` keeps the server's data in DIR, and a
  later run with the same DIR skips the write).
- ``backtest``: one site, 10 rooms × 5 sensors, one year at 5-minute readings (5.3 million),
  every class at its live interval (excursion, condensation, health every 5 min, fluctuation
  every 10 min, mould hourly, decay weekly), from preloaded arrays; and the same history loaded
  from the SQLite store (``--from-store``; the write is not timed, the load is). Baselines in
  the same run: the fleet backtest stepping the lifecycle at every step in one buffered
  transaction (``lifecycle="buffered"``, as before the episode replay; its alert state
  compared with the default's, table by table) and the store read through `Store.history`
  (one `Reading` per row). ``--only backtest``
  skips the cycles.

Run: ``python bench/alerts.py`` (``--quick`` for a smaller run). Prints one line per measurement,
a JSON summary and, last, ``cycle 10000 sensors <s> s; backtest 50 sensors 1 year <s> s`` (the
fleet evaluator's after-warm-up cycle and array backtest).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repoclimate.alerts.backtest import Lifecycle, backtest, load_history
from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.engine import AlertEngine, EvaluatorKind
from repoclimate.alerts.evaluate import ArraySource, lookbacks
from repoclimate.alerts.flat_history import FlatHistory
from repoclimate.alerts.fleet import FleetEvaluator
from repoclimate.alerts.fleet_mould import fetch_store
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.topology import RoomNode, SensorNode, SiteNode, Topology
from repoclimate.history import StoreSettings, open_store
from repoclimate.sensors.reading import Reading
from tests.alerts.test_golden import alerts_of, same
from tests.alerts.test_lifecycle_batch import rows as state_rows

KINDS: tuple[EvaluatorKind, ...] = ("fleet", "reference")

PROFILES = ("iso11799-paper", "ashrae-a", "bs4971", "jgj25-paper", "ashrae-b")
HOLDINGS = ("paper", "mixed", "photographs", "paper", "wood")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def make_topology(rooms: int, per_room: int, sites: int) -> Topology:
    site_nodes = []
    rooms_per_site = max(rooms // sites, 1)
    for s in range(sites):
        room_nodes = []
        for r in range(rooms_per_site):
            k = s * rooms_per_site + r
            sensors = tuple(
                SensorNode(
                    f"s{k}-{i}",
                    f"site{s}",
                    f"room{r}",
                    300.0,
                    surface=(i == per_room - 1 and k % 4 == 0),
                )
                for i in range(per_room)
            )
            room_nodes.append(
                RoomNode(f"site{s}", f"room{r}", PROFILES[k % 5], HOLDINGS[k % 5], sensors)
            )
        site_nodes.append(SiteNode(f"site{s}", ZoneInfo("Europe/London"), tuple(room_nodes)))
    return Topology(site_nodes)


def climate(
    times: np.ndarray, seed: int, profile: str = "ashrae-a"
) -> tuple[np.ndarray, np.ndarray]:
    """A storeroom kept mostly within its profile's band: yearly and daily cycles, noise, and
    now and then a damp spell (a dehumidifier fault)."""
    band = band_for(profile)
    t_mid = (band.t_min + band.t_max) / 2 if band.t_min and band.t_max else 18.0
    rh_mid = (band.rh_min + band.rh_max) / 2 if band.rh_min and band.rh_max else 45.0
    t_amp = ((band.t_max - band.t_min) / 4) if band.t_min and band.t_max else 2.0
    rh_amp = ((band.rh_max - band.rh_min) / 5) if band.rh_min and band.rh_max else 4.0
    rng = np.random.default_rng(seed)
    hours = (times - times[0]) / 3600.0
    year = 2 * np.pi * times / (365.25 * 86400)
    day = 2 * np.pi * times / 86400
    t = t_mid + t_amp * np.sin(year) + 0.3 * np.sin(day) + rng.normal(0, 0.1, times.size)
    rh = rh_mid + rh_amp * np.sin(year - 0.5) + 1.0 * np.sin(day) + rng.normal(0, 0.5, times.size)
    for start in rng.uniform(0, max(hours[-1] - 72, 1), size=max(int(hours[-1] // 1500), 1)):
        spell = (hours >= start) & (hours < start + rng.uniform(6, 96))
        rh[spell] += rng.uniform(10, 25)
    return np.round(t, 2), np.clip(np.round(rh, 1), 0, 100)


def history_for(
    sensor: str, times: np.ndarray, seed: int, start: float, profile: str
) -> SensorSeries:
    t, rh = climate(times, seed, profile)
    battery = np.full(times.size, np.nan)
    battery[::288] = 80.0
    return SensorSeries(sensor, times, t, rh, battery, start)


def flat_history_for(topo: Topology, times: np.ndarray) -> FlatHistory:
    """`history_for` of every sensor of ``topo`` (the same readings, sharing ``times``), laid
    end to end in one buffer as the fleet evaluator's bulk fetch reads them: a source built on
    it (`ArraySource.from_flat`) holds views, not a second copy of the history."""
    profiles = {(r.site, r.id): r.profile for r in topo.rooms()}
    sensors = list(topo.sensors())
    n, size = len(sensors), times.size
    columns = (np.empty(n * size), np.empty(n * size), np.empty(n * size))
    for i, s in enumerate(sensors):
        series = history_for(s.id, times, i, times[0], profiles[(s.site, s.room)])
        values = (series.temperature, series.humidity, series.battery)
        for column, quantity in zip(columns, values, strict=True):
            column[i * size : (i + 1) * size] = quantity
    return FlatHistory(
        [s.id for s in sensors],
        np.arange(n + 1, dtype=np.int64) * size,
        times,
        columns,
        np.full(n, times[0]),
        np.zeros(n, dtype=np.int64),
    )


def cycle_times(now: datetime) -> np.ndarray:
    end = now.timestamp()
    hourly = np.arange(end - 30 * 86400, end - 26 * 3600, 3600.0)
    recent = np.arange(end - 26 * 3600, end + 1, 300.0)
    return np.concatenate([hourly, recent])


class _Derived:
    """Counts derived rows instead of storing them (the store's write cost is its own bench)."""

    def __init__(self) -> None:
        self.rows = 0

    def write_derived(self, rows: Any) -> None:
        self.rows += len(rows)


def rss_mb() -> float:
    """This process's resident memory now [MB] (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_mb() -> float:
    """This process's peak resident memory since the last `reset_peak` [MB] (Linux's VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmHWM in /proc/self/status: the peak needs Linux")


def reset_peak() -> bool:
    """Count `peak_mb` afresh from the memory in use now (Linux >= 4.0, ``clear_refs`` 5);
    False when the kernel refuses (the peak then counts from the process's start)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def bench_cycle_arrays(sensors: int, tmp: Path, kind: EvaluatorKind) -> dict[str, Any]:
    topo = make_topology(sensors // 10, 10, max(sensors // 1000, 1))
    times = cycle_times(NOW)
    source = ArraySource.from_flat(flat_history_for(topo, times))
    sink = _Derived()
    state = AlertStore(tmp / f"cycle-{kind}-{sensors}.sqlite")
    engine = AlertEngine(
        sink,  # type: ignore[arg-type]
        topo,
        state,
        RulesConfig.builtin(),
        source=source,
        evaluator=kind,
    )
    history_mb = rss_mb()
    reset = reset_peak()
    began, cpu = time.perf_counter(), time.process_time()
    report = engine.run(NOW)
    seconds, first_cpu = time.perf_counter() - began, time.process_time() - cpu
    first_peak = peak_mb()
    reset_peak()
    began = time.perf_counter()
    cpu = time.process_time()
    warm = engine.run(NOW + timedelta(minutes=5))
    second = time.perf_counter() - began
    second_cpu = time.process_time() - cpu
    warm_peak = peak_mb()
    alerts = alerts_of(state)
    state.close()
    rss = rss_mb()
    print(
        f"cycle (arrays, {kind}), {sensors} sensors, all classes: first {seconds:.2f} s "
        f"({len(report.open_alerts)} open alerts, {report.derived_rows} derived rows); "
        f"after warm-up {second:.2f} s, CPU {second_cpu:.2f} s ({len(warm.transitions)} "
        f"transitions, {warm.derived_rows} derived rows); RSS {rss:.0f} MB"
    )
    print(
        f"memory (arrays, {kind}), {sensors} sensors: history {history_mb:.0f} MB; peak "
        f"{first_peak:.0f} MB during the first cycle (CPU {first_cpu:.2f} s), {warm_peak:.0f} MB "
        f"after warm-up{'' if reset else ' (peaks since the process started)'} "
        f"[load {os.getloadavg()[0]:.1f}]"
    )
    return {
        f"cycle_{kind}_{sensors}_first_cpu_s": first_cpu,
        f"cycle_{kind}_{sensors}_history_mb": history_mb,
        f"cycle_{kind}_{sensors}_peak_first_mb": first_peak,
        f"cycle_{kind}_{sensors}_peak_warm_mb": warm_peak,
        f"cycle_{kind}_{sensors}_first_s": seconds,
        f"cycle_{kind}_{sensors}_s": second,
        f"cycle_{kind}_{sensors}_cpu_s": second_cpu,
        f"cycle_{kind}_{sensors}_open_alerts": len(report.open_alerts),
        f"cycle_{kind}_{sensors}_rss_mb": rss,
        f"_alerts_{kind}_{sensors}": alerts,
    }


def bench_cycle_store(sensors: int, tmp: Path) -> dict[str, float]:
    """Both evaluators over one SQLite store (written once)."""
    topo = make_topology(sensors // 10, 10, max(sensors // 1000, 1))
    end = NOW.timestamp()
    times = np.arange(end - 26 * 3600, end + 1, 300.0)
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp / "readings.sqlite"))
    began = time.perf_counter()
    base = datetime.fromtimestamp(times[0], UTC)
    profiles = {(r.site, r.id): r.profile for r in topo.rooms()}
    for i, sensor in enumerate(topo.sensors()):
        t, rh = climate(times, i, profiles[(sensor.site, sensor.room)])
        store.write(
            [
                Reading(
                    sensor.id,
                    base + timedelta(seconds=300 * k),
                    float(t[k]),
                    float(rh[k]),
                    site=sensor.site,
                    room=sensor.room,
                )
                for k in range(times.size)
            ]
        )
    written = time.perf_counter() - began
    out: dict[str, float] = {}
    count = sensors * times.size
    for kind in KINDS:
        state = AlertStore(tmp / f"cycle-store-{kind}.sqlite")
        engine = AlertEngine(store, topo, state, RulesConfig.builtin(), evaluator=kind)
        classes = ["excursion", "fluctuation", "condensation", "health"]
        began = time.perf_counter()
        report = engine.run(NOW, classes)
        seconds = time.perf_counter() - began
        began = time.perf_counter()
        engine.run(NOW, ["mould"])
        mould = time.perf_counter() - began
        state.close()
        print(
            f"cycle (SQLite store, {kind}), {sensors} sensors, 5-minute classes: {seconds:.2f} s "
            f"({len(report.open_alerts)} open alerts); mould class with derived series: "
            f"{mould:.2f} s  [setup: {count} readings written in {written:.0f} s]"
        )
        out.update({f"cycle_store_{kind}_s": seconds, f"cycle_store_mould_{kind}_s": mould})
    out.update(bench_cycle_incremental(store, "SQLite store", "store", topo, tmp))
    store.close()
    return out


CLASSES_5_MIN = ["excursion", "fluctuation", "condensation", "health"]


def next_readings(topo: Topology, at: datetime) -> list[Reading]:
    """One new reading per sensor at ``at``, repeating its last one (the climate goes on)."""
    end = NOW.timestamp()
    times = np.arange(end - 26 * 3600, end + 1, 300.0)
    profiles = {(r.site, r.id): r.profile for r in topo.rooms()}
    out = []
    for i, sensor in enumerate(topo.sensors()):
        t, rh = climate(times, i, profiles[(sensor.site, sensor.room)])
        out.append(
            Reading(sensor.id, at, float(t[-1]), float(rh[-1]), site=sensor.site, room=sensor.room)
        )
    return out


def read_windows(source: IncrementalStoreSource, topo: Topology, at: float) -> None:
    """Every window the 5-minute classes ask of the source at ``at``, as `Evaluator.fetch`
    asks them (raw, and hourly means for the air sensors)."""
    rules = RulesConfig.builtin()
    for room in topo.rooms():
        band = band_for(room.profile)
        for sensor in room.sensors:
            resolved = rules.resolve(room.site, room.id, room.profile, sensor.id)
            raw_s, hourly_s = lookbacks(resolved, band, CLASSES_5_MIN, sensor.expected_interval_s)
            source.raw(sensor.id, at - raw_s, at)
            if hourly_s and not sensor.surface:
                source.hourly(sensor.id, at - hourly_s, at, resolved.mould.max_gap_hours)


def bench_cycle_incremental(
    store: Any, label: str, key: str, topo: Topology, tmp: Path
) -> dict[str, float]:
    """The incremental source (`alerts.incremental`) on a store holding the network's last
    26 h: a cold cycle of the 5-minute classes reading the windows whole, one new reading per
    sensor written, and the next cycle 5 minutes later reading only what arrived (plus the
    settle window) — in one query for all sensors. The same run's baseline: the reading alone
    5 minutes later, each from a source of its own warmed by a cold read at NOW (not timed):
    sensor by sensor (``bulk=False``, one query per window, as before) and in bulk as the fleet
    evaluator reads (`alerts.fleet_mould.fetch_store`: every window in one pass)."""
    sensors = len(list(topo.sensors()))
    state = AlertStore(tmp / f"cycle-{key}-incremental.sqlite")
    source = IncrementalStoreSource(store)
    engine = AlertEngine(store, topo, state, RulesConfig.builtin(), source=source)
    began = time.perf_counter()
    engine.run(NOW, CLASSES_5_MIN)
    cold = time.perf_counter() - began
    later = NOW + timedelta(minutes=5)
    store.write(next_readings(topo, later))
    out: dict[str, float] = {f"cycle_{key}_incremental_first_s": cold}
    rooms = list(topo.rooms())
    for bulk in (False, True):
        # a source of its own, warmed by a cold read at NOW (not timed) the way it is timed
        copy = IncrementalStoreSource(store, bulk=bulk)
        reader = FleetEvaluator(topo, RulesConfig.builtin(), copy, band_for)
        if bulk:
            fetch_store(reader, copy, rooms, CLASSES_5_MIN, np.array([NOW.timestamp()]))
        else:
            read_windows(copy, topo, NOW.timestamp())
        copy.readings_read = copy.queries = 0
        load = os.getloadavg()[0]
        began, cpu = time.perf_counter(), time.process_time()
        if bulk:  # as the fleet evaluator reads: every window in one pass
            fetch_store(reader, copy, rooms, CLASSES_5_MIN, np.array([later.timestamp()]))
        else:
            read_windows(copy, topo, later.timestamp())
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        way = "in bulk" if bulk else "sensor by sensor (baseline)"
        print(
            f"read ({label}, incremental, {way}), {sensors} sensors, 5 min later: {seconds:.2f} s, "
            f"CPU {cpu:.2f} s ({copy.readings_read} readings in {copy.queries} queries) "
            f"[load {load:.1f}]"
        )
        name = "bulk" if bulk else "per_sensor"
        out.update({f"read_{key}_{name}_s": seconds, f"read_{key}_{name}_cpu_s": cpu})
    read_before, queries_before = source.readings_read, source.queries
    load = os.getloadavg()[0]
    began, cpu = time.perf_counter(), time.process_time()
    report = engine.run(later, CLASSES_5_MIN)
    warm, warm_cpu = time.perf_counter() - began, time.process_time() - cpu
    state.close()
    print(
        f"cycle ({label}, fleet, incremental), {sensors} sensors, 5-minute classes: first "
        f"{cold:.2f} s; next, 5 min later {warm:.2f} s, CPU {warm_cpu:.2f} s "
        f"({source.readings_read - read_before} readings read in "
        f"{source.queries - queries_before} queries, {len(report.open_alerts)} open alerts) "
        f"[load {load:.1f}]"
    )
    out.update(
        {
            f"cycle_{key}_incremental_s": warm,
            f"cycle_{key}_incremental_cpu_s": warm_cpu,
            f"cycle_{key}_incremental_open_alerts": float(len(report.open_alerts)),
        }
    )
    return out


def bench_cycle_influx(sensors: int, tmp: Path, data: Path | None = None) -> dict[str, float]:
    """The incremental cycle on InfluxDB: a private InfluxDB 1.x (Debian's, as the tests
    run it: `tests.servers.InfluxDB`, free loopback ports, stopped by its PID) holding the
    same 26 h of readings (written before timing; not again when ``data``, the server's
    directory kept between runs, holds them from an earlier run)."""
    from tests.servers import InfluxDB

    topo = make_topology(sensors // 10, 10, max(sensors // 1000, 1))
    server = InfluxDB(data or tmp / "influxdb")
    server.start()
    try:
        server.create_database("bench")
        settings = StoreSettings(
            kind="influxdb", url=server.url, database="bench", api_version="v1", timeout_s=600
        )
        store = open_store(settings)
        end = NOW.timestamp()
        times = np.arange(end - 26 * 3600, end + 1, 300.0)
        at = [datetime.fromtimestamp(float(t), UTC) for t in times]
        profiles = {(r.site, r.id): r.profile for r in topo.rooms()}
        began = time.perf_counter()
        batch: list[Reading] = []
        # an earlier run wrote them all, and the next reading of each sensor
        held = data is not None and store.count() == sensors * (times.size + 1)
        for i, sensor in enumerate([] if held else topo.sensors()):
            t, rh = climate(times, i, profiles[(sensor.site, sensor.room)])
            batch.extend(
                Reading(
                    sensor.id, at[k], float(t[k]), float(rh[k]), site=sensor.site, room=sensor.room
                )
                for k in range(times.size)
            )
            if len(batch) >= 50_000:
                store.write(batch)
                batch = []
        store.write(batch)
        print(
            f"[InfluxDB setup: {sensors * times.size} readings "
            f"{'held from an earlier run' if held else 'written'} in "
            f"{time.perf_counter() - began:.0f} s]"
        )
        out = bench_cycle_incremental(store, "InfluxDB", "influx", topo, tmp)
        store.close()
    finally:
        server.stop()
    return out


def year_history(topo: Topology, start: datetime, end: datetime) -> dict[str, SensorSeries]:
    times = np.arange(start.timestamp(), end.timestamp(), 300.0)
    history = {}
    profiles = {(r.site, r.id): r.profile for r in topo.rooms()}
    for i, sensor in enumerate(topo.sensors()):
        s = history_for(sensor.id, times, 1000 + i, times[0], profiles[(sensor.site, sensor.room)])
        if i == 7:  # one sensor falls silent for two days
            keep = (times < times[0] + 100 * 86400) | (times > times[0] + 102 * 86400)
            s = SensorSeries(
                s.sensor,
                s.times[keep],
                s.temperature[keep],
                s.humidity[keep],
                s.battery[keep],
                s.start,
            )
        history[sensor.id] = s
    return history


def bench_backtest(days: int, from_store: bool, tmp: Path) -> dict[str, float]:
    """The backtest with each evaluator (the lifecycle replayed by episodes, the default), and
    the fleet one stepping the lifecycle (``buffered``: the baseline, as before); from the
    store, the array read (`SQLiteStore.history_arrays`) and the `Reading` read it replaced."""
    topo = make_topology(10, 5, 1)
    end = NOW
    start = end - timedelta(days=days)
    history = year_history(topo, start - timedelta(days=36), end)
    readings = sum(len(s) for s in history.values())
    rules = RulesConfig.builtin()
    out: dict[str, float] = {}
    episodes = {}
    tables = {}
    runs: tuple[tuple[str, EvaluatorKind, Lifecycle], ...] = (
        ("fleet", "fleet", "episodes"),
        ("reference", "reference", "episodes"),
        ("fleet_buffered", "fleet", "buffered"),
    )
    for label, kind, lifecycle in runs:
        load = os.getloadavg()[0]
        state = AlertStore(":memory:")
        began, cpu = time.perf_counter(), time.process_time()
        result = backtest(
            None,
            topo,
            rules,
            start,
            end,
            history=history,
            evaluator=kind,
            lifecycle=lifecycle,
            state=state,
        )
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        tables[label] = state_rows(state)
        state.close()
        episodes[label] = [
            (e.rule, e.subject, e.severity, e.since, e.fired_at, e.resolved_at)
            for e in result.episodes
        ]
        print(
            f"backtest ({kind}, lifecycle {lifecycle}), 50 sensors, {days} days "
            f"({readings} readings, arrays): {seconds:.1f} s, CPU {cpu:.1f} s, "
            f"{len(result.episodes)} alerts fired, {result.evaluations} lifecycle steps "
            f"[load {load:.1f}]"
        )
        out.update(
            {
                f"backtest_{label}_arrays_s": seconds,
                f"backtest_{label}_arrays_cpu_s": cpu,
                f"backtest_{label}_alerts": float(len(result.episodes)),
                f"backtest_{label}_steps": float(result.evaluations),
            }
        )
    same_episodes = episodes["fleet"] == episodes["reference"]
    print(f"backtest episodes identical (fleet vs reference): {same_episodes}")
    same_stepped = (
        episodes["fleet"] == episodes["fleet_buffered"]
        and tables["fleet"] == tables["fleet_buffered"]
    )
    print(
        f"backtest episodes and alert state identical (by episodes vs stepped): {same_stepped} "
        f"({len(tables['fleet'][0])} alerts, {len(tables['fleet'][1])} events)"
    )
    out["backtest_same"] = float(same_episodes and same_stepped)
    if from_store:
        store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp / "year.sqlite"))
        for sensor in topo.sensors():
            s = history[sensor.id]
            store.write(
                [
                    Reading(
                        sensor.id,
                        datetime.fromtimestamp(float(s.times[k]), UTC),
                        float(s.temperature[k]),
                        float(s.humidity[k]),
                        site=sensor.site,
                        room=sensor.room,
                    )
                    for k in range(len(s))
                ]
            )
        first = start - timedelta(days=36)
        began, cpu = time.perf_counter(), time.process_time()
        by_readings = load_history(_ReadingsOnly(store), topo, first, end)  # type: ignore[arg-type]
        old_s, old_cpu = time.perf_counter() - began, time.process_time() - cpu
        load = os.getloadavg()[0]
        began, cpu = time.perf_counter(), time.process_time()
        loaded = load_history(store, topo, first, end)
        load_s, load_cpu = time.perf_counter() - began, time.process_time() - cpu
        same_load = all(
            np.array_equal(getattr(loaded[k], q), getattr(by_readings[k], q), equal_nan=True)
            for k in loaded
            for q in ("times", "temperature", "humidity", "battery")
        )
        began, cpu = time.perf_counter(), time.process_time()
        again = backtest(store, topo, rules, start, end, history=loaded, evaluator="fleet")
        rules_s, rules_cpu = time.perf_counter() - began, time.process_time() - cpu
        store.close()
        total, total_cpu = load_s + rules_s, load_cpu + rules_cpu
        print(
            f"backtest (fleet) from the SQLite store: load {load_s:.1f} s (CPU {load_cpu:.1f} s; "
            f"the Reading read: {old_s:.1f} s, CPU {old_cpu:.1f} s, same arrays: {same_load}) "
            f"+ rules {rules_s:.1f} s = {total:.1f} s, CPU {total_cpu:.1f} s, "
            f"{len(again.episodes)} alerts fired [load {load:.1f}]"
        )
        out.update(
            {
                "backtest_store_load_s": load_s,
                "backtest_store_load_cpu_s": load_cpu,
                "backtest_store_readings_load_s": old_s,
                "backtest_store_total_s": total,
                "backtest_store_total_cpu_s": total_cpu,
                "backtest_store_same_load": float(same_load),
            }
        )
    return out


class _ReadingsOnly:
    """A store's `history` alone: `load_history` the way it read before `history_arrays`."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        readings: list[Reading] = self.store.history(sensor, start, end)
        return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 000 sensors, 60-day backtest")
    parser.add_argument(
        "--from-store", action="store_true", help="also run the backtest from a SQLite store"
    )
    parser.add_argument("--skip-store-cycle", action="store_true")
    parser.add_argument(
        "--influx",
        action="store_true",
        help="also the incremental store cycle on a private InfluxDB (its write takes minutes)",
    )
    parser.add_argument(
        "--influx-dir",
        type=Path,
        help="keep the private InfluxDB's data here; a later run with it skips the write",
    )
    parser.add_argument(
        "--only", choices=("backtest",), help="run only that part (the cycle's figure is nan)"
    )
    parser.add_argument(
        "--growth",
        action="store_true",
        help="also the fleet cycle at 1 000, 10 000 and 100 000 sensors",
    )
    args = parser.parse_args()
    sensors = 1_000 if args.quick else 10_000
    days = 60 if args.quick else 365
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{platform.processor() or platform.platform()}; load {os.getloadavg()[0]:.1f}"
    )
    results: dict[str, Any] = {"sensors": sensors, "backtest_days": days}
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        sizes = sorted({1_000, 10_000, sensors, 100_000} if args.growth else {sensors})
        if args.only == "backtest":
            sizes = []
            results[f"cycle_fleet_{sensors}_s"] = float("nan")
        for size in sizes:
            results.update(bench_cycle_arrays(size, tmp, "fleet"))
        if sizes:
            results.update(bench_cycle_arrays(sensors, tmp, "reference"))
            same_alerts = same(
                results.pop(f"_alerts_fleet_{sensors}"),
                results.pop(f"_alerts_reference_{sensors}"),
            )
            print(f"cycle alerts identical (fleet vs reference, {sensors} sensors): {same_alerts}")
            results["cycle_same"] = float(same_alerts)
        for key in [k for k in results if k.startswith("_alerts_")]:
            del results[key]
        if not args.skip_store_cycle and sizes:
            results.update(bench_cycle_store(sensors, tmp))
        if args.influx and sizes:
            results.update(bench_cycle_influx(sensors, tmp, args.influx_dir))
        results.update(bench_backtest(days, args.from_store, tmp))
    print(json.dumps(results, indent=2, sort_keys=True))
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    print(
        f"cycle {sensors} sensors {results[f'cycle_fleet_{sensors}_s']:.2f} s; "
        f"backtest 50 sensors {'1 year' if days == 365 else f'{days} days'} "
        f"{results['backtest_fleet_arrays_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
