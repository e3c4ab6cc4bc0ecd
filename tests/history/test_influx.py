"""The InfluxDB store against the real InfluxDB 1.6.7: errors, both write paths end to end,
database creation, derived series."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.history import (
    DerivedRow,
    StoreRejected,
    StoreSettings,
    StoreUnavailable,
    open_store,
)
from repoclimate.history.influx import InfluxStore
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import Reading
from tests.history.v2_front import V2Front
from tests.servers import InfluxDB

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_NS = 1_772_366_400_000_000_000

MakeStore = Callable[..., InfluxStore]


def raw_write(server: InfluxDB, database: str, body: str) -> None:
    request = urllib.request.Request(
        f"{server.url}/write?db={database}&precision=ns", data=body.encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


def values(server: InfluxDB, query: str, database: str) -> list[list[object]]:
    answer = server.query(query, database)
    series = answer["results"][0].get("series", [])  # type: ignore[index]
    return [row for s in series for row in s["values"]]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_open_store_builds_the_store_the_settings_name(tmp_path: Path, influxdb: InfluxDB) -> None:
    sqlite = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "x.sqlite"))
    influx = open_store(StoreSettings(kind="influxdb", url=influxdb.url, api_version="v1"))
    try:
        assert isinstance(sqlite, SQLiteStore)
        assert isinstance(influx, InfluxStore)
        assert influx.healthy()
    finally:
        sqlite.close()
        influx.close()


@pytest.mark.parametrize("gzip", [False, True])
def test_influxdb_client_writes_land_in_the_real_server(
    influxdb: InfluxDB,
    influx_db_name: str,
    v2_front: V2Front,
    make_influx_store: MakeStore,
    gzip: bool,
) -> None:
    store = make_influx_store(
        url=v2_front.url, database=influx_db_name, api_version="v2", org="archives", gzip=gzip
    )
    store.write([Reading("s 1", T0, 19.0, 50.5, site="a", room="r")])
    (request,) = v2_front.writes()  # the rollups of the hour come later, not with every write
    store.flush_rollups()
    _, *rollups = v2_front.writes()
    assert [r.body.split(b",", 1)[0] for r in rollups] == [b"climate_1h", b"climate_1d"] * 2
    assert request.params == {"org": "archives", "bucket": influx_db_name, "precision": "ns"}
    assert request.gzipped is gzip
    assert (
        request.body
        == f"climate,room=r,sensor=s\\ 1,site=a temperature=19.0,humidity=50.5 {T0_NS}".encode()
    )
    assert values(
        influxdb, "SELECT temperature, humidity, sensor FROM climate", influx_db_name
    ) == [[T0_NS, 19.0, 50.5, "s 1"]]


def test_v2_writes_go_to_the_retention_policy_of_the_bucket(
    influxdb: InfluxDB, influx_db_name: str, v2_front: V2Front, make_influx_store: MakeStore
) -> None:
    influxdb.query(
        f'CREATE RETENTION POLICY "short" ON "{influx_db_name}" DURATION 1d REPLICATION 1',
        influx_db_name,
    )
    store = make_influx_store(
        url=v2_front.url,
        database=influx_db_name,
        retention_policy="short",
        api_version="v2",
        username="archivist",
        password="secret",
    )
    now = datetime.now(UTC).replace(microsecond=0)
    store.write([Reading("s1", now, 20.0)])
    (request,) = v2_front.writes()
    assert request.params["bucket"] == f"{influx_db_name}/short"
    assert request.headers["Authorization"] == "Token archivist:secret"
    assert values(influxdb, 'SELECT temperature FROM "short".climate', influx_db_name) == [
        [int(now.timestamp()) * 1_000_000_000, 20.0]
    ]
    assert values(influxdb, 'SELECT temperature FROM "autogen".climate', influx_db_name) == []
    # Reads pass rp= too, so they see the same retention policy.
    assert store.history("s1", now, now + timedelta(seconds=1)) == [Reading("s1", now, 20.0)]


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_a_type_conflict_is_rejected_with_the_servers_message(
    influxdb: InfluxDB,
    influx_db_name: str,
    v2_front: V2Front,
    make_influx_store: MakeStore,
    api_version: str,
) -> None:
    raw_write(influxdb, influx_db_name, f"climate,sensor=legacy temperature=19i {T0_NS}")
    url = influxdb.url if api_version == "v1" else v2_front.url
    store = make_influx_store(url=url, database=influx_db_name, api_version=api_version)
    with pytest.raises(StoreRejected, match="field type conflict") as caught:
        store.write(
            [
                Reading("legacy", T0 + timedelta(minutes=1), 19.5),
                Reading("fine", T0, humidity=40.0),
            ]
        )
    assert caught.value.status == 400
    assert caught.value.partial
    assert caught.value.dropped == 1
    # The rest of the batch was stored: a partial write is reported, not swallowed or undone.
    # (Field types are per measurement and shard, so only the humidity-only point got through.)
    assert store.history("fine", T0, T0 + timedelta(seconds=1)) == [
        Reading("fine", T0, humidity=40.0)
    ]


def test_a_refused_batch_does_not_keep_later_batches_out(
    influxdb: InfluxDB, influx_db_name: str, make_influx_store: MakeStore
) -> None:
    raw_write(influxdb, influx_db_name, f"climate,sensor=legacy temperature=19i {T0_NS}")
    store = InfluxStore(
        StoreSettings(kind="influxdb", url=influxdb.url, database=influx_db_name, api_version="v1"),
        batch_size=2,
    )
    try:
        batch = [Reading("legacy", T0 + timedelta(minutes=1), 1.0)]
        batch += [Reading("fine", T0 + timedelta(minutes=m), humidity=40.0) for m in range(5)]
        with pytest.raises(StoreRejected) as caught:
            store.write(batch)
        assert caught.value.partial
        assert caught.value.dropped == 1
        assert len(store.history("fine", T0, T0 + timedelta(hours=1))) == 5
    finally:
        store.close()


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_a_stopped_server_makes_the_store_unavailable_until_it_returns(
    influxdb_factory: Callable[[], InfluxDB], make_influx_store: MakeStore, api_version: str
) -> None:
    server = influxdb_factory()
    store = make_influx_store(url=server.url, database="climate", api_version=api_version)
    front = V2Front(server.url).start()
    try:
        # Through the front while the server runs; straight at the server's port once it is
        # stopped, so the client meets a real refused connection.
        through_front = make_influx_store(url=front.url, database="climate", api_version="v2")
        writer = store if api_version == "v1" else through_front
        writer.write([Reading("s1", T0, 20.0)])
        server.stop()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            store.write([Reading("s1", T0 + timedelta(minutes=1), 21.0)])
        with pytest.raises(StoreUnavailable):
            store.latest()
        assert not store.healthy()
        server.start()
        writer.write([Reading("s1", T0 + timedelta(minutes=1), 21.0)])
        assert store.healthy()
        assert store.count() == 2
    finally:
        front.stop()


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_a_server_that_does_not_answer_times_out_as_unavailable(
    silent_port: int, make_influx_store: MakeStore, api_version: str
) -> None:
    store = make_influx_store(
        url=f"http://127.0.0.1:{silent_port}", api_version=api_version, timeout_s=0.3
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.write([Reading("s1", T0, 20.0)])
    with pytest.raises(StoreUnavailable):
        store.count()
    assert time.monotonic() - started < 5


def test_a_server_error_is_unavailable_not_rejected(
    influxdb: InfluxDB, influx_db_name: str, make_influx_store: MakeStore
) -> None:
    # InfluxDB 1.6 answers 500 for an unknown retention policy: a configuration error, so the
    # collector must spool (and be fixed), not dead-letter good readings.
    store = make_influx_store(
        url=influxdb.url,
        database=influx_db_name,
        retention_policy="nope",
        api_version="v1",
        create_database=False,
    )
    with pytest.raises(StoreUnavailable, match="retention policy not found"):
        store.write([Reading("s1", T0, 20.0)])


def test_a_missing_raw_retention_policy_is_created_when_allowed(
    influxdb: InfluxDB, influx_db_name: str, make_influx_store: MakeStore
) -> None:
    store = make_influx_store(
        url=influxdb.url, database=influx_db_name, retention_policy="raw", api_version="v1"
    )
    store.write([Reading("s1", T0, 20.0)])
    assert store.count() == 1
    policies = store._query(f'SHOW RETENTION POLICIES ON "{influx_db_name}"')
    durations = {values[0]: values[1] for values in policies[0]["values"]}
    assert durations["raw"] == "0s"  # DURATION INF
    # the point is in "raw", not in the default policy
    default = f'SELECT count(temperature) FROM "{influx_db_name}"."autogen".climate'
    assert store._query(default) == []


def test_a_missing_database_is_created_when_allowed(
    influxdb: InfluxDB, make_influx_store: MakeStore
) -> None:
    name = f"created_{time.monotonic_ns()}"
    store = make_influx_store(url=influxdb.url, database=name, api_version="v1")
    store.write([Reading("s1", T0, 20.0)])
    assert store.count() == 1


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_a_missing_database_is_unavailable_when_creation_is_not_allowed(
    influxdb: InfluxDB, v2_front: V2Front, make_influx_store: MakeStore, api_version: str
) -> None:
    # A configuration problem, like refused credentials: the collector must keep the readings
    # in its spool until the database exists, not dead-letter every one as refused data.
    url = influxdb.url if api_version == "v1" else v2_front.url
    store = make_influx_store(
        url=url, database="never_created", api_version=api_version, create_database=False
    )
    with pytest.raises(StoreUnavailable, match="database not found") as caught:
        store.write([Reading("s1", T0, 20.0)])
    assert not isinstance(caught.value, StoreRejected)
    assert "store.create_database is off" in str(caught.value)
    with pytest.raises(StoreUnavailable, match="database not found"):
        store.latest()
    assert "never_created" not in str(influxdb.query("SHOW DATABASES"))


def test_a_missing_database_that_cannot_be_created_is_unavailable(
    influxdb: InfluxDB, make_influx_store: MakeStore
) -> None:
    store = make_influx_store(url=influxdb.url, database="cannot_create", api_version="v1")

    def refuse() -> None:
        raise StoreRejected("InfluxDB query failed: not allowed to create databases", status=403)

    store.ensure_database = refuse  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable, match=r"creating it failed: .*not allowed"):
        store.write([Reading("s1", T0, 20.0)])


def test_ensure_database_is_idempotent(influxdb: InfluxDB, make_influx_store: MakeStore) -> None:
    store = make_influx_store(url=influxdb.url, database="ensured", api_version="v1")
    store.ensure_database()
    store.ensure_database()
    assert "ensured" in str(influxdb.query("SHOW DATABASES"))


def test_derived_rows_land_in_their_measurement(
    influxdb: InfluxDB, influx_db_name: str, make_influx_store: MakeStore
) -> None:
    store = make_influx_store(url=influxdb.url, database=influx_db_name, api_version="v1")
    store.write_derived(
        [
            DerivedRow("preservation", {"site": "a", "room": "r 1"}, {"dew_point": 7.5}, T0),
            DerivedRow("preservation", {"room": "r 1", "site": "a"}, {"pi_years": 40}, T0),
        ]
    )
    assert values(
        influxdb, "SELECT dew_point, pi_years, room, site FROM preservation", influx_db_name
    ) == [[T0_NS, 7.5, 40.0, "r 1", "a"]]


def test_count_sums_points_over_series(
    influxdb: InfluxDB, influx_db_name: str, make_influx_store: MakeStore
) -> None:
    store = make_influx_store(url=influxdb.url, database=influx_db_name, api_version="v1")
    future = datetime.now(UTC) + timedelta(hours=12)
    store.write(
        [
            Reading("a", T0, 1.0, 2.0),
            Reading("a", T0 + timedelta(seconds=1), humidity=3.0),
            Reading("b", T0, 1.0, site="x"),
            Reading("b", future, 1.0, site="y"),
        ]
    )
    assert store.count() == 4


def test_v1_writes_can_be_gzipped(
    influxdb: InfluxDB, influx_db_name: str, make_influx_store: MakeStore
) -> None:
    store = make_influx_store(
        url=influxdb.url, database=influx_db_name, api_version="v1", gzip=True
    )
    store.write([Reading("s1", T0 + timedelta(seconds=s), 20.0) for s in range(100)])
    assert store.count() == 100


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "message"),
    [
        (401, b'{"error":"authorization failed"}', {}, StoreUnavailable, "authorization failed"),
        (403, b"", {"X-Influxdb-Error": "forbidden"}, StoreUnavailable, "forbidden"),
        (429, b'{"code":"too many requests","message":"slow down"}', {}, StoreUnavailable, "slow"),
        (503, b"", {}, StoreUnavailable, "HTTP 503"),
        (400, b'{"code":"invalid","message":"unable to parse x"}', {}, StoreRejected, "parse x"),
        (413, b"too large", {}, StoreRejected, "too large"),
        (404, b'{"code":"not found","message":"bucket \\"b\\" not found"}', {}, StoreRejected, "b"),
    ],
)
def test_http_answers_map_to_unavailable_or_rejected(
    status: int, body: bytes, headers: dict[str, str], kind: type[Exception], message: str
) -> None:
    from repoclimate.history.influx import _http_error, _server_message

    error = _http_error(status, _server_message(status, body, headers), "write")
    assert type(error) is kind
    assert message in str(error)


def test_credentials_authenticate_and_never_reach_the_logs(
    influxdb_factory: Callable[..., InfluxDB], caplog: pytest.LogCaptureFixture
) -> None:
    """Against an InfluxDB with authentication on, the v1 store writes and reads with its user
    and password, and the password appears in no log line (httpx logs each request's URL)."""
    server = influxdb_factory(auth=True)
    body = b"q=CREATE USER archivist WITH PASSWORD 's3cret-pw' WITH ALL PRIVILEGES"
    with urllib.request.urlopen(f"{server.url}/query", data=body, timeout=10) as resp:
        resp.read()
    settings = StoreSettings(
        kind="influxdb",
        url=server.url,
        database="guarded",
        api_version="v1",
        username="archivist",
        password="s3cret-pw",  # type: ignore[arg-type]  (pydantic makes it a SecretStr)
    )
    caplog.set_level("DEBUG")
    with InfluxStore(settings) as store:
        store.write([Reading("s1", T0, 19.5, 51.0)])
        (stored,) = store.history("s1", T0, T0 + timedelta(seconds=1))
        assert (stored.time, stored.temperature, stored.humidity) == (T0, 19.5, 51.0)
        assert store.count() == 1
    assert "s3cret-pw" not in caplog.text
    wrong = settings.model_copy(update={"password": None})
    with InfluxStore(wrong) as store, pytest.raises(StoreUnavailable):
        store.write([Reading("s1", T0 + timedelta(minutes=1), 19.0)])
