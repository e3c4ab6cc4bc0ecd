"""The fleet evaluator's mould, decay and derived rows from carried state (`alerts.fleet_mould`:
`MouldCarry`, `DecayCarry`, the hourly blocks, derived rows kept while their inputs are the same
bits) give what the sensor-by-sensor paths give over the same history, cycle for cycle: with
readings arriving, a late reading inside the settle window, a sensor falling silent for hours,
a restart (a new evaluator continuing from the stored checkpoints) and a registry change; and the
engine's kept checkpoints are those in the alert state."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from repoclimate.alerts import fleet_mould
from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.evaluate import Active, ArraySource, ClassResult, RoomData
from repoclimate.alerts.fleet import FleetEvaluator, _Member
from repoclimate.alerts.model import Severity
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.rules.mould import Checkpoint
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.topology import Topology
from tests.alerts.test_golden import END, history, make_run, network

CLASSES = ["mould", "decay"]


class PerSensor(FleetEvaluator):
    """The fleet evaluator with the mould and decay classes sensor by sensor (no carry)."""

    def _mould(
        self,
        air: list[_Member],
        at: np.ndarray,
        active: Active,
        result: ClassResult,
        checkpoints: Mapping[str, Checkpoint],
    ) -> None:
        fleet_mould.evaluate_mould(air, at, active, result, checkpoints, None)

    def _decay(self, rooms: list[RoomData], at: np.ndarray, result: ClassResult) -> None:
        fleet_mould.evaluate_decay(self.rules, rooms, at, result, None)


def damp(series: dict[str, SensorSeries], end: float) -> dict[str, SensorSeries]:
    """Some sensors damp for the last days (mould and decay findings), one of them drying out
    during the test, and one silent for 10 hours in the middle of it."""
    out = dict(series)
    for k, (sid, s) in enumerate(sorted(series.items())):
        rh = s.humidity.copy()
        keep = np.ones(s.times.size, dtype=np.bool_)
        if k % 3 == 0:
            spell = s.times > end - (4 + k % 4) * 86400.0
            rh[spell] = np.minimum(rh[spell] + 40.0, 100.0)
            if k % 2 == 0:
                rh[s.times > end + 3 * 3600.0] -= 45.0
        if k == 4:
            keep = (s.times < end + 3600.0) | (s.times > end + 11 * 3600.0)
        out[sid] = SensorSeries(
            sid, s.times[keep], s.temperature[keep], rh[keep], s.battery[keep], s.start
        )
    return out


def outcome(result: dict[str, ClassResult], rooms: list[RoomData]) -> dict[str, Any]:
    mould_r, decay_r = result["mould"], result["decay"]
    return {
        "findings": [
            (i, f.rule, f.subject.id, f.severity, f.since, f.summary, f.value, f.threshold)
            for r in (mould_r, decay_r)
            for i, f in r.output.findings
        ],
        "held": sorted(mould_r.output.held) + sorted(decay_r.output.held),
        "subjects": (sorted(mould_r.subjects), sorted(decay_r.subjects)),
        "checkpoints": {
            k: (c.hour, c.fingerprint, c.mrf, round(c.vtt.index, 12), c.vtt.hours_unfavourable)
            for k, c in mould_r.checkpoints.items()
        },
    }


def indices_agree(a: list[RoomData], b: list[RoomData]) -> bool:
    for x, y in zip(a, b, strict=True):
        assert x.mould.keys() == y.mould.keys()
        for sid, (mrf, vtt) in x.mould.items():
            assert np.array_equal(mrf, y.mould[sid][0], equal_nan=True), sid
            assert np.allclose(vtt, y.mould[sid][1], rtol=0.0, atol=1e-12, equal_nan=True), sid
    return True


def test_carried_mould_decay_and_derived_rows_equal_the_sensor_by_sensor_paths() -> None:
    topology = network(sites=2, rooms_per_site=3, sensors_per_room=4)
    end = END.timestamp()
    full = damp(history(topology, END - timedelta(days=36), END + timedelta(hours=14)), end)
    source = ArraySource(full)
    rules = RulesConfig.builtin()
    carried = FleetEvaluator(topology, rules, source, band_for)
    plain = PerSensor(topology, rules, source, band_for)
    held: dict[str, dict[str, Checkpoint]] = {"carried": {}, "plain": {}}
    active: dict[str, dict[str, Severity]] = {}
    found = 0
    for cycle in range(0, 14 * 12, 5):
        now = end + 300.0 * cycle
        source.series = {k: v.between(-np.inf, now) for k, v in full.items()}
        if cycle == 60:  # a reading 3 hours late (inside the 6-hour settle window) arrives
            s = source.series["x0-1-1"]
            late = now - 3 * 3600.0 - 100.0
            i = int(np.searchsorted(s.times, late))
            source.series[s.sensor] = SensorSeries(
                s.sensor,
                np.insert(s.times, i, late),
                np.insert(s.temperature, i, 25.0),
                np.insert(s.humidity, i, 99.0),
                np.insert(s.battery, i, np.nan),
                s.start,
            )
            full[s.sensor] = source.series[s.sensor]
        if cycle == 105:  # a late reading in the last complete hour: its derived rows change
            s = source.series["x1-0-0"]
            late = now - 3600.0
            i = int(np.searchsorted(s.times, late))
            source.series[s.sensor] = SensorSeries(
                s.sensor,
                np.insert(s.times, i, late),
                np.insert(s.temperature, i, 30.0),
                np.insert(s.humidity, i, 95.0),
                np.insert(s.battery, i, np.nan),
                s.start,
            )
            full[s.sensor] = source.series[s.sensor]
        if cycle == 90:  # a restart: a new evaluator continues from the stored checkpoints
            carried = FleetEvaluator(topology, rules, source, band_for)
        if cycle == 130:  # another source, older readings changed: everything computed again
            for sid, s in list(full.items()):
                warmer = s.temperature + np.where(s.times < end - 2 * 86400.0, 4.0, 0.0)
                full[sid] = SensorSeries(sid, s.times, warmer, s.humidity, s.battery, s.start)
            source = ArraySource({k: v.between(-np.inf, now) for k, v in full.items()})
            carried.source = plain.source = source
        ats = [np.array([now])]
        if cycle == 120:  # an evaluation two hours back, then on: computed whole, then carried
            ats.insert(0, np.array([now - 7200.0]))
        for at in ats:
            a = carried.run(CLASSES, at, active, None, held["carried"])
            b = plain.run(CLASSES, at, active, None, held["plain"])
            assert outcome(a, carried.rooms) == outcome(b, plain.rooms), cycle
        assert outcome(a, carried.rooms) == outcome(b, plain.rooms), cycle
        assert indices_agree(carried.rooms, plain.rooms)
        assert fleet_mould._derived_from_matrices(carried.rooms, at, carried) is not None
        rows = fleet_mould.derived_rows(carried.rooms, at, carried)
        assert rows == fleet_mould.derived_rows(plain.rooms, at), cycle
        held["carried"] = {**held["carried"], **a["mould"].checkpoints}
        held["plain"] = {**held["plain"], **b["mould"].checkpoints}
        active = {}
        for _, f in (*a["mould"].output.findings, *a["decay"].output.findings):
            active.setdefault(f.subject.id, {})[f.rule] = f.severity
        found += len(a["mould"].output.findings)
    assert found > 50  # the damp sensors did fire, and the drying one cleared
    assert "x0-1-1" in held["carried"]


def test_a_registry_change_rebuilds_what_is_carried() -> None:
    """A sensor added (a new engine, as a reload builds): its mould starts from nothing, the
    others continue from their checkpoints — as sensor by sensor."""
    before = network(sites=1, rooms_per_site=2, sensors_per_room=3)
    after = network(sites=1, rooms_per_site=2, sensors_per_room=4)
    end = END.timestamp()
    full = damp(history(after, END - timedelta(days=36), END + timedelta(hours=3)), end)
    rules = RulesConfig.builtin()
    source = ArraySource({k: v.between(-np.inf, end) for k, v in full.items()})
    first = FleetEvaluator(before, rules, source, band_for)
    checkpoints = first.run(CLASSES, np.array([end]), {}, None, {})["mould"].checkpoints
    later = end + 2 * 3600.0
    source.series = {k: v.between(-np.inf, later) for k, v in full.items()}
    topology: Topology = after
    a = FleetEvaluator(topology, rules, source, band_for)
    b = PerSensor(topology, rules, source, band_for)
    ra = a.run(CLASSES, np.array([later]), {}, None, checkpoints)
    rb = b.run(CLASSES, np.array([later]), {}, None, checkpoints)
    assert outcome(ra, a.rooms) == outcome(rb, b.rooms)
    assert len(ra["mould"].checkpoints) > len(checkpoints)


def test_the_engine_keeps_the_checkpoints_it_stored() -> None:
    """The engine reads the checkpoints once and keeps what it writes: what it holds is what
    the alert state holds, cycle after cycle; other sites read them again."""
    topology = network(sites=2, rooms_per_site=2, sensors_per_room=3)
    series = history(topology, END - timedelta(days=35), END + timedelta(hours=3))
    run = make_run(topology, series, "fleet")
    reads: list[int] = []
    state_read = run.state.mould_checkpoints

    def counted() -> dict[str, Checkpoint]:
        reads.append(1)
        return state_read()

    run.state.mould_checkpoints = counted  # type: ignore[method-assign]
    for minutes in range(0, 150, 20):
        run.engine.run(END + timedelta(minutes=minutes), ["mould"])
        kept = run.engine._checkpoints
        assert kept is not None
        stored = {k: (c.hour, c.mrf.value, c.vtt.index) for k, c in kept[1].items()}
        in_state = {k: (c.hour, c.mrf.value, c.vtt.index) for k, c in state_read().items()}
        assert stored == in_state and stored
    assert len(reads) == 1
    run.engine.run(END + timedelta(hours=3), ["mould"], sites=["site0"])
    assert len(reads) == 2


def test_batches_of_members_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mould class integrates and judges its members in batches (`_INTEGRATE_CELLS`,
    `_RULE_CELLS`) and the hourly blocks are computed in batches of rows (`_BLOCK_BATCH`), to
    bound a cold start's memory: batches of one to a few members give exactly what one batch
    gives — findings and held steps in the same order, checkpoints, indices, derived rows."""
    topology = network(sites=1, rooms_per_site=3, sensors_per_room=4)
    end = END.timestamp()
    full = damp(history(topology, END - timedelta(days=36), END + timedelta(hours=8)), end)
    low = {"mrf_warning": 0.05, "vtt_warning": 0.05, "settle_hours": 3}  # other levels, groups
    rules = RulesConfig.from_dict({"sensors": {s: {"mould": low} for s in ("x0-0-0", "x0-1-2")}})

    def cycles() -> list[Any]:
        source = ArraySource(dict(full))
        evaluator = FleetEvaluator(topology, rules, source, band_for)
        checkpoints: dict[str, Checkpoint] = {}
        active: dict[str, dict[str, Severity]] = {}
        out = []
        for cycle in (0, 1, 12, 13, 60, 96):
            now = end + 300.0 * cycle
            source.series = {k: v.between(-np.inf, now) for k, v in full.items()}
            at = np.array([now])
            result = evaluator.run(CLASSES, at, active, None, checkpoints)
            checkpoints = {**checkpoints, **result["mould"].checkpoints}
            active = {}
            for _, f in result["mould"].output.findings:
                active.setdefault(f.subject.id, {})[f.rule] = f.severity
            out.append(
                (
                    [(i, f) for r in result.values() for i, f in r.output.findings],
                    [list(r.output.held) for r in result.values()],
                    list(result["mould"].checkpoints.items()),
                    [
                        (sid, mrf.tobytes(), vtt.tobytes())
                        for data in evaluator.rooms
                        for sid, (mrf, vtt) in data.mould.items()
                    ],
                    fleet_mould.derived_rows(evaluator.rooms, at, evaluator),
                )
            )
        return out

    whole = cycles()
    monkeypatch.setattr(fleet_mould, "_INTEGRATE_CELLS", 700)  # one member a batch
    monkeypatch.setattr(fleet_mould, "_RULE_CELLS", 1500)  # two members a batch when cold
    monkeypatch.setattr(fleet_mould, "_BLOCK_BATCH", 2000)
    batched = cycles()
    assert batched == whole
    assert sum(len(c[0]) for c in whole) > 10  # the damp sensors did fire
    assert any(f.threshold == 0.05 for c in whole for _, f in c[0])  # at their own levels
