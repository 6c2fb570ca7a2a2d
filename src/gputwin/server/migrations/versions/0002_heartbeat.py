"""Worker heartbeats: runs.heartbeat_at (a run whose worker stopped beating is re-queued).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("heartbeat_at", sa.Float, nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "heartbeat_at")
