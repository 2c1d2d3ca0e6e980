"""transaction_svc's remote starts and the charging state at a transaction's end, over real gRPC
and on the service itself, on SQLite and PostgreSQL; and the migrations behind them."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from common import db
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc import repository
from transaction_svc.domain import Event
from transaction_svc.models import Base
from transaction_svc.service import Transactions

from .test_transaction_svc import call, code_of, event

APP = {"idToken": "APP-USER-1", "type": "Central"}


def remote_start(station: str, remote_start_id: int, **token: Any) -> pb.RecordRemoteStartRequest:
    return pb.RecordRemoteStartRequest(
        station_id=station,
        remote_start_id=remote_start_id,
        id_token=ocpp.IdToken(
            id_token=token.get("idToken", APP["idToken"]), type=ocpp.ID_TOKEN_CENTRAL
        ),
    )


def started(tx: str = "tx-1", remote_start_id: int | None = 7, **extra: Any) -> dict[str, Any]:
    """A Started event of a remotely started transaction; no idToken unless given."""
    info = {} if remote_start_id is None else {"remoteStartId": remote_start_id}
    return event(0, "Started", 0, tx=tx, triggerReason="RemoteStart", info=info, **extra)


async def id_token_of(stub, tx: str = "tx-1", station: str = "CS1") -> tuple[str, int]:  # type: ignore[no-untyped-def]
    found = await stub.GetTransaction(pb.GetTransactionRequest(id=tx, station_id=station))
    return found.id_token, found.id_token_type


# -- over gRPC ---------------------------------------------------------------------------------


async def test_started_event_first_then_the_remote_start(transaction_stub) -> None:
    """The station's Started event (no idToken) before the CSMS learns the station accepted:
    the transaction gets the idToken the CSMS sent once RecordRemoteStart comes."""
    await transaction_stub.TransactionEvent(call(started()))
    assert await id_token_of(transaction_stub) == ("", 0)
    await transaction_stub.RecordRemoteStart(remote_start("CS1", 7))
    assert await id_token_of(transaction_stub) == (APP["idToken"], ocpp.ID_TOKEN_CENTRAL)


async def test_remote_start_first_then_the_events(transaction_stub) -> None:
    """RecordRemoteStart before the events: the Started event without an idToken takes it, and
    a group member's card stopping the transaction does not replace it."""
    await transaction_stub.RecordRemoteStart(remote_start("CS1", 7))
    await transaction_stub.TransactionEvent(call(started()))
    assert await id_token_of(transaction_stub) == (APP["idToken"], ocpp.ID_TOKEN_CENTRAL)
    stopper = {"idToken": "FLEET-CARD", "type": "ISO14443"}
    ended = event(1, "Ended", 5, triggerReason="StopAuthorized", idToken=stopper)
    await transaction_stub.TransactionEvent(call(ended))
    assert await id_token_of(transaction_stub) == (APP["idToken"], ocpp.ID_TOKEN_CENTRAL)


async def test_the_station_s_own_id_token_stays(transaction_stub) -> None:
    """A Started event with an idToken keeps it, before and after RecordRemoteStart."""
    card = {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}
    await transaction_stub.TransactionEvent(call(started(idToken=card)))
    await transaction_stub.RecordRemoteStart(remote_start("CS1", 7))
    await transaction_stub.TransactionEvent(call(started(tx="tx-2", idToken=card)))
    for tx in ("tx-1", "tx-2"):
        assert await id_token_of(transaction_stub, tx) == (card["idToken"], ocpp.ID_TOKEN_ISO14443)


async def test_only_that_station_s_transaction_with_that_id(transaction_stub) -> None:
    """A remote start reaches the station's transaction with its remoteStartId only: not another
    station's with the same id, nor the station's own without one or with another."""
    await transaction_stub.TransactionEvent(call(started(), station="CS2"))
    await transaction_stub.TransactionEvent(call(started(tx="tx-2", remote_start_id=None)))
    await transaction_stub.TransactionEvent(call(started(tx="tx-3", remote_start_id=8)))
    await transaction_stub.RecordRemoteStart(remote_start("CS1", 7))
    assert await id_token_of(transaction_stub, station="CS2") == ("", 0)
    assert await id_token_of(transaction_stub, "tx-2") == ("", 0)
    assert await id_token_of(transaction_stub, "tx-3") == ("", 0)


async def test_record_remote_start_checks_its_arguments(transaction_stub) -> None:
    """No station, no idToken or no idToken type: INVALID_ARGUMENT, nothing stored."""
    no_token = remote_start("CS1", 7)
    no_token.ClearField("id_token")
    no_type = remote_start("CS1", 7)
    no_type.id_token.ClearField("type")
    for bad in (remote_start("", 7), no_token, no_type, remote_start("CS1", 7, idToken="x" * 37)):
        code = await code_of(transaction_stub.RecordRemoteStart(bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    await transaction_stub.TransactionEvent(call(started()))
    assert await id_token_of(transaction_stub) == ("", 0)


async def test_an_ended_transaction_is_not_charging(transaction_stub) -> None:
    """Charging, then an Ended event without chargingState, arriving first (offline backlog):
    EVConnected; the same ended by unplugging the cable: Idle."""
    charging = {"info": {"chargingState": "Charging"}}
    for tx, trigger, reason, expected in (
        ("tx-1", "StopAuthorized", "Local", ocpp.CHARGING_STATE_EV_CONNECTED),
        ("tx-2", "EVCommunicationLost", "EVDisconnected", ocpp.CHARGING_STATE_IDLE),
    ):
        ended = event(2, "Ended", 9, tx=tx, triggerReason=trigger, offline=True)
        ended["transactionInfo"]["stoppedReason"] = reason
        await transaction_stub.TransactionEvent(call(ended))
        await transaction_stub.TransactionEvent(call(event(1, "Updated", 5, tx=tx, **charging)))
        found = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id=tx))
        assert not found.active and found.charging_state == expected


# -- on the service: a remote start committed while the event's group did not see it ------------


@pytest.fixture(params=["set-based", "one by one"])
async def transactions(request, migrated_db) -> AsyncIterator[Transactions]:  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engine = db.create_engine(url)
    service = Transactions(db.session_factory(engine))
    if request.param == "one by one":
        service._events.apply_many = None
    yield service
    await service.drain()
    await engine.dispose()


def _started_event(remote_start_id: int = 7) -> Event:
    return Event(
        seq_no=0,
        event_type="Started",
        timestamp=datetime.datetime(2026, 1, 1, 10, tzinfo=datetime.UTC),
        trigger_reason="RemoteStart",
        remote_start_id=remote_start_id,
    )


async def test_a_remote_start_the_group_missed_is_looked_up_again(
    transactions: Transactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: RecordRemoteStart commits while the Started event's group, which did not see
    it, commits too (each transaction then misses the other's uncommitted row). The event's
    caller looks again after its commit, so the transaction still gets the idToken."""
    await transactions.record_remote_start("CS1", 7, "APP-USER-1", "Central")  # no tx yet
    find = repository.RemoteStarts.find
    looked: list[int] = []

    async def unseen_in_the_group(self, keys):  # type: ignore[no-untyped-def]
        looked.append(len(keys))
        if len(looked) == 1:
            return {}  # as if still uncommitted when the group looked
        return await find(self, keys)

    monkeypatch.setattr(repository.RemoteStarts, "find", unseen_in_the_group)
    assert await transactions.record("CS1", "tx-1", _started_event())
    row, _ = await transactions.get("tx-1", "CS1")
    assert (row.id_token, row.id_token_type, row.id_token_seq) == ("APP-USER-1", "Central", 0)
    assert len(looked) == 2
    # A transaction that has what it wants looks nothing up, in the group or after.
    assert await transactions.record("CS1", "tx-1", _started_event()) is False
    assert len(looked) == 2


async def test_no_remote_start_is_looked_up_once_after_the_group(
    transactions: Transactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction wanting a remote start nobody recorded: looked up in the group and once
    after it when it came to want it; then only in the groups of its own later events."""
    find = repository.RemoteStarts.find
    looked: list[int] = []

    async def counting(self, keys):  # type: ignore[no-untyped-def]
        looked.append(len(keys))
        return await find(self, keys)

    monkeypatch.setattr(repository.RemoteStarts, "find", counting)
    await transactions.record("CS1", "tx-1", _started_event())
    assert len(looked) == 2
    later = Event(seq_no=1, event_type="Updated", timestamp=_started_event().timestamp)
    await transactions.record("CS1", "tx-1", later)
    assert len(looked) == 3
    row, _ = await transactions.get("tx-1", "CS1")
    assert (row.id_token, row.remote_start_id, row.remote_start_seq) == ("", 7, 0)


async def test_concurrent_remote_starts_and_events(transactions: Transactions) -> None:
    """Remote starts and the Started events of their transactions racing each other: every
    transaction ends up with its remote start's idToken."""
    n = 24
    await asyncio.gather(
        *(transactions.record(f"CS{i}", "tx", _started_event(i)) for i in range(n)),
        *(transactions.record_remote_start(f"CS{i}", i, f"USER-{i}", "Central") for i in range(n)),
    )
    for i in range(n):
        row, _ = await transactions.get("tx", f"CS{i}")
        assert (row.id_token, row.id_token_type) == (f"USER-{i}", "Central")


# -- the migrations -------------------------------------------------------------------------------


async def test_the_migrations_make_the_model(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """The tables the migrations make are the ones the models describe."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "transaction_svc:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def _upgrade(url: str, revision: str) -> None:
    command.upgrade(_config(url), revision)


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(_config(url), revision)


async def test_transactions_ended_before_the_migration_are_not_charging(
    backend: str,
    postgres_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """Transactions stored before 0003 get the charging state at their end from their Ended
    event: EV gone (stoppedReason, or the Ended event's trigger) Idle, Charging EVConnected."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'before.sqlite'}"
    else:
        url = f"{postgres_url}/csms_test_tx_migration_{id(tmp_path):x}"
    await db.ensure_database(url)
    try:
        await asyncio.to_thread(_upgrade, url, "0002")
        engine = db.create_engine(url)
        stored = [
            # id, active, charging_state, stopped_reason, the Ended event's trigger
            ("charging-local", False, "Charging", "Local", "StopAuthorized"),
            ("charging-unplugged", False, "Charging", "EVDisconnected", "EVCommunicationLost"),
            ("suspended-departed", False, "SuspendedEV", "Local", "EVDeparted"),
            ("suspended-local", False, "SuspendedEV", "Local", "StopAuthorized"),
            ("still-charging", True, "Charging", "", None),
        ]
        now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        try:
            async with engine.begin() as conn:
                for tx, active, charging, reason, trigger in stored:
                    await conn.execute(
                        sa.text(
                            "INSERT INTO transactions (station_id, id, active, "
                            "start_event_received, id_token, id_token_type, charging_state, "
                            "stopped_reason, created_at, updated_at) VALUES ('CS1', :id, "
                            ":active, true, '', '', :charging, :reason, :now, :now)"
                        ),
                        {"id": tx, "active": active, "charging": charging, "reason": reason}
                        | {"now": now.replace(tzinfo=None) if backend == "sqlite" else now},
                    )
                    if trigger is not None:
                        await conn.execute(
                            sa.text(
                                "INSERT INTO transaction_events (station_id, transaction_id, "
                                "seq_no, event_type, trigger_reason, timestamp, offline, "
                                "meter_values, received_at) VALUES ('CS1', :id, 3, 'Ended', "
                                ":trigger, :now, false, '[]', :now)"
                            ),
                            {"id": tx, "trigger": trigger}
                            | {"now": now.replace(tzinfo=None) if backend == "sqlite" else now},
                        )
        finally:
            await engine.dispose()
        await asyncio.to_thread(_upgrade, url, "head")
        engine = db.create_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text("SELECT id, charging_state, ended_ev_gone FROM transactions")
                )
                after = {row.id: (row.charging_state, bool(row.ended_ev_gone)) for row in rows}
        finally:
            await engine.dispose()
        assert after == {
            "charging-local": ("EVConnected", False),
            "charging-unplugged": ("Idle", True),
            "suspended-departed": ("Idle", True),
            "suspended-local": ("SuspendedEV", False),
            "still-charging": ("Charging", False),
        }
        # Down and up again: no transaction and no event lost on the way (on SQLite a copied
        # table would take its events with it: ON DELETE CASCADE).
        await asyncio.to_thread(_downgrade, url, "0002")
        await asyncio.to_thread(_upgrade, url, "head")
        engine = db.create_engine(url)
        try:
            async with engine.connect() as conn:
                counts = [
                    (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar()
                    for table in ("transactions", "transaction_events")
                ]
        finally:
            await engine.dispose()
        assert counts == [5, 4]
    finally:
        await db.drop_database(url)
