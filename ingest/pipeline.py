"""The hot path from an MQTT message to placed, validated readings.

`Pipeline.process` does, for each message: size limit → route (which format is published under
this topic, by MQTT filter matching, cached per topic) → decode → place and calibrate through the
registry → validate. Anything wrong raises `DecodeError` with a stable reason code; nothing here
does I/O, so the collector calls it from its worker thread, never from the MQTT network thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from repoclimate.ingest.settings import TopicRoute
from repoclimate.sensors.formats import FORMATS, detect_format
from repoclimate.sensors.formats.base import DecodeContext, Decoder
from repoclimate.sensors.reading import DecodeError, Reading
from repoclimate.sensors.registry import Registry, topic_matches
from repoclimate.sensors.validate import check_reading

_TOPIC_CACHE_LIMIT = 100_000


class Pipeline:
    """Turns one MQTT message into readings, or raises `DecodeError`.

    ``routes`` are tried in order; the first whose filter matches the topic names the format
    (``auto`` detects it from the topic and payload). A topic no route matches is refused with
    reason ``bad_topic``. Payloads over ``max_payload_bytes`` are refused (``too_large``) before
    any parsing.
    """

    def __init__(
        self, registry: Registry, routes: Sequence[TopicRoute], max_payload_bytes: int
    ) -> None:
        if not routes:
            raise ValueError("a pipeline needs at least one topic route")
        self.registry = registry
        self.routes = tuple((route.filter, route.format) for route in routes)
        self.max_payload_bytes = max_payload_bytes
        self._timezone = registry.default_timezone
        self._timezone_for = registry.timezone_resolver()
        self._quantity_for = registry.quantity_resolver()
        self._resolve = registry.resolver()
        self._format_of: dict[str, str | None] = {}

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
        return placed
