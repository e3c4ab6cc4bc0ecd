"""``repoclimate serve``: the collector, the alert engine and the HTTP API in one process.

- the collector runs as ``collect`` runs it, in its own threads;
- the alert engine runs on an APScheduler `AsyncIOScheduler` in the service's event loop
  (`repoclimate.alerts.schedule`: every rule class at its interval, dispatch, the outbox); its
  jobs run in a thread pool so a long evaluation never holds up HTTP requests. A job that raises
  is logged with its traceback by APScheduler, counted (``repoclimate_job_failures_total``) and
  runs again at its next time;
- uvicorn serves `repoclimate.app.api.create_app` on ``api.listen``.

``--only collector,alerts,api`` runs a subset: several collectors on one shared subscription,
one alert engine, API replicas. ``api.workers: N`` (N > 1) serves the API from N processes on
one port: this one and N − 1 ``serve --only api`` replicas it starts (`ApiReplicas`), each on
its own socket bound with ``SO_REUSEPORT``, so the kernel spreads connections between them
(each has its own GIL: one process tops out near one core). A replica that dies is logged and
started again; stopping the service stops them first. Sessions and users live in the shared
state database, so any replica answers any browser.

With the settings alone it runs: no registry → every reading is unassigned; no users → nobody
can log in until ``repoclimate users add``.

Stopping (SIGTERM, Ctrl-C): uvicorn finishes the requests in flight and closes; then the
collector stores or spools what it received and acknowledges it (what it had not received stays
queued on the broker for its persistent session); then the scheduler stops, waiting for a running
job to finish (jobs are idempotent, each notification is claimed and recorded on its own, so an
interrupted run is simply done again). Exit code 0 after a clean stop, 1 when the settings or
the files they name are bad or a part cannot start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI

from repoclimate.alerts.clock import Clock, SystemClock
from repoclimate.alerts.runtime import build_alerting
from repoclimate.alerts.schedule import schedule_alerting
from repoclimate.alerts.state import AlertStore, StateError
from repoclimate.app.options import ConfigOption
from repoclimate.app.services import Metrics, Services, TimedStore
from repoclimate.app.settings import Settings, SettingsError, load_settings
from repoclimate.app.signals import stop_on_signals
from repoclimate.app.users import UserStore
from repoclimate.app.wiring import collector_from, registry_from
from repoclimate.history import open_store
from repoclimate.history.maintenance import schedule_history
from repoclimate.ingest.spool import SpoolError
from repoclimate.reports.schedule import schedule_reports
from repoclimate.sensors.yamlfile import ConfigError

log = logging.getLogger("repoclimate.app.serve")

PARTS = ("collector", "alerts", "api")
REPLICA_RESTART_S = 2.0
"""An API replica that exits is started again after this long."""
JOB_THREADS = 4
"""Threads the scheduler runs jobs in: evaluations, dispatch and the outbox never wait for each
other (each job still runs once at a time)."""


class ServeError(RuntimeError):
    """A part of the service cannot start; the message says which and why."""


def parse_parts(text: str | None) -> frozenset[str]:
    """The parts ``--only`` names (``collector,alerts``); all of them for None."""
    if text is None:
        return frozenset(PARTS)
    parts = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(parts - set(PARTS))
    if unknown or not parts:
        raise typer.BadParameter(
            f"{', '.join(unknown) or 'nothing'}: name one or more of {', '.join(PARTS)}",
            param_hint="--only",
        )
    return frozenset(parts)


# -- logging ----------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC ISO 8601), ``level``, ``logger``, ``message``,
    and ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class QueryRedactingFilter(logging.Filter):
    """Drops the query string from uvicorn's access log lines: an ack link's token is a
    credential and must not land in a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, mark, _query = args[2].partition("?")
            record.args = (*args[:2], path + ("?…" if mark else ""), *args[3:])
        return True


def configure_logging(level: str, log_format: str) -> None:
    """Root logging to stderr, as text or JSON lines (``api.log_format``)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").addFilter(QueryRedactingFilter())
    # Every job run and migration step at INFO would drown the service's own lines; their
    # warnings and errors (a job that raised, with its traceback) still come through.
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


# -- building and running ---------------------------------------------------------------------


def build_services(
    settings: Settings,
    config_path: Path | None,
    parts: Iterable[str] = PARTS,
    clock: Clock | None = None,
) -> Services:
    """The service's parts as the settings say (the scheduler comes later, in the event loop).

    Raises `ConfigError` (bad registry, rules, rota) or `StateError` (alert state unusable).
    """
    wanted = frozenset(parts)
    clock = clock or SystemClock()
    registry = registry_from(settings.registry)
    store = open_store(settings.store)
    metrics = Metrics()
    alerting = None
    try:
        if "alerts" in wanted and settings.alerts.enabled:
            alerting = build_alerting(
                settings.alerts, store, registry, clock, default_mqtt_url=settings.mqtt.url
            )
            state = alerting.state
        else:
            # Only the API reads the alert state without running the engine; a collector alone
            # gets a throwaway one, so it creates no file on its machine.
            state = AlertStore(settings.alerts.state_target() if "api" in wanted else ":memory:")
        users = UserStore(
            settings.alerts.state_target() if "api" in wanted else ":memory:",
            clock=clock,
            cache_s=settings.api.auth_cache_s,
        )
    except BaseException:
        store.close()
        raise
    collector = None
    if "collector" in wanted:
        collector = collector_from(
            settings.mqtt, settings.collector, registry, TimedStore(store, metrics)
        )
    services = Services(
        settings=settings,
        registry=registry,
        store=store,
        state=state,
        users=users,
        collector=collector,
        scheduler=None,
        clock=clock,
        metrics=metrics,
        alerting=alerting,
        config_path=config_path,
    )
    metrics.watch(services)
    return services


def start_scheduler(services: Services) -> AsyncIOScheduler | None:
    """The alert schedule on an `AsyncIOScheduler` in the running event loop (None without
    the alert engine)."""
    if services.alerting is None:
        return None
    scheduler = AsyncIOScheduler(
        event_loop=asyncio.get_running_loop(),
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(JOB_THREADS)},
    )
    schedule_alerting(scheduler, services.alerting, services.clock)
    schedule_history(scheduler, services.store, services.settings.store, services.clock)
    schedule_reports(scheduler, services)  # the monthly condition report to the managers
    metrics = services.metrics

    def on_event(event: JobEvent) -> None:
        if event.code == EVENT_JOB_SUBMITTED:
            metrics.job_started(event.job_id)
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run time; it runs at its next one", event.job_id)
        elif isinstance(event, JobExecutionEvent):
            # APScheduler itself logs a raising job with its traceback.
            metrics.job_finished(event.job_id, failed=event.exception is not None)

    scheduler.add_listener(
        on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
    )
    scheduler.start()
    services.scheduler = scheduler
    return scheduler


@asynccontextmanager
async def running(services: Services) -> AsyncIterator[None]:
    """The collector and the alert scheduler run while inside; on leaving, the collector
    stores or spools and acknowledges what it received, then the scheduler stops after the job
    it is running."""
    collector = services.collector
    try:
        if collector is not None:
            collector.start()
        start_scheduler(services)
        yield
    finally:
        if services.alerting is not None:
            services.alerting.outbox.stop()  # between messages: the one being sent finishes
        if collector is not None:
            await asyncio.to_thread(collector.stop)
        if services.scheduler is not None and services.scheduler.running:
            services.scheduler.shutdown(wait=True)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not listening yet: uvicorn
    starts listening once the app has started), so several processes serve one port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ServeError("api.workers > 1 needs SO_REUSEPORT, which this system lacks")
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServeError(f"the API cannot listen on {host}:{port}: {exc}") from exc
    sock.set_inheritable(False)
    return sock


class ApiReplicas:
    """``count`` child processes running ``serve --only api`` on the same settings (the
    ``--replica`` flag makes them bind with ``SO_REUSEPORT`` and start no replicas of their
    own); restarted when they exit, stopped with SIGTERM by `stop`."""

    def __init__(self, count: int, config_path: Path | None) -> None:
        self.command = [sys.executable, "-m", "repoclimate.app", "serve", "--only", "api"]
        self.command += ["--replica"] + (
            [] if config_path is None else ["--config", str(config_path)]
        )
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self._stopping = threading.Event()
        self._watch = threading.Thread(target=self._keep_running, name="api-replicas", daemon=True)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        self._watch.start()
        log.info("started %d API replicas: pids %s", self.count, [p.pid for p in self.procs])

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command, env=os.environ.copy())

    def _keep_running(self) -> None:
        while not self._stopping.wait(0.5):
            for index, proc in enumerate(self.procs):
                code = proc.poll()
                if code is None or self._stopping.is_set():
                    continue
                log.warning(
                    "API replica %d (pid %d) exited with %s; starting it again in %g s",
                    index,
                    proc.pid,
                    code,
                    REPLICA_RESTART_S,
                )
                if self._stopping.wait(REPLICA_RESTART_S):
                    return
                self.procs[index] = self._spawn()
                self.restarts += 1

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM to every replica, then wait for them (SIGKILL after ``timeout_s``)."""
        self._stopping.set()
        if self._watch.is_alive():
            self._watch.join()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("API replica pid %d did not stop in time: killed", proc.pid)
                proc.kill()
                proc.wait()


async def run(
    services: Services, parts: Iterable[str], stop: threading.Event, *, replica: bool = False
) -> None:
    """Run the parts until ``stop`` is set or, with the API, until uvicorn is told to exit
    (SIGTERM / SIGINT); then stop them: API first, then collector and scheduler.

    With the API the collector and scheduler start in the FastAPI lifespan, in uvicorn's event
    loop, before the port opens; a part that fails to start is raised here after uvicorn gave up.
    """
    wanted = frozenset(parts)
    label = ", ".join(part for part in PARTS if part in wanted)
    if "api" not in wanted:
        async with running(services):
            log.info("serving: %s", label)
            while not stop.is_set():
                await asyncio.sleep(0.2)
        return
    import uvicorn

    from repoclimate.app.api import create_app

    failed: list[BaseException] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            async with running(services):
                log.info("serving: %s on http://%s", label, services.settings.api.listen)
                yield
        except Exception as exc:
            failed.append(exc)
            raise

    host, port = services.settings.api.host_port
    workers = services.settings.api.workers
    sockets = [reuse_port_socket(host, port)] if workers > 1 or replica else None
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services, lifespan=lifespan),
            host=host,
            port=port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )
    replicas = None
    if workers > 1 and not replica:
        replicas = ApiReplicas(workers - 1, services.config_path)
        replicas.start()
    try:
        await server.serve(sockets=sockets)
    finally:
        if replicas is not None:
            await asyncio.to_thread(replicas.stop)
        for sock in sockets or []:
            sock.close()
    if failed:
        raise failed[0]
    if not server.started:
        raise ServeError(f"the API could not start on {services.settings.api.listen}")


def serve_command(
    config: ConfigOption = None,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            help="Run only these parts, comma-separated: collector, alerts, api "
            "(default: all three).",
            show_default=False,
        ),
    ] = None,
    replica: Annotated[
        bool,
        typer.Option("--replica", hidden=True, help="Run as one of api.workers' replicas."),
    ] = False,
) -> None:
    """Run the service: collector, alert engine and HTTP API, until SIGTERM or Ctrl-C."""
    parts = parse_parts(only)
    if replica and parts != {"api"}:
        raise typer.BadParameter("a replica runs only the API: --only api", param_hint="--replica")
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        _fail(str(exc))
    configure_logging(settings.log_level, settings.api.log_format)
    try:
        services = build_services(settings, config, parts)
    except (ConfigError, StateError) as exc:
        _fail(str(exc))
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            asyncio.run(run(services, parts, stop, replica=replica))
    except SpoolError as exc:  # e.g. another collector with this client id holds the spool
        _fail(f"cannot start the collector: {exc}")
    except ServeError as exc:
        _fail(str(exc))
    finally:
        services.close()
    log.info("stopped")


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)
