"""alert webhook (block N)

Each alert's delivery to the operator's webhook: its state, attempts, next attempt and last
error. New nullable or defaulted columns only: existing alerts get none (they were raised before
any webhook).

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
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_state", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column("webhook_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("webhook_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("webhook_error", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.create_index(
            "ix_alerts_webhook", ["webhook_state", "webhook_next_at"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_webhook")
        batch_op.drop_column("webhook_error")
        batch_op.drop_column("webhook_next_at")
        batch_op.drop_column("webhook_attempts")
        batch_op.drop_column("webhook_state")
