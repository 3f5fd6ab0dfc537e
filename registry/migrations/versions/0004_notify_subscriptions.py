"""Alerts to phones: subscriptions, one-time LINE link codes and what was routed to whom.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
# The head when this was written was 0002; issue 17's 0003 (API keys) was chained in between.
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Three new tables; nothing existing changes."""
    op.create_table(
        "notify_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cooperative_id", sa.String(length=64), nullable=False),
        sa.Column("farm_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kinds", sa.String(length=300), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("repeat_interval_s", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cooperative_id"], ["cooperatives.id"]),
        sa.ForeignKeyConstraint(["farm_id"], ["farms.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notify_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notify_subscriptions_cooperative_id"), ["cooperative_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notify_subscriptions_farm_id"), ["farm_id"], unique=False
        )
    op.create_table(
        "notify_link_codes",
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("cooperative_id", sa.String(length=64), nullable=False),
        sa.Column("farm_id", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["cooperative_id"], ["cooperatives.id"]),
        sa.ForeignKeyConstraint(["farm_id"], ["farms.id"]),
        sa.PrimaryKeyConstraint("code_sha256"),
    )
    with op.batch_alter_table("notify_link_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notify_link_codes_cooperative_id"), ["cooperative_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_notify_link_codes_farm_id"), ["farm_id"], unique=False)
    op.create_table(
        "notify_sent",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("alert_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("notification_key", sa.String(length=200), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliver_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["notify_subscriptions.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "subscription_id", "alert_key", "state", "round", name="uq_notify_sent"
        ),
    )
    with op.batch_alter_table("notify_sent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notify_sent_alert_key"), ["alert_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notify_sent_subscription_id"), ["subscription_id"], unique=False
        )


def downgrade() -> None:
    """Drops the notifier's tables: subscriptions and LINE links are lost."""
    op.drop_table("notify_sent")
    op.drop_table("notify_link_codes")
    op.drop_table("notify_subscriptions")
