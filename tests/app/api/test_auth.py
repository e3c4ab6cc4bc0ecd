"""Who may call what: the route table walked for every non-GET route, roles, tokens, sessions,
CSRF and the login rate limit — against the real app, user store and alert state."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from repoclimate.alerts.model import AlertState
from repoclimate.app.api.auth import LOGIN_FAILURES, SESSION_COOKIE, LoginLimiter, SessionStore
from repoclimate.app.users import Role, User
from tests.app.api.conftest import BASE_URL, PASSWORD, World

REQUIRED_ROLE: dict[tuple[str, str], Role | None] = {
    ("POST", "/api/login"): None,  # anonymous by design (rate-limited)
    ("POST", "/alerts/{alert_id}/ack"): None,  # the ack link: the alert's token is the credential
    ("POST", "/api/logout"): Role.VIEWER,
    ("POST", "/api/alerts/{alert_id}/ack"): Role.RESPONDER,
    ("POST", "/api/silences"): Role.RESPONDER,
    ("POST", "/api/silences/{silence_id}/end"): Role.RESPONDER,
    ("POST", "/api/admin/reload"): Role.ADMIN,
    ("POST", "/api/import"): Role.ADMIN,  # an import can replace stored readings (imports.py)
}
"""Every route that is not a GET, and the least role it must demand. A new route fails
`test_every_mutating_route_refuses_anonymous_and_lower_roles` until it is listed here — and
then it is checked."""


def _mutating_operations(world: World) -> set[tuple[str, str]]:
    """(method, path) of every operation in the app's OpenAPI schema that is not a GET, and of
    every route the schema does not show."""
    schema = world.client().get("/openapi.json").json()
    found = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method.upper() not in {"GET", "HEAD"}
    }
    for route in world.app.routes:  # routes hidden from the schema (none today)
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", None)
        if path is not None and path not in schema["paths"]:
            found |= {(m, path) for m in methods if m not in {"GET", "HEAD"}}
    return found


def _url(path: str, world: World) -> str:
    return re.sub(r"\{[^}]+\}", str(world.firing_id), path)


def test_every_mutating_route_refuses_anonymous_and_lower_roles(world: World) -> None:
    operations = _mutating_operations(world)
    assert operations == set(REQUIRED_ROLE), "list every non-GET route in REQUIRED_ROLE"
    for method, path in sorted(operations):
        url = _url(path, world)
        role = REQUIRED_ROLE[(method, path)]
        if path == "/api/login":
            continue
        anonymous = world.client().request(method, url, json={})
        assert anonymous.status_code == 401, (method, path, anonymous.status_code, anonymous.text)
        for lower in (r for r in Role if role is not None and r < role):
            answer = world.client(lower).request(method, url, json={})
            assert answer.status_code == 403, (method, path, lower, answer.status_code)
        if role is not None:  # and the role itself gets past the check
            answer = world.client(role).request(method, url, json={})
            assert answer.status_code not in (401, 403), (method, path, role, answer.text)
    # only the role-holders' own calls above may have changed the alert: a responder acked it
    assert world.services.state.get(world.firing_id).acknowledged_by == "responder"


OPEN_READS = {"/healthz", "/readyz", "/metrics", "/alerts/{alert_id}/ack"}
"""GET routes anyone may call: probes, Prometheus, the ack link's page (its token is checked)."""


def test_every_read_refuses_anonymous_unless_public_read(world: World) -> None:
    schema = world.client().get("/openapi.json").json()
    reads = [path for path, ops in schema["paths"].items() if "get" in ops]
    assert "/api/sites" in reads and "/api/sensors/{sensor_id}/history" in reads
    for path in reads:
        if path in OPEN_READS:
            continue
        answer = world.client().get(_url(path, world))
        assert answer.status_code == 401, (path, answer.status_code)
    world.services.settings.api.public_read = True
    for path in reads:
        if path not in ("/api/session", "/alerts/{alert_id}/ack"):
            answer = world.client().get(_url(path, world))
            assert answer.status_code not in (401, 403), (path, answer.status_code)


def test_viewer_cannot_ack_responder_can_and_is_recorded(world: World) -> None:
    url = f"/api/alerts/{world.firing_id}/ack"
    assert world.client(Role.VIEWER).post(url, json={"note": "x"}).status_code == 403
    assert world.services.state.get(world.firing_id).state is AlertState.FIRING
    answer = world.client(Role.RESPONDER).post(url, json={"note": "on my way"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["acknowledged_by"] == "responder"
    alert = world.services.state.get(world.firing_id)
    assert alert.state is AlertState.ACKNOWLEDGED and alert.acknowledged_by == "responder"
    event = world.services.state.events(world.firing_id)[-1]
    assert (event.actor, event.note, event.to_state) == (
        "responder",
        "on my way",
        AlertState.ACKNOWLEDGED,
    )
    again = world.client(Role.RESPONDER).post(url, json={})
    assert again.status_code == 409


def test_responder_cannot_reload(world: World) -> None:
    assert world.client(Role.RESPONDER).post("/api/admin/reload").status_code == 403
    assert world.services.reloads == 0


def test_admin_reload_with_bad_registry_keeps_the_running_one(world: World) -> None:
    running = world.services.registry
    world.registry_file.write_text(
        world.registry_file.read_text().replace("holdings: film", "holdings: cheese")
    )
    answer = world.client(Role.ADMIN).post("/api/admin/reload")
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["reloaded"] is False
    assert any("holdings" in line and "registry.yaml" in line for line in body["errors"]), body
    assert world.services.registry is running
    # fixed: the new registry runs
    world.registry_file.write_text(
        world.registry_file.read_text()
        .replace("holdings: cheese", "holdings: film")
        .replace("name: Stack 1", "name: Stack One")
    )
    answer = world.client(Role.ADMIN).post("/api/admin/reload")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"reloaded": True, "errors": []}
    assert world.services.registry is not running
    room = world.client(Role.VIEWER).get("/api/sites/city/rooms/stack-1").json()
    assert room["name"] == "Stack One"


def test_bad_and_expired_tokens_are_refused(world: World) -> None:
    bad = world.client().get("/api/sites", headers={"Authorization": "Bearer rc_nope"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == "Bearer"
    users = world.services.users
    token = users.create_token("admin", "short-lived", expires_in=timedelta(minutes=5))
    headers = {"Authorization": f"Bearer {token}"}
    assert world.client().get("/api/sites", headers=headers).status_code == 200
    world.clock.advance(timedelta(minutes=6))
    assert world.client().get("/api/sites", headers=headers).status_code == 401
    assert world.client().post("/api/admin/reload", headers=headers).status_code == 401


def test_anonymous_reads_only_when_public_read(world: World) -> None:
    assert world.client().get("/api/sites").status_code == 401
    world.services.settings.api.public_read = True
    assert world.client().get("/api/sites").status_code == 200
    assert world.client().get("/api/alerts").status_code == 200
    # still no anonymous change
    assert world.client().post(f"/api/alerts/{world.firing_id}/ack", json={}).status_code == 401


def test_session_cookie_is_secure_httponly_strict_and_logout_ends_it(world: World) -> None:
    client, csrf = world.login(Role.RESPONDER)
    answer = client.post("/api/login", data={"username": "responder", "password": PASSWORD})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert {"secure", "httponly", "samesite=strict"} <= {
        part.strip().lower() for part in cookie.split(";")
    }
    assert PASSWORD not in cookie and "responder" not in cookie
    me = client.get("/api/session").json()
    assert me["name"] == "responder" and me["csrf_token"]
    csrf = me["csrf_token"]
    assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/sites").status_code == 401


def test_cookie_post_without_csrf_token_is_refused(world: World) -> None:
    client, csrf = world.login(Role.RESPONDER)
    url = f"/api/alerts/{world.firing_id}/ack"
    assert client.post(url, json={}).status_code == 403
    wrong = client.post(url, json={}, headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403
    # a form post without the field, and with it
    silence: dict[str, Any] = {"ends_at": "2026-06-02T00:00:00Z", "reason": "r", "site": "city"}
    assert client.post("/api/silences", data=silence).status_code == 403
    assert world.services.state.get(world.firing_id).state is AlertState.FIRING
    ok = client.post(url, json={"note": "n"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert world.services.state.get(world.firing_id).acknowledged_by == "responder"


def test_csrf_token_accepted_as_form_field(world: World) -> None:
    client, csrf = world.login(Role.VIEWER)
    assert client.post("/api/logout", data={"csrf_token": csrf}).status_code == 204


def test_removed_user_loses_the_session(world: World) -> None:
    client, _ = world.login(Role.VIEWER)
    assert client.get("/api/sites").status_code == 200
    world.services.users.remove("viewer")
    assert client.get("/api/sites").status_code == 401


def test_login_is_rate_limited_per_address_and_failures_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    client = world.client()
    caplog.set_level(logging.WARNING, logger="repoclimate.app.api.auth")
    for _ in range(LOGIN_FAILURES):
        wrong = client.post("/api/login", data={"username": "admin", "password": "guess-123"})
        assert wrong.status_code == 401
    limited = client.post("/api/login", data={"username": "admin", "password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    failures = [r.getMessage() for r in caplog.records if "failed login" in r.getMessage()]
    assert len(failures) == LOGIN_FAILURES
    assert all("testclient" in line and "guess-123" not in line for line in failures)
    assert all("guess-123" not in r.getMessage() for r in caplog.records)
    # another address is not limited; a forwarding header does not change the address
    spoofed = client.post(
        "/api/login",
        data={"username": "admin", "password": PASSWORD},
        headers={"X-Forwarded-For": "10.0.0.9"},
    )
    assert spoofed.status_code == 429
    other = TestClient(world.app, base_url=BASE_URL, client=("10.0.0.9", 50000))
    answer = other.post("/api/login", data={"username": "admin", "password": PASSWORD})
    assert answer.status_code == 200, answer.text


def test_login_limiter_window_slides() -> None:
    now = [1000.0]
    limiter = LoginLimiter(failures=3, window_s=60.0, monotonic=lambda: now[0])
    for step in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.failed("10.0.0.1")
        now[0] += 10.0 * (step < 2)
    assert limiter.retry_after("10.0.0.1") == pytest.approx(40.0)  # first failure at 1000
    assert limiter.retry_after("10.0.0.2") is None
    now[0] = 1060.0  # the first failure left the window
    assert limiter.retry_after("10.0.0.1") is None


def test_sessions_expire(world: World) -> None:
    sessions = SessionStore(world.services.users, ttl_s=60.0)
    session_id, session = sessions.create(User("viewer", Role.VIEWER))
    assert sessions.get(session_id) == session
    assert sessions.get(session_id + "x") is None
    world.clock.advance(timedelta(seconds=60))
    assert sessions.get(session_id) is None
