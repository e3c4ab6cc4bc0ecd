"""`repoclimate demo`: the whole chain on one laptop with nothing else installed.

An embedded MQTT broker (amqtt, MQTT 3.1.1) on a loopback port, the SQLite store in a data
directory, the collector in its MQTT 3.1.1 mode, and the simulator publishing the built-in City
Archives site. The simulated clock starts ``backfill`` ago and runs ``speed`` times faster than
the wall clock until it reaches now, then in real time (the simulator never publishes readings
from the future: the collector would refuse them). The collector connects and subscribes before
the simulator publishes, because amqtt keeps no messages for clients that are not connected.

The alert engine evaluates every rule class at each of its scheduled times on the simulated
clock (`alerts.engine.AlertEngine.catch_up`) — while the past streams in at ``speed`` as much
as in real time — up to the time by which readings have reached the store; so an alert opens,
fires and says "since" at the simulated times the rules give, as it would have live.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from repoclimate.alerts.config import HealthParams
from repoclimate.alerts.model import Alert
from repoclimate.alerts.notify import Message
from repoclimate.alerts.notify.console import LogChannel
from repoclimate.alerts.runtime import Alerting, build_alerting
from repoclimate.alerts.settings import AlertSettings
from repoclimate.app.broker import BrokerStartError, EmbeddedBroker
from repoclimate.app.signals import stop_after, stop_on_signals
from repoclimate.app.wiring import collector_from
from repoclimate.history import HistoryStore, StoreUnavailable, open_store
from repoclimate.history.settings import StoreSettings
from repoclimate.ingest.settings import CollectorSettings, MqttSettings
from repoclimate.ingest.stats import StatsSnapshot
from repoclimate.sensors.registry import Registry, load_registry
from repoclimate.sensors.simulate.engine import Simulation
from repoclimate.sensors.simulate.layout import Layout
from repoclimate.sensors.simulator import SimulatorError, build_layout, simulate

logger = logging.getLogger(__name__)

DEMO_FORMATS = ("generic", "zigbee2mqtt", "tasmota", "shelly-gen2", "ttn", "lineprotocol")
"""Payload formats that carry their own time stamp, assigned to the demo's sensors in turn.

ESPHome and Shelly Gen1 payloads carry no time, so the collector stamps them on receipt: while
the simulated clock runs fast those readings would land at the wall-clock time, ahead of the
rest. ``--formats mixed`` shows them anyway."""

COLLECTOR_ID = "repoclimate-demo-collector"
_SUBSCRIBE_TIMEOUT_S = 15.0
_ALERT_TICK_S = 1.0
_STORE_GRACE_S = 30.0
"""Once the clock has caught up with now, how long (wall seconds) evaluation still waits for
readings the simulator is late with before it follows the clock alone."""


@dataclass(frozen=True)
class DemoOptions:
    """What `run_demo` runs; the CLI fills it from its options."""

    speed: float = 3600.0
    """Simulated seconds per wall-clock second until the simulated clock reaches now."""
    backfill: timedelta = timedelta(days=2)
    """How long ago the simulated clock starts."""
    rate: float | None = 500.0
    """At most this many messages per second (None: as fast as the broker takes them)."""
    faults: Sequence[str] = ()
    duration: float | None = None
    """Stop by itself after this many wall-clock seconds (None: until Ctrl-C / SIGTERM)."""
    formats: str | Sequence[str] = DEMO_FORMATS
    port: int = 0
    """Broker port on 127.0.0.1 (0: a free one)."""
    data_dir: Path | None = None
    """Where the SQLite store, the spool and the registry go (None: a temporary directory)."""
    seed: int = 0
    interval_s: int | None = None
    """Every simulated sensor reports this often [s] (None: each at its own interval)."""


def demo_layout(options: DemoOptions) -> Layout:
    """The simulated site the demo runs for ``options``: City Archives in the options' payload
    formats and reporting interval. `sensors.simulate.engine.Simulation` on it with the demo's
    start, seed and faults gives the messages the demo publishes, without a network."""
    return build_layout(formats=options.formats).with_interval(options.interval_s)


SILENT_AFTER: float = HealthParams().silent_factor
"""A sensor is silent after this many expected intervals without a reading: the health rules'
default ``silent_factor``, which the demo's alerting uses."""


class SimClock:
    """The simulated time: ``start`` plus ``speed`` × wall time elapsed, never past now."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._origin
        simulated = self.start + timedelta(seconds=elapsed * self.speed)
        return min(simulated, datetime.now(UTC))

    @property
    def caught_up(self) -> bool:
        return self.now() >= datetime.now(UTC) - timedelta(seconds=1)

    def settled(self, lag_s: float = 2.0) -> datetime:
        """The simulated time by which readings should have reached the store: ``now()`` less
        ``lag_s`` wall-clock seconds of batching and publishing, in simulated time."""
        pace = 1.0 if self.caught_up else self.speed
        return self.now() - timedelta(seconds=lag_s * pace)


class NotificationFeed:
    """The demo's notification channel: keeps each notification's subject for the view, and
    counts reminders per alert instead.

    The rota of the demo broadcasts every notification to the console; printing whole messages
    would scroll the live table away, so the view shows their subjects (full texts are in the
    alert database: ``repoclimate alerts list --data-dir DIR`` after ``demo --data-dir DIR``). Under
    the compressed clock a firing alert reminds every few wall seconds (the rota's
    ``reminder_minutes`` are simulated minutes): a stream of identical subjects would drown the
    rest, so reminders are counted by alert id (`reminders`) and the view shows the count on
    the alert's line.
    """

    kind = "console"

    def __init__(self, keep: int = 100) -> None:
        self.subjects: deque[str] = deque(maxlen=keep)
        """Subjects of the notifications other than reminders, newest last."""
        self.told = 0
        """How many notifications other than reminders were sent."""
        self.reminders: Counter[int] = Counter()
        """Reminders sent per alert id."""
        self.sent = 0
        """All notifications sent, reminders included."""

    def send(self, target: str, message: Message) -> None:
        self.sent += 1
        if message.payload.get("kind") == "reminder":
            for item in message.payload.get("alerts", ()):
                self.reminders[int(item["id"])] += 1
            return
        self.subjects.append(message.subject)
        self.told += 1


@dataclass
class DemoState:
    """What the live view shows; filled by the demo's threads, read by the view."""

    broker_url: str
    data_dir: Path
    store_path: Path
    store: HistoryStore
    registry: Registry
    clock: SimClock
    collector: StatsSnapshot = field(default_factory=StatsSnapshot)
    error: str | None = None
    open_alerts: list[Alert] = field(default_factory=list)
    notifications: NotificationFeed = field(default_factory=NotificationFeed)
    horizon: datetime | None = None
    """The simulated time the alert rules have judged up to (None before the first
    evaluation): the live view judges freshness at it too."""


class DemoError(RuntimeError):
    """The demo cannot start (broker port taken, collector not subscribing); says why."""


def run_demo(
    options: DemoOptions,
    show: Callable[[DemoState, threading.Event], None],
) -> DemoState:
    """Run the demo until ``options.duration`` passes, SIGINT / SIGTERM, or a part fails.

    ``show(state, stop)`` runs in the calling thread for the whole demo (the live view or the
    plain summaries) and must return soon after ``stop`` is set. Every thread is joined, the
    broker closed and the store closed before this returns. Raises `FaultSpecError` for a fault
    that does not parse or fit the layout, `DemoError` when the demo cannot start.
    """
    layout = demo_layout(options)
    start = (datetime.now(UTC) - options.backfill).replace(microsecond=0)
    Simulation(layout, start=start, faults=options.faults)  # bad faults fail before anything starts

    stop = threading.Event()
    with ExitStack() as stack:
        stack.enter_context(stop_on_signals(stop))  # Ctrl-C during start-up stops cleanly too
        data_dir = options.data_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="repoclimate-demo-"))
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        registry_path = data_dir / "registry.yaml"
        registry_path.write_text(layout.registry_yaml(), encoding="utf-8")
        registry = load_registry(registry_path)

        broker = EmbeddedBroker(port=options.port)
        try:
            broker.start()
        except BrokerStartError as exc:
            raise DemoError(str(exc)) from None
        stack.callback(broker.stop)

        store_path = data_dir / "readings.sqlite"
        store = open_store(StoreSettings(kind="sqlite", sqlite_path=store_path))
        stack.callback(store.close)

        state = DemoState(
            broker_url=broker.url,
            data_dir=data_dir,
            store_path=store_path,
            store=store,
            registry=registry,
            clock=SimClock(start, options.speed),
        )

        def on_stats(snapshot: StatsSnapshot) -> None:
            state.collector = snapshot

        mqtt = MqttSettings(url=broker.url, client_id=COLLECTOR_ID, protocol="3.1.1")
        collector_settings = CollectorSettings(spool_dir=data_dir / "spool")
        collector = collector_from(mqtt, collector_settings, registry, store, on_stats)
        collector.start()
        stack.callback(collector.stop)
        if not broker.wait_for_subscriber(COLLECTOR_ID, _SUBSCRIBE_TIMEOUT_S):
            raise DemoError("the collector did not subscribe to the embedded broker")

        alerting = build_alerting(
            AlertSettings(state_path=data_dir / "alerts.sqlite", console=True),
            store,
            registry,
            clock=state.clock,
            channels={"console": state.notifications, "log": LogChannel()},
        )
        stack.callback(alerting.close)
        evaluator = threading.Thread(
            target=_evaluate_alerts, args=(alerting, state, stop), name="demo-alerts", daemon=True
        )
        evaluator.start()
        stack.callback(evaluator.join)

        def publish() -> None:
            try:
                simulate(
                    host=broker.host,
                    port=broker.port,
                    protocol="3.1.1",
                    layout=layout,
                    max_rate=options.rate,
                    speed=options.speed,
                    faults=options.faults,
                    seed=options.seed,
                    start=start,
                    client_id="repoclimate-demo-simulator",
                    stop=stop,
                )
            except SimulatorError as exc:
                state.error = f"simulator: {exc}"
                stop.set()

        simulator = threading.Thread(target=publish, name="demo-simulator", daemon=True)
        simulator.start()
        stack.callback(simulator.join)
        stack.callback(stop.set)

        with stop_after(options.duration, stop):
            show(state, stop)
        stop.set()
    return state


def _evaluate_alerts(alerting: Alerting, state: DemoState, stop: threading.Event) -> None:
    """Evaluate every rule class at its scheduled times on the simulated clock, up to what has
    reached the store (`_horizon`), then dispatch and deliver notifications; the open alerts
    go to the live view."""
    engine = alerting.engine
    # Until every sensor had time to report (silent = SILENT_AFTER intervals without a reading),
    # the rules would see sensors that are merely not due yet as silent.
    longest_s = max((s.expected_interval_s for _, _, s in state.registry.sensors()), default=0.0)
    evaluated = state.clock.start + timedelta(seconds=SILENT_AFTER * longest_s + 60)
    caught_up_at: float | None = None
    while not stop.wait(_ALERT_TICK_S):
        if caught_up_at is None and state.clock.caught_up:
            caught_up_at = time.monotonic()
        try:
            horizon = _horizon(state, longest_s, caught_up_at)
            if horizon is None or horizon <= evaluated:
                continue
            state.open_alerts = engine.catch_up(evaluated, horizon).open_alerts
            evaluated = state.horizon = horizon
            engine.dispatch(horizon)
            alerting.outbox.deliver_due(horizon)
        except StoreUnavailable as exc:
            logger.warning("alerts not evaluated, store unavailable: %s", exc)


def _horizon(state: DemoState, longest_s: float, caught_up_at: float | None) -> datetime | None:
    """The simulated time up to which the rules may judge: the settled clock, but while the
    simulator is still working through the past no later than the newest stored reading (it
    publishes in time order, so everything before that is stored). Once the clock has caught
    up, a store left behind by more than a reporting interval is waited for at most
    `_STORE_GRACE_S`: after that, readings missing are sensors gone silent, which the rules are
    there to notice."""
    settled = state.clock.settled()
    newest = max((reading.time for reading in state.store.latest()), default=None)
    if caught_up_at is not None:
        behind = newest is None or newest < settled - timedelta(seconds=longest_s)
        if not behind or time.monotonic() - caught_up_at > _STORE_GRACE_S:
            return settled
    return None if newest is None else min(settled, newest)
