"""The batched lifecycle write path gives exactly the results of the statement-per-change one.

`reference_apply` is `apply_findings` as it was before batching (one read per alert resolved,
one statement per insert, update and event). Both run the same random sequence of findings —
new, held, worsening, duplicated, absent, with and without ``for_s`` and ``clear_s``, on
subjects with and without a key, with acknowledgements in between — each on its own state, on
SQLite and on PostgreSQL; the transitions of every step, and the alert and event rows at the
end, must be equal.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from repoclimate.alerts.lifecycle import (
    ENGINE,
    _due,
    _transition,
    acknowledge,
    apply_findings,
)
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject, Transition
from repoclimate.alerts.state import AlertStore, OpenBrief, Tx, parse_iso
from repoclimate.alerts.state.schema import alerts, events
from tests.alerts.conftest import T0
from tests.servers import PostgreSQL

RULES = ("excursion.humidity_high", "excursion.temperature_low")
SUBJECTS = (
    Subject("city", "stack-3", "s1"),
    Subject("city", "stack-3", "s2"),
    Subject("city", "stack-3", None),
    Subject("city", None, None, "channel:email"),
)


def reference_apply(
    tx: Tx,
    findings: Sequence[Finding],
    rules: Collection[str],
    subjects: Collection[str],
    now: datetime,
    held: Collection[tuple[str, str]] = (),
    track_values: bool = True,
) -> list[Transition]:
    """`apply_findings` before batching: one statement per change."""
    best: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        key = (finding.rule, finding.subject.id)
        current = best.get(key)
        if current is None or finding.severity > current.severity:
            best[key] = finding
    open_alerts = {(a.rule, a.subject): a for a in tx.open_brief(list(rules))}
    transitions: list[Transition] = []
    for key, finding in best.items():
        existing = open_alerts.get(key)
        if existing is None:
            transitions.extend(_reference_open(tx, finding, now))
        else:
            transitions.extend(_reference_update(tx, existing, finding, now, track_values))
    for key, brief in open_alerts.items():
        if key in best or key in set(held) or brief.subject not in set(subjects):
            continue
        if brief.state is AlertState.PENDING:
            note = "cleared before firing"
        else:
            last_seen = None if brief.last_seen is None else parse_iso(brief.last_seen)
            if last_seen is None:
                note = "condition cleared"
            elif now - last_seen < timedelta(seconds=brief.clear_s):
                continue
            else:
                minutes = (now - last_seen).total_seconds() / 60.0
                note = f"condition cleared (absent for {minutes:.0f} min)"
        alert, _ = tx.get(brief.id)
        tx.update_alert(alert.id, now, state=AlertState.RESOLVED, resolved_at=now)
        tx.add_event(alert.id, now, alert.state, AlertState.RESOLVED, ENGINE, note)
        transitions.append(_transition(alert.id, alert, now, alert.state, AlertState.RESOLVED))
    return transitions


def _reference_open(tx: Tx, finding: Finding, now: datetime) -> list[Transition]:
    fire = _due(finding, finding.since, now)
    state = AlertState.FIRING if fire else AlertState.PENDING
    alert_id = tx.insert_alert(finding, state, now)
    tx.add_event(alert_id, now, None, AlertState.PENDING, ENGINE, finding.summary)
    result = [_transition(alert_id, finding, now, None, AlertState.PENDING)]
    if fire:
        tx.add_event(alert_id, now, AlertState.PENDING, AlertState.FIRING, ENGINE, finding.summary)
        result.append(_transition(alert_id, finding, now, AlertState.PENDING, AlertState.FIRING))
    return result


def _reference_update(
    tx: Tx, alert: OpenBrief, finding: Finding, now: datetime, track_values: bool
) -> list[Transition]:
    fields: dict[str, object] = {"last_seen": now, "clear_s": finding.clear_s}
    stored_since = parse_iso(alert.since)
    since = min(stored_since, finding.since)
    if since != stored_since:
        fields["since"] = since
    if track_values:
        fields.update(
            value=finding.value,
            threshold=finding.threshold,
            summary=finding.summary,
            advice=finding.advice,
            for_s=finding.for_s,
        )
        peak = alert.peak_value
        if peak is None or abs(finding.value - finding.threshold) > abs(peak - alert.threshold):
            fields["peak_value"] = finding.value
    result: list[Transition] = []
    if finding.severity != alert.severity:
        fields["severity"] = finding.severity
        tx.add_event(
            alert.id,
            now,
            alert.state,
            alert.state,
            ENGINE,
            f"severity {alert.severity.label} → {finding.severity.label}: {finding.summary}",
        )
    if alert.state is AlertState.PENDING and _due(finding, since, now):
        fields["state"] = AlertState.FIRING
        fields["fired_at"] = now
        tx.add_event(alert.id, now, AlertState.PENDING, AlertState.FIRING, ENGINE, finding.summary)
        result.append(_transition(alert.id, finding, now, AlertState.PENDING, AlertState.FIRING))
    tx.update_alert(alert.id, now, **fields)
    return result


def random_step(rng: random.Random, now: datetime) -> tuple[list[Finding], list[tuple[str, str]]]:
    """Findings (some twice, with different severities) and held pairs for one evaluation."""
    findings = []
    held = []
    for rule in RULES:
        for subject in SUBJECTS:
            draw = rng.random()
            if draw < 0.1:
                held.append((rule, subject.id))
            elif draw < 0.55:
                for _ in range(rng.choice((1, 1, 1, 2))):
                    value = rng.uniform(60.5, 80.0)
                    findings.append(
                        Finding(
                            rule=rule,
                            subject=subject,
                            severity=rng.choice(list(Severity)),
                            since=now - timedelta(minutes=rng.choice((0, 5, 30, 90))),
                            value=value,
                            threshold=60.0,
                            unit="%RH",
                            summary=f"RH {value:.1f}",
                            advice=rng.choice(("check the dehumidifier", "open a window")),
                            for_s=rng.choice((0.0, 600.0, 1800.0)),
                            page=rng.random() < 0.8,
                            clear_s=rng.choice((0.0, 0.0, 900.0)),
                        )
                    )
    return findings, held


def rows(store: AlertStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every alert (without its random ack token) and every event, in id order."""
    with store.transaction() as tx:
        alert_rows = [
            {k: v for k, v in row.items() if k != "ack_token"}
            for row in tx.conn.execute(select(alerts).order_by(alerts.c.id)).mappings()
        ]
        event_rows = [
            dict(row) for row in tx.conn.execute(select(events).order_by(events.c.id)).mappings()
        ]
    return alert_rows, event_rows


@pytest.fixture(params=["sqlite", "postgresql"])
def two_targets(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return str(tmp_path / "reference.sqlite"), str(tmp_path / "batched.sqlite")
    server: PostgreSQL = request.getfixturevalue("postgresql")
    name = tmp_path.name.replace("-", "_").lower()
    return server.create_database(f"{name}_ref"), server.create_database(f"{name}_batch")


@pytest.mark.parametrize("seed", [1, 2])
def test_batched_writes_equal_one_statement_per_change(
    two_targets: tuple[str, str], seed: int
) -> None:
    reference, batched = (AlertStore(target) for target in two_targets)
    rng = random.Random(seed)
    all_subjects = [s.id for s in SUBJECTS]
    changed = 0
    for step in range(120):
        now = T0 + timedelta(minutes=5 * step)
        findings, held = random_step(rng, now)
        subjects = all_subjects if rng.random() < 0.9 else all_subjects[:2]
        track = rng.random() < 0.7
        with reference.transaction() as tx:
            expected = reference_apply(tx, findings, RULES, subjects, now, held, track)
        with batched.transaction() as tx:
            got = apply_findings(tx, findings, RULES, subjects, now, held, track)
        assert got == expected, f"step {step}"
        changed += len(got)
        firing = [a.id for a in reference.open_alerts() if a.state is AlertState.FIRING]
        if firing and rng.random() < 0.2:
            alert_id = rng.choice(firing)
            for store in (reference, batched):
                with store.transaction() as tx:
                    acknowledge(tx, alert_id, "ada", now)
    assert changed > 100  # the sequence exercised the lifecycle, not just quiet steps
    kinds = {(e.from_state, e.to_state) for e in reference.events()}
    assert (AlertState.PENDING, AlertState.FIRING) in kinds
    assert (AlertState.ACKNOWLEDGED, AlertState.RESOLVED) in kinds
    assert (AlertState.PENDING, AlertState.RESOLVED) in kinds
    assert rows(batched) == rows(reference)
    reference.close()
    batched.close()
