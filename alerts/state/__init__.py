"""Alert state: alerts and their events, silences, the notification outbox and channel health,
and rule checkpoints — in SQLite by default, or PostgreSQL — with versioned migrations.

`AlertStore` is the facade; `Tx` the writes of one transaction. The modules hold one kind of
data each (`alerts`, `silences`, `delivery`, `checkpoints`), `schema` the tables, `database`
opening and migrating (`migrations/`).
"""

from repoclimate.alerts.state.alerts import (
    AlertNotFoundError,
    Bookkeeping,
    OpenBrief,
    TransitionError,
)
from repoclimate.alerts.state.database import StateError, StateFileError, StateVersionError
from repoclimate.alerts.state.delivery import ChannelHealth, OutboxRow
from repoclimate.alerts.state.schema import iso, parse_iso
from repoclimate.alerts.state.store import AlertStore, Tx

__all__ = [
    "AlertNotFoundError",
    "AlertStore",
    "Bookkeeping",
    "ChannelHealth",
    "OpenBrief",
    "OutboxRow",
    "StateError",
    "StateFileError",
    "StateVersionError",
    "TransitionError",
    "Tx",
    "iso",
    "parse_iso",
]
