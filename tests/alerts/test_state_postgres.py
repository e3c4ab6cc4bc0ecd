"""The alert state on the real PostgreSQL where the SQLite-only tests leave it uncovered: the
``alerts.state_url`` setting (environment, CLI, one function, password never shown), migrations
down and up with rows kept, an unreachable server, writers taking turns (two engines opening the
same alert), users and tokens. (The outbox cases run on both back ends in test_outbox.py.)"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.runtime import build_alerting
from repoclimate.alerts.settings import AlertSettings
from repoclimate.alerts.state import AlertStore, StateFileError
from repoclimate.alerts.state.database import alembic_config, head
from repoclimate.app.cli import app
from repoclimate.app.settings import SettingsError, load_settings
from repoclimate.app.users import UserStore
from repoclimate.history import StoreSettings, open_store
from repoclimate.sensors.registry import Registry
from tests.alerts.conftest import T0
from tests.servers import PostgreSQL, free_port

RULE = "excursion.humidity_high"
SUBJECT = Subject("city", "stack-3", "s1")


def finding() -> Finding:
    return Finding(
        rule=RULE,
        subject=SUBJECT,
        severity=Severity.WARNING,
        since=T0,
        value=70.0,
        threshold=60.0,
        unit="%RH",
        summary="RH 70",
        advice="check the dehumidifier",
        for_s=3600.0,
    )


def with_password(url: str, password: str) -> str:
    """``url`` with a password (the test server trusts loopback, so any password works)."""
    return url.replace("://postgres@", f"://postgres:{password}@")


def revisions(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = [
            str(r)
            for r in connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        ]
    engine.dispose()
    return found


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
    engine.dispose()
    return names


# -- the setting --------------------------------------------------------------------------------
def test_the_state_url_from_the_environment_opens_postgresql(
    postgresql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = with_password(postgresql_url, "s3cret-pw")
    monkeypatch.setenv("REPOCLIMATE_ALERTS__STATE_URL", url)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None).alerts
    assert settings.state_target() == url
    assert "s3cret-pw" not in settings.state_description()
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings.model_dump())
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "store.sqlite"))
    alerting = build_alerting(settings, store, Registry.empty())
    with alerting.state.transaction() as tx:
        apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0)
    alerting.close()
    store.close()
    assert not (tmp_path / "repoclimate-alerts.sqlite").exists()  # state_path was not used
    assert [a.rule for a in AlertStore(url).open_alerts()] == [RULE]


def test_a_bad_state_url_is_refused_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPOCLIMATE_ALERTS__STATE_URL", "mysql://ana:s3cret-pw@db/alerts")
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    message = str(caught.value)
    assert "REPOCLIMATE_ALERTS__STATE_URL" in message and "cannot live in mysql" in message
    assert "s3cret-pw" not in message
    with pytest.raises(ValueError) as direct:
        AlertSettings(state_url="postgresql+psycopg://ana:s3cret-pw@db:port/alerts")
    assert "s3cret-pw" not in str(direct.value)


def test_the_alerts_and_users_commands_use_the_state_url(
    postgresql_url: str, tmp_path: Path
) -> None:
    url = with_password(postgresql_url, "s3cret-pw")
    config = tmp_path / "config.yaml"
    config.write_text(f"alerts:\n  state_url: {url}\n", encoding="utf-8")
    state = AlertStore(url)
    with state.transaction() as tx:
        apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0)
    state.close()
    runner = CliRunner()
    listed = runner.invoke(app, ["alerts", "list", "--json", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    assert RULE in listed.stdout
    added = runner.invoke(
        app,
        ["users", "add", "ana", "--password-stdin", "--config", str(config)],
        input="correct horse battery\n",
    )
    assert added.exit_code == 0, added.output
    users = UserStore(url)
    assert users.authenticate("ana", "correct horse battery") is not None
    users.close()
    checked = runner.invoke(app, ["check", "--config", str(config)])
    assert "s3cret-pw" not in checked.output
    assert not (tmp_path / "repoclimate-alerts.sqlite").exists()


def test_an_unreachable_server_is_named_without_its_password() -> None:
    url = f"postgresql+psycopg://ana:s3cret-pw@127.0.0.1:{free_port()}/alerts"
    with pytest.raises(StateFileError) as caught:
        AlertStore(url)
    assert "ana:***@127.0.0.1" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


# -- migrations ---------------------------------------------------------------------------------
def test_migrations_go_down_and_up_again_keeping_the_alerts(postgresql_url: str) -> None:
    state = AlertStore(postgresql_url)
    with state.transaction() as tx:
        apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0)
    state.close()
    config = alembic_config(url=postgresql_url)
    command.downgrade(config, "0001")
    assert revisions(postgresql_url) == ["0001"]
    engine = create_engine(postgresql_url)
    with engine.connect() as connection:
        outbox_columns = {c["name"] for c in inspect(connection).get_columns("outbox")}
    engine.dispose()
    assert "claimed_by" not in outbox_columns
    assert "users" not in table_names(postgresql_url)
    state = AlertStore(postgresql_url)  # brought up to date on open, the alert kept
    assert revisions(postgresql_url) == [head()]
    assert [a.rule for a in state.open_alerts()] == [RULE]
    state.close()
    command.downgrade(config, "base")
    assert table_names(postgresql_url) == {"alembic_version"}


# -- writers take turns -------------------------------------------------------------------------
def test_two_engines_finding_the_same_condition_open_one_alert(postgresql_url: str) -> None:
    """Engine 2 reads the open alerts while engine 1's transaction, which opened the alert,
    has not committed: unless write transactions take turns (on PostgreSQL:
    `database.WRITE_LOCK`) it finds none, inserts too and fails on the unique index; taking
    turns, it waits and sees engine 1's alert."""
    stores = [AlertStore(postgresql_url), AlertStore(postgresql_url)]
    opened = threading.Event()
    results: list[object] = []

    def first() -> None:
        with stores[0].transaction() as tx:
            results.append(len(apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0)))
            opened.set()
            time.sleep(0.5)  # not committed yet while engine 2 starts

    def second() -> None:
        assert opened.wait(10)
        try:
            with stores[1].transaction() as tx:
                results.append(len(apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0)))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [1, 0]  # engine 1 opened it (pending), engine 2 saw it open
    assert [a.state for a in stores[0].open_alerts()] == [AlertState.PENDING]
    for store in stores:
        store.close()


def test_a_writer_waits_for_the_other_but_a_reader_does_not(postgresql_url: str) -> None:
    writer, other = AlertStore(postgresql_url), AlertStore(postgresql_url)
    entered = threading.Event()
    with writer.transaction() as tx:
        apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0)
        assert other.open_alerts() == []  # a read: not blocked, sees the last commit

        def write() -> None:
            with other.transaction():
                entered.set()

        thread = threading.Thread(target=write)
        thread.start()
        assert not entered.wait(0.5)  # the second writer waits …
    assert entered.wait(10)  # … until the first commits
    thread.join(10)
    writer.close()
    other.close()


# -- users and tokens ----------------------------------------------------------------------------
def test_users_and_tokens_on_postgresql(postgresql_url: str) -> None:
    users = UserStore(postgresql_url)
    users.add("ana", "correct horse battery", "responder")
    assert users.authenticate("ana", "correct horse battery") is not None
    assert users.authenticate("ana", "wrong horse battery") is None
    token = users.create_token("ana", "bms", timedelta(days=1))
    found = users.verify_token(token)
    assert found is not None and found.name == "ana"
    (info,) = users.list_tokens()
    users.revoke_token(info.id)
    users.forget()
    assert users.verify_token(token) is None
    users.remove("ana")
    assert users.list() == []
    users.close()


def test_the_session_server_is_postgresql_15(postgresql: PostgreSQL) -> None:
    """The tests above ran on the PostgreSQL Debian ships (bookworm: 15)."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={postgresql.port} user=postgres") as connection:
        row = connection.execute("SHOW server_version_num").fetchone()
    assert row is not None and int(row[0]) >= 150000
