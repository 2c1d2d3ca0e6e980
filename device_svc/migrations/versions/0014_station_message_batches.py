"""station message log in batches

The message log's frames are stored as the gateways send them: one row per station and gateway
flush, its frames a zlib-compressed JSON array of [time ns, direction, text] parsed only when
read (station_message_batches), instead of one parsed row per frame (station_messages, 0013,
dropped). The frames of 0013 are kept: each becomes a batch of one, its text rebuilt from the
parsed row (a CALL [2, id, action, payload], a CALLRESULT [3, id, payload], a CALLERROR
[4, id, code, description, details]). Downgrade keeps none.

Revision ID: 0014
Revises: 0013

"""

import datetime
import json
import zlib
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _text(type_: str, message_id: str, action: str, payload: str) -> str:
    try:
        data: Any = json.loads(payload)
    except ValueError:
        data = {"unparsed": payload}
    if isinstance(data, dict) and set(data) == {"unparsed"}:
        return str(data["unparsed"])
    if type_ == "call":
        message: list[Any] = [2, message_id, action, data]
    elif type_ == "result":
        message = [3, message_id, data]
    else:
        data = data if isinstance(data, dict) else {}
        message = [
            4,
            message_id,
            data.get("code", ""),
            data.get("description", ""),
            data.get("details", {}),
        ]
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def _utc(value: Any) -> datetime.datetime:
    if isinstance(value, str):  # SQLite
        value = datetime.datetime.fromisoformat(value)
    at: datetime.datetime = value
    return at if at.tzinfo is not None else at.replace(tzinfo=datetime.UTC)


def upgrade() -> None:
    """Upgrade schema."""
    batches = op.create_table(
        "station_message_batches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_station_message_batches_station", "station_message_batches", ["station_id", "id"]
    )
    op.create_index("ix_station_message_batches_last_at", "station_message_batches", ["last_at"])
    bind = op.get_bind()
    old = sa.table(
        "station_messages",
        sa.column("id", sa.Integer()),
        sa.column("station_id", sa.String()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("direction", sa.String()),
        sa.column("type", sa.String()),
        sa.column("message_id", sa.String()),
        sa.column("action", sa.String()),
        sa.column("payload", sa.Text()),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(old).where(old.c.id > last).order_by(old.c.id).limit(1000)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        values = []
        for r in rows:
            at = _utc(r.at)
            ns = (at - _EPOCH) // datetime.timedelta(microseconds=1) * 1000
            body = json.dumps(
                [[ns, r.direction, _text(r.type, r.message_id, r.action, r.payload)]],
                separators=(",", ":"),
                ensure_ascii=False,
            )
            values.append(
                {
                    "station_id": r.station_id,
                    "first_at": at,
                    "last_at": at,
                    "frames": 1,
                    "body": zlib.compress(body.encode(), 1),
                }
            )
        bind.execute(sa.insert(batches), values)
    op.drop_index("ix_station_messages_at", table_name="station_messages")
    op.drop_index("ix_station_messages_station", table_name="station_messages")
    op.drop_table("station_messages")


def downgrade() -> None:
    """Downgrade schema (the frames are not kept)."""
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
    op.drop_index("ix_station_message_batches_last_at", table_name="station_message_batches")
    op.drop_index("ix_station_message_batches_station", table_name="station_message_batches")
    op.drop_table("station_message_batches")
