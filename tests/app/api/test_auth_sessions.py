"""Browser sessions in the state database, and the in-process cache of verified credentials:
a login survives a new app on the same database (a restart) and works at a second one (a
replica); logout ends it everywhere; only a hash of the session id is stored; a revocation in
the same process applies at once, one from another process within ``api.auth_cache_s``."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from repoclimate.alerts.clock import ManualClock
from repoclimate.app.api import create_app
from repoclimate.app.api.auth import SESSION_COOKIE
from repoclimate.app.users import Role, User, UserStore, hash_token
from tests.app.api.conftest import BASE_URL, NOW, PASSWORD, World

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class FakeMonotonic:
    """A monotonic clock the test moves [s]."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def users_at(
    world: World, *, cache_s: float = 0.0, monotonic: FakeMonotonic | None = None
) -> UserStore:
    """Another `UserStore` on the world's state database: what another process opens."""
    return UserStore(
        world.services.settings.alerts.state_path,
        clock=world.clock,
        hasher=FAST_HASHER,
        cache_s=cache_s,
        monotonic=monotonic or FakeMonotonic(),
    )


@dataclasses.dataclass
class Replica:
    """A second app (a restarted service, or another replica) on the same databases, with its
    own user store caching for 5 s on its own monotonic clock."""

    app: FastAPI
    users: UserStore
    monotonic: FakeMonotonic

    def client(self, cookie: str) -> TestClient:
        return TestClient(self.app, base_url=BASE_URL, cookies={SESSION_COOKIE: cookie})


@pytest.fixture
def replica(world: World) -> Iterator[Replica]:
    monotonic = FakeMonotonic()
    users = users_at(world, cache_s=5.0, monotonic=monotonic)
    yield Replica(create_app(dataclasses.replace(world.services, users=users)), users, monotonic)
    users.close()


def test_a_login_survives_a_restart_and_works_at_another_replica(
    world: World, replica: Replica
) -> None:
    client, csrf = world.login(Role.RESPONDER)
    other = replica.client(client.cookies[SESSION_COOKIE])
    me = other.get("/api/session")
    assert me.status_code == 200, me.text
    assert me.json() == {"name": "responder", "role": "responder", "csrf_token": csrf}
    # a change at the other replica, with the CSRF token the first one handed out
    url = f"/api/alerts/{world.firing_id}/ack"
    assert other.post(url, json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert world.services.state.get(world.firing_id).acknowledged_by == "responder"


def test_logout_at_one_replica_ends_the_session_at_the_others_within_the_cache_window(
    world: World, replica: Replica
) -> None:
    client, csrf = world.login(Role.VIEWER)
    cookie = client.cookies[SESSION_COOKIE]
    other = replica.client(cookie)
    assert other.get("/api/sites").status_code == 200  # cached at the replica from here
    assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    again = TestClient(world.app, base_url=BASE_URL, cookies={SESSION_COOKIE: cookie})
    assert again.get("/api/sites").status_code == 401  # where it logged out: at once
    assert other.get("/api/sites").status_code == 200  # elsewhere: within the window…
    replica.monotonic.now += 5.0
    assert other.get("/api/sites").status_code == 401  # …and no longer


def test_the_database_holds_only_a_hash_of_the_session_id(world: World) -> None:
    client, csrf = world.login(Role.ADMIN)
    cookie = client.cookies[SESSION_COOKIE]
    with sqlite3.connect(world.services.settings.alerts.state_path) as db:
        rows = db.execute("SELECT id_hash, user_name, csrf_token FROM sessions").fetchall()
        dump = "\n".join(db.iterdump())
    assert rows == [(hash_token(cookie), "admin", csrf)]
    assert cookie not in dump


def test_sessions_expire_and_expired_ones_are_deleted(world: World) -> None:
    users = world.services.users
    session_id, session = users.create_session("viewer", timedelta(hours=1))
    assert session.expires_at == NOW + timedelta(hours=1)
    assert users.session(session_id) == session
    assert users.session(session_id + "x") is None
    world.clock.advance(timedelta(hours=1))
    assert users.session(session_id) is None
    users.create_session("admin", timedelta(hours=1))  # a login sweeps the expired ones
    with sqlite3.connect(world.services.settings.alerts.state_path) as db:
        assert db.execute("SELECT user_name FROM sessions").fetchall() == [("admin",)]


def test_an_expired_session_is_refused_even_while_cached(world: World) -> None:
    monotonic = FakeMonotonic()
    users = users_at(world, cache_s=5.0, monotonic=monotonic)
    try:
        session_id, _ = users.create_session("viewer", timedelta(minutes=10))
        assert users.session(session_id) is not None  # cached from here
        world.clock.advance(timedelta(minutes=10))
        assert users.session(session_id) is None
    finally:
        users.close()


def test_the_oldest_sessions_go_past_the_limit(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    users = UserStore(tmp_path / "state.sqlite", clock=clock, hasher=FAST_HASHER, max_sessions=3)
    try:
        users.add("ana", PASSWORD)
        ids = []
        for _ in range(4):
            ids.append(users.create_session("ana", timedelta(hours=1))[0])
            clock.advance(timedelta(seconds=1))
        assert [users.session(i) is not None for i in ids] == [False, True, True, True]
    finally:
        users.close()


def test_a_session_of_an_unknown_user_cannot_be_made(world: World) -> None:
    with pytest.raises(ValueError, match="no user 'nobody'"):
        world.services.users.create_session("nobody", timedelta(hours=1))


def test_a_role_change_applies_to_a_live_session(world: World) -> None:
    client, csrf = world.login(Role.RESPONDER)
    world.services.users.set_role("responder", Role.VIEWER)
    url = f"/api/alerts/{world.firing_id}/ack"
    assert client.post(url, json={}, headers={"X-CSRF-Token": csrf}).status_code == 403


# -- the cache of verified credentials ---------------------------------------------------------


def test_a_verified_token_is_cached_and_revocation_here_applies_at_once(world: World) -> None:
    monotonic = FakeMonotonic()
    users = users_at(world, cache_s=5.0, monotonic=monotonic)
    elsewhere = users_at(world)  # another process: the CLI
    try:
        token = users.create_token("viewer", "cached")
        assert users.verify_token(token) == User("viewer", Role.VIEWER)
        (info,) = [t for t in elsewhere.list_tokens("viewer") if t.label == "cached"]
        elsewhere.revoke_token(info.id)
        assert elsewhere.verify_token(token) is None
        assert users.verify_token(token) == User("viewer", Role.VIEWER)  # within the window
        monotonic.now += 5.0
        assert users.verify_token(token) is None  # the window has passed

        again = users.create_token("viewer", "again")
        assert users.verify_token(again) is not None
        (info,) = [t for t in users.list_tokens("viewer") if t.label == "again"]
        users.revoke_token(info.id)  # through this store: at once
        assert users.verify_token(again) is None
    finally:
        users.close()
        elsewhere.close()


def test_a_cached_token_still_expires_on_time(world: World) -> None:
    users = users_at(world, cache_s=60.0)
    try:
        token = users.create_token("viewer", "short", expires_in=timedelta(seconds=30))
        assert users.verify_token(token) is not None
        world.clock.advance(timedelta(seconds=30))
        assert users.verify_token(token) is None
    finally:
        users.close()


def test_the_cache_spares_the_database(world: World) -> None:
    """With the cache, a token is looked up once per window, not once per request."""
    monotonic = FakeMonotonic()
    users = users_at(world, cache_s=5.0, monotonic=monotonic)
    queries: list[str] = []
    try:
        token = users.create_token("viewer", "counted")
        event.listen(
            users._engine, "before_cursor_execute", lambda *args: queries.append(str(args[2]))
        )
        for _ in range(50):
            assert users.verify_token(token) is not None
        assert sum("api_tokens" in q for q in queries) == 1
        monotonic.now += 5.0
        assert users.verify_token(token) is not None
        assert sum("api_tokens" in q for q in queries) == 2
    finally:
        users.close()


def test_no_cache_by_default_outside_serve(world: World) -> None:
    users = users_at(world)
    elsewhere = users_at(world)
    try:
        token = users.create_token("viewer", "plain")
        assert users.verify_token(token) is not None
        elsewhere.remove("viewer")
        assert users.verify_token(token) is None
    finally:
        users.close()
        elsewhere.close()


def test_a_negative_cache_s_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cache_s"):
        UserStore(tmp_path / "state.sqlite", cache_s=-1.0)
