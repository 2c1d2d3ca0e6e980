"""transaction_svc tables: transactions (the aggregate), their events, meter values sent outside
transactions (MeterValues), the remote starts the stations accepted, and the integer
transactionIds assigned to OCPP 1.6J StartTransactions."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from common.db import UtcDateTime, utcnow

__all__ = [
    "Base",
    "EventConflictRow",
    "ImplausibleReadingRow",
    "MeterValuesRow",
    "Ocpp16RemoteStart",
    "Ocpp16TransactionId",
    "RemoteStartRow",
    "Transaction",
    "TransactionEventRow",
]


class Base(DeclarativeBase):
    type_annotation_map = {datetime.datetime: UtcDateTime}


class Transaction(Base):
    """One row per (station, transactionId); the columns mirror domain.TransactionState."""

    __tablename__ = "transactions"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    # The station's transactionId; indexed for GetTransaction without station_id.
    id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    active: Mapped[bool] = mapped_column(default=True)
    start_event_received: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime.datetime | None]
    ended_at: Mapped[datetime.datetime | None]
    evse_id: Mapped[int | None]
    connector_id: Mapped[int | None]
    # seqNo of the event the value above came from (see domain.fold).
    evse_seq: Mapped[int | None]
    id_token: Mapped[str] = mapped_column(String(36), default="")
    # OCPP IdTokenEnumType value, e.g. "ISO14443".
    id_token_type: Mapped[str] = mapped_column(String(20), default="")
    id_token_seq: Mapped[int | None]
    # OCPP ChargingStateEnumType value, e.g. "Charging"; never Charging once ended.
    charging_state: Mapped[str] = mapped_column(String(20), default="")
    charging_state_seq: Mapped[int | None]
    # The Ended event says the EV is gone (then the charging state is Idle).
    ended_ev_gone: Mapped[bool] = mapped_column(default=False)
    # OCPP ReasonEnumType value, e.g. "EVDisconnected".
    stopped_reason: Mapped[str] = mapped_column(String(32), default="")
    # seqNo of the Ended event (see domain.fold_flagging); NULL while active.
    ended_seq: Mapped[int | None]
    # Indexed: a transaction started by RequestStartTransaction is looked up by it.
    remote_start_id: Mapped[int | None] = mapped_column(index=True)
    # seqNo of the event remote_start_id came from.
    remote_start_seq: Mapped[int | None]
    # Energy.Active.Import.Register readings in Wh: the earliest and the latest by timestamp.
    energy_first_at: Mapped[datetime.datetime | None]
    energy_first_wh: Mapped[float | None]
    energy_last_at: Mapped[datetime.datetime | None]
    energy_last_wh: Mapped[float | None]
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The OCPP-J subprotocol of the station that reported it: "ocpp2.0.1" or "ocpp1.6" (then
    # id is the integer transactionId of an Ocpp16TransactionId, in decimal).
    protocol: Mapped[str] = mapped_column(
        String(16), default="ocpp2.0.1", server_default="ocpp2.0.1"
    )


class Ocpp16TransactionId(Base):
    """The integer transactionId the CSMS assigned to one OCPP 1.6J StartTransaction.

    Unique on the request's natural key: a station that re-sends the same StartTransaction
    after a lost answer repeats all of it, so the insert of the repeat conflicts and finds the
    id of the first (repository.Ocpp16TransactionIds.assign). The id is global, not per station
    (1.6 stations treat it as the CSMS's), and is the transaction's ``id`` in decimal.
    """

    __tablename__ = "ocpp16_transaction_ids"
    __table_args__ = (
        UniqueConstraint(
            "station_id",
            "connector_id",
            "id_tag",
            "timestamp",
            "meter_start",
            name="uq_ocpp16_transaction_ids_start",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int]
    id_tag: Mapped[str] = mapped_column(String(20))
    # The station's clock (StartTransaction.timestamp).
    timestamp: Mapped[datetime.datetime]
    # Wh.
    meter_start: Mapped[int]
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    # The transaction's chargingState at its start (OCPP value), fixed at the assignment: the one
    # the station last reported for the connector before it (a 1.6 StatusNotification may come
    # first), else "Charging". NULL for the ids assigned before migration 0011: "Charging".
    charging_state: Mapped[str | None] = mapped_column(String(20))


class Ocpp16RemoteStart(Base):
    """A RequestStartTransaction on its way to a 1.6 station, whose RemoteStartTransaction cannot
    carry the remoteStartId: kept (before it leaves) for the StartTransaction of that idTag on
    that connector (any, when NULL) that comes before ``expires_at``. The assignment of that
    start's transactionId takes it (``transaction_id``, in the same database transaction), so a
    re-sent StartTransaction finds the same link, and no other start takes it."""

    __tablename__ = "ocpp16_remote_starts"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    remote_start_id: Mapped[int] = mapped_column(primary_key=True)
    # As sent (1.6's CiString20Type); matched whatever the case.
    id_tag: Mapped[str] = mapped_column(String(20))
    connector_id: Mapped[int | None]
    expires_at: Mapped[datetime.datetime]
    # The 1.6 transactionId (Ocpp16TransactionId.id) of the start that took it; NULL: waiting.
    transaction_id: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class _EventColumns:
    """A TransactionEvent as received, keyed by (station, transaction, seqNo): what the events
    and the conflicts tables both hold."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[ForeignKeyConstraint, ...]:
        return (
            ForeignKeyConstraint(
                ["station_id", "transaction_id"],
                ["transactions.station_id", "transactions.id"],
                ondelete="CASCADE",
            ),
        )

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq_no: Mapped[int] = mapped_column(primary_key=True)
    # OCPP TransactionEventEnumType value: "Started", "Updated" or "Ended".
    event_type: Mapped[str] = mapped_column(String(8))
    # OCPP TriggerReasonEnumType value, e.g. "MeterValuePeriodic".
    trigger_reason: Mapped[str] = mapped_column(String(32))
    # The station's clock.
    timestamp: Mapped[datetime.datetime]
    offline: Mapped[bool] = mapped_column(default=False)
    # The OCPP JSON of the event's meterValue list, exactly as received.
    meter_values: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class TransactionEventRow(_EventColumns, Base):
    """A TransactionEvent as received; the primary key makes a repeated event a duplicate."""

    __tablename__ = "transaction_events"

    # What the event said, hashed (service.digest): a repeat of it is a retry, a different event
    # under this seqNo a conflict. NULL for the events stored before it was kept.
    digest: Mapped[str | None] = mapped_column(String(32))


class EventConflictRow(_EventColumns, Base):
    """An event that came under a seqNo already stored with different content, once per
    content; folded into its transaction as it came."""

    __tablename__ = "transaction_event_conflicts"

    digest: Mapped[str] = mapped_column(String(32), primary_key=True)


class ImplausibleReadingRow(Base):
    """An energy register reading left out of its transaction's energy (domain.Implausible)."""

    __tablename__ = "implausible_readings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["station_id", "transaction_id"],
            ["transactions.station_id", "transactions.id"],
            ondelete="CASCADE",
        ),
        Index("ix_implausible_readings_transaction", "station_id", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(String(48))
    transaction_id: Mapped[str] = mapped_column(String(36))
    seq_no: Mapped[int]
    at: Mapped[datetime.datetime]
    wh: Mapped[float]
    # "future", "beforeStart", "afterEnd", "backwards" or "jump".
    reason: Mapped[str] = mapped_column(String(16))


class MeterValuesRow(Base):
    """One MeterValues request as received: a station's readings outside any transaction."""

    __tablename__ = "meter_values"
    # Listings are a station's rows newest first (optionally of one EVSE).
    __table_args__ = (Index("ix_meter_values_station_received", "station_id", "received_at", "id"),)

    # Assigned in arrival order; ties of received_at are broken by it. SQLite only
    # auto-increments an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(String(48))
    # 0: the station's main meter.
    evse_id: Mapped[int]
    # The OCPP JSON of the request's meterValue list, exactly as received.
    meter_values: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class RemoteStartRow(Base):
    """A RequestStartTransaction the station accepted (recorded by device_svc): the idToken the
    CSMS sent, for the transaction that reports its remoteStartId without one."""

    __tablename__ = "remote_starts"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    # The CSMS's id of the request; the latest request with this id wins.
    remote_start_id: Mapped[int] = mapped_column(primary_key=True)
    id_token: Mapped[str] = mapped_column(String(36))
    # OCPP IdTokenEnumType value, e.g. "Central".
    id_token_type: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
