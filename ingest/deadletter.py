"""The dead-letter path: what a rejected message becomes, and the rate-limited log of rejections.

Every message the collector refuses (and every reading the store refuses) is published, QoS 1, to
the dead-letter topic as one JSON object::

    {"reason": "out_of_range", "message": "humidity 150 outside 0–100 %",
     "topic": "repoclimate/city-archives/stack-3/s3-north",
     "received_at": "2026-11-20T03:15:00.123456Z",
     "payload": "{\\"temperature\\":19.3,\\"humidity\\":150}", "payload_encoding": "utf-8",
     "collector": "repoclimate-collector"}

``payload`` is the original payload as text when it is UTF-8, else base64 with
``"payload_encoding": "base64"``. A reading the store refused also carries ``"reading"`` (the
reading as the collector tried to store it); its ``topic`` and ``payload`` are null when the
reading had been spooled and its message is long acknowledged.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import UTC, datetime

from repoclimate.sensors.reading import Reading


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reading_as_dict(reading: Reading) -> dict[str, object]:
    """A reading as plain JSON-able values (time as ISO 8601 UTC)."""
    return {
        "sensor": reading.sensor,
        "time": _iso(reading.time),
        "temperature": reading.temperature,
        "humidity": reading.humidity,
        "battery": reading.battery,
        "linkquality": reading.linkquality,
        "site": reading.site,
        "room": reading.room,
    }


def dead_letter_record(
    *,
    reason: str,
    message: str,
    topic: str | None,
    payload: bytes | None,
    received_at: datetime | None,
    collector: str,
    reading: Reading | None = None,
) -> bytes:
    """The dead-letter JSON for one rejected message (or one reading the store refused)."""
    record: dict[str, object] = {
        "reason": reason,
        "message": message,
        "topic": topic,
        "received_at": _iso(received_at) if received_at is not None else None,
    }
    if payload is None:
        record["payload"] = None
    else:
        try:
            record["payload"] = payload.decode("utf-8")
            record["payload_encoding"] = "utf-8"
        except UnicodeDecodeError:
            record["payload"] = base64.b64encode(payload).decode("ascii")
            record["payload_encoding"] = "base64"
    if reading is not None:
        record["reading"] = reading_as_dict(reading)
    record["collector"] = collector
    return json.dumps(record, ensure_ascii=False, allow_nan=False, default=str).encode("utf-8")


class RejectionLog:
    """Logs one line per rejection, at most ``per_interval`` lines per ``interval_s``.

    Lines over the limit are counted and reported in one summary line when the next interval
    opens, so a flood of bad input cannot flood the log.
    """

    def __init__(
        self, logger: logging.Logger, *, per_interval: int = 20, interval_s: float = 10.0
    ) -> None:
        self._logger = logger
        self._per_interval = per_interval
        self._interval_s = interval_s
        self._window_start = time.monotonic()
        self._logged = 0
        self._suppressed = 0

    def rejected(self, reason: str, message: str, topic: str | None) -> None:
        now = time.monotonic()
        if now - self._window_start >= self._interval_s:
            if self._suppressed:
                self._logger.warning(
                    "%d more rejected messages not logged in the last %.0f s",
                    self._suppressed,
                    self._interval_s,
                )
            self._window_start = now
            self._logged = 0
            self._suppressed = 0
        if self._logged < self._per_interval:
            self._logged += 1
            self._logger.warning("rejected message on %r: %s (%s)", topic, message, reason)
        else:
            self._suppressed += 1
