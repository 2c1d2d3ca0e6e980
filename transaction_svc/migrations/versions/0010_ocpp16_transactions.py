"""OCPP 1.6J transactions

The integer transactionIds the CSMS assigns to 1.6 StartTransactions (``ocpp16_transaction_ids``,
unique on the request's natural key so that a re-sent StartTransaction finds its id), and the
protocol of each transaction (existing rows: "ocpp2.0.1", the only one there was).

Revision ID: 0010
Revises: 0009

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ocpp16_transaction_ids",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meter_start", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "station_id",
            "connector_id",
            "id_tag",
            "timestamp",
            "meter_start",
            name="uq_ocpp16_transaction_ids_start",
        ),
    )
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(
            sa.Column("protocol", sa.String(length=16), nullable=False, server_default="ocpp2.0.1")
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("protocol")
    op.drop_table("ocpp16_transaction_ids")
