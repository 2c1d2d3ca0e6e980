"""transaction_svc's OCPP 1.6J transactions over real gRPC and real databases (SQLite and
PostgreSQL; the PostgreSQL runs fail, not skip, without a server): the integer transactionId a
StartTransaction gets (AssignTransactionId16) assigned once per request, also under concurrent
deliveries from two processes' worth of engines, and 1.6 events recorded with their protocol."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator

import grpc
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from google.protobuf import timestamp_pb2

from common import db
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from csms.user.v1 import user_service_pb2 as user_pb
from csms.user.v1 import user_service_pb2_grpc as user_grpc
from transaction_svc.service import Transactions

from .test_transaction_svc import call, code_of, event

T0 = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
async def user_stub_at(user_svc_addr: str) -> AsyncIterator[user_grpc.UserServiceStub]:
    """A client of the very user_svc that transaction_stub asks."""
    async with grpc.aio.insecure_channel(user_svc_addr) as channel:
        yield user_grpc.UserServiceStub(channel)


def start(
    station: str = "CS16", connector: int = 1, tag: str = "TAG-1", meter: int = 100, **kw: object
) -> pb.AssignTransactionId16Request:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(T0)
    return pb.AssignTransactionId16Request(
        station_id=station,
        connector_id=connector,
        id_tag=tag,
        timestamp=ts,
        meter_start=meter,
        **kw,
    )


async def test_a_start_gets_one_id_however_often_it_is_sent(transaction_stub) -> None:
    """The same request again (a station's re-send after a lost answer): the same id, not
    assigned again; any field different: another start, another id."""
    first = await transaction_stub.AssignTransactionId16(start())
    assert first.transaction_id > 0 and first.assigned
    again = await transaction_stub.AssignTransactionId16(start())
    assert (again.transaction_id, again.assigned) == (first.transaction_id, False)
    others = [
        start(station="CS16-B"),
        start(connector=2),
        start(tag="TAG-2"),
        start(meter=101),
    ]
    ids = [(await transaction_stub.AssignTransactionId16(o)).transaction_id for o in others]
    assert len({first.transaction_id, *ids}) == 5


def expect(
    station: str = "CS16", remote_start_id: int = 7, tag: str = "tag-1", connector: int | None = 1
) -> pb.ExpectRemoteStart16Request:
    request = pb.ExpectRemoteStart16Request(
        station_id=station, remote_start_id=remote_start_id, id_tag=tag
    )
    if connector is not None:
        request.connector_id = connector
    return request


async def test_a_remote_start_is_taken_by_its_start_and_kept(transaction_stub) -> None:
    """A remote start kept for a 1.6 station goes to the StartTransaction of its idTag (any
    case) on its connector: linked when the id is assigned, the same link for the start
    re-sent; not to another connector's or idTag's start, nor to the next start; one without
    a connector goes to any; a forgotten one to none."""
    await transaction_stub.ExpectRemoteStart16(expect())
    other = await transaction_stub.AssignTransactionId16(start(connector=2))
    assert not other.HasField("remote_start_id")
    assert not (await transaction_stub.AssignTransactionId16(start(tag="TAG-2"))).HasField(
        "remote_start_id"
    )
    first = await transaction_stub.AssignTransactionId16(start())
    assert first.remote_start_id == 7
    again = await transaction_stub.AssignTransactionId16(start())
    assert (again.transaction_id, again.assigned, again.remote_start_id) == (
        first.transaction_id,
        False,
        7,
    )
    assert not (await transaction_stub.AssignTransactionId16(start(meter=300))).HasField(
        "remote_start_id"
    )
    await transaction_stub.ExpectRemoteStart16(expect(remote_start_id=8, connector=None))
    assert (await transaction_stub.AssignTransactionId16(start(connector=3))).remote_start_id == 8
    await transaction_stub.ExpectRemoteStart16(expect(remote_start_id=9))
    await transaction_stub.ForgetRemoteStart16(
        pb.ForgetRemoteStart16Request(station_id="CS16", remote_start_id=9)
    )
    assert not (await transaction_stub.AssignTransactionId16(start(meter=400))).HasField(
        "remote_start_id"
    )


async def test_an_expired_remote_start_is_taken_by_no_start(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """Past its wait, a remote start links nothing."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engine = db.create_engine(url)
    try:
        service = Transactions(db.session_factory(engine), remote_start_wait16=0.0)
        await service.expect_remote_start16("CS16", 5, "TAG-1", 1)
        got = await service.assign_id16("CS16", 1, "TAG-1", T0, 100)
        assert got.assigned and got.remote_start_id is None
    finally:
        await engine.dispose()


async def test_starts_racing_for_one_remote_start_link_it_once(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """Ten different starts of the idTag on two engines at once: one of them has the remote
    start."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engines = [db.create_engine(url) for _ in range(2)]
    try:
        services = [Transactions(db.session_factory(e)) for e in engines]
        await services[0].expect_remote_start16("CS16", 11, "TAG-1", 1)
        got = await asyncio.gather(
            *(services[i % 2].assign_id16("CS16", 1, "TAG-1", T0, 500 + i) for i in range(10))
        )
        assert [g.remote_start_id for g in got].count(11) == 1
        assert [g.remote_start_id for g in got].count(None) == 9
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_charging_state_at_the_start_is_kept_with_the_id(transaction_stub) -> None:
    """The chargingState the request brings is the start's, answered again for the re-sent
    start even if it brings another; without one, Charging."""
    first = await transaction_stub.AssignTransactionId16(
        start(charging_state=ocpp.CHARGING_STATE_SUSPENDED_EV)
    )
    assert first.charging_state == ocpp.CHARGING_STATE_SUSPENDED_EV
    again = await transaction_stub.AssignTransactionId16(
        start(charging_state=ocpp.CHARGING_STATE_CHARGING)
    )
    assert again.charging_state == ocpp.CHARGING_STATE_SUSPENDED_EV
    plain = await transaction_stub.AssignTransactionId16(start(meter=999))
    assert plain.charging_state == ocpp.CHARGING_STATE_CHARGING


async def test_the_assigned_transaction_is_listed_as_1_6(transaction_stub) -> None:
    """From its assignment on, the transaction is listed with its integer id and protocol."""
    assigned = await transaction_stub.AssignTransactionId16(start())
    page = await transaction_stub.ListTransactions(pb.ListTransactionsRequest(station_id="CS16"))
    (tx,) = page.transactions
    assert tx.id == str(assigned.transaction_id)
    assert tx.protocol == "ocpp1.6" and tx.active


async def test_concurrent_deliveries_of_one_start_get_one_id(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """Two engines (as two replicas of transaction_svc would have) each racing ten deliveries
    of the same start, and of ten different starts: one id for the one, ten for the ten, one
    transaction each."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engines = [db.create_engine(url) for _ in range(2)]
    try:
        services = [Transactions(db.session_factory(e)) for e in engines]
        same = await asyncio.gather(
            *(services[i % 2].assign_id16("CS16", 1, "TAG-1", T0, 100) for i in range(20))
        )
        assert len({got.transaction_id for got in same}) == 1
        assert sum(got.assigned for got in same) == 1
        different = await asyncio.gather(
            *(services[i % 2].assign_id16("CS16", 1, "TAG-1", T0, 200 + i) for i in range(10))
        )
        assert len({got.transaction_id for got in different}) == 10
        assert all(got.assigned for got in different)
        rows, _ = await services[0].list("CS16", None, 100, "")
        assert sorted(int(r.id) for r in rows) == sorted(
            {same[0].transaction_id, *(got.transaction_id for got in different)}
        )
        assert {r.protocol for r in rows} == {"ocpp1.6"}
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (start(connector=0), grpc.StatusCode.INVALID_ARGUMENT),
        (start(tag=""), grpc.StatusCode.INVALID_ARGUMENT),
        (start(station=""), grpc.StatusCode.INVALID_ARGUMENT),
        (
            pb.AssignTransactionId16Request(station_id="CS16", connector_id=1, id_tag="T"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (start(registration=ocpp.REGISTRATION_STATUS_PENDING), grpc.StatusCode.PERMISSION_DENIED),
    ],
    ids=["connector-0", "no-id-tag", "no-station", "no-timestamp", "pending-station"],
)
async def test_refused_starts_get_no_id(transaction_stub, request_, code) -> None:  # type: ignore[no-untyped-def]
    """A start the CSMS cannot take, or from a station that may not send it, gets no id."""
    assert await code_of(transaction_stub.AssignTransactionId16(request_)) == code
    page = await transaction_stub.ListTransactions(pb.ListTransactionsRequest())
    assert list(page.transactions) == []


def call16(payload: dict[str, object], station: str = "CS16") -> pb.TransactionEventCall:
    out = call(payload, station)
    out.protocol = "ocpp1.6"
    return out


async def test_1_6_events_authorize_an_id_tag_of_any_type(transaction_stub, user_stub_at) -> None:  # type: ignore[no-untyped-def]
    """A 1.6 idTag matches the stored token of that value whatever its type; its placeholder
    type is not kept; a refused idTag is still a transaction (the station decides)."""
    await user_stub_at.CreateIdToken(
        user_pb.CreateIdTokenRequest(
            id_token=user_pb.IdToken(id_token="APP-1", type=ocpp.ID_TOKEN_CENTRAL)
        )
    )
    tag = {"idToken": "APP-1", "type": "ISO14443"}
    resp = await transaction_stub.TransactionEvent(
        call16(event(0, "Started", 0, tx="41", idToken=tag, triggerReason="Authorized"))
    )
    assert resp.id_token_info.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
    # The same as a 2.0.1 event: the type must match, and this one does not.
    resp = await transaction_stub.TransactionEvent(
        call(event(0, "Started", 0, tx="tx-201", idToken=tag, triggerReason="Authorized"))
    )
    assert resp.id_token_info.status != ocpp.AUTHORIZATION_STATUS_ACCEPTED
    unknown = {"idToken": "NOBODY", "type": "ISO14443"}
    resp = await transaction_stub.TransactionEvent(
        call16(event(0, "Started", 0, tx="42", idToken=unknown, triggerReason="Authorized"))
    )
    assert resp.id_token_info.status == ocpp.AUTHORIZATION_STATUS_UNKNOWN
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="41"))
    assert (tx.id_token, tx.id_token_type, tx.protocol) == ("APP-1", 0, "ocpp1.6")
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="42"))
    assert tx.protocol == "ocpp1.6" and tx.active
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-201"))
    assert tx.protocol == "ocpp2.0.1"


async def test_a_stop_of_an_unknown_transaction_is_recorded(transaction_stub) -> None:
    """A 1.6 StopTransaction's Ended event for an id the CSMS never assigned: stored, listed as
    an ended 1.6 transaction; its re-send is no second event."""
    ended = event(
        2**31 - 1,
        "Ended",
        20,
        tx="999",
        triggerReason="StopAuthorized",
        info={"stoppedReason": "Local"},
        meter=[{"value": 5000, "context": "Transaction.End"}],
    )
    for _ in range(2):
        await transaction_stub.TransactionEvent(call16(ended))
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="999"))
    assert tx.protocol == "ocpp1.6" and not tx.active
    assert [e.seq_no for e in tx.events] == [2**31 - 1]
    assert list(tx.conflicts) == []


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "transaction_svc:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


async def test_migration_0010_keeps_transactions_as_2_0_1(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """Transactions stored before 0010 are OCPP 2.0.1 ones; 0010 goes down and up again."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    await asyncio.to_thread(command.downgrade, _config(url), "0009")
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO transactions (station_id, id, active, start_event_received, "
                    "id_token, id_token_type, charging_state, stopped_reason, ended_ev_gone, "
                    "created_at, updated_at) VALUES ('CS1', 'old-tx', true, true, '', '', '', "
                    "'', false, :now, :now)"
                ),
                {"now": datetime.datetime(2026, 1, 1)},
            )
        await asyncio.to_thread(command.upgrade, _config(url), "head")
        async with engine.connect() as conn:
            protocol = await conn.scalar(
                sa.text("SELECT protocol FROM transactions WHERE id = 'old-tx'")
            )
        assert protocol == "ocpp2.0.1"
        service = Transactions(db.session_factory(engine))
        assert (await service.assign_id16("CS1", 1, "T", T0, 0)).assigned
    finally:
        await engine.dispose()
