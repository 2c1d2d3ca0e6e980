"""firmware and logs (blocks L and N)

Firmware images the CSMS hosts, the updates stations accepted and every status they reported,
rollouts and their stations, the logs stations were asked for, and the tokens of the file URLs.
New tables only.

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
        "file_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("file_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_tokens_station_id"), ["station_id"], unique=False)

    op.create_table(
        "firmware_images",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("signing_certificate", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "firmware_rollout_stations",
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("firmware_status", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rollout_id", "station_id"),
    )
    with op.batch_alter_table("firmware_rollout_stations", schema=None) as batch_op:
        batch_op.create_index("ix_rollout_stations_station", ["station_id", "state"], unique=False)

    op.create_table(
        "firmware_rollouts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("wave_size", sa.Integer(), nullable=False),
        sa.Column("wave_pause_seconds", sa.Integer(), nullable=False),
        sa.Column("max_failure_ratio", sa.Double(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("retry_interval", sa.Integer(), nullable=True),
        sa.Column("station_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("retrieve_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("install_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("halt_reason", sa.Text(), nullable=False),
        sa.Column("wave_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("firmware_rollouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_firmware_rollouts_state"), ["state"], unique=False)

    op.create_table(
        "firmware_statuses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("locations", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("firmware_statuses", schema=None) as batch_op:
        batch_op.create_index("ix_firmware_statuses_station", ["station_id", "id"], unique=False)

    op.create_table(
        "firmware_updates",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=512), nullable=False),
        sa.Column("image_id", sa.String(length=36), nullable=True),
        sa.Column("rollout_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "request_id"),
    )
    op.create_table(
        "station_logs",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("log_type", sa.String(length=16), nullable=False),
        sa.Column("remote_location", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("station_id", "request_id"),
    )
    with op.batch_alter_table("variable_monitors", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.FLOAT(), type_=sa.Double(), existing_nullable=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("variable_monitors", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.Double(), type_=sa.FLOAT(), existing_nullable=False
        )

    op.drop_table("station_logs")
    op.drop_table("firmware_updates")
    with op.batch_alter_table("firmware_statuses", schema=None) as batch_op:
        batch_op.drop_index("ix_firmware_statuses_station")

    op.drop_table("firmware_statuses")
    with op.batch_alter_table("firmware_rollouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_firmware_rollouts_state"))

    op.drop_table("firmware_rollouts")
    with op.batch_alter_table("firmware_rollout_stations", schema=None) as batch_op:
        batch_op.drop_index("ix_rollout_stations_station")

    op.drop_table("firmware_rollout_stations")
    op.drop_table("firmware_images")
    with op.batch_alter_table("file_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_tokens_station_id"))

    op.drop_table("file_tokens")
