"""Escalation dispatch limited to the sites an engine holds (`alerts.partition`): two engines
share one alert state, each holding half the sites; one stops, and the other escalates only the
alerts of its own sites (the stopped engine's are left for whoever holds them next)."""

from __future__ import annotations

from pathlib import Path

from repoclimate.alerts.clock import ManualClock
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.evaluate import ArraySource
from repoclimate.alerts.model import AlertState
from repoclimate.alerts.partition import partition_for
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.runtime import build_alerting
from repoclimate.alerts.schedule import _dispatch
from repoclimate.alerts.settings import AlertSettings
from repoclimate.alerts.state import AlertStore
from repoclimate.history import StoreSettings, open_store
from repoclimate.sensors.registry import Registry
from tests.alerts.conftest import at, bands
from tests.alerts.test_partition import damp_history, four_sites, sites_of

ROTA = Rota.model_validate(
    {
        "people": {
            "alice": {"contacts": [{"email": "alice@example.org"}]},
            "bob": {"contacts": [{"email": "bob@example.org"}]},
        },
        "shifts": [{"who": ["alice", "bob"]}],
        "escalation": [{"after_minutes": 0}, {"after_minutes": 30}],
    }
)


def escalated_sites(state: AlertStore) -> set[str]:
    """The sites of the alerts an escalation row in the outbox is about."""
    by_id = {alert.id: alert.subject.site for alert in state.list_alerts()}
    return {
        by_id[alert_id]
        for row in state.outbox()
        if row.kind == "escalation"
        for alert_id in row.alert_ids
    }


def test_an_engine_escalates_only_the_alerts_of_its_sites(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "store.sqlite"))
    engines = []
    for share in ("1/2", "2/2"):
        settings = AlertSettings(state_path=path, partition=share)
        alerting = build_alerting(settings, store, Registry.empty())
        alerting.engine = AlertEngine(
            store,
            four_sites(),
            alerting.state,
            rota=ROTA,
            bands=bands,
            write_derived=False,
            source=ArraySource(damp_history()),
        )
        engines.append(alerting)
    first, second = engines
    for alerting in engines:
        with alerting.partition.claim() as sites:
            alerting.engine.evaluate(at(3), sites=sites)
    state = first.state
    firing = {a.subject.site for a in state.open_alerts() if a.state is AlertState.FIRING}
    assert firing == {"north", "east", "south", "west"}
    assert not escalated_sites(state)
    # the damp persists (seen again at 3 h 45 by an engine whose rota has no escalation
    # step, so that it pages nobody); the second engine has stopped, and the first one's
    # dispatch job runs past the escalation delay
    AlertEngine(
        store, four_sites(), state, bands=bands, source=ArraySource(damp_history())
    ).evaluate(at(3.75))
    assert not escalated_sites(state)
    _dispatch(first, ManualClock(at(4)))
    assert escalated_sites(state) == {"east", "south"}
    _dispatch(second, ManualClock(at(4)))
    assert escalated_sites(state) == {"north", "east", "south", "west"}
    for alerting in engines:
        alerting.close()
    store.close()


def test_an_engine_without_a_partition_escalates_every_site(tmp_path: Path) -> None:
    state = AlertStore(tmp_path / "alerts.sqlite")
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "store.sqlite"))
    engine = AlertEngine(
        store,
        four_sites(),
        state,
        rota=ROTA,
        bands=bands,
        write_derived=False,
        source=ArraySource(damp_history()),
    )
    with partition_for(None, sites_of, state.engine).claim() as sites:
        assert sites is None
        engine.evaluate(at(3), sites=sites)
        engine.evaluate(at(3.75), sites=sites)  # found again, past the escalation delay
    assert escalated_sites(state) == {"north", "east", "south", "west"}
    state.close()
    store.close()
