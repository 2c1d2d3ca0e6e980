"""common.rest: each *RestService method fronts its typed twin; bad requests are 400s."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from google.protobuf.descriptor import ServiceDescriptor

from common.errors import InvalidArgument
from common.rest import RestFacade, typed_service_of, update_request
from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as tx_pb
from csms.user.v1 import user_service_pb2 as user_pb
from transaction_svc.server import REST_REQUESTS as TX_REST_REQUESTS

REST_SERVICES: list[ServiceDescriptor] = [
    device_pb.DESCRIPTOR.services_by_name["DeviceRestService"],
    tx_pb.DESCRIPTOR.services_by_name["TransactionRestService"],
    user_pb.DESCRIPTOR.services_by_name["UserRestService"],
]


class Recorder:
    """A typed servicer that records what each method got and answers a fixed message."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.got: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        async def method(request: Any, context: Any) -> Any:
            self.got.append((name, request))
            return self.answer

        return method


@pytest.mark.parametrize("rest", REST_SERVICES, ids=lambda s: s.full_name)
def test_every_rest_method_has_a_typed_twin_with_a_rest_binding(rest: ServiceDescriptor) -> None:
    """Each REST method answers Struct (or, as its typed twin, a raw HttpBody such as CSV) and
    names a method of the typed service; the typed service has no REST binding of its own (one
    route per path)."""
    typed = typed_service_of(rest)
    for method in rest.methods:
        assert method.name in typed.methods_by_name, method.name
        raw = typed.methods_by_name[method.name].output_type.full_name == "google.api.HttpBody"
        wanted = "google.api.HttpBody" if raw else "google.protobuf.Struct"
        assert method.output_type.full_name == wanted, method.name
        assert method.GetOptions().ListFields(), f"{method.name} has no http rule"
    for method in typed.methods:
        assert not method.GetOptions().ListFields(), f"{typed.name}.{method.name} has options"


def test_the_facade_builds_every_generic_method() -> None:
    """The generic conversion exists for each method without a converter of its own (a mismatch
    of fields between REST and typed requests fails at start, not at the first request)."""
    RestFacade(REST_SERVICES[1], Recorder(None), requests=TX_REST_REQUESTS)
    with pytest.raises(TypeError, match="UpdateSite"):
        RestFacade(REST_SERVICES[1], Recorder(None))
    RestFacade(
        REST_SERVICES[2],
        Recorder(None),
        requests={
            "UpdateIdToken": update_request(user_pb.UpdateIdTokenRequest, "id_token", "id_token")
        },
    )
    with pytest.raises(TypeError, match="UpdateIdToken"):
        RestFacade(REST_SERVICES[2], Recorder(None))


async def test_query_words_become_the_typed_enum() -> None:
    typed = Recorder(tx_pb.ListTransactionsResponse())
    facade: Any = RestFacade(REST_SERVICES[1], typed, requests=TX_REST_REQUESTS)
    for word in ("active", "STATE_ACTIVE"):
        answer = await facade.ListTransactions(
            tx_pb.ListTransactionsJson(station_id="CS1", state=word, remote_start_id=0), None
        )
        assert answer == struct_pb2.Struct(fields={"transactions": struct_pb2.Value(list_value={})})
    for _, request in typed.got:
        assert request == tx_pb.ListTransactionsRequest(
            station_id="CS1", state=tx_pb.ListTransactionsRequest.STATE_ACTIVE, remote_start_id=0
        )
        assert request.HasField("remote_start_id")
    with pytest.raises(InvalidArgument, match='state: \'open\' is not one of "active", "ended"'):
        await facade.ListTransactions(tx_pb.ListTransactionsJson(state="open"), None)


async def test_a_struct_body_is_parsed_into_the_typed_field() -> None:
    typed = Recorder(user_pb.IdToken(id_token="TAG-001", type=ocpp.ID_TOKEN_ISO14443))
    facade: Any = RestFacade(
        REST_SERVICES[2],
        typed,
        requests={
            "UpdateIdToken": update_request(user_pb.UpdateIdTokenRequest, "id_token", "id_token")
        },
    )
    body = struct_pb2.Struct()
    body.update({"idToken": "TAG-001", "type": "ISO14443", "status": "Accepted"})
    answer = await facade.CreateIdToken(user_pb.CreateIdTokenJson(id_token=body), None)
    assert dict(answer) == {"idToken": "TAG-001", "type": "ISO14443"}
    [(name, request)] = typed.got
    assert name == "CreateIdToken"
    assert request.id_token == user_pb.IdToken(
        id_token="TAG-001", type=ocpp.ID_TOKEN_ISO14443, status=ocpp.AUTHORIZATION_STATUS_ACCEPTED
    )
    body.update({"status": "Maybe"})
    with pytest.raises(InvalidArgument, match="status"):
        await facade.CreateIdToken(user_pb.CreateIdTokenJson(id_token=body), None)


async def test_update_takes_the_key_from_the_path() -> None:
    convert = update_request(device_pb.UpdateChargingStationRequest, "charging_station", "id")
    body = struct_pb2.Struct()
    body.update({"id": "OTHER", "registrationStatus": "Pending"})
    got = convert(
        device_pb.UpdateChargingStationJson(
            id="CS1",
            charging_station=body,
            update_mask=field_mask_pb2.FieldMask(paths=["registration_status"]),
        )
    )
    assert got == device_pb.UpdateChargingStationRequest(
        charging_station=device_pb.ChargingStation(
            id="CS1", registration_status=ocpp.REGISTRATION_STATUS_PENDING
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["registration_status"]),
    )


async def test_typed_errors_pass_through() -> None:
    """A typed method's error reaches the caller as it is (here the 400 of InvalidArgument)."""

    class Failing(Recorder):
        async def GetIdToken(self, request: Any, context: Any) -> Any:  # noqa: N802
            raise InvalidArgument("no such thing")

    facade: Any = RestFacade(
        REST_SERVICES[2],
        Failing(None),
        requests={
            "UpdateIdToken": update_request(user_pb.UpdateIdTokenRequest, "id_token", "id_token")
        },
    )
    with pytest.raises(InvalidArgument, match="no such thing"):
        await facade.GetIdToken(user_pb.GetIdTokenRequest(id_token="X"), None)


@pytest.mark.parametrize(
    ("json_request", "field"),
    [
        (lambda body: device_pb.GetChargingStationRequest(id="CS\x001"), "id"),
        (lambda body: user_pb.CreateIdTokenJson(id_token=body), "idToken.idToken"),
        (lambda body: tx_pb.ListTransactionsJson(station_id="CS1", id_token="T\x00"), "idToken"),
    ],
)
async def test_nul_anywhere_in_a_rest_request_is_400_naming_the_field(
    json_request: Any, field: str
) -> None:
    """A NUL in a path parameter, a query filter or a body: INVALID_ARGUMENT (400) naming the
    field, before the typed method (and its database) sees it."""
    body = struct_pb2.Struct()
    body.update({"idToken": "TAG\x00001", "type": "ISO14443"})
    typed = Recorder(user_pb.IdToken())
    request = json_request(body)
    service = {"csms.device.v1": 0, "csms.transaction.v1": 1, "csms.user.v1": 2}[
        request.DESCRIPTOR.file.package
    ]
    facade: Any = RestFacade(
        REST_SERVICES[service],
        typed,
        requests={
            "UpdateIdToken": update_request(user_pb.UpdateIdTokenRequest, "id_token", "id_token"),
            "UpdateChargingStation": update_request(
                device_pb.UpdateChargingStationRequest, "charging_station", "id"
            ),
            **TX_REST_REQUESTS,
        },
    )
    method = {
        "GetChargingStationRequest": "GetChargingStation",
        "CreateIdTokenJson": "CreateIdToken",
        "ListTransactionsJson": "ListTransactions",
    }[request.DESCRIPTOR.name]
    with pytest.raises(InvalidArgument) as caught:
        await getattr(facade, method)(request, None)
    assert str(caught.value).startswith(f"{field}: ") and "NUL" in str(caught.value)
    assert typed.got == []
