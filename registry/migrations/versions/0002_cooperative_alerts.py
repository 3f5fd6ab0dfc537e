"""Cooperative-wide alerts: ``alerts.farm_id`` may be empty (``forecast_coverage``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """A forecast-coverage alert concerns a cooperative's forecasts, no one farm."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("farm_id", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    """Cooperative-wide alerts have no farm to keep: they are deleted first."""
    op.execute("DELETE FROM alerts WHERE farm_id IS NULL")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("farm_id", existing_type=sa.String(length=64), nullable=False)
