"""station message log

Every OCPP frame the gateways exchanged with stations. New table only.

Revision ID: 0013
Revises: 0012

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "station_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("type", sa.String(length=6), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_station_messages_station", "station_messages", ["station_id", "id"])
    op.create_index("ix_station_messages_at", "station_messages", ["at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_station_messages_at", table_name="station_messages")
    op.drop_index("ix_station_messages_station", table_name="station_messages")
    op.drop_table("station_messages")
