"""sites and the load manager's limits

The sites an operator defines (sites) and what the load manager knows each station holds for
them (site_limits). New tables only: nothing existing changes.

Revision ID: 0007
Revises: 0006

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("limit", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=1), nullable=False),
        sa.Column("min_limit", sa.Float(), nullable=True),
        sa.Column("evse_max", sa.Float(), nullable=True),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("evses", sa.JSON(), nullable=False),
        sa.Column("priorities", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "site_limits",
        sa.Column("site_id", sa.String(length=48), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("held", sa.Float(), nullable=True),
        sa.Column("pending", sa.Float(), nullable=True),
        sa.Column("answer", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "station_id", "evse_id", "transaction_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("site_limits")
    op.drop_table("sites")
