"""device_svc wiring: database, gateways, CA, servicer, gRPC server, health, graceful stop."""

from __future__ import annotations

import dataclasses
import datetime
import pathlib

import grpc
from cryptography import x509
from sqlalchemy.ext.asyncio import AsyncEngine

from common import grpc_server, grpc_tls
from common.db import create_engine, session_factory
from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.device.v1 import files_pb2 as files_pb
from csms.device.v1 import files_pb2_grpc as files_grpc
from csms.device.v1 import fleet_pb2 as fleet_pb
from csms.device.v1 import fleet_pb2_grpc as fleet_grpc
from csms.transaction.v1 import transaction_service_pb2 as transaction_pb
from device_svc.certificates import Signer, open_signer
from device_svc.display_messages.hooks import DisplayMessageHooks
from device_svc.display_messages.service import DisplayMessages
from device_svc.files import FileBlocks, build
from device_svc.files.servicer import FileServicer
from device_svc.firmware.hooks import FirmwareHooks
from device_svc.fleet.service import ChargingCount, Fleet
from device_svc.fleet.servicer import FleetServicer, fleet_rest
from device_svc.logs.hooks import LogHooks
from device_svc.message_log.service import MessageLog
from device_svc.monitoring.alerts import Alerts
from device_svc.monitoring.monitors import MonitorHooks, Monitors
from device_svc.monitoring.service import Monitoring
from device_svc.monitoring.webhook import Webhook
from device_svc.operations import Gateways, Operations
from device_svc.plug_and_charge.embedded import EmbeddedPki
from device_svc.plug_and_charge.ocsp_client import OcspClient
from device_svc.plug_and_charge.responder import OcspResponder
from device_svc.plug_and_charge.service import (
    EmbeddedProvider,
    HttpProvider,
    NoProvider,
    PlugAndCharge,
    Provider,
    V2GSigner,
)
from device_svc.rest import REST_SERVICE, device_rest
from device_svc.service import Devices
from device_svc.servicer import DeviceServicer
from device_svc.settings import Settings

__all__ = ["SERVICE_NAME", "DeviceServer", "run", "start"]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["DeviceService"].full_name
FILE_SERVICE_NAME = files_pb.DESCRIPTOR.services_by_name["FileService"].full_name
REST_SERVICE_NAME = REST_SERVICE.full_name
FLEET_SERVICE_NAMES = [
    fleet_pb.DESCRIPTOR.services_by_name[name].full_name
    for name in ("FleetService", "FleetRestService")
]


# gRPC's bandwidth-delay probing grows a stream's receive window as fast as a sender fills it:
# a file uploaded through Envoy (an HttpBody stream) then sits in device_svc's memory faster
# than it reaches the disk, the peak growing with the file (+64 MiB for 200 MiB, bench.files).
# Without it the window stays at gRPC's 64 KiB per stream, and the peak at about 12 MiB
# whatever the size (and the upload was faster on loopback). Messages of other RPCs are small.
_OPTIONS = (("grpc.http2.bdp_probe", 0),)


def _add_servicers(
    server: grpc.aio.Server,
    servicer: DeviceServicer,
    operations: Operations,
    blocks: FileBlocks,
    fleet: Fleet,
) -> None:
    pb_grpc.add_DeviceServiceServicer_to_server(servicer, server)
    pb_grpc.add_DeviceRestServiceServicer_to_server(device_rest(servicer, operations), server)
    files_grpc.add_FileServiceServicer_to_server(
        FileServicer(blocks.tokens, blocks.storage, blocks.firmware, blocks.logs), server
    )
    fleet_servicer = FleetServicer(fleet)
    fleet_grpc.add_FleetServiceServicer_to_server(fleet_servicer, server)
    fleet_grpc.add_FleetRestServiceServicer_to_server(fleet_rest(fleet_servicer), server)


def _charging_count(operations: Operations, timeout: float) -> ChargingCount | None:
    """How the fleet summary learns how many stations charge: transaction_svc's count."""
    stub = operations.transactions
    if stub is None:
        return None

    async def count() -> int | None:
        request = transaction_pb.CountChargingStationsRequest()
        answer = await stub.CountChargingStations(request, timeout=timeout)
        return int(answer.stations)

    return count


def _transaction_channel(address: str) -> grpc.aio.Channel:
    """The channel to transaction_svc (remote starts). Internal TLS checks its certificate for the
    name dialled: CSMS_INTERNAL_TLS_SERVER_NAME is the gateways' (dialled by pod IP), not its."""
    tls = grpc_tls.configured()
    if tls is not None:
        tls = dataclasses.replace(tls, server_name="")
    return grpc_tls.aio_channel(address, tls=tls)


class DeviceServer(grpc_server.Server):
    """The gRPC server; stopping it also ends what the operations own (background boot-policy
    calls, the gateway channels) and the group commits under way, before the caller disposes of
    the engine."""

    def __init__(
        self,
        server: grpc_server.Server,
        operations: Operations,
        devices: Devices,
        monitoring: Monitoring,
        blocks: FileBlocks,
        webhook: Webhook | None = None,
        message_log: MessageLog | None = None,
        fleet: Fleet | None = None,
        ocsp_responder: OcspResponder | None = None,
    ) -> None:
        super().__init__(server.grpc, server.health, server.port, server.service_names)
        self.fleet = fleet
        self.ocsp_responder = ocsp_responder
        self.webhook = webhook
        self.message_log = message_log
        self.operations = operations
        self.devices = devices
        self.monitoring = monitoring
        self.blocks = blocks

    async def stop(self, grace: float) -> None:
        if self.fleet is not None:
            self.fleet.stop()  # its watch streams end now instead of holding the grace period
        await self.blocks.rollouts.stop()
        if self.ocsp_responder is not None:
            await self.ocsp_responder.stop()
        if self.webhook is not None:
            await self.webhook.stop()
        if self.message_log is not None:
            await self.message_log.stop()
        await super().stop(grace)
        await self.operations.close()
        await self.devices.drain()
        await self.monitoring.drain()


async def start(settings: Settings) -> tuple[DeviceServer, AsyncEngine]:
    """Start the service (tests use this with port 0); returns the server and its engine.

    Stop the server first (``await server.stop(grace)``), then dispose of the engine.
    """
    # Before anything that needs closing: a configured CA that cannot be read stops the start.
    signer = await open_signer(
        settings.ca_cert_path, settings.ca_key_path, settings.local_ca_dir, settings.cpo_name
    )
    plug_and_charge, responder = open_plug_and_charge(settings)
    engine = create_engine(settings.database_url)
    devices = Devices(
        session_factory(engine),
        settings.heartbeat_interval,
        default_lease_seconds=settings.default_lease_seconds,
        cpo_name=settings.cpo_name,
    )
    monitoring = Monitoring(devices.sessions, devices.clock)
    display_messages = DisplayMessages(devices.sessions, devices.clock)
    monitors = Monitors(devices.sessions, devices.clock)
    alerts = Alerts(
        devices.sessions,
        settings.alert_severity,
        devices.clock,
        webhook=bool(settings.alert_webhook_url),
    )
    webhook = (
        Webhook(
            devices.sessions,
            settings.alert_webhook_url,
            secret=settings.alert_webhook_secret,
            timeout=settings.alert_webhook_timeout,
            max_attempts=settings.alert_webhook_max_attempts,
            clock=devices.clock,
        )
        if settings.alert_webhook_url
        else None
    )
    operations = Operations(
        devices,
        Gateways(),
        settings.gateway_call_timeout,
        settings.boot_followup_delay,
        signer=signer,
        v2g_signer=_v2g_signer(plug_and_charge),
        transactions=_transaction_channel(settings.transaction_svc_addr),
        transactions_timeout=settings.transaction_svc_timeout,
    )
    blocks = build(devices.sessions, settings.file_settings(), operations, devices.clock)
    message_log = MessageLog(
        devices.sessions, settings.message_log_days, settings.message_log_max_frames, devices.clock
    )
    fleet = Fleet(
        devices.sessions,
        _charging_count(operations, min(settings.transaction_svc_timeout, 2.0)),
        interval=settings.fleet_watch_interval,
        clock=devices.clock,
    )
    operations.add_hooks(
        DisplayMessageHooks(display_messages),
        MonitorHooks(monitors),
        FirmwareHooks(blocks.firmware),
        LogHooks(blocks.logs),
    )
    try:
        server = await grpc_server.start(
            settings.grpc_listen,
            lambda s: _add_servicers(
                s,
                DeviceServicer(
                    devices,
                    operations,
                    monitoring,
                    display_messages,
                    monitors,
                    alerts,
                    blocks,
                    message_log,
                    plug_and_charge,
                ),
                operations,
                blocks,
                fleet,
            ),
            [SERVICE_NAME, REST_SERVICE_NAME, FILE_SERVICE_NAME, *FLEET_SERVICE_NAMES],
            options=_OPTIONS,
        )
    except BaseException:
        await operations.close()
        await engine.dispose()
        raise
    if responder is not None:
        host, _, port = settings.pnc_ocsp_listen.rpartition(":")
        try:
            await responder.start(host, int(port))
        except BaseException:
            await server.stop(0)
            await operations.close()
            await engine.dispose()
            raise
    blocks.rollouts.start()
    message_log.start()
    if webhook is not None:
        webhook.start()
    return (
        DeviceServer(
            server,
            operations,
            devices,
            monitoring,
            blocks,
            webhook,
            message_log,
            fleet,
            responder,
        ),
        engine,
    )


def _v2g_signer(pnc: PlugAndCharge) -> Signer | None:
    """The embedded test PKI's CPO sub-CA, which signs V2G certificates (None: no embedded PKI,
    the CSMS's CA signs them)."""
    if pnc.embedded is None:
        return None
    return V2GSigner(pnc.embedded)


def open_plug_and_charge(settings: Settings) -> tuple[PlugAndCharge, OcspResponder | None]:
    """Plug & Charge of the settings: the embedded test PKI unless turned off (its roots are
    trusted, REST revokes its contracts), the provider (an HTTP one if configured) and the
    embedded OCSP responder if it has an address."""
    embedded = (
        EmbeddedPki(pathlib.Path(settings.pnc_dir), settings.ocsp_url())
        if settings.pnc_embedded_pki
        else None
    )
    provider: Provider
    if settings.pnc_provider_url:
        provider = HttpProvider(
            settings.pnc_provider_url, settings.pnc_provider_token, settings.pnc_provider_timeout
        )
    elif embedded is not None:
        provider = EmbeddedProvider(embedded)
    else:
        provider = NoProvider()
    roots: list[x509.Certificate] = []
    if settings.pnc_trusted_roots_path:
        # Read now: a wrong path stops the start, as a configured CA's does.
        roots = x509.load_pem_x509_certificates(
            pathlib.Path(settings.pnc_trusted_roots_path).read_bytes()
        )
    pnc = PlugAndCharge(provider, OcspClient(settings.pnc_ocsp_timeout), embedded, roots)
    responder = (
        OcspResponder(embedded, datetime.timedelta(seconds=settings.pnc_ocsp_validity))
        if settings.pnc_ocsp_listen and embedded is not None
        else None
    )
    return pnc, responder


async def run(settings: Settings) -> None:
    server, engine = await start(settings)
    await grpc_server.serve_until_signal(
        "device_svc", server, settings.shutdown_grace, on_stop=engine.dispose
    )
