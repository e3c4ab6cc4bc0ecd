"""API benchmark: `repoclimate serve --only api` under a real HTTP load, beside the store alone.

Setup (not timed): a registry of 10 sites × 10 rooms × 10 sensors (1 000 sensors) and an
embedded SQLite store (`repoclimate.history.sqlite.SQLiteStore`, written through its own
``write`` in batches) holding every sensor's readings every 5 minutes for the last 30 days
(8.64 million readings, ending at the time of the run); a viewer user and its API token made
with `repoclimate.app.users.UserStore` in the service's state database.

Measured, in one run:

- *baseline*: the store queries behind each request, called directly on the same file one
  after another — a room's status (each of its 10 sensors' last hour, as `app.api.sites` reads
  it), one sensor's raw readings over one day (288), one sensor's 30 days aggregated hourly
  (720 intervals from 8 640 readings);
- *api*: the same three requests over HTTP against ``repoclimate serve --only api`` in a child
  process on a free loopback port (``/api/sites/{site}/rooms/{room}``,
  ``/api/sensors/{id}/history?start=…&end=…`` and ``…&every=1h``, in equal shares, rooms,
  sensors and days drawn at random), sent open-loop at a fixed total rate by several client
  processes (a bare asyncio HTTP/1.1 client, ``Authorization: Bearer``), each request at its
  scheduled time whether or not earlier ones have answered. Latency is from the scheduled time
  to the last byte of the response; an error is any status other than 200, or a request that
  failed or timed out. The server's CPU per request (psutil, every API process) and the load
  clients' are reported beside it;
- *cost* (``--cost N``, default 150): N requests of each kind one after another over one
  connection, the server's CPU per request of each kind.

Run: ``python bench/api.py`` (``--days 7`` for a quicker setup, ``--rate`` / ``--duration`` /
``--clients`` to change the load, ``--workers N`` for N API processes (``api.workers``),
``--reuse DIR`` to keep the filled store in DIR and reuse it in the next run, topped up to
the time of that run, ``--cost-only`` for the cost per kind alone, ``--py-spy FILE`` to
profile the serving process). Prints one line per measurement, a JSON summary, and last:
``api p95 <ms> ms at <rps> req/s, <errors> errors``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repoclimate.app.api.history import SETTLE, from_rollups, rollup_span  # noqa: E402
from repoclimate.app.users import Role, UserStore  # noqa: E402
from repoclimate.history.sqlite import SQLiteStore  # noqa: E402
from repoclimate.sensors.reading import Reading  # noqa: E402

SITES, ROOMS, PER_ROOM = 10, 10, 10
STEP = timedelta(minutes=5)
BATCH = 50_000
KINDS = ("room", "raw_day", "hourly_30d")
RECENT = timedelta(hours=1)
"""What `app.api.sites` reads of each sensor for a room's status (the default health rule's
silence window is shorter than this, so one hour it is)."""
AHEAD = timedelta(hours=1)


@dataclass(frozen=True)
class Layout:
    """Where the sensors are: ``rooms[i]`` is ``(site, room, sensor ids)``."""

    rooms: list[tuple[str, str, list[str]]]

    @property
    def sensors(self) -> list[str]:
        return [sensor for _site, _room, sensors in self.rooms for sensor in sensors]


def make_layout() -> Layout:
    rooms = []
    for s in range(SITES):
        for r in range(ROOMS):
            rooms.append((f"site{s}", f"room{r}", [f"s{s}-{r}-{i}" for i in range(PER_ROOM)]))
    return Layout(rooms)


def write_registry(path: Path, layout: Layout) -> None:
    sites: dict[str, list[dict[str, Any]]] = {}
    for site, room, sensors in layout.rooms:
        sites.setdefault(site, []).append(
            {
                "id": room,
                "profile": "iso11799-paper",
                "holdings": "paper",
                "sensors": [{"id": sensor, "match": {"format": "generic"}} for sensor in sensors],
            }
        )
    registry = {
        "sites": [
            {"id": site, "timezone": "Europe/London", "rooms": rooms}
            for site, rooms in sites.items()
        ]
    }
    path.write_text(yaml.safe_dump(registry), encoding="utf-8")


def fill_store(
    path: Path, layout: Layout, end: datetime, days: int, since: datetime | None = None
) -> tuple[int, float]:
    """Every sensor every 5 min for ``days`` days up to ``end`` (or from ``since`` only);
    (readings, seconds taken)."""
    first = end - timedelta(days=days) if since is None else since
    steps = int((end - first) / STEP)
    times = [first + STEP * k for k in range(steps)]
    phase = np.arange(steps) * (2 * np.pi * STEP.total_seconds() / 86_400)
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    written = 0
    batch: list[Reading] = []
    with SQLiteStore(path) as store:
        sensors = [(site, room, sensor) for site, room, ids in layout.rooms for sensor in ids]
        for n, (site, room, sensor) in enumerate(sensors):
            t = 18.0 + 1.5 * np.sin(phase + n) + rng.normal(0, 0.1, steps)
            rh = 45.0 + 4.0 * np.sin(phase + n + 1) + rng.normal(0, 0.5, steps)
            batch.extend(
                Reading(
                    sensor=sensor,
                    time=when,
                    temperature=round(float(tv), 2),
                    humidity=round(float(hv), 1),
                    site=site,
                    room=room,
                )
                for when, tv, hv in zip(times, t, rh, strict=True)
            )
            if len(batch) >= BATCH:
                store.write(batch)
                written += len(batch)
                batch = []
        store.write(batch)
        written += len(batch)
    return written, time.perf_counter() - started


# -- the requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    kind: str
    site: str
    room: str
    sensors: tuple[str, ...]
    """The room's sensors (kind ``room``) or the one sensor asked for."""
    start: datetime
    end: datetime

    def url(self) -> str:
        if self.kind == "room":
            return f"/api/sites/{self.site}/rooms/{self.room}"
        query = f"start={_iso(self.start)}&end={_iso(self.end)}"
        if self.kind == "hourly_30d":
            query += "&every=1h"
        return f"/api/sensors/{self.sensors[0]}/history?{query}"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_requests(layout: Layout, end: datetime, days: int, count: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    first = end - timedelta(days=days)
    requests = []
    for k in range(count):
        kind = KINDS[k % len(KINDS)]
        site, room, sensors = rng.choice(layout.rooms)
        if kind == "room":
            requests.append(Request(kind, site, room, tuple(sensors), end, end))
            continue
        sensor = rng.choice(sensors)
        if kind == "raw_day":
            day = rng.randrange(days)
            start = first + timedelta(days=day)
            requests.append(Request(kind, site, room, (sensor,), start, start + timedelta(days=1)))
        else:
            requests.append(Request(kind, site, room, (sensor,), first, end + AHEAD))
    return requests


RAW_HOURLY = "hourly_30d_raw"
"""The hourly requests' raw ``GROUP BY`` (what the API ran before it read the rollups)."""


def baseline(path: Path, requests: list[Request]) -> dict[str, list[float]]:
    """Each request's store calls, timed one after another [ms per request, by kind]; the
    hourly ones as the API makes them (rollups plus raw edges) and as one raw aggregation."""
    times: dict[str, list[float]] = {kind: [] for kind in (*KINDS, RAW_HOURLY)}
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    with SQLiteStore(path) as store:
        for request in requests:
            started = time.perf_counter()
            if request.kind == "room":
                for sensor in request.sensors:
                    store.history(sensor, now - RECENT, now + AHEAD)
            elif request.kind == "raw_day":
                store.history(request.sensors[0], request.start, request.end)
            else:
                sensor, start, end = request.sensors[0], request.start, request.end
                low, high = rollup_span(start, end, hour, now - SETTLE)
                from_rollups(store, "1h", sensor, start, end, low, high, hour)
                times[request.kind].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                store.aggregate(sensor, start, end, hour)
                times[RAW_HOURLY].append((time.perf_counter() - started) * 1000)
                continue
            times[request.kind].append((time.perf_counter() - started) * 1000)
    return times


# -- the load ---------------------------------------------------------------------------------


CONNECTIONS = 32
"""Keep-alive connections per client process: scheduled requests wait for a free one (and
that wait counts in their latency)."""


def client(
    pipe: Connection, url: str, token: str, urls: list[tuple[str, str]], rate: float, offset: float
) -> None:
    """One client process: says it is ready on ``pipe``, receives the wall time ``t0`` to start
    at, sends ``urls`` open-loop at ``rate`` req/s from ``t0`` + ``offset``, and sends back
    (kind, latency ms, status or 0 for a failed request) per request and its CPU seconds."""
    pipe.send("ready")
    t0: float = pipe.recv()
    cpu = time.process_time()
    results = asyncio.run(_client(url, token, urls, rate, offset, t0))
    pipe.send((results, time.process_time() - cpu))
    pipe.close()


async def _client(
    url: str, token: str, urls: list[tuple[str, str]], rate: float, offset: float, t0: float
) -> list[tuple[str, float, int]]:
    """A plain HTTP/1.1 client on asyncio protocols, ``CONNECTIONS`` keep-alive connections.

    httpx was the bottleneck here: with requests queued for its pool, httpcore's pool
    bookkeeping grows with the queue and ate a client process's CPU while the server idled;
    asyncio streams with a ``wait_for`` per request still cost ≈ 2.2 CPU-ms per request, as
    much as the service, so each connection is now a bare `asyncio.Protocol` (`_Connection`).
    Each request's latency runs from its scheduled time to its last byte, so a request that
    waited for a connection or for the server counts that wait (no coordinated omission).
    """
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    results: list[tuple[str, float, int]] = []
    queue: asyncio.Queue[tuple[str, str, float] | None] = asyncio.Queue()
    prefix = "GET "
    suffix = f" HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"

    async def connection() -> None:
        conn: _Connection | None = None
        while (job := await queue.get()) is not None:
            kind, path, due = job
            try:
                if conn is None or conn.closed:
                    _transport, conn = await loop.create_connection(_Connection, host, int(port))
                code = await conn.request((prefix + path + suffix).encode(), timeout_s=10.0)
            except (TimeoutError, OSError, ValueError):
                code = 0
                if conn is not None:
                    conn.close()
                conn = None
            results.append((kind, (time.perf_counter() - due) * 1000, code))
        if conn is not None:
            conn.close()

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    loop_start = time.perf_counter() + (t0 - time.time())
    for k, (kind, path) in enumerate(urls):
        due = loop_start + offset + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((kind, path, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return results


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request at a time, responses with a
    ``Content-Length`` body (all this service sends to these requests)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            waiter.set_exception(ValueError("a response without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        code = int(self.buffer[9:12])
        del self.buffer[:total]
        waiter.set_result(code)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    async def request(self, data: bytes, timeout_s: float) -> int:
        """Send one request; its status code (`TimeoutError` after ``timeout_s``)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = loop.call_later(timeout_s, _expire, waiter)
        self.transport.write(data)
        try:
            code: int = await waiter
        finally:
            timer.cancel()
        return code

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[int]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no answer in time"))


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one response (``Content-Length`` body); its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    code = int(lines[0].split()[1])
    length = next(
        (
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        ),
        None,
    )
    if length is None:
        raise ValueError("a response without Content-Length")
    await reader.readexactly(length)
    return code


def cost(
    url: str, token: str, requests: list[Request], service: Service, spy: Path | None
) -> dict[str, dict[str, float]]:
    """Each kind's requests one after another over one keep-alive connection: the server's CPU
    [ms per request] (psutil, service and replicas) and the wall time per request; with
    ``spy``, each kind profiled by py-spy into ``<spy>.<kind>.txt``."""
    out: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        paths = [r.url() for r in requests if r.kind == kind]
        recorder = None if spy is None else _py_spy(service, spy.with_suffix(f".{kind}.txt"))
        before = service.cpu_s()
        started = time.perf_counter()
        codes = asyncio.run(_sequential(url, token, paths))
        wall = time.perf_counter() - started
        cpu = service.cpu_s() - before
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(60)
        bad = sum(code != 200 for code in codes)
        if bad:
            raise RuntimeError(f"cost of {kind}: {bad} of {len(codes)} answers were not 200")
        out[kind] = {
            "n": len(paths),
            "server_cpu_ms": cpu * 1000 / len(paths),
            "wall_ms": wall * 1000 / len(paths),
        }
    return out


async def _sequential(url: str, token: str, paths: list[str]) -> list[int]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    codes = []
    try:
        for path in paths:
            head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
            writer.write(head.encode())
            codes.append(await asyncio.wait_for(_answer(reader), timeout=30.0))
    finally:
        writer.close()
    return codes


def _py_spy(service: Service, output: Path) -> subprocess.Popen[bytes]:
    """py-spy recording the serving process into ``output`` (raw collapsed stacks) until
    SIGINT."""
    return subprocess.Popen(
        [
            *("py-spy", "record", "--pid", str(service.proc.pid), "--format", "raw"),
            *("--rate", "200", "--output", str(output), "--nonblocking"),
        ]
    )


def load(
    url: str, token: str, requests: list[Request], rate: float, clients: int
) -> tuple[list[tuple[str, float, int]], float, float]:
    """``requests`` at ``rate`` req/s in total from ``clients`` processes; (results, seconds
    from the first scheduled send to the last answer, the clients' CPU seconds while sending).

    The schedule starts 0.5 s after every client process said it is ready: on a busy machine
    starting them (spawn, imports) takes seconds, and a fixed start time left the first
    requests late before any was sent — counted as the server's latency."""
    shares = [[(r.kind, r.url()) for r in requests[i::clients]] for i in range(clients)]
    per = rate / clients
    context = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    for i, share in enumerate(shares):
        ours, theirs = context.Pipe()
        proc = context.Process(target=client, args=(theirs, url, token, share, per, i / rate))
        proc.start()
        pipes.append(ours)
        procs.append(proc)
    try:
        for pipe in pipes:
            if not pipe.poll(120) or pipe.recv() != "ready":
                raise RuntimeError("a load client process did not start")
        t0 = time.time() + 0.5
        for pipe in pipes:
            pipe.send(t0)
        results: list[tuple[str, float, int]] = []
        cpu_s = 0.0
        for pipe in pipes:
            if not pipe.poll(900):
                raise RuntimeError("a load client process did not finish")
            rows, cpu = pipe.recv()
            results.extend(rows)
            cpu_s += cpu
        elapsed = time.time() - t0
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    return results, elapsed, cpu_s


# -- the service ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """``repoclimate serve --only api`` in a child process, stopped by its PID."""

    def __init__(self, config: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("REPOCLIMATE_")}
        self.log = config.parent / "serve.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "repoclimate.app", "serve", "--only", "api"),
                    "--config",
                    str(config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=config.parent,
            )

    def wait(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"serve did not answer on {url} within {timeout:g} s: {self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the service and its API replicas so far."""
        main = psutil.Process(self.proc.pid)
        total = 0.0
        for proc in [main, *main.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


# -- report -----------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    p50, p95, p99 = np.percentile(np.array(values), [50, 95, 99])
    return {"n": len(values), "p50": float(p50), "p95": float(p95), "p99": float(p99)}


def line(label: str, stats: dict[str, float]) -> str:
    if not stats.get("n"):
        return f"{label:<24} no samples"
    return (
        f"{label:<24} n={int(stats['n']):>6}  p50 {stats['p50']:7.2f} ms  "
        f"p95 {stats['p95']:7.2f} ms  p99 {stats['p99']:7.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days of 5-min history per sensor")
    parser.add_argument("--rate", type=float, default=200.0, help="total requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--baseline", type=int, default=1500, help="requests in the baseline")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--workers", type=int, default=1, help="API processes (api.workers)")
    parser.add_argument("--reuse", type=Path, help="keep the store here and reuse it")
    parser.add_argument(
        "--py-spy",
        type=Path,
        help="profile the serving process with py-spy into this file (with --cost-only: "
        "each kind into FILE.<kind>.txt)",
    )
    parser.add_argument(
        "--cost",
        type=int,
        default=150,
        help="requests of each kind sent one after another to measure the server's CPU per "
        "request (0: none)",
    )
    parser.add_argument(
        "--cost-only", action="store_true", help="measure the cost per kind only, no load"
    )
    parser.add_argument(
        "--present-cache-s",
        type=float,
        help="api.present_cache_s for the service (0: room status computed for every request, "
        "as when a collector writes to the store all the time); default: the setting's own",
    )
    args = parser.parse_args(argv)
    if args.days < 1 or args.rate <= 0 or not 0 < args.duration <= 600 or args.clients < 1:
        parser.error("--days ≥ 1, --rate > 0, 0 < --duration ≤ 600, --clients ≥ 1")
    if args.workers < 1:
        parser.error("--workers ≥ 1")
    if args.cost < 0 or (args.cost_only and args.cost == 0):
        parser.error("--cost ≥ 0, and > 0 with --cost-only")
    if args.reuse is not None:
        args.reuse.mkdir(parents=True, exist_ok=True)
        return run(args.reuse, args)
    with tempfile.TemporaryDirectory(prefix="bench-api-", dir=args.dir) as tmp:
        return run(Path(tmp), args)


def run(work: Path, args: argparse.Namespace) -> int:
    layout = make_layout()
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 5)
    store_path = work / "readings.sqlite"
    write_registry(work / "registry.yaml", layout)
    print(
        f"setup: {len(layout.sensors)} sensors ({SITES} sites × {ROOMS} rooms × {PER_ROOM}), "
        f"{args.days} days at 5 min",
        flush=True,
    )
    filled = work / "filled.json"
    kept = json.loads(filled.read_text()) if filled.exists() and store_path.exists() else None
    if kept is not None and kept["days"] == args.days:
        since = datetime.fromisoformat(kept["end"])
        more, _took = fill_store(store_path, layout, end, args.days, since=since)
        written, took = kept["readings"] + more, kept["seconds"]
        kept |= {"end": end.isoformat(), "readings": written}
        filled.write_text(json.dumps(kept))
        print(f"store: reused {store_path}, {more:,} readings added up to now", flush=True)
    else:
        store_path.unlink(missing_ok=True)
        (work / "alerts.sqlite").unlink(missing_ok=True)
        written, took = fill_store(store_path, layout, end, args.days)
        record = {"days": args.days, "end": end.isoformat(), "readings": written, "seconds": took}
        filled.write_text(json.dumps(record))
    size_mib = store_path.stat().st_size / 2**20
    print(
        f"store: {written:,} readings written in {took:.0f} s ({written / took:,.0f}/s), "
        f"{size_mib:,.0f} MiB",
        flush=True,
    )

    state = work / "alerts.sqlite"
    users = UserStore(state)
    try:
        if users.get("bench") is None:
            users.add("bench", "bench password of some length", Role.VIEWER)
        token = users.create_token("bench", label="bench/api.py")
    finally:
        users.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        "store": {"kind": "sqlite", "sqlite_path": str(store_path)},
        "registry": "registry.yaml",
        "alerts": {"state_path": str(state)},
        "api": {"listen": f"127.0.0.1:{port}", "cookie_secure": False, "workers": args.workers},
        "log_level": "WARNING",
    }
    if args.present_cache_s is not None:
        config["api"]["present_cache_s"] = args.present_cache_s  # type: ignore[index]
    (work / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    sample = make_requests(layout, end, args.days, args.baseline, seed=2)
    base = baseline(store_path, sample)
    base_stats = {kind: percentiles(times) for kind, times in base.items()}
    base_all = percentiles([t for kind in KINDS for t in base[kind]])

    count = int(args.rate * args.duration)
    requests = make_requests(layout, end, args.days, count, seed=3)
    service = Service(work / "config.yaml")
    try:
        service.wait(url)
        check(url, token, requests[:3])
        warm = make_requests(layout, end, args.days, 60, seed=4)
        load(url, token, warm, min(args.rate, 50.0), 1)
        costs: dict[str, dict[str, float]] = {}
        if args.cost:
            measured = make_requests(layout, end, args.days, args.cost * len(KINDS), seed=5)
            costs = cost(url, token, measured, service, args.py_spy if args.cost_only else None)
            for kind, figures in costs.items():
                print(
                    f"  cost {kind:<18} server CPU {figures['server_cpu_ms']:6.2f} ms per request"
                    f"  (wall {figures['wall_ms']:6.2f} ms, n={int(figures['n'])}, one at a time);"
                    f" load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        if args.cost_only:
            print(f"baseline: the store queries alone, {args.baseline} requests one after another")
            for kind in (*KINDS, RAW_HOURLY):
                print(line(f"  store {kind}", base_stats[kind]))
            return 0
        spy = None if args.py_spy is None else _py_spy(service, args.py_spy)
        cpu_before = service.cpu_s()
        results, elapsed, client_cpu_s = load(url, token, requests, args.rate, args.clients)
        server_cpu_s = service.cpu_s() - cpu_before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    finally:
        service.stop()

    by_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    errors = 0
    failures: dict[str, int] = {}
    for kind, ms, code in results:
        if code == 200:
            by_kind[kind].append(ms)
        else:
            errors += 1
            reason = "no answer (failed or timed out)" if code == 0 else f"status {code}"
            failures[reason] = failures.get(reason, 0) + 1
    api_stats = {kind: percentiles(times) for kind, times in by_kind.items()}
    api_all = percentiles([t for times in by_kind.values() for t in times])
    achieved = len(results) / elapsed

    print(f"baseline: the store queries alone, {args.baseline} requests one after another")
    for kind in (*KINDS, RAW_HOURLY):
        print(line(f"  store {kind}", base_stats[kind]))
    print(line("  store all", base_all))
    print(
        f"api: {count} requests at {args.rate:g} req/s from {args.clients} client processes "
        f"over {elapsed:.1f} s ({achieved:.0f} req/s answered), {errors} errors"
    )
    for reason, n in sorted(failures.items()):
        print(f"  errors: {n} × {reason}")
    cpu_ms = server_cpu_s * 1000 / max(len(results), 1)
    print(
        f"  server CPU: {server_cpu_s:.1f} s for {len(results)} requests = {cpu_ms:.2f} ms "
        f"per request ({args.workers} API process{'es' if args.workers > 1 else ''}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    client_ms = client_cpu_s * 1000 / max(len(results), 1)
    print(
        f"  load client CPU: {client_cpu_s:.1f} s = {client_ms:.2f} ms per request "
        f"({args.clients} processes)"
    )
    for kind in KINDS:
        print(line(f"  api {kind}", api_stats[kind]))
    print(line("  api all", api_all))
    summary = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "sensors": len(layout.sensors),
        "days": args.days,
        "readings": written,
        "nice": os.nice(0),
        "store_write_s": round(took, 1),
        "rate": args.rate,
        "achieved_rate": round(achieved, 1),
        "duration_s": args.duration,
        "clients": args.clients,
        "workers": args.workers,
        "errors": errors,
        "failures": failures,
        "server_cpu_ms_per_request": round(cpu_ms, 3),
        "client_cpu_ms_per_request": round(client_ms, 3),
        "cost_one_at_a_time": costs,
        "baseline": {**base_stats, "all": base_all},
        "api": {**api_stats, "all": api_all},
    }
    print(json.dumps(summary, indent=1))
    note = "" if args.days == 30 else f" ({args.days} days of history, not 30)"
    print(
        f"api p95 {api_all.get('p95', float('nan')):.1f} ms at {achieved:.0f} req/s, "
        f"{errors} errors{note}"
    )
    return 0


def check(url: str, token: str, requests: list[Request]) -> None:
    """One request of each kind answers 200 with what it should hold, before any timing."""
    expect: dict[str, Callable[[Any], bool]] = {
        "room": lambda body: (
            len(body["sensors"]) == PER_ROOM
            and all(s["status"] != "silent" for s in body["sensors"])
        ),
        "raw_day": lambda body: len(body["points"]) == 288,
        "hourly_30d": lambda body: len(body["points"]) >= 24,
    }
    headers = {"Authorization": f"Bearer {token}"}
    for request in requests:
        response = httpx.get(url + request.url(), headers=headers, timeout=30)
        if response.status_code != 200 or not expect[request.kind](response.json()):
            raise RuntimeError(f"{request.url()}: {response.status_code} {response.text[:500]}")


if __name__ == "__main__":
    sys.exit(main())
