"""DeviceService's Plug & Charge RPCs: proto ⇄ :mod:`device_svc.plug_and_charge.service`."""

from __future__ import annotations

import asyncio
import base64
import datetime

import grpc

from common import pki
from common.columns import timestamp
from common.errors import FailedPrecondition, InvalidArgument, NotFound
from common.ocpp_json import ocpp_enum_value, proto_enum_number
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.plug_and_charge.ocsp_client import CertId
from device_svc.plug_and_charge.service import PlugAndCharge

__all__ = ["PlugAndChargeServicer", "cert_id"]

#: StatusInfo.reasonCode (Part 2 appendix) and additionalInfo's maxLength.
_REASON, _MAX_INFO = "InternalError", 512


def cert_id(data: ocpp.OCSPRequestData) -> CertId:
    return CertId(
        ocpp_enum_value(ocpp.HashAlgorithmEnum, data.hash_algorithm),
        data.issuer_name_hash,
        data.issuer_key_hash,
        data.serial_number,
        data.responder_url,
    )


class PlugAndChargeServicer:
    plug_and_charge: PlugAndCharge

    async def Get15118EVCertificate(
        self, request: pb.Get15118EVCertificateCall, context: grpc.aio.ServicerContext
    ) -> ocpp.Get15118EVCertificateResponse:
        r = request.request
        answer = await self.plug_and_charge.ev_certificate(
            request.station_id,
            r.iso15118_schema_version,
            ocpp_enum_value(ocpp.CertificateActionEnum, r.action),
            r.exi_request,
        )
        status = proto_enum_number(ocpp.Iso15118EVCertificateStatusEnum, answer.status)
        if answer.status == "Accepted":
            return ocpp.Get15118EVCertificateResponse(
                status=status, exi_response=answer.exi_response
            )
        return ocpp.Get15118EVCertificateResponse(
            status=status,
            # exiResponse is required by the schema even when Failed: nothing to say in EXI.
            exi_response="",
            status_info=ocpp.StatusInfo(
                reason_code=_REASON, additional_info=answer.reason[:_MAX_INFO]
            ),
        )

    async def GetCertificateStatus(
        self, request: pb.GetCertificateStatusCall, context: grpc.aio.ServicerContext
    ) -> ocpp.GetCertificateStatusResponse:
        answer = await self.plug_and_charge.certificate_status(
            cert_id(request.request.ocsp_request_data)
        )
        status = proto_enum_number(ocpp.GetCertificateStatusEnum, answer.status)
        if answer.ocsp_result is not None:
            return ocpp.GetCertificateStatusResponse(
                status=status, ocsp_result=base64.b64encode(answer.ocsp_result).decode("ascii")
            )
        return ocpp.GetCertificateStatusResponse(
            status=status,
            status_info=ocpp.StatusInfo(
                reason_code=_REASON, additional_info=answer.reason[:_MAX_INFO]
            ),
        )

    async def CheckContractCertificate(
        self, request: pb.CheckContractCertificateRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckContractCertificateResponse:
        check = await self.plug_and_charge.check_contract(
            request.certificate, [cert_id(d) for d in request.iso15118_certificate_hash_data]
        )
        return pb.CheckContractCertificateResponse(
            certificate_status=proto_enum_number(ocpp.AuthorizeCertificateStatusEnum, check.status),
            emaid=check.emaid,
            reason=check.reason,
        )

    async def GetPlugAndChargePki(
        self, request: pb.GetPlugAndChargePkiRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlugAndChargePki:
        pnc = self.plug_and_charge
        if pnc.embedded is None:
            raise FailedPrecondition("the embedded test PKI is off (pnc_embedded_pki=false)")
        test_pki = await asyncio.to_thread(pnc.embedded.pki)
        contracts = await asyncio.to_thread(pnc.embedded.contracts)
        return pb.PlugAndChargePki(
            v2g_root_certificate=pki.cert_pem(test_pki.v2g_root.cert),
            mo_root_certificate=pki.cert_pem(test_pki.mo_root.cert),
            mo_sub_ca_certificate=pki.cert_pem(test_pki.mo_sub_ca.cert),
            cpo_sub_ca_certificate=pki.cert_pem(test_pki.cpo_sub_ca.cert),
            ocsp_url=pnc.embedded.ocsp_url,
            trusted_root_certificates=[pki.cert_pem(c) for c in pnc.extra_roots],
            contracts=[_contract(serial, c) for serial, c in contracts.items()],
            provider=pnc.provider_name(),
        )

    async def RevokeContractCertificate(
        self, request: pb.RevokeContractCertificateRequest, context: grpc.aio.ServicerContext
    ) -> pb.ContractCertificate:
        serial = request.serial_number.lower()
        try:
            int(serial, 16)
        except ValueError:
            raise InvalidArgument("serial_number must be hexadecimal") from None
        embedded = self.plug_and_charge.embedded
        if embedded is None:
            raise FailedPrecondition("the embedded test PKI is off (pnc_embedded_pki=false)")
        if not await self.plug_and_charge.revoke(serial):
            raise NotFound(f"no contract certificate {serial} issued by the embedded PKI")
        contracts = await asyncio.to_thread(embedded.contracts)
        key = format(int(serial, 16), "x")
        return _contract(key, contracts[key])


def _contract(serial: str, row: dict[str, object]) -> pb.ContractCertificate:
    revoked_at = row.get("revokedAt")
    return pb.ContractCertificate(
        serial_number=serial,
        emaid=str(row["eMAID"]),
        revoked=revoked_at is not None,
        revoke_time=timestamp(datetime.datetime.fromisoformat(str(revoked_at)))
        if revoked_at
        else None,
    )
