"""Users and API tokens (`repoclimate.app.users`) and their commands (`repoclimate users …`,
`repoclimate tokens …`): argon2 hashes and token hashes at rest, never the secrets; the state
database migrates to the revision that holds them."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine
from typer.testing import CliRunner

from repoclimate.alerts.clock import ManualClock
from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.state.database import alembic_config, head
from repoclimate.app.cli import app
from repoclimate.app.users import Role, UnknownUserError, User, UserError, UserStore

PASSWORD = "correct horse battery"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def file_bytes(path: Path) -> bytes:
    """The database and its WAL, as an attacker with a copy of the directory sees them."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_roles_are_ordered_by_rank_not_by_name() -> None:
    assert Role.VIEWER < Role.RESPONDER < Role.ADMIN
    assert Role.ADMIN >= Role.RESPONDER and not Role.VIEWER >= Role.RESPONDER
    assert sorted([Role.ADMIN, Role.VIEWER, Role.RESPONDER]) == [
        Role.VIEWER,
        Role.RESPONDER,
        Role.ADMIN,
    ]


def test_users_add_authenticate_passwd_remove(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    users = UserStore(path)
    assert users.add("ana", PASSWORD, Role.RESPONDER) == User("ana", Role.RESPONDER)
    users.add("ben", "another password", "admin")
    assert users.list() == [User("ana", Role.RESPONDER), User("ben", Role.ADMIN)]
    assert users.authenticate("ana", PASSWORD) == User("ana", Role.RESPONDER)
    assert users.authenticate("ana", PASSWORD + "x") is None
    assert users.authenticate("nobody", PASSWORD) is None

    users.passwd("ana", "a new password")
    assert users.authenticate("ana", PASSWORD) is None
    assert users.authenticate("ana", "a new password") == User("ana", Role.RESPONDER)

    users.remove("ana")
    assert users.list() == [User("ben", Role.ADMIN)]
    assert users.authenticate("ana", "a new password") is None
    with pytest.raises(UnknownUserError, match="'ana'"):
        users.remove("ana")
    with pytest.raises(UnknownUserError, match="'ana'"):
        users.passwd("ana", "whatever password")
    users.close()


def test_refuses_taken_names_bad_names_and_short_passwords(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "state.sqlite")
    users.add("ana", PASSWORD)
    with pytest.raises(UserError, match="exists already"):
        users.add("ana", PASSWORD)
    with pytest.raises(UserError, match="user name"):
        users.add("a b", PASSWORD)
    with pytest.raises(UserError, match="at least 8"):
        users.add("carl", "short")
    with pytest.raises(ValueError, match="'owner'"):
        users.add("carl", PASSWORD, "owner")
    assert users.list() == [User("ana", Role.VIEWER)]


def test_only_an_argon2_hash_of_the_password_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    users = UserStore(path)
    users.add("ana", PASSWORD)
    users.close()
    with sqlite3.connect(path) as db:
        (stored,) = db.execute("SELECT password_hash FROM users WHERE name = 'ana'").fetchone()
    assert stored.startswith("$argon2id$")
    assert PASSWORD.encode() not in file_bytes(path)


def test_tokens_are_shown_once_and_stored_hashed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    clock = ManualClock(T0)
    users = UserStore(path, clock=clock)
    users.add("robot", PASSWORD, Role.VIEWER)
    token = users.create_token("robot", "grafana")
    short = users.create_token("robot", "one hour", timedelta(hours=1))
    assert token.startswith("rc_") and len(token) > 40 and token != short
    assert users.verify_token(token) == User("robot", Role.VIEWER)
    assert users.verify_token(token + "x") is None
    assert users.verify_token("Bearer " + token) is None

    with sqlite3.connect(path) as db:
        hashes = {row[0] for row in db.execute("SELECT token_hash FROM api_tokens")}
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert token.encode() not in file_bytes(path) and short.encode() not in file_bytes(path)
    listed = users.list_tokens()
    assert [(t.user, t.label) for t in listed] == [("robot", "grafana"), ("robot", "one hour")]
    assert listed[1].expires_at == T0 + timedelta(hours=1)

    clock.advance(timedelta(hours=1))
    assert users.verify_token(short) is None  # expired
    assert users.verify_token(token) is not None
    users.revoke_token(listed[0].id)
    assert users.verify_token(token) is None
    with pytest.raises(UserError, match="no API token"):
        users.revoke_token(listed[0].id)
    with pytest.raises(UnknownUserError):
        users.create_token("nobody", "x")
    users.remove("robot")
    assert users.list_tokens() == []


def test_a_state_file_of_revision_0002_migrates_and_keeps_its_alerts(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
        connection.exec_driver_sql(
            "INSERT INTO silences (site, starts_at, ends_at, reason, created_by, created_at) "
            "VALUES ('s', '2026-01-01', '2026-01-02', 'kept', 'ana', '2026-01-01')"
        )
    engine.dispose()
    users = UserStore(path)
    users.add("ana", PASSWORD)
    assert users.authenticate("ana", PASSWORD) == User("ana", Role.VIEWER)
    users.close()
    state = AlertStore(path)
    assert [s.reason for s in state.silences()] == ["kept"]
    state.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]


def test_users_and_tokens_commands(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = str(tmp_path / "state.sqlite")
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(app, [*args, "--state", state], input=stdin)
        return result.exit_code, result.stdout, result.stderr

    assert run("users", "add", "ana", "--role", "responder", "--password-stdin", stdin=PASSWORD)[
        :2
    ] == (0, "added ana (responder)\n")
    # the prompt asks twice and does not echo
    code, out, _ = run("users", "add", "ben", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0 and PASSWORD not in out
    code, _, err = run("users", "add", "ana", "--password-stdin", stdin=PASSWORD)
    assert code == 1 and "exists already" in err
    assert run("users", "list")[1] == "ana\tresponder\nben\tviewer\n"
    assert run("users", "passwd", "ben", "--password-stdin", stdin="a new password\n")[0] == 0
    users = UserStore(state)
    assert users.authenticate("ben", "a new password") is not None
    users.close()

    code, out, err = run("tokens", "add", "ana", "--label", "bms", "--expires", "90d")
    token = out.strip()
    assert code == 0 and token.startswith("rc_") and "only now" in err
    listed = run("tokens", "list")[1]
    assert "\tana\tbms\t" in listed and token not in listed
    token_id = listed.split("\t")[0]
    assert run("tokens", "revoke", token_id)[:2] == (0, f"revoked token {token_id}\n")
    assert run("tokens", "revoke", token_id)[0] == 1
    assert run("tokens", "add", "nobody")[0] == 1

    assert run("users", "remove", "ben")[0] == 0
    assert run("users", "list")[1] == "ana\tresponder\n"
    assert run("users", "remove", "ben")[0] == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert PASSWORD not in logged and "a new password" not in logged and token not in logged
