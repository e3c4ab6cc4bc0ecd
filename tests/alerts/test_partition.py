"""Engines splitting the sites (``alerts.partition``): the share of each, the filter on SQLite,
and on the real PostgreSQL the advisory locks — disjoint claims, takeover of a stopped engine's
sites, hand-back when it returns — and two engine processes evaluating disjoint sites, one
killed, the other taking its sites within one interval.

Run as ``python -m tests.alerts.test_partition URL SHARE LOG STORE INTERVAL`` this module is one
engine process of that last test (`engine_process`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from repoclimate.alerts.clock import ManualClock
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.evaluate import ArraySource
from repoclimate.alerts.partition import (
    AllSites,
    PartitionError,
    SiteLeases,
    StaticSites,
    home_engine,
    home_sites,
    partition_for,
)
from repoclimate.alerts.runtime import build_alerting
from repoclimate.alerts.schedule import _evaluate
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.settings import AlertSettings
from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.topology import RoomNode, SensorNode, SiteNode, Topology
from repoclimate.history import StoreSettings, open_store
from repoclimate.sensors.registry import Registry
from tests.alerts.conftest import at, bands, series

SITES = ["north", "east", "south", "west"]
REPO = Path(__file__).resolve().parents[2]


def four_sites() -> Topology:
    zone = ZoneInfo("Europe/London")
    return Topology(
        [
            SiteNode(
                site,
                zone,
                (
                    RoomNode(
                        site,
                        "stack",
                        "test-paper",
                        "paper",
                        (SensorNode(f"{site}-s1", site, "stack", 300.0),),
                    ),
                ),
            )
            for site in SITES
        ]
    )


def damp_history() -> dict[str, SensorSeries]:
    """Every sensor too damp from the start: each site has an alert to open and keep."""
    return {f"{site}-s1": series(f"{site}-s1", 6, humidity=75.0) for site in SITES}


def sites_of() -> list[str]:
    return list(SITES)


# -- shares and settings ----------------------------------------------------------------------
def test_n_of_m_deals_the_sorted_sites_out_in_turn() -> None:
    assert home_sites(SITES, 1, 2) == ["east", "south"]
    assert home_sites(SITES, 2, 2) == ["north", "west"]
    assert sorted(home_sites(SITES, 1, 3) + home_sites(SITES, 2, 3) + home_sites(SITES, 3, 3)) == (
        sorted(SITES)
    )
    assert all(home_engine(SITES, site, 2) == 1 for site in home_sites(SITES, 1, 2))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0/2", "1 ≤ N ≤ M"),
        ("3/2", "1 ≤ N ≤ M"),
        ("half", "give N/M"),
        ([], "at least one site"),
        (["north", "north"], "names a site twice"),
    ],
)
def test_a_bad_partition_is_refused(value: str | list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertSettings(partition=value)


def test_a_site_list_naming_an_unknown_site_is_refused() -> None:
    with pytest.raises(PartitionError, match="does not have: atlantis"):
        partition_for(["north", "atlantis"], sites_of, None)


def test_on_sqlite_the_partition_only_filters(tmp_path: Path) -> None:
    state = AlertStore(tmp_path / "alerts.sqlite")
    assert isinstance(partition_for(None, sites_of, state.engine), AllSites)
    first = partition_for("1/2", sites_of, state.engine)
    second = partition_for("2/2", sites_of, state.engine)
    listed = partition_for(["west"], sites_of, state.engine)
    assert isinstance(first, StaticSites)
    with first.claim() as a, second.claim() as b, listed.claim() as c:
        assert a == {"east", "south"} and b == {"north", "west"} and c == {"west"}
    state.close()


def test_the_engine_evaluates_only_the_claimed_sites(tmp_path: Path) -> None:
    state = AlertStore(tmp_path / "alerts.sqlite")
    engine = AlertEngine(
        open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "store.sqlite")),
        four_sites(),
        state,
        bands=bands,
        write_derived=False,
        source=ArraySource(damp_history()),
    )
    with partition_for("1/2", sites_of, state.engine).claim() as sites:
        opened = engine.evaluate(at(3), sites=sites)
    assert {alert.subject.site for alert in opened} == {"east", "south"}
    state.close()


def test_the_scheduled_evaluation_evaluates_the_partitions_sites(tmp_path: Path) -> None:
    settings = AlertSettings(state_path=tmp_path / "alerts.sqlite", partition="2/2")
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "store.sqlite"))
    alerting = build_alerting(settings, store, Registry.empty())
    assert isinstance(alerting.partition, StaticSites)
    alerting.engine = AlertEngine(
        store,
        four_sites(),
        alerting.state,
        bands=bands,
        write_derived=False,
        source=ArraySource(damp_history()),
    )  # the partition follows the running engine's sites (a registry reload replaces it)
    _evaluate(alerting, ManualClock(at(3)), ["excursion"])
    assert {alert.subject.site for alert in alerting.state.open_alerts()} == {"north", "west"}
    alerting.close()
    store.close()


# -- advisory locks on PostgreSQL -------------------------------------------------------------
@pytest.fixture
def pg_state(postgresql_url: str) -> Iterator[AlertStore]:
    state = AlertStore(postgresql_url)
    yield state
    state.close()


def leases(state: AlertStore, setting: str | list[str]) -> SiteLeases:
    partition = partition_for(setting, sites_of, state.engine)
    assert isinstance(partition, SiteLeases)
    return partition


def claimed(partition: SiteLeases) -> frozenset[str]:
    with partition.claim() as sites:
        assert sites is not None
        return sites


def settle(*partitions: SiteLeases) -> list[frozenset[str]]:
    """Every engine's claim once they all run: an engine claiming before the others have
    started takes their sites too (nobody else is there), and hands them back one claim after
    they appear."""
    for partition in partitions:
        claimed(partition)
    return [claimed(partition) for partition in partitions]


def test_an_engine_alone_takes_every_site_and_hands_back_when_the_other_starts(
    pg_state: AlertStore,
) -> None:
    one = leases(pg_state, "1/2")
    assert claimed(one) == set(SITES)
    two = leases(pg_state, "2/2")
    assert claimed(two) == frozenset()  # started: engine 1 still holds its sites
    assert claimed(one) == {"east", "south"}
    assert claimed(two) == {"north", "west"}
    one.close()
    two.close()


def test_two_engines_hold_disjoint_sites(pg_state: AlertStore) -> None:
    one, two = leases(pg_state, "1/2"), leases(pg_state, "2/2")
    assert settle(one, two) == [{"east", "south"}, {"north", "west"}]
    assert claimed(one) == {"east", "south"}  # claiming again changes nothing
    # the same share started twice by mistake: the locks still keep the sites apart
    again = leases(pg_state, "1/2")
    assert claimed(again) == frozenset()
    # a site list overlapping another engine's sites gets only the free ones
    listed = leases(pg_state, ["east", "west"])
    assert claimed(listed) == frozenset()
    for partition in (one, two, again, listed):
        partition.close()


def test_a_stopped_engines_sites_are_taken_over_and_handed_back(pg_state: AlertStore) -> None:
    one, two = leases(pg_state, "1/2"), leases(pg_state, "2/2")
    assert settle(one, two) == [{"east", "south"}, {"north", "west"}]
    one.close()  # engine 1 stops: its connection, and with it its locks, are gone
    with two.claim() as evaluating:  # engine 2's next evaluation takes engine 1's sites
        assert evaluating == set(SITES)
        back = leases(pg_state, "1/2")
        assert claimed(back) == frozenset()  # engine 1 is back; engine 2 still holds them
        # another of engine 2's jobs claims meanwhile: sites being evaluated stay
        assert claimed(two) == set(SITES)
    assert claimed(two) == {"north", "west"}  # no longer evaluated: handed back
    assert claimed(back) == {"east", "south"}
    back.close()
    two.close()


def test_a_killed_connection_loses_its_sites_and_gets_them_back(
    pg_state: AlertStore, postgresql_url: str
) -> None:
    one, two = leases(pg_state, "1/2"), leases(pg_state, "2/2")
    assert settle(one, two) == [{"east", "south"}, {"north", "west"}]
    pid = _backend_of(one)
    _terminate(postgresql_url, pid)  # as if the network had dropped engine 1's connection
    assert claimed(two) == set(SITES)
    # engine 1 notices at its next claim, reconnects, and finds its sites taken
    assert claimed(one) == frozenset()
    assert _backend_of(one) != pid
    assert claimed(two) == {"north", "west"}
    assert claimed(one) == {"east", "south"}
    one.close()
    two.close()


def _backend_of(partition: SiteLeases) -> int:
    connection = partition._connection
    assert connection is not None
    pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    assert isinstance(pid, int)
    return pid


def _terminate(url: str, pid: int) -> None:
    parts = make_url(url)
    dsn = f"host={parts.host} port={parts.port} user={parts.username} dbname={parts.database}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # waits for it


# -- two engine processes ---------------------------------------------------------------------
def engine_process(url: str, share: str, log: Path, store_path: Path, interval_s: float) -> None:
    """One engine: every ``interval_s`` claim its sites, evaluate them, and append
    ``{"share", "sites", "start", "end"}`` to ``log`` (one JSON line per evaluation)."""
    state = AlertStore(url)
    clock = ManualClock(at(3))
    engine = AlertEngine(
        open_store(StoreSettings(kind="sqlite", sqlite_path=store_path)),
        four_sites(),
        state,
        bands=bands,
        write_derived=False,
        clock=clock,
        source=ArraySource(damp_history()),
    )
    partition = partition_for(share, sites_of, state.engine)
    with log.open("a", encoding="utf-8") as out:
        while True:
            began = time.monotonic()
            with partition.claim() as sites:
                start = time.time()
                engine.evaluate(clock.now(), sites=sites)
                end = time.time()
            out.write(
                json.dumps(
                    {"share": share, "sites": sorted(sites or ()), "start": start, "end": end}
                )
                + "\n"
            )
            out.flush()
            time.sleep(max(interval_s - (time.monotonic() - began), 0.0))


def _evaluations(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


HOMES = (["east", "south"], ["north", "west"])


def _settled(log: Path, home: list[str]) -> bool:
    """The engine's last two evaluations were of its own sites (whichever engine starts first
    holds every site until the other appears)."""
    last = _evaluations(log)[-2:]
    return len(last) == 2 and all(e["sites"] == home for e in last)


def test_two_engine_processes_evaluate_disjoint_sites_and_survive_a_kill(
    postgresql_url: str, tmp_path: Path
) -> None:
    AlertStore(postgresql_url).close()  # migrated once, before the engines start
    interval = 1.0
    logs = {
        share: tmp_path / f"engine-{share.replace('/', 'of')}.jsonl" for share in ("1/2", "2/2")
    }
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = {
        share: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.alerts.test_partition",
                postgresql_url,
                share,
                str(log),
                str(tmp_path / "store.sqlite"),
                str(interval),
            ],
            cwd=REPO,
            env=env,
        )
        for share, log in logs.items()
    }
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # both running, each on its own share
            if all(_settled(log, home) for log, home in zip(logs.values(), HOMES, strict=True)):
                break
            assert all(p.poll() is None for p in processes.values()), "an engine exited"
            time.sleep(0.2)
        else:
            pytest.fail("the engines did not settle on their own sites within 60 s")
        processes["1/2"].send_signal(signal.SIGKILL)
        processes["1/2"].wait(10)
        killed_at = time.time()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            taken = [e for e in _evaluations(logs["2/2"]) if e["sites"] == sorted(SITES)]
            if taken:
                break
            time.sleep(0.1)
        else:
            pytest.fail("engine 2 never took over engine 1's sites")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)
    one, two = _evaluations(logs["1/2"]), _evaluations(logs["2/2"])
    assert one[-1]["sites"] == HOMES[0]  # engine 1 evaluated its own sites until killed
    # never the same site at once: no evaluation of engine 1 overlaps one of engine 2's
    shared = 0
    for a in one:
        for b in two:
            if set(a["sites"]) & set(b["sites"]):  # type: ignore[arg-type]
                shared += 1
                assert float(str(a["end"])) <= float(str(b["start"])) or float(
                    str(b["end"])
                ) <= float(str(a["start"]))
    assert shared  # the sites changed hands (start-up, kill), so there was something to check
    # taken over at engine 2's next cycle: within one interval (and a second of slack for a
    # loaded machine) of the kill
    first = min(float(str(e["start"])) for e in taken)
    print(f"engine 2 took engine 1's sites {first - killed_at:.2f} s after the kill")
    assert first - killed_at < interval + 1.0
    state = AlertStore(postgresql_url)
    assert {alert.subject.site for alert in state.open_alerts()} == set(SITES)
    state.close()


if __name__ == "__main__":
    engine_process(
        sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), float(sys.argv[5])
    )
