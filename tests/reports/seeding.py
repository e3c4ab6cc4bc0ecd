"""A seeded history for the report tests and the report benchmark: a registry of rooms with a
known climate (a damp spell, a silent sensor, a surface sensor), written as real readings through
a real store, and alerts in a real alert state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.state import AlertStore
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import Reading

ZONE = "Asia/Shanghai"

REGISTRY = """\
sites:
  - id: shanghai
    name: 上海市档案馆 Shanghai Archives
    timezone: Asia/Shanghai
    rooms:
      - id: stack-a
        name: Stack A
        profile: jgj25-paper
        holdings: paper
        sensors:
          - {id: a1, match: {format: generic}, expected_interval_s: 900}
          - {id: a2, match: {format: generic}, expected_interval_s: 900}
          - {id: a-wall, match: {format: generic}, expected_interval_s: 900, surface: true}
      - id: film-vault
        name: Film vault
        profile: jgj25-film
        holdings: film
        sensors:
          - {id: f1, match: {format: generic}, expected_interval_s: 900}
"""


def registry_yaml(rooms: int | None = None) -> str:
    """The two-room registry, or (``rooms``) a site of that many single-sensor paper rooms."""
    if rooms is None:
        return REGISTRY
    lines = [
        "sites:",
        "  - id: big",
        "    name: Big Archives",
        f"    timezone: {ZONE}",
        "    rooms:",
    ]
    for i in range(rooms):
        lines += [
            f"      - id: room-{i:02d}",
            "        profile: jgj25-paper",
            "        holdings: paper",
            "        sensors:",
            f"          - {{id: r{i:02d}, match: {{format: generic}}, expected_interval_s: 3600}}",
        ]
    return "\n".join(lines) + "\n"


def climate(sensor: str, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The seeded T [°C] and RH [%] of a sensor at epoch seconds: a daily cycle around 16 °C /
    52 % (film: 12 °C / 40 %), a damp spell in Stack A from 10 to 14 Nov 2026 (UTC), and a few
    warm hours."""
    day = 2 * np.pi * times_s / 86400.0
    shift = (sum(map(ord, sensor)) % 7) / 10.0
    if sensor.startswith("f"):
        return 12.0 + 0.5 * np.sin(day) + shift, 40.0 + 2.0 * np.cos(day)
    t = 16.0 + 1.5 * np.sin(day) + shift
    rh = 52.0 + 4.0 * np.cos(day)
    damp_from = datetime(2026, 11, 10, tzinfo=UTC).timestamp()
    damp_to = datetime(2026, 11, 14, tzinfo=UTC).timestamp()
    damp = (times_s >= damp_from) & (times_s < damp_to)
    rh = np.where(damp, 88.0 + 2.0 * np.sin(day), rh)
    t = np.where(damp, 22.0 + 0.5 * np.sin(day), t)
    if sensor == "a-wall":
        t = t - 3.0
    return t, rh


def readings(
    sensors: dict[str, tuple[str, str]], start: datetime, end: datetime, step_s: int
) -> Iterator[Reading]:
    """Readings of each sensor (id → (site, room)) every ``step_s`` in ``[start, end)``; sensor
    a2 is silent from 20 Nov 2026 00:00 UTC to 22 Nov 2026 12:00 UTC."""
    times = np.arange(start.timestamp(), end.timestamp(), step_s)
    silent_from = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
    silent_to = datetime(2026, 11, 22, 12, tzinfo=UTC).timestamp()
    for sensor, (site, room) in sensors.items():
        t, rh = climate(sensor, times)
        for when, tc, h in zip(times.tolist(), t.tolist(), rh.tolist(), strict=True):
            if sensor == "a2" and silent_from <= when < silent_to:
                continue
            yield Reading(
                sensor,
                datetime.fromtimestamp(when, tz=UTC),
                round(tc, 2),
                round(h, 2),
                site=site,
                room=room,
            )


SMALL_SENSORS = {
    "a1": ("shanghai", "stack-a"),
    "a2": ("shanghai", "stack-a"),
    "a-wall": ("shanghai", "stack-a"),
    "f1": ("shanghai", "film-vault"),
}

SEEDED_SPANS = (
    (datetime(2025, 10, 25, tzinfo=UTC), datetime(2025, 12, 5, tzinfo=UTC)),
    (datetime(2026, 9, 25, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)),
)
"""Oct–Nov 2025 (the same month last year) and Oct–Nov 2026 (this month and the one before)."""


def seed_small(directory: Path, step_s: int = 900) -> tuple[Path, Path, Path]:
    """The two-room site's registry, history store and alert state under ``directory``."""
    registry = directory / "registry.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    store_path = directory / "history.sqlite"
    store = SQLiteStore(store_path)
    try:
        for start, end in SEEDED_SPANS:
            batch = list(readings(SMALL_SENSORS, start, end, step_s))
            for i in range(0, len(batch), 20_000):
                store.write(batch[i : i + 20_000])
    finally:
        store.close()
    state_path = directory / "state.sqlite"
    seed_alerts(state_path)
    return registry, store_path, state_path


def seed_alerts(state_path: Path) -> None:
    """A mould alert in Stack A during the damp spell, acknowledged 90 minutes after firing."""
    state = AlertStore(state_path)
    try:
        since = datetime(2026, 11, 10, 6, tzinfo=UTC)
        fired = since + timedelta(hours=2)
        finding = Finding(
            rule="mould.mrf",
            subject=Subject("shanghai", "stack-a", "a1"),
            severity=Severity.WARNING,
            since=since,
            value=0.6,
            threshold=0.5,
            unit="",
            summary="Mould risk rising in Stack A (a1)",
            advice="Lower the RH.",
        )
        with state.transaction() as tx:
            alert_id = tx.insert_alert(finding, AlertState.FIRING, fired)
            tx.update_alert(
                alert_id,
                fired,
                fired_at=fired,
            )
            acked = fired + timedelta(minutes=90)
            tx.update_alert(
                alert_id,
                acked,
                state=AlertState.ACKNOWLEDGED,
                acknowledged_at=acked,
                acknowledged_by="alice",
            )
            resolved = datetime(2026, 11, 14, 12, tzinfo=UTC)
            tx.update_alert(alert_id, resolved, state=AlertState.RESOLVED, resolved_at=resolved)
    finally:
        state.close()
