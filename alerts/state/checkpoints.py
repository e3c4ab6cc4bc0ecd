"""Rule checkpoints: per sensor, the mould indices' state after the last hour integrated, so
each live evaluation continues where the previous one stopped. Mixed into `Tx`."""

from __future__ import annotations

from sqlalchemy import Connection, select

from repoclimate.alerts.rules.mould import Checkpoint
from repoclimate.alerts.state.database import dialect_insert
from repoclimate.alerts.state.schema import mould_state
from repoclimate.preservation.mould import MrfState, VttState


class CheckpointRows:
    """Reads and writes of ``mould_state``."""

    conn: Connection

    def mould_checkpoints(self) -> dict[str, Checkpoint]:
        """Per sensor id, the mould indices' state after the last hour integrated."""
        c = mould_state.c
        query = select(
            c.sensor,
            c.hour,
            c.vtt_index,
            c.vtt_hours_unfavourable,
            c.mrf_value,
            c.mrf_dry_hours,
            c.fingerprint,
        )
        return {
            r[0]: Checkpoint(r[1], VttState(r[2], r[3]), MrfState(r[4], r[5]), r[6])
            for r in self.conn.execute(query)
        }

    def put_mould_checkpoints(self, checkpoints: dict[str, Checkpoint]) -> None:
        """Keep each sensor's latest checkpoint (replacing the one it had)."""
        if not checkpoints:
            return
        statement = dialect_insert(self.conn, mould_state)
        replaced = ("hour", "vtt_index", "vtt_hours_unfavourable", "mrf_value", "mrf_dry_hours")
        statement = statement.on_conflict_do_update(
            index_elements=[mould_state.c.sensor],
            set_={name: statement.excluded[name] for name in (*replaced, "fingerprint")},
        )
        self.conn.execute(
            statement,
            [
                {
                    "sensor": sensor,
                    "hour": c.hour,
                    "vtt_index": c.vtt.index,
                    "vtt_hours_unfavourable": c.vtt.hours_unfavourable,
                    "mrf_value": c.mrf.value,
                    "mrf_dry_hours": c.mrf.dry_hours,
                    "fingerprint": c.fingerprint,
                }
                for sensor, c in checkpoints.items()
            ],
        )
