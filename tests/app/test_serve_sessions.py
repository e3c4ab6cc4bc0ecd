"""A browser login outlives the process that made it: ``repoclimate serve --only api`` stopped
and started again keeps the session, a second replica on the same state database accepts it,
and a logout at one replica ends it at the other within ``api.auth_cache_s``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import yaml

from repoclimate.app.api.auth import SESSION_COOKIE
from repoclimate.app.users import Role, UserStore
from tests.app.test_serve import Serve, write_config
from tests.ingest.helpers import wait_until
from tests.servers import Mosquitto, free_port

PASSWORD = "serve session password"
CACHE_S = 1.0


def _replica_config(config: Path) -> tuple[Path, str]:
    """The same service on another port (a second replica)."""
    settings = yaml.safe_load(config.read_text())
    port = free_port()
    settings["api"]["listen"] = f"127.0.0.1:{port}"
    path = config.with_name("replica.yaml")
    path.write_text(yaml.safe_dump(settings))
    return path, f"http://127.0.0.1:{port}"


def test_a_login_survives_a_restart_and_a_logout_reaches_the_other_replica(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config, url = write_config(tmp_path, mosquitto, "sessions")
    settings = yaml.safe_load(config.read_text())
    settings["api"]["auth_cache_s"] = CACHE_S
    config.write_text(yaml.safe_dump(settings))
    users = UserStore(tmp_path / "alerts.sqlite")
    users.add("ana", PASSWORD, Role.RESPONDER)
    users.close()

    first = Serve(config, "--only", "api")
    try:
        first.wait_http(url)
        login = httpx.post(f"{url}/api/login", data={"username": "ana", "password": PASSWORD})
        assert login.status_code == 200, login.text
        cookie = {SESSION_COOKIE: login.cookies[SESSION_COOKIE]}
        csrf = login.json()["csrf_token"]
        assert first.terminate() == 0, first.output
    finally:
        first.kill()

    again = Serve(config, "--only", "api")
    replica_config, replica_url = _replica_config(config)
    replica = Serve(replica_config, "--only", "api")
    try:
        again.wait_http(url)
        replica.wait_http(replica_url)
        me = httpx.get(f"{url}/api/session", cookies=cookie)
        assert me.status_code == 200, me.text  # the restart kept the login
        assert me.json() == {"name": "ana", "role": "responder", "csrf_token": csrf}
        assert httpx.get(f"{replica_url}/api/session", cookies=cookie).status_code == 200

        out = httpx.post(
            f"{replica_url}/api/logout", cookies=cookie, headers={"X-CSRF-Token": csrf}
        )
        assert out.status_code == 204, out.text
        logged_out = time.monotonic()
        assert httpx.get(f"{replica_url}/api/session", cookies=cookie).status_code == 401

        def refused_at_the_first() -> bool:
            return httpx.get(f"{url}/api/session", cookies=cookie).status_code == 401

        wait_until(refused_at_the_first, 10, "the logout reaching the other replica")
        assert time.monotonic() - logged_out < CACHE_S + 2.0
        assert again.terminate() == 0, again.output
        assert replica.terminate() == 0, replica.output
    finally:
        again.kill()
        replica.kill()
