"""transaction_svc's MeterValues (outside transactions) over real gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from common.ocpp_json import to_ocpp, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb


def readings(minute: int, wh: float = 1000.0) -> list[dict[str, Any]]:
    """An OCPP meterValue list at 10:mm with a register, a per-phase voltage and vendor data."""
    return [
        {
            "timestamp": f"2026-01-01T10:{minute:02d}:00Z",
            "sampledValue": [
                {"value": wh, "context": "Sample.Periodic"},
                {
                    "value": 229.5,
                    "measurand": "Voltage",
                    "phase": "L1-N",
                    "unitOfMeasure": {"unit": "V", "multiplier": 0},
                    "customData": {"vendorId": "acme", "raw": [1, 2]},
                },
            ],
        }
    ]


def meter_call(evse_id: int, minute: int, station: str = "CS1") -> pb.MeterValuesCall:
    payload = {"evseId": evse_id, "meterValue": readings(minute)}
    return pb.MeterValuesCall(
        station_id=station, request=to_proto(ocpp.MeterValuesRequest, payload)
    )


async def listed(stub, station: str = "CS1", **filters: Any) -> list[pb.StationMeterValues]:  # type: ignore[no-untyped-def]
    page = await stub.ListMeterValues(pb.ListMeterValuesRequest(station_id=station, **filters))
    return list(page.meter_values)


async def code_of(awaitable) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await awaitable
    return err.value.code()


async def test_stored_as_received(transaction_stub) -> None:
    """MeterValues is answered and stored losslessly with its station, EVSE and arrival time."""
    answer = await transaction_stub.MeterValues(meter_call(0, 5))
    assert answer == ocpp.MeterValuesResponse()
    (stored,) = await listed(transaction_stub)
    assert stored.station_id == "CS1" and stored.evse_id == 0
    assert [to_ocpp(mv) for mv in stored.meter_values] == readings(5)
    assert stored.received_at.seconds > 0


async def test_newest_first_filtered_by_station_and_evse(transaction_stub) -> None:
    """Listing is one station's values, newest first, of one EVSE when asked."""
    for evse, minute in [(1, 0), (2, 1), (1, 2), (0, 3)]:
        await transaction_stub.MeterValues(meter_call(evse, minute))
    await transaction_stub.MeterValues(meter_call(1, 9, station="CS2"))

    def minutes(rows: list[pb.StationMeterValues]) -> list[str]:
        return [r.meter_values[0].timestamp.ToJsonString()[14:16] for r in rows]

    everything = await listed(transaction_stub)
    assert minutes(everything) == ["03", "02", "01", "00"]
    assert [r.received_at.ToDatetime() for r in everything] == sorted(
        (r.received_at.ToDatetime() for r in everything), reverse=True
    )
    assert minutes(await listed(transaction_stub, evse_id=1)) == ["02", "00"]
    assert minutes(await listed(transaction_stub, evse_id=0)) == ["03"]
    assert minutes(await listed(transaction_stub, "CS2")) == ["09"]
    assert await listed(transaction_stub, "CS3") == []


async def test_pages(transaction_stub) -> None:
    """Pages walk every row once, newest first, with or without the EVSE filter."""
    for minute in range(7):
        await transaction_stub.MeterValues(meter_call(minute % 2, minute))
    for filters, expected in [({}, list(range(6, -1, -1))), ({"evse_id": 1}, [5, 3, 1])]:
        seen: list[int] = []
        token = ""
        while True:
            page = await transaction_stub.ListMeterValues(
                pb.ListMeterValuesRequest(
                    station_id="CS1", page_size=2, page_token=token, **filters
                )
            )
            assert len(page.meter_values) <= 2
            seen += [
                int(r.meter_values[0].timestamp.ToJsonString()[14:16]) for r in page.meter_values
            ]
            token = page.next_page_token
            if not token:
                break
        assert seen == expected


async def test_invalid(transaction_stub) -> None:
    """No station, no evseId, a negative EVSE, no meter value or a foreign token are invalid."""
    no_evse = meter_call(1, 0)
    no_evse.request.ClearField("evse_id")
    negative = meter_call(-1, 0)
    empty = meter_call(1, 0)
    empty.request.ClearField("meter_value")
    for bad in (meter_call(1, 0, station=""), no_evse, negative, empty):
        assert await code_of(transaction_stub.MeterValues(bad)) == grpc.StatusCode.INVALID_ARGUMENT
    for req in (
        pb.ListMeterValuesRequest(),
        pb.ListMeterValuesRequest(station_id="CS1", page_token="not-a-token"),
        pb.ListMeterValuesRequest(station_id="CS1", page_size=-1),
    ):
        code = await code_of(transaction_stub.ListMeterValues(req))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert await listed(transaction_stub) == []
