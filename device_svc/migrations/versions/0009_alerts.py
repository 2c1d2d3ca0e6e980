"""alerts (block N)

Events raised by monitors of a severity at or below the alert threshold, until an operator
acknowledges them. New table only.

Revision ID: 0009
Revises: 0008

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actual_value", sa.String(length=2500), nullable=False),
        sa.Column("component_name", sa.String(length=50), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("variable_name", sa.String(length=50), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "station_id", "generated_at", "seq_no", "event_id", name="uq_alerts_event"
        ),
    )
    op.create_index("ix_alerts_acknowledged", "alerts", ["acknowledged", "id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_alerts_acknowledged", table_name="alerts")
    op.drop_table("alerts")
