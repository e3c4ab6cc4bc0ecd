"""Building the running parts from settings: registry, decoding pipeline, collector.

`repoclimate collect`, `repoclimate decode` and `repoclimate demo` all build them here, so the
decoder a user tries on the command line is the collector's own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from repoclimate.history.store import Store
from repoclimate.ingest.collector import Collector
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.settings import CollectorSettings, FormatName, MqttSettings, TopicRoute
from repoclimate.ingest.stats import StatsSnapshot
from repoclimate.sensors.registry import Registry, load_registry


def registry_from(path: Path | None) -> Registry:
    """The registry at ``path``, or an empty one (every sensor unassigned) when there is none.

    Raises `sensors.registry.RegistryError` naming file, line and field.
    """
    return Registry.empty() if path is None else load_registry(path)


def pipeline_from(
    mqtt: MqttSettings,
    collector: CollectorSettings,
    registry: Registry,
    fmt: FormatName | None = None,
) -> Pipeline:
    """The collector's pipeline; ``fmt`` forces one format for every topic instead of the routes."""
    routes = mqtt.topics if fmt is None else [TopicRoute(filter="#", format=fmt)]
    return Pipeline(
        registry, routes, collector.max_payload_bytes, dead_letter_topic=mqtt.dead_letter_topic
    )


def collector_from(
    mqtt: MqttSettings,
    collector: CollectorSettings,
    registry: Registry,
    store: Store,
    on_stats: Callable[[StatsSnapshot], None] | None = None,
) -> Collector:
    """A collector subscribed as ``mqtt`` says, writing to ``store``."""
    pipeline = pipeline_from(mqtt, collector, registry)
    return Collector(mqtt, collector, store, pipeline, on_stats=on_stats)
