"""The client side of device_svc: the two local-list calls it forwards to a station, and the
check of a contract certificate for Authorize (Plug & Charge).

Payloads cross this module as OCPP JSON (what :mod:`user_svc.local_list` works in); the
conversion to and from the generated messages happens here and nowhere else in user_svc.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from common import logging as log_ctx
from common.grpc_server import REQUEST_ID_KEY
from common.ocpp_json import ocpp_enum_value, to_ocpp, to_proto
from csms.device.v1 import device_service_pb2, device_service_pb2_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp

__all__ = ["Devices"]


class Devices:
    """device_svc over one long-lived channel, opened with the process and closed with it.

    Failures are the ``grpc.aio.AioRpcError`` device_svc ended the call with (UNAVAILABLE when
    the station is not connected, DEADLINE_EXCEEDED, the station's CALLERROR, ...).
    """

    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self.stub = device_service_pb2_grpc.DeviceServiceStub(channel)
        self.timeout = timeout

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        rid = log_ctx.request_id.get()
        # "-" is common.logging's "no request id": outside an RPC there is none to forward.
        return () if rid == "-" else ((REQUEST_ID_KEY, rid),)

    async def local_list_version(self, station_id: str) -> int:
        """The station's GetLocalListVersion answer."""
        response = await self.stub.GetLocalListVersion(
            device_service_pb2.GetLocalListVersionCommand(
                station_id=station_id, request=ocpp.GetLocalListVersionRequest()
            ),
            timeout=self.timeout,
            metadata=self._metadata(),
        )
        version: int = response.version_number
        return version

    async def send_local_list(
        self, station_id: str, payload: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """The station's SendLocalListResponse (OCPP JSON) to the SendLocalListRequest given."""
        request = to_proto(ocpp.SendLocalListRequest, dict(payload))
        response = await self.stub.SendLocalList(
            device_service_pb2.SendLocalListCommand(station_id=station_id, request=request),
            timeout=self.timeout,
            metadata=self._metadata(),
        )
        return to_ocpp(response)

    async def check_contract(
        self,
        station_id: str,
        certificate: str,
        hash_data: Sequence[ocpp.OCSPRequestData],
    ) -> tuple[str, str, str]:
        """device_svc's AuthorizeCertificateStatusEnum (OCPP spelling) of the contract, the
        eMAID its certificate names ("" when only hash data was given), and why when it is not
        Accepted."""
        response = await self.stub.CheckContractCertificate(
            device_service_pb2.CheckContractCertificateRequest(
                station_id=station_id,
                certificate=certificate,
                iso15118_certificate_hash_data=list(hash_data),
            ),
            timeout=self.timeout,
            metadata=self._metadata(),
        )
        status = ocpp_enum_value(ocpp.AuthorizeCertificateStatusEnum, response.certificate_status)
        return status, response.emaid, response.reason
