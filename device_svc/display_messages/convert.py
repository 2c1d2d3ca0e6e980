"""Block O between protobuf and the domain's OCPP JSON: pure code."""

from __future__ import annotations

import orjson
from google.protobuf import struct_pb2
from google.rpc import status_pb2

from common.columns import timestamp
from common.ocpp_json import ocpp_enum_value, to_ocpp, to_proto
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.display_messages.domain import StoredMessage
from device_svc.operations import FanOutAnswer

__all__ = ["answers_to_proto", "filters", "message_to_proto"]


def message_to_proto(station_id: str, m: StoredMessage) -> pb.StationDisplayMessage:
    return pb.StationDisplayMessage(
        station_id=station_id,
        message_info=to_proto(ocpp.MessageInfo, dict(m.info)),
        source=m.source,
        update_time=timestamp(m.updated_at),
    )


def filters(request: pb.ListDisplayMessagesRequest) -> tuple[str | None, str | None]:
    """(priority, state) in OCPP's words; None when not asked for."""
    priority = (
        ocpp_enum_value(ocpp.MessagePriorityEnum, request.priority) if request.priority else None
    )
    state = ocpp_enum_value(ocpp.MessageStateEnum, request.state) if request.state else None
    return priority, state


def answers_to_proto(answers: list[FanOutAnswer]) -> pb.DisplayMessagesAnswers:
    out = pb.DisplayMessagesAnswers()
    for a in answers:
        item = out.answers.add(station_id=a.station_id)
        if a.response is not None:
            payload = orjson.loads(a.payload_json) if a.payload_json else to_ocpp(a.response)
            struct = struct_pb2.Struct()
            struct.update(payload)
            item.response.CopyFrom(struct)
        else:
            item.error.CopyFrom(status_pb2.Status(code=a.code.value[0], message=a.details))
    return out
