"""OCPP 1.6J remote starts and chargingState at start

The RequestStartTransactions on their way to 1.6 stations (``ocpp16_remote_starts``: 1.6 cannot
carry the remoteStartId, so the CSMS keeps it for the StartTransaction that follows, and which
transactionId took it), and the chargingState a 1.6 transaction started in
(``ocpp16_transaction_ids.charging_state``; NULL for the ids assigned before: Charging).

Revision ID: 0011
Revises: 0010

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ocpp16_remote_starts",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("remote_start_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "remote_start_id"),
    )
    op.create_index(
        "ix_ocpp16_remote_starts_transaction_id", "ocpp16_remote_starts", ["transaction_id"]
    )
    # A plain ALTER TABLE on SQLite too (see 0003).
    op.add_column(
        "ocpp16_transaction_ids", sa.Column("charging_state", sa.String(length=20), nullable=True)
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("ALTER TABLE ocpp16_transaction_ids DROP COLUMN charging_state")  # see 0003
    op.drop_index("ix_ocpp16_remote_starts_transaction_id", "ocpp16_remote_starts")
    op.drop_table("ocpp16_remote_starts")
