"""Browser sessions of the HTTP API, kept in the state database so a restart of the service or a
second API replica keeps a login: the SHA-256 of the session id (the id itself is only in the
browser's cookie), its user, the CSRF token its pages send back, and when it ends.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.Text, primary_key=True),
        sa.Column(
            "user_name", sa.Text, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("csrf_token", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
    )
    op.create_index("sessions_user", "sessions", ["user_name"])
    op.create_index("sessions_expiry", "sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("sessions_expiry", "sessions")
    op.drop_index("sessions_user", "sessions")
    op.drop_table("sessions")
