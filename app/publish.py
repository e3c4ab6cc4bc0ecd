"""`repoclimate simulate`: the simulator publishing to the broker the settings name.

Simulated times in its progress and summary lines are the (first) site's local time with its
zone, as everything a person reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from repoclimate.app.signals import stop_on_signals
from repoclimate.ingest.settings import MqttSettings
from repoclimate.sensors.simulator import (
    SimulationReport,
    build_layout,
    simulate,
    simulated_registry_yaml,
)


@dataclass(frozen=True)
class PublishOptions:
    """What to simulate and how fast (see `sensors.simulator.simulate`)."""

    registry: Path | None = None
    formats: str = "mixed"
    rate: float | None = None
    speed: float | None = None
    count: int | None = None
    duration: str | None = None
    faults: Sequence[str] = ()
    copies: int = 1
    seed: int = 0

    def registry_yaml(self) -> str:
        """The registry that places every device this simulation publishes."""
        return simulated_registry_yaml(
            registry=self.registry, formats=self.formats, copies=self.copies
        )

    def timezone(self) -> tzinfo:
        """The time zone of the first simulated site (UTC when there is none)."""
        sites = build_layout(registry=self.registry, formats=self.formats).sites
        return sites[0].zone if sites else UTC


def run_simulator(
    mqtt: MqttSettings, options: PublishOptions, progress: Callable[[str], None]
) -> str:
    """Publish until the count or duration is reached, or SIGINT / SIGTERM; a summary line.

    Raises ``SimulatorError`` when the broker cannot be reached or stops acknowledging,
    ``ValueError`` for a bad fault spec, format or duration.
    """
    stop = threading.Event()
    zone = options.timezone()

    def on_progress(report: SimulationReport) -> None:
        when = f" (simulated {_local(report.last_time, zone)})" if report.last_time else ""
        progress(f"published {report.total}, {report.rate:.0f}/s{when}")

    with stop_on_signals(stop):
        report = simulate(
            host=mqtt.host,
            port=mqtt.port,
            protocol=mqtt.protocol,
            registry=options.registry,
            formats=options.formats,
            copies=options.copies,
            max_rate=options.rate,
            speed=options.speed,
            duration=options.duration,
            count=options.count,
            faults=options.faults,
            seed=options.seed,
            username=mqtt.username,
            password=mqtt.password.get_secret_value() if mqtt.password else None,
            tls=mqtt.ssl_context(),
            stop=stop,
            on_progress=on_progress,
        )
    return summary(report, zone)


def _local(when: datetime, zone: tzinfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def summary(report: SimulationReport, zone: tzinfo = UTC) -> str:
    """One line: how many messages per encoding, how fast, which simulated span (in ``zone``,
    the site's)."""
    per_encoding = ", ".join(f"{name} {n}" for name, n in sorted(report.published.items()))
    text = f"published {report.total} messages in {report.wall_s:.1f} s ({report.rate:.0f}/s)"
    if per_encoding:
        text += f": {per_encoding}"
    refused = sum(report.rejected.values())
    if refused:
        text += f"; the broker refused {refused}"
    if report.first_time and report.last_time:
        text += f"; simulated {_local(report.first_time, zone)} → {_local(report.last_time, zone)}"
    return text
