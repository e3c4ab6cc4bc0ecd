"""Session fixtures: a private Mosquitto, InfluxDB and PostgreSQL, plus factories for tests that
stop and restart their own servers."""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.servers import InfluxDB, Mosquitto, PostgreSQL

# Tests write only under temporary directories: hypothesis keeps no example database, and its
# other caches go to a temporary directory removed at exit, not to .hypothesis/ in the tree.
_hypothesis_home = tempfile.mkdtemp(prefix="repoclimate-hypothesis-")
atexit.register(shutil.rmtree, _hypothesis_home, ignore_errors=True)
set_hypothesis_home_dir(_hypothesis_home)
settings.register_profile("repoclimate", database=None)
settings.load_profile("repoclimate")

_db_names = itertools.count()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One Mosquitto for the whole session; tests keep to their own topics and client ids."""
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stock_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A Mosquitto with its stock limits (Receive Maximum 20, 1000 queued messages), as a new
    user runs it: the `mosquitto` fixture raises those limits, which hides what they break."""
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto-stock"), stock=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    """One InfluxDB for the whole session; use `influx_db_name` for a database of your own."""
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influx_db_name(influxdb: InfluxDB) -> str:
    """A fresh, empty database on the session InfluxDB."""
    name = f"test{next(_db_names)}"
    influxdb.create_database(name)
    return name


@pytest.fixture(scope="session")
def postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    """One PostgreSQL for the whole session; use `postgresql_url` for a database of your own."""
    server = PostgreSQL(tmp_path_factory.mktemp("postgresql"))
    server.start()
    yield server
    server.remove()


@pytest.fixture
def postgresql_url(postgresql: PostgreSQL) -> str:
    """The SQLAlchemy URL of a fresh, empty database on the session PostgreSQL."""
    return postgresql.create_database(f"test{next(_db_names)}")


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Start a private Mosquitto that the test may stop and restart; all are stopped at the end."""
    servers: list[Mosquitto] = []

    def make(extra_config: str = "") -> Mosquitto:
        server = Mosquitto(tmp_path / f"mosquitto{len(servers)}", extra_config)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def influxdb_factory(tmp_path: Path) -> Iterator[Callable[..., InfluxDB]]:
    """Start a private InfluxDB that the test may stop and restart; all are stopped at the end.
    ``make(auth=True)`` turns on authentication (create the first admin user through /query)."""
    servers: list[InfluxDB] = []

    def make(auth: bool = False) -> InfluxDB:
        server = InfluxDB(tmp_path / f"influxdb{len(servers)}", auth=auth)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
