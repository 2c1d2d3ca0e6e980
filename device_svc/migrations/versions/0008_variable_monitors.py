"""variable monitors (block N)

The monitors each station holds as the CSMS knows them (variable_monitors) and the
GetMonitoringReport requests whose reports are awaited (monitoring_reports). New tables only.

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
        "variable_monitors",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("component", sa.JSON(), nullable=False),
        sa.Column("variable", sa.JSON(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("transaction", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "id"),
    )
    op.create_table(
        "monitoring_reports",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "request_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("monitoring_reports")
    op.drop_table("variable_monitors")
