"""Dead-letter records and the rate-limited rejection log."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from repoclimate.ingest.deadletter import RejectionLog, dead_letter_record
from repoclimate.sensors.reading import Reading, iso_utc, reading_json

AT = datetime(2026, 11, 20, 3, 15, 0, 123456, tzinfo=UTC)


def test_a_utf8_payload_is_kept_as_text() -> None:
    record = json.loads(
        dead_letter_record(
            reason="out_of_range",
            message="humidity 150 outside 0–100 %",
            topic="repoclimate/a/b/c",
            payload='{"humidity":150,"note":"é"}'.encode(),
            received_at=AT,
            collector="c1",
        )
    )
    assert record == {
        "repoclimate_dead_letter": 1,
        "reason": "out_of_range",
        "message": "humidity 150 outside 0–100 %",
        "topic": "repoclimate/a/b/c",
        "received_at": "2026-11-20T03:15:00.123456Z",
        "payload": '{"humidity":150,"note":"é"}',
        "payload_encoding": "utf-8",
        "payload_bytes": 28,
        "payload_sha256": hashlib.sha256('{"humidity":150,"note":"é"}'.encode()).hexdigest(),
        "payload_truncated": False,
        "collector": "c1",
    }


def test_a_binary_payload_is_base64() -> None:
    payload = b"\xff\xfe\x00garbage"
    record = json.loads(
        dead_letter_record(
            reason="not_utf8",
            message="payload is not UTF-8",
            topic="t",
            payload=payload,
            received_at=AT,
            collector="c1",
        )
    )
    assert record["payload_encoding"] == "base64"
    assert base64.b64decode(record["payload"]) == payload


def test_a_reading_the_store_refused_is_included() -> None:
    reading = Reading("s1\\", AT, humidity=40.0, site="unassigned", room="unassigned")
    record = json.loads(
        dead_letter_record(
            reason="store_rejected",
            message="store refused the reading: trailing backslash",
            topic=None,
            payload=None,
            received_at=None,
            collector="c1",
            reading=reading,
        )
    )
    assert record["payload"] is None and record["topic"] is None
    assert record["reading"]["sensor"] == "s1\\"
    assert record["reading"]["time"] == "2026-11-20T03:15:00.123456Z"
    assert record["reading"]["humidity"] == 40.0
    # The one JSON form of a reading: what `repoclimate decode` prints, None fields left out.
    assert record["reading"] == reading_json(reading)
    assert "temperature" not in record["reading"]


@pytest.mark.parametrize(
    ("microsecond", "text"),
    [(0, "03:15:00Z"), (123000, "03:15:00.123Z"), (123456, "03:15:00.123456Z")],
)
def test_one_iso_utc_form(microsecond: int, text: str) -> None:
    local = AT.replace(microsecond=microsecond).astimezone(timezone(timedelta(hours=-5)))
    assert iso_utc(local) == f"2026-11-20T{text}"


def test_the_rejection_log_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    log = RejectionLog(logging.getLogger("test.rejections"), per_interval=3, interval_s=0.2)
    with caplog.at_level(logging.WARNING, logger="test.rejections"):
        for i in range(10):
            log.rejected("malformed_json", f"bad {i}", "t")
        assert len(caplog.records) == 3
        time.sleep(0.25)
        log.rejected("malformed_json", "after", "t")
    messages = [r.getMessage() for r in caplog.records]
    assert "7 more rejected messages not logged" in messages[3]
    assert "after" in messages[4]
