"""Silences: maintenance windows that mute notifications for a site, room, sensor or rule.
Mixed into `Tx` (``self.conn`` is the transaction's connection)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, insert, select, update

from repoclimate.alerts.model import Silence
from repoclimate.alerts.state.schema import iso, parse_iso, silences


def _silence(row: RowMapping) -> Silence:
    return Silence(
        id=row["id"],
        starts_at=parse_iso(row["starts_at"]),
        ends_at=parse_iso(row["ends_at"]),
        reason=row["reason"],
        created_by=row["created_by"],
        site=row["site"],
        room=row["room"],
        sensor=row["sensor"],
        rule=row["rule"],
        created_at=parse_iso(row["created_at"]),
    )


class SilenceRows:
    """Reads and writes of ``silences``."""

    conn: Connection

    def silences_active(self, now: datetime) -> list[Silence]:
        c = silences.c
        query = select(silences).where(c.starts_at <= iso(now), c.ends_at > iso(now))
        return [_silence(row) for row in self.conn.execute(query.order_by(c.id)).mappings()]

    def all_silences(self) -> list[Silence]:
        query = select(silences).order_by(silences.c.id)
        return [_silence(row) for row in self.conn.execute(query).mappings()]

    def insert_silence(
        self,
        *,
        site: str | None,
        room: str | None,
        sensor: str | None,
        rule: str | None,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        created_by: str,
        now: datetime,
    ) -> int:
        result = self.conn.execute(
            insert(silences).values(
                site=site,
                room=room,
                sensor=sensor,
                rule=rule,
                starts_at=iso(starts_at),
                ends_at=iso(ends_at),
                reason=reason,
                created_by=created_by,
                created_at=iso(now),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def end_silence(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; false if it had ended already (or never existed)."""
        result = self.conn.execute(
            update(silences)
            .where(silences.c.id == silence_id, silences.c.ends_at > iso(now))
            .values(ends_at=iso(now))
        )
        return result.rowcount > 0
