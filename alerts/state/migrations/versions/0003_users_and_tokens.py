"""Users of the HTTP API (name, role, argon2 password hash) and their API tokens (the SHA-256
of the secret, never the secret itself).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column(
            "user_name", sa.Text, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text),
    )
    op.create_index("api_tokens_user", "api_tokens", ["user_name"])


def downgrade() -> None:
    op.drop_index("api_tokens_user", "api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
