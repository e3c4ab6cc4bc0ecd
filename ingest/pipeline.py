"""The hot path from an MQTT message to placed, validated readings.

`Pipeline.process` does, for each message: dead letters aside (never decoded, whoever wrote them:
`ingest.deadletter.dead_letter_matcher`) → size limit → route (which format is published under
this topic, by MQTT filter matching, cached per topic) → decode → place and calibrate through the
registry → validate. Anything wrong raises `DecodeError` with a stable reason code; nothing here
does I/O, so the collector calls it from its worker thread, never from the MQTT network thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from repoclimate.ingest.deadletter import dead_letter_matcher
from repoclimate.ingest.settings import TopicRoute
from repoclimate.sensors.formats import FORMATS, detect_format
from repoclimate.sensors.formats.base import DecodeContext, Decoder
from repoclimate.sensors.reading import UNASSIGNED, DecodeError, Reading
from repoclimate.sensors.registry import Registry
from repoclimate.sensors.topics import topic_matches
from repoclimate.sensors.validate import check_reading

_TOPIC_CACHE_LIMIT = 100_000
SAMPLE_PAYLOAD_BYTES = 2048
"""How much of an unassigned sensor's latest payload is kept to show staff."""
UNASSIGNED_LIMIT = 10_000
"""Unassigned sensors remembered at most (a misconfigured fleet cannot exhaust memory)."""


@dataclass(frozen=True, slots=True)
class UnassignedSighting:
    """A device the registry does not know: when it was first and last heard in this process,
    on which topic, in which format, and the start of its latest payload."""

    sensor: str
    first_seen: datetime
    last_seen: datetime
    topic: str
    format: str
    sample_payload: bytes


class UnassignedSensors:
    """The unassigned sensors a pipeline has seen, for the API (read from any thread)."""

    def __init__(self, limit: int = UNASSIGNED_LIMIT) -> None:
        self.limit = limit
        self._seen: dict[str, UnassignedSighting] = {}
        self._lock = threading.Lock()

    def saw(self, sensor: str, when: datetime, topic: str, fmt: str, payload: bytes) -> None:
        with self._lock:
            known = self._seen.get(sensor)
            if known is None and len(self._seen) >= self.limit:
                return
            first = when if known is None else min(known.first_seen, when)
            last = when if known is None else max(known.last_seen, when)
            self._seen[sensor] = UnassignedSighting(
                sensor, first, last, topic, fmt, payload[:SAMPLE_PAYLOAD_BYTES]
            )

    def snapshot(self) -> list[UnassignedSighting]:
        """Every sighting, by sensor id."""
        with self._lock:
            return sorted(self._seen.values(), key=lambda s: s.sensor)


class Pipeline:
    """Turns one MQTT message into readings, or raises `DecodeError`.

    ``routes`` are tried in order; the first whose filter matches the topic names the format
    (``auto`` detects it from the topic and payload). A topic no route matches is refused with
    reason ``bad_topic``. Payloads over ``max_payload_bytes`` are refused (``too_large``) before
    any parsing. A dead-letter record (on a topic under `DEAD_LETTER_PREFIX` or under
    ``dead_letter_topic``, or one that starts as a record does) yields no readings: it is
    excluded from every route.
    """

    def __init__(
        self,
        registry: Registry,
        routes: Sequence[TopicRoute],
        max_payload_bytes: int,
        *,
        dead_letter_topic: str | None = None,
    ) -> None:
        if not routes:
            raise ValueError("a pipeline needs at least one topic route")
        self.registry = registry
        self.routes = tuple((route.filter, route.format) for route in routes)
        self.max_payload_bytes = max_payload_bytes
        self.dead_letter_topic = dead_letter_topic
        self._is_dead_letter = dead_letter_matcher(dead_letter_topic)
        self._timezone = registry.default_timezone
        self._timezone_for = registry.timezone_resolver()
        self._quantity_for = registry.quantity_resolver()
        self._resolve = registry.resolver()
        self._format_of: dict[str, str | None] = {}
        self.unassigned = UnassignedSensors()
        """Devices the registry does not know, as heard by this pipeline."""

    def format_for(self, topic: str) -> str | None:
        """The format published under a topic per the routes (``None`` when no route matches)."""
        try:
            return self._format_of[topic]
        except KeyError:
            pass
        fmt = next((f for flt, f in self.routes if topic_matches(flt, topic)), None)
        if len(self._format_of) >= _TOPIC_CACHE_LIMIT:
            self._format_of.clear()
        self._format_of[topic] = fmt
        return fmt

    def process(self, topic: str, payload: bytes, received_at: datetime) -> list[Reading]:
        """The placed, calibrated, validated readings of one message (``[]`` for status messages).

        ``received_at`` (aware UTC) stands in for the reading time when the payload has none.
        """
        if self._is_dead_letter(topic, payload):
            return []
        if len(payload) > self.max_payload_bytes:
            raise DecodeError(
                "too_large",
                f"payload of {len(payload)} bytes exceeds the limit of "
                f"{self.max_payload_bytes} bytes",
            )
        fmt = self.format_for(topic)
        if fmt is None:
            raise DecodeError("bad_topic", f"no topic route matches {topic!r}")
        if fmt == "auto":
            fmt = detect_format(topic, payload)
        decoder: Decoder = FORMATS[fmt]
        context = DecodeContext(received_at, self._timezone, self._quantity_for, self._timezone_for)
        resolve = self._resolve
        placed = [resolve(fmt, topic, reading) for reading in decoder(topic, payload, context)]
        for reading in placed:
            check_reading(reading, now=received_at)
            if reading.site == UNASSIGNED:
                self.unassigned.saw(reading.sensor, reading.time, topic, fmt, payload)
        return placed
