"""Opening the alert state database and bringing its schema up to date.

The state lives in an SQLite file (the default), in memory (``":memory:"``: backtests, tests) or
in any database SQLAlchemy reaches by URL (``postgresql+psycopg://…``). Opening runs the alembic
migrations in `migrations/versions/` programmatically (no ``alembic.ini``) inside one write
transaction, so two processes opening a new file at once migrate it once. A database whose
revision this version does not know — written by a newer repoclimate — is refused with
`StateVersionError` and left byte for byte as it was.

SQLite is set up for durability and for readers that never wait for writers: WAL journal,
``synchronous=FULL`` (a committed change survives power loss), a 30 s busy timeout, foreign
keys on. Write transactions begin ``IMMEDIATE`` (the write lock is taken up front, so two
writers queue instead of failing on upgrade); read transactions begin deferred and take no lock.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The alembic script directory (its ``env.py`` and ``versions/``), inside the package."""

LEGACY_VERSIONS = ("1", "2", "3")
"""``meta.schema_version`` of the files written before the migrations: revision 0001 adopts
them."""

BUSY_TIMEOUT_S = 30.0
"""How long an SQLite connection waits for another's lock before giving up."""

MIGRATION_LOCK = 0x7265706F636C696D
"""PostgreSQL advisory lock held while migrating (``repoclim`` in ASCII)."""

WRITE_LOCK = 0x7265706F636C7778
"""PostgreSQL advisory lock each write transaction holds (``repoclwx``): writers take turns."""


class StateError(RuntimeError):
    """The alert state cannot be used; the message names the database and what is wrong."""


class StateVersionError(StateError):
    """The state database has a schema revision this version of repoclimate does not know."""

    def __init__(self, where: str, found: str, newest: str) -> None:
        super().__init__(
            f"{where}: the alert state is at schema revision {found}, which this version of "
            f"repoclimate does not know (its newest is {newest}); it was probably written by a "
            "newer version. Upgrade repoclimate, or set alerts.state_path to another file. "
            "The database was not changed."
        )
        self.where = where
        self.found = found
        self.newest = newest


class StateFileError(StateError):
    """The alert state database cannot be opened (not a database, or not an alert state)."""


@dataclass(frozen=True, slots=True)
class StoredRevision:
    """What a database holds: ``kind`` is ``empty``, ``alembic`` (``revisions``: the rows of
    ``alembic_version``) or ``legacy`` (``revisions``: ``meta.schema_version``)."""

    kind: str
    revisions: tuple[str, ...] = ()

    def describe(self) -> str:
        joined = ", ".join(self.revisions) or "none"
        return f"{joined} (pre-alembic schema_version)" if self.kind == "legacy" else joined


def is_url(target: Path | str) -> bool:
    return isinstance(target, str) and "://" in target


def describe(target: Path | str) -> str:
    """The database as error messages name it (a URL without its password)."""
    if is_url(target):
        return make_url(str(target)).render_as_string(hide_password=True)
    return str(target)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is off: transactions begin in `begin`.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def begin(connection: Connection, write: bool) -> None:
    """Start the connection's transaction: on SQLite ``BEGIN IMMEDIATE`` (write: the write lock
    at once, so two writers queue instead of failing on upgrade) or ``BEGIN`` (read: a snapshot,
    no lock).

    The driver's own transaction handling is off (`_sqlite_connect`), so the transaction
    starts here, before the first read; SQLAlchemy's commit and rollback end it. (A ``begin``
    event would do the same but puts every statement on SQLAlchemy's slower, event-dispatching
    path.) On other databases SQLAlchemy begins the transaction itself.

    On PostgreSQL a write transaction first takes the advisory lock `WRITE_LOCK` until it
    ends, so writers take turns there too. The lifecycle and dispatch read and then write (the
    open alerts, what has been told); under PostgreSQL's READ COMMITTED two engines sharing the
    state would otherwise both open the same alert or both page for it.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
    elif write and connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


def create_state_engine(target: Path | str) -> Engine:
    """An engine for the state at ``target``: a file path, ``":memory:"`` or a URL."""
    if is_url(target):
        url = make_url(str(target))
        if url.get_backend_name() != "sqlite":
            return create_engine(url, pool_pre_ping=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
        )
    elif str(target) == ":memory:":
        # One connection for the life of the store: the database is that connection.
        engine = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        url = URL.create("sqlite+pysqlite", database=str(target))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
        )
    event.listen(engine, "connect", _sqlite_connect)
    return engine


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A Core statement compiled for one dialect, to run on the driver's cursor: ``names`` is
    the order of its parameters for a positional paramstyle (SQLite's ``?``), None for a
    named one (psycopg's ``%(name)s``)."""

    sql: str
    names: tuple[str, ...] | None
    statement: ClauseElement  # kept alive: the cache is keyed by its id

    def arguments(self, params: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        return params if self.names is None else tuple(params[name] for name in self.names)


_DRIVER: dict[tuple[int, str], DriverStatement] = {}


def driver_statement(connection: Connection, statement: ClauseElement) -> DriverStatement:
    """``statement`` compiled once per dialect by SQLAlchemy, for `driver_fetch` and
    `driver_many`."""
    key = (id(statement), connection.dialect.name)
    found = _DRIVER.get(key)
    if found is None:
        compiled = statement.compile(dialect=connection.dialect)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"not a SQL statement: {statement!r}")
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _DRIVER[key] = DriverStatement(compiled.string, names, statement)
    return found


def _cursor(connection: Connection) -> Any:
    raw = connection.connection.dbapi_connection
    assert raw is not None, "the connection was closed"
    return raw.cursor()


def driver_fetch(
    connection: Connection, statement: ClauseElement, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """The rows of a query (with its bound parameters' values ``params``), run on the
    driver's cursor in the connection's transaction.

    For the few statements run once per evaluation step (the lifecycle's): SQLAlchemy's own
    execution costs about 40 µs a statement more than the driver (its result and parameter
    machinery), several times what SQLite needs to run them. Only for statements whose columns
    need no SQLAlchemy type conversion (text, integers, floats)."""
    compiled = driver_statement(connection, statement)
    cursor = _cursor(connection)
    try:
        if params is None:
            cursor.execute(compiled.sql)
        else:
            cursor.execute(compiled.sql, compiled.arguments(params))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def driver_many(
    connection: Connection, statement: ClauseElement, params: Sequence[Mapping[str, Any]]
) -> None:
    """Run a DML statement once per parameter set (the driver's ``executemany``: psycopg
    pipelines them) in the connection's transaction; see `driver_fetch`."""
    if not params:
        return
    compiled = driver_statement(connection, statement)
    cursor = _cursor(connection)
    try:
        cursor.executemany(compiled.sql, [compiled.arguments(p) for p in params])
    finally:
        cursor.close()


def dialect_insert(connection: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can become an upsert (``on_conflict_do_update``) on this database."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise StateFileError(
        f"the alert state cannot live in {connection.dialect.name}: SQLite or PostgreSQL only"
    )


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An alembic configuration for the state's migrations, built in code.

    With ``connection`` the migrations run on it (inside its transaction); with ``url`` (for
    alembic commands run by hand, e.g. ``command.revision(alembic_config(), "add users")``)
    env.py opens that database.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this version knows."""
    revision = _script().get_current_head()
    assert revision is not None, f"no migrations in {MIGRATIONS}"
    return revision


def known_revisions() -> set[str]:
    return {script.revision for script in _script().walk_revisions()}


def stored_revision(connection: Connection) -> StoredRevision:
    """Which schema the database holds, read without writing anything."""
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return StoredRevision("alembic", tuple(sorted(str(r) for r in rows)))
    if "meta" in tables:
        version = connection.execute(
            text("SELECT value FROM meta WHERE key = 'schema_version'")
        ).scalar()
        return StoredRevision("legacy", () if version is None else (str(version),))
    if "alerts" in tables:
        return StoredRevision("legacy")
    return StoredRevision("empty")


def _check(where: str, stored: StoredRevision) -> None:
    """Refuse a revision this version cannot migrate from."""
    if stored.kind == "alembic":
        unknown = [r for r in stored.revisions if r not in known_revisions()]
        if unknown or not stored.revisions:
            raise StateVersionError(where, stored.describe(), head())
    elif stored.kind == "legacy" and (
        len(stored.revisions) != 1 or stored.revisions[0] not in LEGACY_VERSIONS
    ):
        raise StateVersionError(where, stored.describe(), head())


def _use_wal(engine: Engine, where: str) -> None:
    """Put an SQLite file in WAL mode (persistent in the file: set once, and only on a file this
    version may change). SQLite answers "database is locked" at once, without waiting, when
    another connection holds a lock meanwhile — another process opening the same new file —
    so this waits here, as long as the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        with engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            try:
                (mode,) = raw.execute("PRAGMA journal_mode = WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StateFileError(f"{where}: cannot switch to WAL: {exc}") from exc
                mode = None
        if mode == "wal":
            return
        if mode is not None:
            raise StateFileError(f"{where}: SQLite kept journal mode {mode!r}, not WAL")
        time.sleep(0.01)


def open_state(target: Path | str) -> Engine:
    """The engine of the state at ``target``, its schema at `head` (migrated if older).

    Raises `StateVersionError` for a revision this version does not know and `StateFileError`
    for a file that is no database; in both cases nothing was written.
    """
    where = describe(target)
    engine = create_state_engine(target)
    try:
        _migrate(engine, where)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _migrate(engine: Engine, where: str) -> None:
    in_memory = engine.url.database in (None, "", ":memory:")
    sqlite_file = engine.dialect.name == "sqlite" and not in_memory
    try:
        with engine.connect() as connection:
            stored = stored_revision(connection)
    except DatabaseError as exc:
        raise StateFileError(f"{where}: cannot open the alert state: {exc.orig}") from exc
    _check(where, stored)
    if stored == StoredRevision("alembic", (head(),)):
        return
    if sqlite_file:
        _use_wal(engine, where)
    with engine.connect() as connection, connection.begin():
        begin(connection, write=True)
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        stored = stored_revision(connection)  # another process may have migrated meanwhile
        _check(where, stored)
        if stored != StoredRevision("alembic", (head(),)):
            command.upgrade(alembic_config(connection), "head")
