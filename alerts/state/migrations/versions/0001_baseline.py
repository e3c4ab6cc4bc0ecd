"""Baseline: the alert state as the last version before migrations wrote it (its schema 3).

A file from before migrations (a ``meta`` table holding ``schema_version`` 1, 2 or 3) is adopted
in place: the tables, columns and indexes it lacks are added — schema 2 added ``alerts.clear_s``
and ``alerts.last_seen`` (the clear-hold), 3 the table ``mould_state`` — every row is kept, and
``meta`` goes (the revision is kept in ``alembic_version`` from now on). A migrated alert has
``clear_s`` 0 and no ``last_seen``: it resolves as it used to.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN = sa.text("state != 'resolved'")


def _alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("site", sa.Text),
        sa.Column("room", sa.Text),
        sa.Column("sensor", sa.Text),
        sa.Column("subject_key", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("severity", sa.Integer, nullable=False),
        sa.Column("since", sa.Text, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("peak_value", sa.Float),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("advice", sa.Text, nullable=False),
        sa.Column("page", sa.Integer, nullable=False),
        sa.Column("for_s", sa.Float, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("fired_at", sa.Text),
        sa.Column("acknowledged_at", sa.Text),
        sa.Column("acknowledged_by", sa.Text),
        sa.Column("resolved_at", sa.Text),
        sa.Column("ack_token", sa.Text, nullable=False),
        sa.Column("notified_state", sa.Text),
        sa.Column("notified_severity", sa.Integer),
        sa.Column("first_notified_at", sa.Text),
        sa.Column("last_notified_at", sa.Text),
        sa.Column("escalation_step", sa.Integer, nullable=False, server_default=sa.text("-1")),
        sa.Column("recipients", sa.Text, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("clear_s", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("last_seen", sa.Text),
    )


def _events() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("time", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=sa.text("''")),
    )


def _silences() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site", sa.Text),
        sa.Column("room", sa.Text),
        sa.Column("sensor", sa.Text),
        sa.Column("rule", sa.Text),
        sa.Column("starts_at", sa.Text, nullable=False),
        sa.Column("ends_at", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )


def _outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("alert_ids", sa.Text, nullable=False),
        sa.Column("person", sa.Text),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.Text, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", sa.Text),
    )


def _channel_health() -> None:
    op.create_table(
        "channel_health",
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("first_failure_at", sa.Text),
        sa.Column("last_failure_at", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("last_success_at", sa.Text),
    )


def _mould_state() -> None:
    op.create_table(
        "mould_state",
        sa.Column("sensor", sa.Text, primary_key=True),
        sa.Column("hour", sa.Float, nullable=False),
        sa.Column("vtt_index", sa.Float, nullable=False),
        sa.Column("vtt_hours_unfavourable", sa.Float, nullable=False),
        sa.Column("mrf_value", sa.Float, nullable=False),
        sa.Column("mrf_dry_hours", sa.Float, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
    )


TABLES: dict[str, Callable[[], None]] = {
    "alerts": _alerts,
    "events": _events,
    "silences": _silences,
    "outbox": _outbox,
    "channel_health": _channel_health,
    "mould_state": _mould_state,
}
"""Creating order (events refer to alerts)."""

INDEXES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("alerts_one_open", "alerts", ("rule", "subject"), True),
    ("alerts_state", "alerts", ("state",), False),
    ("alerts_notified", "alerts", ("notified_state",), False),
    ("events_alert", "events", ("alert_id",), False),
    ("outbox_due", "outbox", ("status", "next_attempt_at"), False),
)

ADDED_COLUMNS: tuple[tuple[str, Callable[[], sa.Column[object]]], ...] = (
    ("clear_s", lambda: sa.Column("clear_s", sa.Float, nullable=False, server_default="0")),
    ("last_seen", lambda: sa.Column("last_seen", sa.Text)),
)
"""Columns of ``alerts`` that schema 1 lacked."""


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for name, create in TABLES.items():
        if name not in present:
            create()
    if "alerts" in present:
        have = {column["name"] for column in inspector.get_columns("alerts")}
        for name, column in ADDED_COLUMNS:
            if name not in have:
                op.add_column("alerts", column())
    for name, table, columns, unique in INDEXES:
        existing = (
            {index["name"] for index in inspector.get_indexes(table)} if table in present else set()
        )
        if name not in existing:
            where: dict[str, Any] = (
                {"sqlite_where": OPEN, "postgresql_where": OPEN} if unique else {}
            )
            op.create_index(name, table, list(columns), unique=unique, **where)
    if "meta" in present:
        op.drop_table("meta")


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.drop_table(name)
