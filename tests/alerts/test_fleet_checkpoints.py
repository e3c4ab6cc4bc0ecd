"""The mould checkpoints are written when they move (once an hour), not rewritten unchanged at
every evaluation of the hour."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from repoclimate.alerts.state.checkpoints import CheckpointRows
from tests.alerts.test_golden import END, checkpoints_of, history, make_run, network


def test_unchanged_checkpoints_are_not_rewritten(monkeypatch: pytest.MonkeyPatch) -> None:
    topology = network(sites=1, rooms_per_site=2, sensors_per_room=3)
    series = history(topology, END - timedelta(days=35), END)
    run = make_run(topology, series, "fleet")
    written: list[int] = []
    put = CheckpointRows.put_mould_checkpoints

    def counted(self: Any, checkpoints: dict[str, Any]) -> None:
        written.append(len(checkpoints))
        put(self, checkpoints)

    monkeypatch.setattr(CheckpointRows, "put_mould_checkpoints", counted)
    start = END - timedelta(hours=3)
    run.engine.run(start, ["mould"])
    first = checkpoints_of(run.state)
    n = len(first)
    assert written == [n] and n == 5  # every air sensor (one of the six is a surface's)
    run.engine.run(start + timedelta(minutes=20), ["mould"])  # the same hour: nothing moved
    assert written == [n] and checkpoints_of(run.state) == first
    run.engine.run(start + timedelta(hours=1), ["mould"])  # an hour on: every one moved
    assert written == [n, n]
    assert [c[1] for c in checkpoints_of(run.state)] == [c[1] + 3600.0 for c in first]
