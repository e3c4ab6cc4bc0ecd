"""The dead-letter path: what a rejected message becomes, and the rate-limited log of rejections.

Every message the collector refuses (and every reading the store refuses) becomes one JSON object,
published QoS 1 to the dead-letter topic (`ingest.deadletter_sink`)::

    {"repoclimate_dead_letter": 1, "reason": "out_of_range",
     "message": "humidity 150 outside 0–100 %",
     "topic": "repoclimate/city-archives/stack-3/s3-north",
     "received_at": "2026-11-20T03:15:00.123456Z",
     "payload": "{\\"temperature\\":19.3,\\"humidity\\":150}", "payload_encoding": "utf-8",
     "payload_bytes": 37, "payload_sha256": "5d0c…", "payload_truncated": false,
     "collector": "repoclimate-collector"}

The first key, ``repoclimate_dead_letter`` (the record format's version), marks a record as a
dead letter: `is_dead_letter` recognises one by its first bytes, and by its topic (anything
under `DEAD_LETTER_PREFIX`, or the collector's own dead-letter topic), so a dead letter is never
decoded as a reading, whichever collector wrote it and wherever it was published. Two
collectors whose subscriptions cover each other's dead-letter topics therefore cannot feed each
other's dead letters back and forth.

A record is bounded: at most `MAX_RECORD_BYTES`, well under the packet limits brokers set
(Mosquitto's ``message_size_limit``, EMQX's 1 MB default), whatever arrived. ``payload`` holds
the first `PAYLOAD_KEEP_BYTES` of the original payload (``payload_truncated`` says whether that
is all of it): as text when it is UTF-8 and JSON does not inflate it beyond base64's 4/3 (control
bytes escape six-fold), else base64 with ``"payload_encoding": "base64"``. ``payload_bytes`` and
``payload_sha256`` (of the whole original payload) still tell the operator what arrived. The
topic is cut to `TEXT_KEEP_CHARS` characters and the message likewise. A reading the store
refused also carries ``"reading"`` (the reading as the collector tried to store it); its
``topic`` and ``payload`` are null when the reading had been spooled and its message is long
acknowledged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime

from repoclimate.sensors.reading import Reading, iso_utc, reading_json

DEAD_LETTER_PREFIX = "repoclimate/deadletter"
"""Topics reserved for dead letters: this topic and everything under it is never decoded."""

RECORD_VERSION = 1
"""Value of the ``repoclimate_dead_letter`` marker key: the record format's version."""

MAX_RECORD_BYTES = 64 * 1024
"""The most bytes one dead-letter record takes, whatever the message it describes."""

PAYLOAD_KEEP_BYTES = 16 * 1024
"""How much of the original payload a record keeps (at most 4/3 of it once encoded)."""

TEXT_KEEP_CHARS = 1024
"""How much of the topic and of the rejection message a record keeps."""

_MARKER = b'{"repoclimate_dead_letter":'


def dead_letter_matcher(own_topic: str | None = None) -> Callable[[str, bytes], bool]:
    """A fast ``(topic, payload) -> bool``: whether a message is a dead letter (of any collector)
    rather than sensor data.

    True for a topic under `DEAD_LETTER_PREFIX` or under ``own_topic`` (the collector's own
    dead-letter topic), and for a payload that starts as a dead-letter record does.
    """
    topics = frozenset(t for t in (DEAD_LETTER_PREFIX, own_topic) if t)
    prefixes = tuple(f"{t}/" for t in topics)

    def matches(topic: str, payload: bytes) -> bool:
        return payload.startswith(_MARKER) or topic in topics or topic.startswith(prefixes)

    return matches


def is_dead_letter(topic: str, payload: bytes, own_topic: str | None = None) -> bool:
    """Whether a message is a dead letter; see `dead_letter_matcher`."""
    return dead_letter_matcher(own_topic)(topic, payload)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _json_bytes(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def _payload_fields(payload: bytes) -> dict[str, object]:
    """The payload as a record keeps it: its head as text or base64, length and digest."""
    head = payload[:PAYLOAD_KEEP_BYTES]
    truncated = len(head) < len(payload)
    fields: dict[str, object] = {}
    text: str | None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = None
        # A cut through a multi-byte character is still text, one character shorter.
        if truncated and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            text = head[: exc.start].decode("utf-8", errors="strict")
    if text is not None and _json_bytes(text) <= (len(head) * 4) // 3 + 8:
        fields["payload"] = text
        fields["payload_encoding"] = "utf-8"
    else:
        fields["payload"] = base64.b64encode(head).decode("ascii")
        fields["payload_encoding"] = "base64"
    fields["payload_bytes"] = len(payload)
    fields["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    fields["payload_truncated"] = truncated
    return fields


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
    """The dead-letter JSON for one rejected message (or one reading the store refused).

    Never longer than `MAX_RECORD_BYTES` (see the module docstring for what is cut).
    """
    record: dict[str, object] = {
        "repoclimate_dead_letter": RECORD_VERSION,
        "reason": _clip(reason, 64),
        "message": _clip(message, TEXT_KEEP_CHARS),
        "topic": _clip(topic, TEXT_KEEP_CHARS) if topic is not None else None,
        "received_at": iso_utc(received_at) if received_at is not None else None,
    }
    if payload is None:
        record["payload"] = None
    else:
        record.update(_payload_fields(payload))
    if reading is not None:
        record["reading"] = reading_json(reading)
    record["collector"] = _clip(collector, TEXT_KEEP_CHARS)
    # A lone surrogate (a JSON payload may spell one, and messages quote payloads) becomes its
    # JSON escape ``\\udxxx`` rather than an encoding error.
    encoded = json.dumps(record, ensure_ascii=False, allow_nan=False, default=str).encode(
        "utf-8", errors="backslashreplace"
    )
    if len(encoded) > MAX_RECORD_BYTES:
        # Only a reading with huge text fields can get here (a store refusing it): keep the
        # digest and length, drop what is too big.
        record["reading"] = None
        record["payload"] = None
        record["payload_truncated"] = payload is not None
        encoded = json.dumps(record, ensure_ascii=True, allow_nan=False, default=str).encode()
    return encoded


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
