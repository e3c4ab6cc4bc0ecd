"""The alert state's tables as SQLAlchemy Core metadata, and how values are stored in them.

This is the schema of the newest migration (`migrations/versions/`); the queries use it, the
migrations do not (each revision spells out what it changes, so old revisions never drift).
Times are stored as UTC ISO-8601 text with microseconds (`iso`): fixed width, so they sort as
they compare, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)

METADATA = MetaData()

alerts = Table(
    "alerts",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("rule", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("site", Text),
    Column("room", Text),
    Column("sensor", Text),
    Column("subject_key", Text),
    Column("state", Text, nullable=False),
    Column("severity", Integer, nullable=False),
    Column("since", Text, nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("peak_value", Float),
    Column("unit", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("advice", Text, nullable=False),
    Column("page", Integer, nullable=False),
    Column("for_s", Float, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("fired_at", Text),
    Column("acknowledged_at", Text),
    Column("acknowledged_by", Text),
    Column("resolved_at", Text),
    Column("ack_token", Text, nullable=False),
    Column("notified_state", Text),
    Column("notified_severity", Integer),
    Column("first_notified_at", Text),
    Column("last_notified_at", Text),
    Column("escalation_step", Integer, nullable=False, server_default=text("-1")),
    Column("recipients", Text, nullable=False, server_default=text("'[]'")),
    Column("clear_s", Float, nullable=False, server_default=text("0")),
    Column("last_seen", Text),
    Index(
        "alerts_one_open",
        "rule",
        "subject",
        unique=True,
        sqlite_where=text("state != 'resolved'"),
        postgresql_where=text("state != 'resolved'"),
    ),
    Index("alerts_state", "state"),
    Index("alerts_notified", "notified_state"),
)

events = Table(
    "events",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("time", Text, nullable=False),
    Column("from_state", Text),
    Column("to_state", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=text("''")),
    Index("events_alert", "alert_id"),
)

silences = Table(
    "silences",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("site", Text),
    Column("room", Text),
    Column("sensor", Text),
    Column("rule", Text),
    Column("starts_at", Text, nullable=False),
    Column("ends_at", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

outbox = Table(
    "outbox",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("created_at", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("group_key", Text, nullable=False),
    Column("alert_ids", Text, nullable=False),
    Column("person", Text),
    Column("channel", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Text, nullable=False),
    Column("last_error", Text),
    Column("sent_at", Text),
    Column("claimed_by", Text),
    Column("claimed_until", Text),
    Index("outbox_due", "status", "next_attempt_at"),
)

report_sends = Table(
    "report_sends",
    METADATA,
    Column("key", Text, primary_key=True),
    Column("queued_at", Text, nullable=False),
)
"""Monthly reports queued, one row per report key (`repoclimate.reports.schedule`): its primary
key makes "once per site and month" hold across services (migration 0005)."""

channel_health = Table(
    "channel_health",
    METADATA,
    Column("channel", Text, primary_key=True),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("first_failure_at", Text),
    Column("last_failure_at", Text),
    Column("last_error", Text),
    Column("last_success_at", Text),
)

mould_state = Table(
    "mould_state",
    METADATA,
    Column("sensor", Text, primary_key=True),
    Column("hour", Float, nullable=False),
    Column("vtt_index", Float, nullable=False),
    Column("vtt_hours_unfavourable", Float, nullable=False),
    Column("mrf_value", Float, nullable=False),
    Column("mrf_dry_hours", Float, nullable=False),
    Column("fingerprint", Text, nullable=False),
)


users = Table(
    "users",
    METADATA,
    Column("name", Text, primary_key=True),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("user_name", Text, ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("label", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("expires_at", Text),
    Index("api_tokens_user", "user_name"),
)

sessions = Table(
    "sessions",
    METADATA,
    Column("id_hash", Text, primary_key=True),
    Column("user_name", Text, ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
    Index("sessions_user", "user_name"),
    Index("sessions_expiry", "expires_at"),
)
"""Browser sessions of the API (migration 0004): only the SHA-256 of a session id is kept."""


def iso(when: datetime) -> str:
    """UTC ISO-8601 text with microseconds: sorts as it compares."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_iso(text)
