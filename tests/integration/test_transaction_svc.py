"""transaction_svc over real gRPC on SQLite and PostgreSQL, asking a real user_svc."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from common.grpc_server import REQUEST_ID_KEY
from common.ocpp_json import to_ocpp, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from csms.user.v1 import user_service_pb2 as user_pb
from csms.user.v1 import user_service_pb2_grpc as user_grpc

CARD = {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}


def event(
    seq_no: int,
    event_type: str,
    minute: int,
    tx: str = "tx-1",
    meter: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An OCPP TransactionEventRequest payload at 10:mm."""
    ts = f"2026-01-01T10:{minute:02d}:00Z"
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": ts,
        "triggerReason": extra.pop("triggerReason", "MeterValuePeriodic"),
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": tx, **extra.pop("info", {})},
        **extra,
    }
    if meter:
        payload["meterValue"] = [{"timestamp": ts, "sampledValue": meter}]
    return payload


# 1000 Wh, then 1.2 kWh, then 15 × 10² Wh: 500 Wh delivered. Per-phase and other measurands
# in between must not count.
FULL = [
    event(
        0,
        "Started",
        0,
        triggerReason="Authorized",
        evse={"id": 1, "connectorId": 2},
        idToken=CARD,
        info={"chargingState": "EVConnected", "remoteStartId": 7},
        meter=[{"value": 1000, "context": "Transaction.Begin"}],
    ),
    event(
        1,
        "Updated",
        10,
        info={"chargingState": "Charging"},
        meter=[
            {"value": 1.2, "unitOfMeasure": {"unit": "kWh"}},
            {"value": 400, "phase": "L1"},
            {"value": 7200, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
        ],
    ),
    event(
        2,
        "Ended",
        20,
        triggerReason="EVCommunicationLost",
        info={"chargingState": "Idle", "stoppedReason": "EVDisconnected"},
        meter=[{"value": 15, "unitOfMeasure": {"unit": "Wh", "multiplier": 2}}],
    ),
]


def call(payload: dict[str, Any], station: str = "CS1") -> pb.TransactionEventCall:
    return pb.TransactionEventCall(
        station_id=station, request=to_proto(ocpp.TransactionEventRequest, payload)
    )


async def send(stub, payloads: list[dict[str, Any]], station: str = "CS1") -> None:  # type: ignore[no-untyped-def]
    for payload in payloads:
        await stub.TransactionEvent(call(payload, station))


async def code_of(awaitable) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await awaitable
    return err.value.code()


def aggregate(tx: pb.Transaction) -> pb.Transaction:
    """The transaction without what legitimately differs between two copies of it."""
    out = pb.Transaction()
    out.CopyFrom(tx)
    out.ClearField("id")
    out.ClearField("update_time")
    return out


@pytest.fixture
async def user_stub_at(user_svc_addr: str) -> AsyncIterator[user_grpc.UserServiceStub]:
    """A client of the very user_svc that transaction_stub asks."""
    async with grpc.aio.insecure_channel(user_svc_addr) as channel:
        yield user_grpc.UserServiceStub(channel)


async def test_full_transaction(transaction_stub) -> None:
    """Started/Updated/Ended give an ended transaction with its fields and 500 Wh."""
    await send(transaction_stub, FULL)
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-1"))
    assert tx.station_id == "CS1" and not tx.active
    assert (tx.evse_id, tx.connector_id) == (1, 2)
    assert tx.id_token == "04A2B3C4D5E6F7" and tx.id_token_type == ocpp.ID_TOKEN_ISO14443
    assert tx.charging_state == ocpp.CHARGING_STATE_IDLE
    assert tx.stopped_reason == ocpp.REASON_EV_DISCONNECTED
    assert tx.HasField("remote_start_id") and tx.remote_start_id == 7
    assert tx.started_at.ToJsonString() == "2026-01-01T10:00:00Z"
    assert tx.ended_at.ToJsonString() == "2026-01-01T10:20:00Z"
    assert tx.energy_wh == pytest.approx(500.0)


async def test_get_has_events_and_meter_values(transaction_stub) -> None:
    """GetTransaction returns the events in seqNo order with their meter values as received."""
    await send(transaction_stub, [FULL[2], FULL[0], FULL[1]])
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-1"))
    assert [e.seq_no for e in tx.events] == [0, 1, 2]
    assert [e.event_type for e in tx.events] == [
        ocpp.TRANSACTION_EVENT_STARTED,
        ocpp.TRANSACTION_EVENT_UPDATED,
        ocpp.TRANSACTION_EVENT_ENDED,
    ]
    assert tx.events[2].trigger_reason == ocpp.TRIGGER_REASON_EV_COMMUNICATION_LOST
    assert tx.events[1].timestamp.ToJsonString() == "2026-01-01T10:10:00Z"
    for stored, sent in zip(tx.events, FULL, strict=True):
        assert [to_ocpp(mv) for mv in stored.meter_values] == sent["meterValue"]


async def test_duplicate_is_acknowledged_and_stored_once(transaction_stub) -> None:
    """A repeated event gets the same kind of answer and is stored once."""
    first = await transaction_stub.TransactionEvent(call(FULL[0]))
    again = await transaction_stub.TransactionEvent(call(FULL[0]))
    assert again == first
    await transaction_stub.TransactionEvent(call(FULL[1]))
    await transaction_stub.TransactionEvent(call(FULL[1]))
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-1"))
    assert [e.seq_no for e in tx.events] == [0, 1]
    assert tx.energy_wh == pytest.approx(200.0)


async def test_concurrent_duplicates_stored_once(transaction_stub) -> None:
    """Copies of one event racing each other all succeed and leave one event."""
    await asyncio.gather(*(transaction_stub.TransactionEvent(call(FULL[1])) for _ in range(8)))
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-1"))
    assert [e.seq_no for e in tx.events] == [1]


async def test_concurrent_events_of_a_new_transaction(transaction_stub) -> None:
    """Different events of one new transaction racing each other are all folded in."""
    await asyncio.gather(*(transaction_stub.TransactionEvent(call(p)) for p in FULL * 3))
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-1"))
    assert [e.seq_no for e in tx.events] == [0, 1, 2]
    assert not tx.active and tx.energy_wh == pytest.approx(500.0)
    assert tx.charging_state == ocpp.CHARGING_STATE_IDLE


async def test_reverse_order_gives_same_aggregate(transaction_stub) -> None:
    """Events delivered in reverse (an offline backlog) give the same transaction."""
    await send(transaction_stub, FULL)
    reversed_ = [
        {**p, "transactionInfo": {**p["transactionInfo"], "transactionId": "tx-2"}}
        for p in reversed(FULL)
    ]
    # Before the Started event arrives, the earliest timestamp stands in for started_at.
    await send(transaction_stub, reversed_[:2])
    partial = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-2"))
    assert partial.started_at.ToJsonString() == "2026-01-01T10:10:00Z" and not partial.active
    await send(transaction_stub, reversed_[2:])
    one = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-1"))
    two = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-2"))
    assert aggregate(two) == aggregate(one)
    assert two.energy_wh == pytest.approx(500.0)


async def test_id_token_info_from_user_svc(transaction_stub, user_stub_at) -> None:
    """The answer's idTokenInfo is user_svc's decision for the token; none without a token."""
    resp = await transaction_stub.TransactionEvent(call(FULL[0]))
    assert resp.id_token_info.status == ocpp.AUTHORIZATION_STATUS_UNKNOWN
    await user_stub_at.CreateIdToken(
        user_pb.CreateIdTokenRequest(
            id_token=user_pb.IdToken(
                id_token=CARD["idToken"], type=ocpp.ID_TOKEN_ISO14443, group_id_token="FLEET-1"
            )
        )
    )
    resp = await transaction_stub.TransactionEvent(call(event(5, "Updated", 30, idToken=CARD)))
    assert resp.id_token_info.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
    assert resp.id_token_info.group_id_token.id_token == "FLEET-1"
    resp = await transaction_stub.TransactionEvent(call(FULL[1]))
    assert not resp.HasField("id_token_info")


async def test_user_svc_down_is_unavailable_and_stores_nothing(start_transaction_svc) -> None:
    """Without user_svc an event with an idToken is UNAVAILABLE and not stored; others are."""
    # Nothing listens on port 1: the connection is refused at once.
    stub = await start_transaction_svc(user_svc_addr="127.0.0.1:1", user_svc_timeout=2)
    assert await code_of(stub.TransactionEvent(call(FULL[0]))) == grpc.StatusCode.UNAVAILABLE
    get = pb.GetTransactionRequest(id="tx-1")
    assert await code_of(stub.GetTransaction(get)) == grpc.StatusCode.NOT_FOUND
    await stub.TransactionEvent(call(FULL[1]))
    tx = await stub.GetTransaction(get)
    assert [e.seq_no for e in tx.events] == [1]


class RecordingUsers(user_grpc.UserServiceServicer):
    """A UserService that answers Accepted and remembers the metadata it was called with."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def Authorize(self, request, context):  # type: ignore[no-untyped-def]
        self.metadata.append(dict(context.invocation_metadata()))
        info = ocpp.IdTokenInfo(status=ocpp.AUTHORIZATION_STATUS_ACCEPTED)
        return ocpp.AuthorizeResponse(id_token_info=info)


@contextlib.asynccontextmanager
async def serving(users: user_grpc.UserServiceServicer) -> AsyncIterator[str]:
    """``users`` served on a free loopback port (its address), for the length of the block."""
    server = grpc.aio.server()
    user_grpc.add_UserServiceServicer_to_server(users, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_request_id_is_forwarded_to_user_svc(start_transaction_svc) -> None:
    """The caller's x-request-id travels on to user_svc's Authorize."""
    users = RecordingUsers()
    async with serving(users) as address:
        stub = await start_transaction_svc(user_svc_addr=address)
        resp = await stub.TransactionEvent(call(FULL[0]), metadata=((REQUEST_ID_KEY, "req-42"),))
    assert resp.id_token_info.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
    assert users.metadata[0][REQUEST_ID_KEY] == "req-42"


class BatchingUsers(RecordingUsers):
    """A UserService that also answers the batch RPC, and counts the calls of each."""

    def __init__(self) -> None:
        super().__init__()
        self.unary = 0
        self.batches: list[int] = []

    async def Authorize(self, request, context):  # type: ignore[no-untyped-def]
        self.unary += 1
        return await super().Authorize(request, context)

    async def Authorizes(self, request, context):  # type: ignore[no-untyped-def]
        self.batches.append(len(request.items))
        info = ocpp.IdTokenInfo(status=ocpp.AUTHORIZATION_STATUS_ACCEPTED)
        outcome = user_pb.AuthorizesResponse.Outcome(
            response=ocpp.AuthorizeResponse(id_token_info=info)
        )
        return user_pb.AuthorizesResponse(outcomes=[outcome] * len(request.items))


async def test_started_events_together_are_authorized_together(start_transaction_svc) -> None:
    """A batch of Started events costs user_svc a couple of Authorizes calls, not one each."""
    users = BatchingUsers()
    async with serving(users) as address:
        stub = await start_transaction_svc(user_svc_addr=address)
        request = pb.TransactionEventsRequest(
            items=[
                pb.TransactionEventsRequest.Item(
                    call=call(FULL[0], station=f"CS{n}"), request_id=f"CS{n}/m1"
                )
                for n in range(20)
            ]
        )
        response = await stub.TransactionEvents(request)
    assert [o.WhichOneof("outcome") for o in response.outcomes] == ["response"] * 20
    assert all(
        o.response.id_token_info.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
        for o in response.outcomes
    )
    assert users.unary == 0 and sum(users.batches) == 20 and len(users.batches) <= 2


async def test_list_filters_and_pages(transaction_stub) -> None:
    """Listing filters by station and state and walks every match once, page by page."""
    for station, tx, ended in [
        ("CS1", "a", False),
        ("CS1", "b", True),
        ("CS1", "c", False),
        ("CS2", "a", True),
        ("CS2", "d", False),
    ]:
        await send(transaction_stub, [event(0, "Started", 0, tx=tx)], station)
        if ended:
            await send(transaction_stub, [event(1, "Ended", 5, tx=tx)], station)

    async def walk(**filters: Any) -> list[tuple[str, str]]:
        seen, token = [], ""
        while True:
            page = await transaction_stub.ListTransactions(
                pb.ListTransactionsRequest(page_size=2, page_token=token, **filters)
            )
            assert len(page.transactions) <= 2
            seen += [(t.station_id, t.id) for t in page.transactions]
            token = page.next_page_token
            if not token:
                return seen

    everything = [("CS1", "a"), ("CS1", "b"), ("CS1", "c"), ("CS2", "a"), ("CS2", "d")]
    assert await walk() == everything
    assert await walk(station_id="CS1") == everything[:3]
    active = pb.ListTransactionsRequest.STATE_ACTIVE
    ended = pb.ListTransactionsRequest.STATE_ENDED
    assert await walk(state=active) == [("CS1", "a"), ("CS1", "c"), ("CS2", "d")]
    assert await walk(state=ended) == [("CS1", "b"), ("CS2", "a")]
    assert await walk(station_id="CS2", state=ended) == [("CS2", "a")]
    page = await transaction_stub.ListTransactions(pb.ListTransactionsRequest())
    assert not page.next_page_token and not any(t.events for t in page.transactions)
    bad = pb.ListTransactionsRequest(page_token="not-a-token")
    assert await code_of(transaction_stub.ListTransactions(bad)) == grpc.StatusCode.INVALID_ARGUMENT


async def test_ambiguous_and_missing_ids(transaction_stub) -> None:
    """An id used by two stations needs station_id; an unknown id is NOT_FOUND."""
    await send(transaction_stub, [event(0, "Started", 0, tx="same")], "CS1")
    await send(transaction_stub, [event(0, "Started", 1, tx="same")], "CS2")
    ambiguous = transaction_stub.GetTransaction(pb.GetTransactionRequest(id="same"))
    assert await code_of(ambiguous) == grpc.StatusCode.FAILED_PRECONDITION
    tx = await transaction_stub.GetTransaction(
        pb.GetTransactionRequest(id="same", station_id="CS2")
    )
    assert tx.station_id == "CS2" and tx.started_at.ToJsonString() == "2026-01-01T10:01:00Z"
    for req in [
        pb.GetTransactionRequest(id="nope"),
        pb.GetTransactionRequest(id="same", station_id="CS3"),
    ]:
        assert await code_of(transaction_stub.GetTransaction(req)) == grpc.StatusCode.NOT_FOUND


async def test_event_without_required_fields_is_invalid(transaction_stub) -> None:
    """An event without a transactionId or eventType is INVALID_ARGUMENT."""
    no_id = call(FULL[1])
    no_id.request.transaction_info.ClearField("transaction_id")
    no_type = call(FULL[1])
    no_type.request.ClearField("event_type")
    for bad in (no_id, no_type):
        code = await code_of(transaction_stub.TransactionEvent(bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_by_remote_start_id(transaction_stub) -> None:
    """remote_start_id finds the transaction a RequestStartTransaction started, 0 included."""
    await send(transaction_stub, [FULL[0]], "CS1")  # remoteStartId 7
    await send(transaction_stub, [event(0, "Started", 1, tx="tx-2", info={"remoteStartId": 0})])
    await send(transaction_stub, [event(0, "Started", 2, tx="tx-3")], "CS1")  # not remote
    await send(
        transaction_stub, [event(0, "Started", 3, tx="tx-4", info={"remoteStartId": 7})], "CS2"
    )

    async def ids(**filters: Any) -> list[tuple[str, str]]:
        page = await transaction_stub.ListTransactions(pb.ListTransactionsRequest(**filters))
        return [(t.station_id, t.id) for t in page.transactions]

    assert await ids(remote_start_id=7) == [("CS1", "tx-1"), ("CS2", "tx-4")]
    assert await ids(remote_start_id=7, station_id="CS2") == [("CS2", "tx-4")]
    assert await ids(remote_start_id=0) == [("CS1", "tx-2")]
    assert await ids(remote_start_id=8) == []
    assert len(await ids()) == 4


async def test_batch_answers_each_event_as_alone(transaction_stub) -> None:
    """TransactionEvents: one outcome per item, in order; a bad item fails alone, a repeat in
    the same batch is acknowledged and stored once, the idToken of Started is authorized."""
    bad = {**FULL[1]}
    del bad["seqNo"]  # converts (seqNo is optional in proto) but the service refuses it
    items = [FULL[0], bad, FULL[1], FULL[1], FULL[2]]
    request = pb.TransactionEventsRequest(
        items=[
            pb.TransactionEventsRequest.Item(call=call(p), request_id=f"CS1/m{n}")
            for n, p in enumerate(items)
        ]
    )
    response = await transaction_stub.TransactionEvents(request)
    kinds = [o.WhichOneof("outcome") for o in response.outcomes]
    assert kinds == ["response", "error", "response", "response", "response"]
    assert response.outcomes[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "seq_no" in response.outcomes[1].error.message
    single = await transaction_stub.TransactionEvent(call(FULL[0]))  # a repeat, answered alike
    assert response.outcomes[0].response == single
    tx = await transaction_stub.GetTransaction(pb.GetTransactionRequest(id="tx-1"))
    assert [e.seq_no for e in tx.events] == [0, 1, 2]
    assert not tx.active and tx.energy_wh == pytest.approx(500.0)


async def test_listing_by_id_token_finds_it_in_any_case(transaction_stub) -> None:  # type: ignore[no-untyped-def]
    """OCPP's idToken is case-insensitive (IdTokenType): an operator who types the card's
    number in another case than its reader finds its transactions and charge detail records."""
    await transaction_stub.CreateTariff(
        pb.CreateTariffRequest(
            tariff=pb.Tariff(id="std", currency="EUR", price_per_kwh="0.30", is_default=True)
        )
    )
    await send(transaction_stub, FULL)
    await send(transaction_stub, [event(0, "Started", 0, tx="tx-other")], "CS2")
    typed = CARD["idToken"].lower()
    page = await transaction_stub.ListTransactions(pb.ListTransactionsRequest(id_token=typed))
    assert [t.id for t in page.transactions] == ["tx-1"]
    records = await transaction_stub.ListChargeDetailRecords(
        pb.ListChargeDetailRecordsRequest(id_token=typed)
    )
    assert [r.transaction_id for r in records.charge_detail_records] == ["tx-1"]
