"""tariffs, transaction costs and charge detail records (block I)

New tables only: nothing existing changes.

Revision ID: 0008
Revises: 0007

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "tariffs",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price_per_kwh", sa.String(length=32), nullable=False),
        sa.Column("price_per_hour", sa.String(length=32), nullable=False),
        sa.Column("idle_price_per_hour", sa.String(length=32), nullable=False),
        sa.Column("idle_grace_seconds", sa.Integer(), nullable=False),
        sa.Column("session_fee", sa.String(length=32), nullable=False),
        sa.Column("vat_percent", sa.String(length=32), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("station_ids", sa.JSON(), nullable=False),
        sa.Column("group_id_tokens", sa.JSON(), nullable=False),
        sa.Column("cost_update_interval", sa.Integer(), nullable=True),
        sa.Column("personal_messages", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "transaction_costs",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("tariff", sa.JSON(), nullable=False),
        sa.Column("states", sa.JSON(), nullable=False),
        sa.Column("cost_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "transaction_id"),
    )
    op.create_table(
        "charge_detail_records",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("id_token", sa.String(length=36), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("energy_wh", sa.String(length=32), nullable=False),
        sa.Column("charging_seconds", sa.Integer(), nullable=False),
        sa.Column("idle_seconds", sa.Integer(), nullable=False),
        sa.Column("tariff_id", sa.String(length=48), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cost", sa.JSON(), nullable=False),
        sa.Column("total", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "transaction_id"),
    )
    op.create_index("ix_charge_detail_records_created_at", "charge_detail_records", ["created_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_charge_detail_records_created_at", table_name="charge_detail_records")
    op.drop_table("charge_detail_records")
    op.drop_table("transaction_costs")
    op.drop_table("tariffs")
