"""Ingest benchmark: a QoS 1 stream through a real Mosquitto into a real InfluxDB.

Run from the repository root::

    python bench/ingest.py [--readings 200000] [--publishers 4] [--batch-size 5000]

Publishers are ``mosquitto_pub --repeat N -q 1`` processes, each on its own sensor topic with a
generic JSON payload without a time, so the collector stamps each reading on receipt (and notes
every stamp in its receive-stamp journal: the worst case for it) and every message becomes a
distinct point. ``--stamp-journal-s 0`` runs the collectors with the journal off. Each
consumer gets the same stream, in two ways:

- *live*: the consumer is subscribed, then the publishers start; the rate is first publish to
  last message counted (for the collector: last reading stored, checked by a count in InfluxDB);
- *backlog*: the publishers fill the consumer's persistent session while it is away, then it
  starts; the rate is its start to the last message counted or stored — the consumer's capacity
  when nothing else competes for the CPU.

Consumers: ``mosquitto_sub`` (the broker's own limit), a plain paho subscriber that only counts
(the limit for a Python client on paho's own receive path), the collector as a child process
wired as ``repoclimate collect`` is (its RSS sampled with psutil; CPU seconds from the OS), the
same collector on paho's own receive path (``collector.fast_path: false``, consumer ``plain``),
and two collectors on one shared subscription (``$share/bench/…``). Servers are private
(``tests.servers``) on loopback ports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repoclimate.history.settings import StoreSettings  # noqa: E402
from repoclimate.ingest.settings import CollectorSettings, MqttSettings, TopicRoute  # noqa: E402
from tests.servers import InfluxDB, Mosquitto  # noqa: E402

PAYLOAD = '{"temperature":19.34,"humidity":58.1,"battery":93}'
MIB = 2**20


def publish(port: int, prefix: str, publishers: int, per: int) -> list[subprocess.Popen[bytes]]:
    """Start the C publishers: one sensor topic each, ``per`` QoS 1 messages each."""
    return [
        subprocess.Popen(
            [
                *("mosquitto_pub", "-p", str(port), "-i", f"{prefix}-pub{i}", "-q", "1"),
                *("-t", f"repoclimate/{prefix}/room/{prefix}-p{i}"),
                *("--repeat", str(per), "-m", PAYLOAD),
            ]
        )
        for i in range(publishers)
    ]


def wait_all(procs: list[subprocess.Popen[bytes]], timeout: float = 900) -> None:
    for proc in procs:
        proc.wait(timeout)
        if proc.returncode:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")


def mosquitto_sub(port: int, prefix: str, client_id: str, count: int) -> list[str]:
    return [
        "mosquitto_sub", "-p", str(port), "-i", client_id, "-V", "mqttv5", "-q", "1",
        "-c", "-x", "3600", "-t", f"repoclimate/{prefix}/#", "-C", str(count),
    ]  # fmt: skip


def bench_mosquitto_sub(broker: Mosquitto, publishers: int, per: int, backlog: bool) -> float:
    total = publishers * per
    prefix = f"msub{'b' if backlog else 'l'}"
    client_id = f"bench-{prefix}"
    if backlog:
        subscribe_only = subprocess.Popen(
            mosquitto_sub(broker.port, prefix, client_id, 1), stdout=subprocess.DEVNULL
        )
        time.sleep(1.0)
        subscribe_only.terminate()
        subscribe_only.wait(10)
        wait_all(publish(broker.port, prefix, publishers, per))
        start = time.monotonic()
        sub = subprocess.Popen(
            mosquitto_sub(broker.port, prefix, client_id, total), stdout=subprocess.DEVNULL
        )
        sub.wait(900)
        return total / (time.monotonic() - start)
    sub = subprocess.Popen(
        mosquitto_sub(broker.port, prefix, client_id, total), stdout=subprocess.DEVNULL
    )
    time.sleep(1.0)
    start = time.monotonic()
    pubs = publish(broker.port, prefix, publishers, per)
    sub.wait(900)
    elapsed = time.monotonic() - start
    wait_all(pubs)
    return total / elapsed


COUNTER = """
import sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
port, topic, total, client_id = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
done = threading.Event()
count = 0
def on_message(client, userdata, message):
    global count
    count += 1
    if count >= total:
        done.set()
def on_subscribe(client, userdata, mid, codes, properties):
    print("ready", flush=True)
    if total == 0:
        done.set()
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
client.on_message = on_message
client.on_subscribe = on_subscribe
properties = Properties(PacketTypes.CONNECT)
properties.SessionExpiryInterval = 3600
properties.ReceiveMaximum = 65535
client.connect("127.0.0.1", port, clean_start=False, properties=properties)
client.subscribe(topic, qos=1)
client.loop_start()
done.wait(900)
print("done", flush=True)
client.disconnect()
client.loop_stop()
"""


def start_counter(port: int, prefix: str, client_id: str, total: int) -> subprocess.Popen[str]:
    counter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            COUNTER,
            str(port),
            f"repoclimate/{prefix}/#",
            str(total),
            client_id,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert counter.stdout is not None
    if counter.stdout.readline().strip() != "ready":
        raise RuntimeError("the paho counter did not subscribe")
    return counter


def bench_paho_counter(broker: Mosquitto, publishers: int, per: int, backlog: bool) -> float:
    total = publishers * per
    prefix = f"paho{'b' if backlog else 'l'}"
    client_id = f"bench-{prefix}"
    counter = start_counter(broker.port, prefix, client_id, 0 if backlog else total)
    if backlog:
        assert counter.stdout is not None
        counter.stdout.readline()  # "done" at once: it only made the session
        counter.wait(60)
        wait_all(publish(broker.port, prefix, publishers, per))
        start = time.monotonic()
        counter = start_counter(broker.port, prefix, client_id, total)
        pubs: list[subprocess.Popen[bytes]] = []
    else:
        start = time.monotonic()
        pubs = publish(broker.port, prefix, publishers, per)
    assert counter.stdout is not None
    if counter.stdout.readline().strip() != "done":
        raise RuntimeError("the paho counter did not finish")
    elapsed = time.monotonic() - start
    counter.wait(60)
    wait_all(pubs)
    return total / elapsed


def run_child(config_path: Path, stats_path: Path) -> None:
    """The collector process: wired as ``repoclimate collect`` (``app.wiring``), run until
    SIGTERM, writing its stats to ``stats_path`` after every batch for the parent to watch."""
    from dataclasses import asdict

    from repoclimate.app.wiring import collector_from
    from repoclimate.history import open_store
    from repoclimate.ingest.stats import StatsSnapshot
    from repoclimate.sensors.registry import load_registry

    config = json.loads(config_path.read_text())
    store = open_store(StoreSettings.model_validate(config["store"]))

    def write_stats(snapshot: StatsSnapshot) -> None:
        temporary = stats_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(snapshot)))
        temporary.replace(stats_path)

    collector = collector_from(
        MqttSettings.model_validate(config["mqtt"]),
        CollectorSettings.model_validate(config["collector"]),
        load_registry(config["registry"]),
        store,
        write_stats,
    )
    try:
        collector.run()
    finally:
        store.close()
    write_stats(collector.stats.snapshot())


class CollectorChild:
    """One collector process (``bench/ingest.py --child``) and its stats file."""

    def __init__(
        self,
        workdir: Path,
        broker: Mosquitto,
        influxdb: InfluxDB,
        database: str,
        prefix: str,
        client_id: str,
        batch_size: int,
        shared_group: str | None = None,
        stamp_journal_s: float | None = None,
        fast_path: bool = True,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        mqtt = MqttSettings(
            url=broker.url,
            client_id=client_id,
            topics=[TopicRoute(filter=f"repoclimate/{prefix}/#", format="generic")],
            shared_group=shared_group,
            dead_letter_topic=f"deadletter/{client_id}",
        )
        collector = CollectorSettings(
            batch_size=batch_size, spool_dir=workdir / "spool", fast_path=fast_path
        )
        if stamp_journal_s is not None:
            collector.stamp_journal_s = stamp_journal_s
        store = StoreSettings(
            kind="influxdb", url=influxdb.url, database=database, api_version="v1"
        )
        config = workdir / "collector.json"
        config.write_text(
            json.dumps(
                {
                    "mqtt": mqtt.model_dump(mode="json"),
                    "collector": collector.model_dump(mode="json"),
                    "store": store.model_dump(mode="json"),
                    "registry": str(ROOT / "examples" / "registry.yaml"),
                }
            )
        )
        self.stats_file = workdir / "stats.json"
        self.stats_file.unlink(missing_ok=True)
        self.log = (workdir / "collector.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(config), str(self.stats_file)],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.proc.pid)

    def stats(self) -> dict[str, object]:
        try:
            loaded: dict[str, object] = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return {}
        return loaded

    def stored(self) -> int:
        value = self.stats().get("stored", 0)
        return int(value) if isinstance(value, int) else 0

    def wait_connected(self) -> None:
        deadline = time.monotonic() + 60
        while self.stats().get("connected") is not True:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("a collector did not start; see its collector.log")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(120)
        self.log.close()


def wait_subscribed(children: list[CollectorChild], broker: Mosquitto, prefix: str) -> None:
    """Publish empty probes (they carry no reading) until every child has received one."""
    deadline = time.monotonic() + 60
    for child in children:
        while not child.stats().get("received"):
            if time.monotonic() > deadline or child.proc.poll() is not None:
                raise RuntimeError("a collector did not start; see its collector.log")
            probe = ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-n"]
            subprocess.run([*probe, "-t", f"repoclimate/{prefix}/probe"], check=True)
            time.sleep(0.3)


def influx_count(influxdb: InfluxDB, database: str) -> int:
    answer = influxdb.query("SELECT count(humidity) FROM climate", database)
    results = answer["results"]
    assert isinstance(results, list)
    series = results[0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def bench_collectors(
    broker: Mosquitto,
    influxdb: InfluxDB,
    workdir: Path,
    publishers: int,
    per: int,
    batch_size: int,
    collectors: int,
    backlog: bool,
    profile: Path | None = None,
    stamp_journal_s: float | None = None,
    fast_path: bool = True,
) -> dict[str, object]:
    total = publishers * per
    prefix = f"c{collectors}{'b' if backlog else 'l'}{'' if fast_path else 'p'}"
    database = f"bench_{prefix}"
    influxdb.create_database(database)
    group = "bench" if collectors > 1 else None

    def launch() -> list[CollectorChild]:
        return [
            CollectorChild(
                workdir / f"{prefix}-{i}",
                broker,
                influxdb,
                database,
                prefix,
                f"bench-{prefix}-{i}",
                batch_size,
                group,
                stamp_journal_s,
                fast_path,
            )
            for i in range(collectors)
        ]

    children = launch()
    wait_subscribed(children, broker, prefix)
    pubs: list[subprocess.Popen[bytes]] = []
    if backlog:
        for child in children:
            child.stop()
        wait_all(publish(broker.port, prefix, publishers, per))
        start = time.monotonic()
        children = launch()
    else:
        for child in children:
            child.wait_connected()
    rss: list[tuple[int, int]] = []  # (readings stored by all, RSS of the first collector)
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.1):
            try:
                rss.append((sum(c.stored() for c in children), children[0].ps.memory_info().rss))
            except psutil.Error:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    rss_idle = children[0].ps.memory_info().rss
    if not backlog:
        start = time.monotonic()
        pubs = publish(broker.port, prefix, publishers, per)
    sampler.start()
    spy = None
    if profile is not None:
        spy = subprocess.Popen(
            [
                *("py-spy", "record", "--pid", str(children[0].proc.pid), "--threads"),
                *("--format", "raw", "--rate", "200", "-o", str(profile)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    publishers_done = None
    while sum(c.stored() for c in children) < total:
        if not backlog and publishers_done is None and all(p.poll() is not None for p in pubs):
            publishers_done = round(time.monotonic() - start, 2)
        if any(c.proc.poll() is not None for c in children):
            raise RuntimeError("a collector died; see its collector.log")
        if time.monotonic() - start > 900:
            raise RuntimeError(f"only {sum(c.stored() for c in children)} of {total} stored")
        time.sleep(0.02)
    elapsed = time.monotonic() - start
    if spy is not None:
        spy.send_signal(2)
        spy.wait(60)
    wait_all(pubs)
    stop_sampling.set()
    sampler.join()
    stored = influx_count(influxdb, database)
    cpu = [round(sum(c.ps.cpu_times()[:2]), 1) for c in children]
    for child in children:
        child.stop()
    stats = [child.stats() for child in children]
    marks = {}
    for fraction in (0.25, 0.5, 0.75, 1.0):
        reached = [r for s, r in rss if s >= fraction * total]
        marks[f"{int(fraction * 100)}%"] = round((reached[0] if reached else rss[-1][1]) / MIB, 1)
    result: dict[str, object] = {
        "receive_path": "fast" if stats[0].get("fast_path") else "paho",
        "readings_per_s": round(total / elapsed),
        "seconds": round(elapsed, 2),
        "stored_in_influxdb": stored,
        "rss_mib_idle": round(rss_idle / MIB, 1),
        "rss_mib_at": marks,
        "rss_mib_peak": round(max(r for _, r in rss) / MIB, 1),
        "cpu_s_per_collector": cpu,
        "stored_per_collector": [s.get("stored") for s in stats],
        "batches_per_collector": [s.get("batches") for s in stats],
    }
    if not backlog:
        result["publishers_done_s"] = publishers_done
    if collectors == 1 and stored != total:
        raise RuntimeError(f"InfluxDB holds {stored} points, expected {total}: {result}")
    if collectors > 1:
        # Two processes stamp one sensor's time-less readings independently: two readings of a
        # sensor stamped in the same microsecond by different collectors are one point.
        result["same_microsecond_merges"] = total - stored
    return result


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        run_child(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--modes", default="live,backlog", help="live, backlog or both")
    parser.add_argument(
        "--consumers",
        default="mosquitto_sub,paho,collector,plain,shared",
        help="comma-separated: mosquitto_sub, paho, collector, plain (the collector on paho's "
        "own receive path), shared",
    )
    parser.add_argument("--profile", type=Path, help="py-spy raw profile of the live collector")
    parser.add_argument(
        "--stamp-journal-s",
        type=float,
        help="collector.stamp_journal_s of the collectors (0: receive-stamp journal off)",
    )
    args = parser.parse_args()
    per = args.readings // args.publishers
    total = per * args.publishers
    if not shutil.which("mosquitto_pub"):
        raise SystemExit("mosquitto-clients is not installed")
    consumers = args.consumers.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    broker = Mosquitto(workdir / "mosquitto")
    influxdb = InfluxDB(workdir / "influxdb")
    broker.start()
    influxdb.start()
    results: dict[str, object] = {
        "readings": total,
        "publishers": args.publishers,
        "batch_size": args.batch_size,
        "stamp_journal_s": args.stamp_journal_s,
        "cpus": psutil.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        for mode in args.modes.split(","):
            backlog = mode == "backlog"
            row: dict[str, object] = {}
            results[mode] = row
            if "mosquitto_sub" in consumers:
                rate = bench_mosquitto_sub(broker, args.publishers, per, backlog)
                row["mosquitto_sub_per_s"] = round(rate)
            if "paho" in consumers:
                row["paho_counter_per_s"] = round(
                    bench_paho_counter(broker, args.publishers, per, backlog)
                )
            for name, count, fast, key in (
                ("collector", 1, True, "collectors_1"),
                ("plain", 1, False, "collectors_1_plain"),
                ("shared", 2, True, "collectors_2"),
            ):
                if name in consumers:
                    row[key] = bench_collectors(
                        broker,
                        influxdb,
                        workdir,
                        args.publishers,
                        per,
                        args.batch_size,
                        count,
                        backlog,
                        args.profile if not backlog and count == 1 and fast else None,
                        args.stamp_journal_s,
                        fast,
                    )
            print(json.dumps({mode: row}), file=sys.stderr, flush=True)
        results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(results, indent=2))
    finally:
        broker.stop()
        influxdb.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
