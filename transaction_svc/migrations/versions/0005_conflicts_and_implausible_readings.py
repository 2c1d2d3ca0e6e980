"""conflicting events, implausible readings, the end's seqNo

A TransactionEvent's digest (a retry repeats it; a different event under a used seqNo is a
conflict, kept in transaction_event_conflicts), the register readings left out of the energy
(implausible_readings), and the seqNo of a transaction's Ended event (events after it change
nothing), taken for the transactions already ended from their stored Ended event.

Revision ID: 0005
Revises: 0004

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Plain ALTER TABLEs on SQLite too (see 0003): nullable columns without defaults.
    op.add_column("transactions", sa.Column("ended_seq", sa.Integer(), nullable=True))
    op.add_column("transaction_events", sa.Column("digest", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE transactions SET ended_seq = (SELECT min(e.seq_no) FROM transaction_events e"
        " WHERE e.station_id = transactions.station_id AND e.transaction_id = transactions.id"
        " AND e.event_type = 'Ended')"
    )
    op.create_table(
        "transaction_event_conflicts",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=8), nullable=False),
        sa.Column("trigger_reason", sa.String(length=32), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("meter_values", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id", "transaction_id"],
            ["transactions.station_id", "transactions.id"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("station_id", "transaction_id", "seq_no", "digest"),
    )
    op.create_table(
        "implausible_readings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wh", sa.Double(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id", "transaction_id"],
            ["transactions.station_id", "transactions.id"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_implausible_readings_transaction",
        "implausible_readings",
        ["station_id", "transaction_id"],
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_implausible_readings_transaction", table_name="implausible_readings")
    op.drop_table("implausible_readings")
    op.drop_table("transaction_event_conflicts")
    op.execute("ALTER TABLE transaction_events DROP COLUMN digest")  # see 0003
    op.execute("ALTER TABLE transactions DROP COLUMN ended_seq")
