"""The notification outbox and the health of each delivery channel. Mixed into `Tx`.

A row is written in the same transaction as the state change that caused it, then delivered by
the outbox worker (`repoclimate.alerts.outbox`). Before sending, a worker claims the row
(`claim_outbox`): ``claimed_by`` names the worker and ``claimed_until`` ends its lease. Only an
unclaimed or expired row can be claimed, in a write transaction, so of two workers racing for a
row exactly one gets it; a worker that dies holding a claim delays the row until the lease ends,
then another worker takes it. Recording the outcome (`mark_sent`, `mark_retry`, `mark_failed`)
releases the claim.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, insert, or_, select, update

from repoclimate.alerts.state.database import dialect_insert
from repoclimate.alerts.state.schema import channel_health, iso, opt_time, outbox, parse_iso

ERROR_CHARS = 1000
"""Stored error texts are cut to this length."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message to one target on one channel, and its delivery state."""

    id: int
    created_at: datetime
    kind: str
    group_key: str
    alert_ids: tuple[int, ...]
    person: str | None
    channel: str
    target: str
    subject: str
    text: str
    html: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    claimed_by: str | None = None
    claimed_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    channel: str
    consecutive_failures: int
    first_failure_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    last_success_at: datetime | None


def _outbox(row: RowMapping) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        created_at=parse_iso(row["created_at"]),
        kind=row["kind"],
        group_key=row["group_key"],
        alert_ids=tuple(json.loads(row["alert_ids"])),
        person=row["person"],
        channel=row["channel"],
        target=row["target"],
        subject=row["subject"],
        text=row["text"],
        html=row["html"],
        payload=json.loads(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=parse_iso(row["next_attempt_at"]),
        last_error=row["last_error"],
        sent_at=opt_time(row["sent_at"]),
        claimed_by=row["claimed_by"],
        claimed_until=opt_time(row["claimed_until"]),
    )


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending, its retry time reached, and not claimed by a worker whose lease still runs."""
    c = outbox.c
    return (
        (c.status == "pending")
        & (c.next_attempt_at <= iso(now))
        & or_(c.claimed_until.is_(None), c.claimed_until <= iso(now))
    )


_RELEASED = {"claimed_by": None, "claimed_until": None}


class DeliveryRows:
    """Reads and writes of ``outbox`` and ``channel_health``."""

    conn: Connection

    def enqueue(
        self,
        *,
        now: datetime,
        kind: str,
        group_key: str,
        alert_ids: Sequence[int],
        person: str | None,
        channel: str,
        target: str,
        subject: str,
        text: str,
        html: str,
        payload: dict[str, Any],
    ) -> int:
        result = self.conn.execute(
            insert(outbox).values(
                created_at=iso(now),
                kind=kind,
                group_key=group_key,
                alert_ids=json.dumps(list(alert_ids)),
                person=person,
                channel=channel,
                target=target,
                subject=subject,
                text=text,
                html=html,
                payload=json.dumps(payload, sort_keys=True),
                next_attempt_at=iso(now),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def outbox_rows(self, status: str | None = None) -> list[OutboxRow]:
        query = select(outbox)
        if status is not None:
            query = query.where(outbox.c.status == status)
        return [_outbox(row) for row in self.conn.execute(query.order_by(outbox.c.id)).mappings()]

    def outbox_due(self, now: datetime, limit: int = 500) -> list[OutboxRow]:
        """Rows to try at ``now``, oldest first; rows another worker holds are left out."""
        query = select(outbox).where(_due(now)).order_by(outbox.c.id).limit(limit)
        return [_outbox(row) for row in self.conn.execute(query).mappings()]

    def claim_outbox(
        self, row_id: int, worker: str, now: datetime, lease: timedelta
    ) -> OutboxRow | None:
        """Claim a due row for ``worker`` until ``now + lease``; None if it is no longer due
        (sent, failed, retry time moved) or another worker's lease on it still runs.

        Call inside a write transaction: on SQLite it holds the database's write lock, on
        PostgreSQL the conditional UPDATE waits for a concurrent claim and re-checks it.
        """
        claimed = self.conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, _due(now))
            .values(claimed_by=worker, claimed_until=iso(now + lease))
        )
        if claimed.rowcount != 1:
            return None
        row = self.conn.execute(select(outbox).where(outbox.c.id == row_id)).mappings().one()
        return _outbox(row)

    def mark_sent(self, row_id: int, now: datetime) -> None:
        self.conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id)
            .values(
                status="sent",
                sent_at=iso(now),
                attempts=outbox.c.attempts + 1,
                last_error=None,
                **_RELEASED,
            )
        )

    def mark_retry(self, row_id: int, next_at: datetime, error: str) -> None:
        self.conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id)
            .values(
                attempts=outbox.c.attempts + 1,
                next_attempt_at=iso(next_at),
                last_error=error[:ERROR_CHARS],
                **_RELEASED,
            )
        )

    def mark_failed(self, row_id: int, error: str) -> None:
        self.conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id)
            .values(
                status="failed",
                attempts=outbox.c.attempts + 1,
                last_error=error[:ERROR_CHARS],
                **_RELEASED,
            )
        )

    def channel_health(self, channel: str) -> ChannelHealth:
        row = (
            self.conn.execute(select(channel_health).where(channel_health.c.channel == channel))
            .mappings()
            .first()
        )
        if row is None:
            return ChannelHealth(channel, 0, None, None, None, None)
        return ChannelHealth(
            channel=row["channel"],
            consecutive_failures=row["consecutive_failures"],
            first_failure_at=opt_time(row["first_failure_at"]),
            last_failure_at=opt_time(row["last_failure_at"]),
            last_error=row["last_error"],
            last_success_at=opt_time(row["last_success_at"]),
        )

    def record_channel(self, channel: str, now: datetime, error: str | None) -> ChannelHealth:
        """Count a delivery attempt on a channel; return its health afterwards."""
        statement = dialect_insert(self.conn, channel_health)
        c = channel_health.c
        if error is None:
            upsert = statement.values(
                channel=channel, consecutive_failures=0, last_success_at=iso(now)
            ).on_conflict_do_update(
                index_elements=[c.channel],
                set_={
                    "consecutive_failures": 0,
                    "first_failure_at": None,
                    "last_success_at": statement.excluded.last_success_at,
                },
            )
        else:
            first = self.channel_health(channel).first_failure_at or now
            upsert = statement.values(
                channel=channel,
                consecutive_failures=1,
                first_failure_at=iso(first),
                last_failure_at=iso(now),
                last_error=error[:ERROR_CHARS],
            ).on_conflict_do_update(
                index_elements=[c.channel],
                set_={
                    "consecutive_failures": c.consecutive_failures + 1,
                    "first_failure_at": statement.excluded.first_failure_at,
                    "last_failure_at": statement.excluded.last_failure_at,
                    "last_error": statement.excluded.last_error,
                },
            )
        self.conn.execute(upsert)
        return self.channel_health(channel)
