"""Monthly reports sent: one row per report key (``report:<site>:<YYYY-MM>``), its primary key
the database's guarantee that a report is queued once, whichever service inserts it first
(`reports.schedule`, ``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_sends",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("queued_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("report_sends")
