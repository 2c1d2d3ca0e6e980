"""charging state at the end of a transaction

An ended transaction is never Charging (transaction_svc.domain.fold): the Ended event's verdict
on the EV (ended_ev_gone) is stored, and the transactions already ended get both from their
stored Ended event.

Revision ID: 0003
Revises: 0002

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# As transaction_svc.domain decides it (a migration keeps its own copy of what it applied).
_EV_GONE_REASON = "EVDisconnected"
_EV_GONE_TRIGGERS = ("EVCommunicationLost", "EVDeparted")


def upgrade() -> None:
    """Upgrade schema."""
    # A plain ALTER TABLE on SQLite too: batch mode would copy the table for a default given as
    # an expression, and dropping the old table cascades to every transaction's events.
    op.add_column(
        "transactions",
        sa.Column("ended_ev_gone", sa.Boolean(), server_default="0", nullable=False),
    )

    transactions = sa.table(
        "transactions",
        sa.column("station_id", sa.String),
        sa.column("id", sa.String),
        sa.column("active", sa.Boolean),
        sa.column("charging_state", sa.String),
        sa.column("stopped_reason", sa.String),
        sa.column("ended_ev_gone", sa.Boolean),
    )
    events = sa.table(
        "transaction_events",
        sa.column("station_id", sa.String),
        sa.column("transaction_id", sa.String),
        sa.column("event_type", sa.String),
        sa.column("trigger_reason", sa.String),
    )
    t, e = transactions.c, events.c
    gone_by_trigger = (
        sa.select(sa.literal(1))
        .where(
            e.station_id == t.station_id,
            e.transaction_id == t.id,
            e.event_type == "Ended",
            e.trigger_reason.in_(_EV_GONE_TRIGGERS),
        )
        .exists()
    )
    ended = t.active == sa.false()
    op.execute(
        transactions.update()
        .where(ended, sa.or_(t.stopped_reason == _EV_GONE_REASON, gone_by_trigger))
        .values(ended_ev_gone=True)
    )
    op.execute(
        transactions.update()
        .where(ended, t.ended_ev_gone == sa.true())
        .values(charging_state="Idle")
    )
    op.execute(
        transactions.update()
        .where(ended, t.charging_state == "Charging")
        .values(charging_state="EVConnected")
    )


def downgrade() -> None:
    """Downgrade schema (the charging states corrected at the end stay corrected)."""
    # Not in batch mode, which copies the table on SQLite (see upgrade): SQLite 3.35+ drops it.
    op.execute("ALTER TABLE transactions DROP COLUMN ended_ev_gone")
