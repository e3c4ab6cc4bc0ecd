"""The simulator: a realistic repository publishing its climate over MQTT, for demos and load tests.

Rooms drift with the seasons and the day, air conditioning and dehumidifiers hold their set
points, and faults can be injected (:mod:`sensors.simulate.faults`: a failed dehumidifier lets RH
climb over hours, a leak drives it high quickly, an open door steps the room toward the corridor,
a dead sensor goes silent, a stuck one repeats itself). Every sensor publishes in its own device
format, or all in one, or in a rotation of several.

Entry points:

- :func:`simulate` publishes to a broker (what ``repoclimate simulate`` runs);
- :func:`generate_messages` yields the same messages without a network, each with the reading a
  collector should store for it — for tests and benchmarks;
- :func:`simulated_registry_yaml` writes the registry that places every simulated device.

Fault specs are ``KIND:TARGET[@START][+DURATION]``, e.g. ``dehumidifier-failure:stack-3@2h``,
``sensor-dies:s3-north@30m``, ``door-open:vault-a@1d+45m`` (details in
:mod:`sensors.simulate.faults`).

Time
    The simulated clock starts at ``start`` (default: so that the run ends about now) and runs
    ``speed`` times faster than the wall clock (``None``: as fast as the broker takes messages).
    It never runs ahead of the wall clock: readings from the future would be refused by the
    collector, so once it catches up it carries on in real time. Formats without a time in the
    payload (ESPHome, Shelly Gen1) are stamped on receipt by the collector; prefer the others for
    sped-up demos.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from repoclimate.sensors.durations import parse_duration
from repoclimate.sensors.registry import Registry, load_registry
from repoclimate.sensors.simulate.engine import SimMessage, Simulation, default_start
from repoclimate.sensors.simulate.faults import Fault, FaultSpecError, parse_fault
from repoclimate.sensors.simulate.layout import Layout, demo_layout, layout_from_registry
from repoclimate.sensors.simulate.publisher import (
    SimulationReport,
    SimulatorError,
    publish_messages,
)

__all__ = [
    "Fault",
    "FaultSpecError",
    "Layout",
    "SimMessage",
    "SimulationReport",
    "SimulatorError",
    "build_layout",
    "generate_messages",
    "parse_fault",
    "simulate",
    "simulated_registry_yaml",
]

Duration = timedelta | float | int | str


def _seconds(duration: Duration) -> timedelta:
    if isinstance(duration, timedelta):
        return duration
    if isinstance(duration, str):
        return parse_duration(duration)
    return timedelta(seconds=float(duration))


def build_layout(
    *,
    registry: Registry | str | Path | None = None,
    layout: Layout | None = None,
    formats: str | Sequence[str] = "mixed",
    copies: int = 1,
) -> Layout:
    """The layout to simulate: ``layout``, else one built from ``registry`` (an instance or a
    file), else the built-in demo; re-targeted to ``formats`` and multiplied by ``copies``."""
    if layout is not None and registry is not None:
        raise ValueError("give a registry or a layout, not both")
    if layout is None:
        if registry is None:
            layout = demo_layout()
        else:
            loaded = registry if isinstance(registry, Registry) else load_registry(registry)
            layout = layout_from_registry(loaded)
    return layout.scaled(copies).with_encodings(formats)


def simulated_registry_yaml(
    layout: Layout | None = None,
    *,
    registry: Registry | str | Path | None = None,
    formats: str | Sequence[str] = "mixed",
    copies: int = 1,
) -> str:
    """Registry YAML placing every device the simulator publishes with these arguments."""
    chosen = build_layout(registry=registry, layout=layout, formats=formats, copies=copies)
    return chosen.registry_yaml()


def generate_messages(
    layout: Layout | None = None,
    *,
    registry: Registry | str | Path | None = None,
    formats: str | Sequence[str] = "mixed",
    copies: int = 1,
    start: datetime | None = None,
    seed: int = 0,
    faults: Sequence[str | Fault] = (),
    count: int | None = None,
    duration: Duration | None = None,
) -> Iterator[SimMessage]:
    """The simulated messages, in simulated-time order, without a network.

    Each :class:`SimMessage` carries ``topic``, ``payload``, ``expected`` (the reading as the
    collector should store it), ``fmt`` (decoder format), ``encoding`` and ``timestamped``.
    Stops after ``count`` messages or ``duration`` of simulated time; endless without either.
    ``start`` defaults to a start that ends the run about now. Raises ``FaultSpecError`` for a
    fault that does not parse or names nothing in the layout.
    """
    chosen = build_layout(registry=registry, layout=layout, formats=formats, copies=copies)
    span = None if duration is None else _seconds(duration)
    if start is None:
        start = default_start(chosen, now=datetime.now(UTC), duration=span, count=count)
    simulation = Simulation(chosen, start=start, seed=seed, faults=faults)
    until = None if span is None else simulation.start + span
    return simulation.messages(until=until, count=count)


def simulate(
    *,
    host: str = "127.0.0.1",
    port: int = 1883,
    protocol: str = "5",
    registry: Registry | str | Path | None = None,
    layout: Layout | None = None,
    formats: str | Sequence[str] = "mixed",
    copies: int = 1,
    max_rate: float | None = None,
    speed: float | None = None,
    duration: Duration | None = None,
    count: int | None = None,
    faults: Sequence[str | Fault] = (),
    seed: int = 0,
    start: datetime | None = None,
    client_id: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    qos: int = 1,
    window: int = 1000,
    stop: threading.Event | None = None,
    on_progress: Callable[[SimulationReport], None] | None = None,
    progress_every_s: float = 5.0,
) -> SimulationReport:
    """Publish a simulated repository to the broker at ``host``:``port``; counts per encoding.

    Parameters
    ----------
    protocol
        ``"5"`` or ``"3.1.1"``.
    registry, layout
        What to simulate: a registry (instance or YAML file: its sensors, devices and formats,
        plant guessed from each room's profile), a :class:`Layout`, or neither for the built-in
        demo (the site of ``examples/registry.yaml``).
    formats
        ``"mixed"`` (each sensor its own format), one format, or several in rotation
        (``"generic,tasmota"``); formats: generic, zigbee2mqtt, tasmota, shelly (gen 1 and 2 in
        turn), shelly-gen1, shelly-gen2, esphome, ttn, lineprotocol. Use
        :func:`simulated_registry_yaml` with the same arguments for the matching registry.
    copies
        Each sensor this many times (load tests).
    max_rate
        Messages per second at most; ``None``: as fast as the broker acknowledges.
    speed
        Simulated seconds per wall second (3600: an hour a second); ``None``: no pacing by time.
    duration, count
        Stop after this much simulated time (seconds, ``timedelta`` or ``"2h"``) or this many
        messages; without either, run until ``stop`` is set.
    faults
        Fault specs (``"dehumidifier-failure:stack-3@2h"``) or :class:`Fault` values.
    start
        Simulated start (aware); default: so that the run ends about now (a week back when
        unbounded).

    Raises ``SimulatorError`` if the broker is unreachable, refuses the connection or does not
    acknowledge; ``FaultSpecError`` / ``ValueError`` for bad arguments (before connecting).
    """
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive")
    chosen = build_layout(registry=registry, layout=layout, formats=formats, copies=copies)
    span = None if duration is None else _seconds(duration)
    if start is None:
        start = default_start(chosen, now=datetime.now(UTC), duration=span, count=count)
    simulation = Simulation(chosen, start=start, seed=seed, faults=faults)
    until = None if span is None else simulation.start + span
    stream = simulation.messages(until=until, count=count)
    sim_origin = simulation.start.timestamp()
    wall_origin = time.monotonic()
    epoch_offset = time.time() - wall_origin

    def release_at(message: SimMessage) -> float:
        sim_s = message.expected.time.timestamp()
        not_before = sim_s - epoch_offset  # never ahead of the wall clock
        if speed is None:
            return not_before
        return max(wall_origin + (sim_s - sim_origin) / speed, not_before)

    return publish_messages(
        stream,
        host=host,
        port=port,
        protocol=protocol,
        client_id=client_id,
        username=username,
        password=password,
        tls=tls,
        qos=qos,
        max_rate=max_rate,
        release_at=release_at,
        window=window,
        stop=stop,
        on_progress=on_progress,
        progress_every_s=progress_every_s,
    )
