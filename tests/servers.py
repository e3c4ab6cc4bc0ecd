"""Real servers for the tests: a private Mosquitto, InfluxDB 1.x and PostgreSQL on free loopback
ports.

Each server owns a temporary directory (config, data, log), is started as a child process and is
stopped by its PID. ``stop()`` followed by ``start()`` restarts it on the same port with the same
data, which the fault tests use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on port {port} within {timeout} s")


class _Server:
    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> None:
        """Block until the server answers; the default is its port accepting connections."""

    def start(self, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_for_port(self.port, self.proc, self.log, timeout)
        self.ready()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL if it does not exit)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def restart(self) -> None:
        self.stop()
        self.start()


class Mosquitto(_Server):
    """Mosquitto 2 with persistence, anonymous access and unbounded queues for slow subscribers.

    ``stock=True`` keeps Mosquitto's default limits instead (Receive Maximum 20, 1000 queued
    messages…): the configuration a new user starts from, only ``listener``, ``allow_anonymous``
    and what running as root in a temporary directory needs.
    """

    name = "mosquitto"

    def __init__(self, workdir: Path, extra_config: str = "", *, stock: bool = False) -> None:
        super().__init__(workdir)
        self.url = f"mqtt://127.0.0.1:{self.port}"
        (self.workdir / "data").mkdir(exist_ok=True)
        self.config = self.workdir / "mosquitto.conf"
        if stock:
            lines = ["user root", f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
            self.config.write_text("\n".join([*lines, "log_dest stdout", extra_config]) + "\n")
            return
        self.config.write_text(
            "\n".join(
                [
                    "user root",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {self.workdir / 'data'}/",
                    "autosave_interval 1",
                    "max_queued_messages 0",
                    "max_queued_bytes 0",
                    "max_inflight_messages 0",
                    "persistent_client_expiration 1d",
                    "log_dest stdout",
                    "log_type error",
                    "log_type warning",
                    extra_config,
                ]
            )
            + "\n"
        )

    def command(self) -> list[str]:
        return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.config)]


class InfluxDB(_Server):
    """InfluxDB 1.x (Debian's 1.6.7) with every port on loopback and its data in ``workdir``."""

    name = "influxd"

    def __init__(self, workdir: Path, auth: bool = False) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.workdir / "influxdb.conf"
        self.config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.workdir / "meta"}"
[data]
  dir = "{self.workdir / "data"}"
  wal-dir = "{self.workdir / "wal"}"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if auth else "false"}
  log-enabled = false
  suppress-write-log = true
[continuous_queries]
  enabled = false
"""
        )

    def command(self) -> list[str]:
        return [shutil.which("influxd") or "/usr/bin/influxd", "-config", str(self.config)]

    def ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp,
            ):
                if resp.status == 204:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"influxd at {self.url} did not answer /ping")

    def query(self, q: str, db: str | None = None) -> dict[str, object]:
        """Run InfluxQL through ``/query`` and return the decoded JSON answer."""
        import json
        import urllib.parse

        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        url = f"{self.url}/query?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            result: dict[str, object] = json.loads(resp.read())
        return result

    def create_database(self, db: str) -> None:
        import urllib.parse

        body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{db}"'}).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=body, timeout=30) as resp:
            resp.read()


def _postgres_bin(program: str) -> str:
    """A PostgreSQL program: Debian keeps them in /usr/lib/postgresql/<major>/bin, off PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"))
    if found:
        return str(found[-1])
    return shutil.which(program) or program


class PostgreSQL(_Server):
    """PostgreSQL (Debian's 15) on a loopback port, its cluster in a directory of its own.

    PostgreSQL refuses to run as root: as root the cluster belongs to, and the server runs as,
    the ``postgres`` user, in a directory outside pytest's root-only temp folder. ``trust``
    authentication on loopback; ``fsync`` off (the tests are about queries and locking, not
    durability).
    """

    name = "postgres"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.user = "postgres" if os.geteuid() == 0 else None
        self.cluster = Path(tempfile.mkdtemp(prefix="repoclimate-postgres-"))
        if self.user is not None:
            shutil.chown(self.cluster, self.user)
        self.data = self.cluster / "data"
        with self.log.open("ab") as log:
            subprocess.run(
                [_postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
                stdout=log, stderr=subprocess.STDOUT, check=True, user=self.user,
            )  # fmt: skip
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def command(self) -> list[str]:
        return [
            _postgres_bin("postgres"), "-D", str(self.data), "-k", str(self.cluster),
            "-p", str(self.port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                user=self.user,
            )  # fmt: skip
        _wait_for_port(self.port, self.proc, self.log, timeout)
        self.ready()

    def ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres").close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def create_database(self, name: str) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def remove(self) -> None:
        """Stop the server (SIGINT: PostgreSQL's fast shutdown, which does not wait for clients
        to disconnect as SIGTERM does) and delete its cluster."""
        self.stop(signal.SIGINT)
        shutil.rmtree(self.cluster, ignore_errors=True)
