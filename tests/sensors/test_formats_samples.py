"""Every real payload sample in tests/sensors/payloads (a copy of the project's shared samples,
so the suite passes from a plain clone), through format detection, the decoder and
`check_reading`, as the collector runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from repoclimate.sensors.formats import FORMATS, DecodeContext, decode_message, detect_format
from repoclimate.sensors.reading import DecodeError, Reading
from repoclimate.sensors.validate import check_reading

SAMPLES_DIR = Path(__file__).parent / "payloads"
RECEIVED_AT = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)

# The samples state rejections in words; these are the reason codes the decoders give for them.
REJECTION_REASONS = {
    "humidity 150 outside 0–100 %": "out_of_range",
    "temperature is not a number": "not_a_number",
    "malformed JSON": "malformed_json",
    "value is not a number": "not_a_number",
    "uplink has no decoded payload (no payload formatter configured)": "no_decoded_payload",
}


def _samples() -> list[Any]:
    params = []
    for path in sorted(SAMPLES_DIR.glob("*.json")):
        for index, sample in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            params.append(pytest.param(path.stem, sample, id=f"{path.stem}-{index}"))
    return params


SAMPLES = _samples()


def _process(sample: dict[str, Any]) -> list[Reading]:
    ctx = DecodeContext(
        received_at=RECEIVED_AT, timezone=ZoneInfo(sample.get("site_timezone", "UTC"))
    )
    readings = decode_message(sample["topic"], sample["payload"].encode(), "auto", ctx)
    for reading in readings:
        check_reading(reading, now=RECEIVED_AT)
    return readings


def test_the_samples_are_there() -> None:
    assert {param.values[0] for param in SAMPLES} == set(FORMATS) - {"lineprotocol"}


@pytest.mark.parametrize(("fmt", "sample"), SAMPLES)
def test_sample_format_is_detected(fmt: str, sample: dict[str, Any]) -> None:
    detected = detect_format(sample["topic"], sample["payload"].encode())
    assert detected == ("lineprotocol" if "line protocol" in sample.get("note", "") else fmt)


@pytest.mark.parametrize(("fmt", "sample"), SAMPLES)
def test_sample_decodes_as_expected(fmt: str, sample: dict[str, Any]) -> None:
    if "reject" in sample:
        with pytest.raises(DecodeError) as raised:
            _process(sample)
        assert raised.value.reason == REJECTION_REASONS[sample["reject"]]
        return
    readings = _process(sample)
    assert len(readings) == len(sample["expect"])
    for reading, expected in zip(readings, sample["expect"], strict=True):
        for key, value in expected.items():
            if key == "time":
                assert reading.time == datetime.fromisoformat(value)
            elif key == "sensor":
                assert reading.sensor == value
            else:
                assert getattr(reading, key) == pytest.approx(value), key
        if "time" not in expected and fmt in ("esphome", "zigbee2mqtt"):
            assert reading.time == RECEIVED_AT  # these formats carry no device time


def test_range_rejection_says_what_the_sample_says() -> None:
    sample = next(s.values[1] for s in SAMPLES if "outside" in s.values[1].get("reject", ""))
    with pytest.raises(DecodeError, match=sample["reject"]):
        _process(sample)


def test_rejection_messages_name_the_field() -> None:
    sample = next(s.values[1] for s in SAMPLES if '"warm"' in s.values[1]["payload"])
    with pytest.raises(DecodeError, match="temperature 'warm' is not a number"):
        _process(sample)


def test_humidity_fraction_is_taken_literally() -> None:
    """The registry, not the decoder, scales a sensor configured to send fractions."""
    sample = next(s.values[1] for s in SAMPLES if "0.581" in s.values[1]["payload"])
    (reading,) = _process(sample)
    assert reading.humidity == 0.581
