"""CSMS-initiated OCPP operations: to the gateway holding the station, and its answer back.

Every operation RPC of DeviceService (``<Action>(<Action>Command)``) goes through
:meth:`Operations.call`: look up the station's route (NOT_FOUND, or UNAVAILABLE when it is not
reachable), send the typed request to the owning gateway's ``StationControlService.Call`` with
the caller's remaining deadline, and unpack the station's answer. The gateway's errors come back
to our caller unchanged (:class:`GatewayError`), so the station's CALLERROR and its ErrorInfo
reach REST clients as they left the gateway. Some answers teach the CSMS something before they
are returned: Get/SetVariables results go into the device model, and an accepted
RequestStartTransaction is recorded in transaction_svc (``RecordRemoteStart``), whose
transaction then shows the idToken sent even if the station's events leave it out. To an OCPP
1.6 station, whose RemoteStartTransaction cannot carry the remoteStartId, transaction_svc keeps
it before the request leaves (``ExpectRemoteStart16``: the StartTransaction that follows is
linked to it, whatever happens to the gateway meanwhile), and forgets it when the station does
not take it (``ForgetRemoteStart16``).

Smart charging (OCPP block K) goes through transaction_svc, which keeps what each station holds
(transaction_svc/smart_charging): a SetChargingProfile, or a RequestStartTransaction carrying a
chargingProfile, leaves only once transaction_svc found the profile valid for the station
(``ValidateChargingProfile``: its refusal, naming the K01 rule, is our caller's 400, and
nothing is sent); what the station accepts is recorded there (``RecordChargingProfile``, and
``ForgetChargingProfiles`` for an accepted ClearChargingProfile); a GetChargingProfiles is
announced before it leaves (``ExpectChargingProfilesReport``), so that the station's report
reconciles what the CSMS knows, and a NoProfiles answer forgets what matched
(``RecordNoChargingProfiles``). Those records are best effort, like the remote starts: the
station's answer is returned whatever happens to them.

Two answers change how the station may connect. A SetVariables of SecurityCtrlr.BasicAuthPassword
the station accepts replaces its password (:meth:`Operations.update_basic_auth_password` makes
one itself, OCPP use case A01); a SetNetworkProfile of a higher security profile it accepts makes
that profile pending until the station connects with it (use case A05, see
:mod:`device_svc.credentials`).

The boot policy lives here too, since it sends calls of its own: the automatic accept rule
(GetBaseReport after a Pending boot, accept when the report is complete) and the
TriggerMessage(BootNotification) that follows an accept. So does SignCertificate: the CSR is
signed while the station waits, the chain follows in a CertificateSigned call. Those calls run as
background tasks, owned here and cancelled by :meth:`Operations.close`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

import grpc
import orjson
from google.protobuf.message import Message

from common import grpc_tls, metrics, pki
from common import logging as log_ctx
from common.errors import CsmsError, FailedPrecondition, InvalidArgument, sent_by_peer
from common.grpc_server import REQUEST_ID_KEY
from common.ocpp_json import REQUEST_TYPES, RESPONSE_TYPES, proto_enum_number, to_ocpp
from csms.device.v1 import device_service_pb2 as pb
from csms.gateway.v1 import station_control_pb2 as gw
from csms.gateway.v1 import station_control_pb2_grpc as gw_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as transaction_pb
from csms.transaction.v1 import transaction_service_pb2_grpc as transaction_grpc
from device_svc import convert, credentials
from device_svc.certificates import Signer, SignOutcome
from device_svc.domain import ReportedVariable, Route, charging_profile_criteria_problem
from device_svc.models import Station
from device_svc.service import BootOutcome, Devices, Unavailable, is_reachable

__all__ = [
    "ACTIONS",
    "FanOutAnswer",
    "GatewayError",
    "Gateways",
    "Hooks",
    "Operations",
    "PasswordUpdate",
]

log = logging.getLogger(__name__)


def _actions() -> tuple[str, ...]:
    """The operation RPCs of the contract: ``<Action>(<Action>Command)``, Action an OCPP action."""
    service = pb.DESCRIPTOR.services_by_name["DeviceService"]
    actions = tuple(m.name for m in service.methods if m.input_type.name == f"{m.name}Command")
    for action in actions:
        if action not in REQUEST_TYPES or action not in RESPONSE_TYPES:
            raise RuntimeError(f"DeviceService.{action} is not an OCPP 2.0.1 action")
    return actions


# Reset, ChangeAvailability, ..., CustomerInformation: read from the proto, the one source.
ACTIONS: tuple[str, ...] = _actions()

# The trailing metadata of a gateway error that travels on to our caller: the google.rpc.Status
# with the ErrorInfo of the station's CALLERROR (Envoy turns it into the REST error body).
_FORWARDED_METADATA = frozenset({"grpc-status-details-bin"})

# A failed command's codes that leave open whether the station got it and acted on it.
_MAYBE_SENT = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE})

# transaction_svc's refusals of a charging profile, as our caller's errors (400 both).
_REFUSALS: Mapping[grpc.StatusCode, type[CsmsError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Split:
    """A command whose list the station takes at most ItemsPerMessage[<action>] of per
    message (the device model's ``component``.ItemsPerMessage, instance the action): longer,
    it goes as several CALLs and their results come back as one answer."""

    component: str
    items: str  # the request's list field
    results: str  # the response's list field


# The device model's component of an OCPP 1.6 station's configuration keys (gateway.ocpp16).
_OCPP16_CONFIGURATION = "OCPP16"

# B05/B06 (DeviceDataCtrlr), N04/N06 (MonitoringCtrlr: N06.FR.04 for ClearVariableMonitoring).
_SPLITS: Mapping[str, _Split] = {
    "GetVariables": _Split("DeviceDataCtrlr", "get_variable_data", "get_variable_result"),
    "SetVariables": _Split("DeviceDataCtrlr", "set_variable_data", "set_variable_result"),
    "SetVariableMonitoring": _Split(
        "MonitoringCtrlr", "set_monitoring_data", "set_monitoring_result"
    ),
    "ClearVariableMonitoring": _Split("MonitoringCtrlr", "id", "clear_monitoring_result"),
}


class GatewayError(Exception):
    """A gateway's error status, to be returned to our caller as it is."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailing_metadata: Sequence[tuple[str, Any]]
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.trailing_metadata = tuple(trailing_metadata)


@dataclasses.dataclass(frozen=True, slots=True)
class PasswordUpdate:
    """What UpdateBasicAuthPassword answers (never the password)."""

    # The station's attributeStatus for the password (ocpp.SetVariableStatusEnum; 0: its answer
    # had no result for it).
    status: int
    # The CSMS switched to the new password (the station answered Accepted).
    changed: bool
    # The station takes it at its next reboot (RebootRequired): both work until it connects
    # with the new one.
    pending: bool
    response: ocpp.SetVariablesResponse
    # The station's answer as it sent it (JSON text; "" from a gateway of an earlier release).
    payload_json: str


# How long DeleteChargingStation waits for the gateway to close the deleted station's connection.
_DISCONNECT_TIMEOUT = 5.0


class Gateways:
    """StationControlService clients: one channel per gateway address, for the life of the
    process (a channel reconnects by itself when its gateway restarts)."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, gw_grpc.StationControlServiceStub] = {}

    def _stub(self, address: str) -> tuple[grpc.aio.Channel, gw_grpc.StationControlServiceStub]:
        stub = self._stubs.get(address)
        if stub is None:
            channel = self._channels[address] = grpc_tls.aio_channel(address)
            stub = self._stubs[address] = gw_grpc.StationControlServiceStub(channel)
        return self._channels[address], stub

    async def call(
        self, station_id: str, route: Route, request: Message, seconds: float
    ) -> gw.StationCallResult:
        """Send one typed OCPP request; GatewayError for the gateway's own error statuses."""
        channel, stub = self._stub(route.gateway)
        call = gw.StationCall(station_id=station_id, epoch=route.epoch)
        call.request.Pack(request)
        try:
            return await stub.Call(
                call, timeout=seconds, metadata=((REQUEST_ID_KEY, log_ctx.request_id.get()),)
            )
        except grpc.aio.AioRpcError as exc:
            if not sent_by_peer(exc) or (
                exc.code() == grpc.StatusCode.UNAVAILABLE
                and channel.get_state() != grpc.ChannelConnectivity.READY
            ):
                # Not the gateway's answer: gRPC's own about the connection (the gateway
                # crashed, is unroutable, reset it), whose words name addresses.
                log.warning("gateway %s unreachable: %s", route.gateway, exc.details())
                raise Unavailable(
                    f"station {station_id} is not reachable: its gateway does not answer"
                ) from None
            trailing = [
                (k, v) for k, v in exc.trailing_metadata() or () if k in _FORWARDED_METADATA
            ]
            raise GatewayError(exc.code(), exc.details() or "", trailing) from None

    async def disconnect(self, station_id: str, route: Route, reason: str) -> None:
        """Close the station's connection on its gateway; a gateway that cannot be reached is
        logged (it closes the connection at its next lease renewal, which fails)."""
        _, stub = self._stub(route.gateway)
        try:
            answer = await stub.Disconnect(
                gw.DisconnectRequest(station_id=station_id, epoch=route.epoch, reason=reason),
                timeout=_DISCONNECT_TIMEOUT,
                metadata=((REQUEST_ID_KEY, log_ctx.request_id.get()),),
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "could not close %s's connection on %s: %s %s",
                station_id,
                route.gateway,
                exc.code().name,
                exc.details(),
            )
            return
        log.info("%s: connection on %s closed: %s", station_id, route.gateway, answer.closed)

    async def close(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        self._stubs.clear()
        for channel in channels:
            await channel.close()


def _timeout(remaining: float | None, cap: float) -> float:
    """How long a call may take: the caller's remaining time (None: no deadline), capped."""
    return cap if remaining is None else max(0.0, min(remaining, cap))


class Hooks(Protocol):
    """A functional block's part in its commands, by action: ``before`` runs before the
    command leaves (a refusal is our caller's error, nothing is sent), ``learn`` once the
    station answered (a failure is logged: the station's answer stands)."""

    before: Mapping[str, Callable[[str, Any], Awaitable[None]]]
    learn: Mapping[str, Callable[[str, Any, Any], Awaitable[None]]]


@dataclasses.dataclass(frozen=True)
class FanOutAnswer:
    """One station's part of a command sent to many: its answer (typed, and as it sent it) or
    the error instead."""

    station_id: str
    response: Message | None = None
    payload_json: str = ""
    code: grpc.StatusCode = grpc.StatusCode.OK
    details: str = ""


class Operations:
    def __init__(
        self,
        devices: Devices,
        gateways: Gateways,
        call_timeout: float,
        followup_delay: float,
        *,
        signer: Signer,
        v2g_signer: Signer | None = None,
        transactions: grpc.aio.Channel | None = None,
        transactions_timeout: float = 5.0,
        hooks: Sequence[Hooks] = (),
    ) -> None:
        """``transactions``: the channel to transaction_svc, closed by :meth:`close` (None:
        remote starts are not recorded). ``v2g_signer``: the CA of V2G (SECC) certificates, the
        V2G PKI's CPO sub-CA (None: ``signer`` signs them too). ``hooks``: a functional block's
        checks before its commands leave and records of their answers (e.g. display
        messages)."""
        self.devices = devices
        self.gateways = gateways
        self.call_timeout = call_timeout
        self.followup_delay = followup_delay
        self.signer = signer
        self.v2g_signer = v2g_signer or signer
        self._transactions_channel = transactions
        self.transactions = (
            None if transactions is None else transaction_grpc.TransactionServiceStub(transactions)
        )
        self.transactions_timeout = transactions_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        # What is checked or announced before an operation leaves, by action: a refusal is our
        # caller's error and nothing is sent.
        self._before: Mapping[str, Callable[[str, Any], Awaitable[None]]] = {
            "SetChargingProfile": self._check_charging_profile,
            "RequestStartTransaction": self._before_remote_start,
            "GetChargingProfiles": self._announce_report,
            "ClearChargingProfile": self._check_clear_criteria,
        }
        # What the CSMS learns from an operation's answer, by action.
        self._learn: Mapping[str, Callable[[str, Any, Any], Awaitable[None]]] = {
            "SetVariables": self._learn_set_variables,
            "GetVariables": self._learn_get_variables,
            "RequestStartTransaction": self._learn_remote_start,
            "SetChargingProfile": self._learn_charging_profile,
            "ClearChargingProfile": self._learn_cleared_profiles,
            "GetChargingProfiles": self._learn_no_profiles,
        }
        self.add_hooks(*hooks)

    def add_hooks(self, *hooks: Hooks) -> None:
        """A functional block's part in the commands (before the first command leaves)."""
        for hook in hooks:
            self._before = {**self._before, **hook.before}
            self._learn = {**self._learn, **hook.learn}

    # -- the operations ------------------------------------------------------------------------

    async def call(
        self, action: str, station_id: str, request: Message, time_remaining: float | None
    ) -> Message:
        """Send ``request`` to the station and return its answer (the ``<Action>Response``)."""
        response, _ = await self.exchange(action, station_id, request, time_remaining)
        return response

    async def exchange(
        self, action: str, station_id: str, request: Message, time_remaining: float | None
    ) -> tuple[Message, str]:
        """:meth:`call`, also returning the station's answer as it sent it (JSON text)."""
        route = await self.devices.route(station_id)
        # A new Basic auth password is checked and hashed before it leaves: one the CSMS could
        # not store must never reach the station.
        new_password_hash = None
        if action == "SetVariables":
            password = convert.basic_auth_password(request)
            if password is not None:
                new_password_hash = await self.devices.hash_password(password)
        # Likewise an upgrade the CSMS could never let the station in under.
        new_profile = None
        if action == "SetNetworkProfile":
            new_profile = request.connection_data.security_profile
            await self.devices.check_upgrade(station_id, new_profile)
        before = self._before.get(action)
        if before is not None:
            await before(station_id, request)
        seconds = _timeout(time_remaining, self.call_timeout)
        try:
            response, payload_json = await self._send(action, station_id, route, request, seconds)
        except (GatewayError, CsmsError) as exc:
            metrics.COMMANDS.labels(action, exc.code.name).inc()
            if action == "RequestStartTransaction" and exc.code not in _MAYBE_SENT:
                await self._forget_remote_start16(station_id, request)
            raise
        metrics.COMMANDS.labels(action, "answered").inc()
        if new_password_hash is not None:
            await self._rotate_password(station_id, new_password_hash, response)
        if new_profile is not None:
            await self._record_upgrade(station_id, new_profile, response)
        learn = self._learn.get(action)
        if learn is not None:
            try:
                await learn(station_id, request, response)
            except Exception:
                # The station did what it answered; our copy of its device model lags behind.
                log.exception("could not record the %s results in the device model", action)
        return response, payload_json

    async def _send(
        self, action: str, station_id: str, route: Route, request: Message, seconds: float
    ) -> tuple[Message, str]:
        """The request to the station: as one CALL, or as several when its list is longer than
        the station takes per message (:data:`_SPLITS`), their results as one answer."""
        parts = await self._parts(action, station_id, request)
        answers = []
        for part in parts:
            result = await self.gateways.call(station_id, route, part, seconds)
            response = RESPONSE_TYPES[action]()
            if not result.response.Unpack(response):
                raise CsmsError(
                    f"gateway answered {result.response.TypeName() or 'nothing'} to {action}"
                )
            answers.append((response, result.payload_json))
        if len(answers) == 1:
            return answers[0]
        split = _SPLITS[action]
        merged = RESPONSE_TYPES[action]()
        for response, _ in answers:
            getattr(merged, split.results).extend(getattr(response, split.results))
        json_name = merged.DESCRIPTOR.fields_by_name[split.results].json_name
        payload: dict[str, Any] = {json_name: []}
        for response, text in answers:
            part_json = orjson.loads(text) if text else to_ocpp(response)
            payload[json_name].extend(part_json.get(json_name, []))
        return merged, orjson.dumps(payload).decode()

    async def _parts(self, action: str, station_id: str, request: Message) -> list[Message]:
        split = _SPLITS.get(action)
        if split is None:
            return [request]
        items = getattr(request, split.items)
        limit = await self._items_per_message(station_id, split.component, action)
        if limit is None or len(items) <= limit:
            return [request]
        log.info(
            "%s of %d items goes as %d CALLs (the station's ItemsPerMessage is %d)",
            action,
            len(items),
            -(-len(items) // limit),
            limit,
        )
        parts = []
        for start in range(0, len(items), limit):
            part = type(request)()
            part.CopyFrom(request)
            field = getattr(part, split.items)
            del field[:]
            field.extend(items[start : start + limit])
            parts.append(part)
        return parts

    async def _items_per_message(self, station_id: str, component: str, action: str) -> int | None:
        """The station's ItemsPerMessage for ``action`` as the device model holds it; for
        GetVariables, when it holds none, an OCPP 1.6 station's GetConfigurationMaxKeys (the
        same limit: the 1.6 keys of one GetConfiguration, which the gateway sends a
        GetVariables as; stored as component OCPP16 by a GetBaseReport or GetVariables)."""
        try:
            value = await self.devices.variable_value(
                station_id, component, "ItemsPerMessage", action
            )
            if value is None and action == "GetVariables":
                value = await self.devices.variable_value(
                    station_id, _OCPP16_CONFIGURATION, "GetConfigurationMaxKeys"
                )
        except Exception:
            log.exception("could not read %s.ItemsPerMessage[%s]: sent whole", component, action)
            return None
        if value is None:
            return None
        try:
            limit = int(value)
        except ValueError:
            return None
        return limit if limit > 0 else None

    async def fan_out(
        self,
        action: str,
        station_ids: Sequence[str],
        request: Message,
        time_remaining: float | None,
        concurrency: int = 50,
    ) -> list[FanOutAnswer]:
        """The command to every station at once (``concurrency`` at a time), each station's
        answer or error in ``station_ids``' order; one station's failure is its own."""
        gate = asyncio.Semaphore(concurrency)

        async def one(station_id: str) -> FanOutAnswer:
            async with gate:
                try:
                    response, payload = await self.exchange(
                        action, station_id, request, time_remaining
                    )
                except GatewayError as exc:
                    return FanOutAnswer(station_id, code=exc.code, details=exc.details)
                except CsmsError as exc:
                    return FanOutAnswer(station_id, code=exc.code, details=str(exc))
            return FanOutAnswer(station_id, response, payload)

        return list(await asyncio.gather(*(one(s) for s in station_ids)))

    async def _rotate_password(self, station_id: str, password_hash: str, response: Any) -> None:
        """The station took its new Basic auth password: Accepted, from now on only that one
        works; RebootRequired, it works beside the old one until the station (rebooted) first
        connects with it. Any other answer: the old one stays, alone."""
        status = convert.basic_auth_password_status(response)
        if status == ocpp.SET_VARIABLE_STATUS_ACCEPTED:
            store, done = self.devices.set_password_hash, "rotated"
        elif status == ocpp.SET_VARIABLE_STATUS_REBOOT_REQUIRED:
            store = self.devices.set_pending_password_hash
            done = "pending: the station takes it at its next reboot, the old one works until then"
        else:
            log.info("the station did not take its new Basic auth password: the old one stays")
            return
        try:
            await store(station_id, password_hash)
        except Exception:
            log.exception("the station took a new Basic auth password that was not stored")
            raise CsmsError(
                "the station took the new BasicAuthPassword but the CSMS could not store it: "
                "set it again"
            ) from None
        log.info("Basic auth password %s", done)

    async def update_basic_auth_password(
        self, station_id: str, time_remaining: float | None
    ) -> PasswordUpdate:
        """OCPP A01 on the CSMS's initiative: a new random password, sent in SetVariables of
        SecurityCtrlr.BasicAuthPassword, stored (as its hash) only when the station accepts it.

        The station must be connected (NOT_FOUND, UNAVAILABLE first, as for every command) and
        of security profile 1 or 2 (FAILED_PRECONDITION).
        """
        await self.devices.route(station_id)
        station = await self.devices.get(station_id)
        credentials.require_basic_auth(station_id, station.security_profile)
        component, variable = credentials.BASIC_AUTH_PASSWORD
        request = ocpp.SetVariablesRequest(
            set_variable_data=[
                ocpp.SetVariableData(
                    attribute_type=ocpp.ATTRIBUTE_ACTUAL,
                    attribute_value=credentials.new_password(),
                    component=ocpp.Component(name=component),
                    variable=ocpp.Variable(name=variable),
                )
            ]
        )
        response, payload_json = await self.exchange(
            "SetVariables", station_id, request, time_remaining
        )
        assert isinstance(response, ocpp.SetVariablesResponse)
        status = convert.basic_auth_password_status(response)
        return PasswordUpdate(
            status=status,
            changed=status == ocpp.SET_VARIABLE_STATUS_ACCEPTED,
            pending=status == ocpp.SET_VARIABLE_STATUS_REBOOT_REQUIRED,
            response=response,
            payload_json=payload_json,
        )

    async def _record_upgrade(self, station_id: str, new_profile: int, response: Any) -> None:
        """The station accepted a network connection profile of ``new_profile``: a higher one
        is pending until the station connects with it (device_svc.credentials)."""
        if response.status != ocpp.SET_NETWORK_PROFILE_STATUS_ACCEPTED:
            return
        try:
            pending = await self.devices.record_pending_profile(station_id, new_profile)
        except Exception:
            log.exception("the station accepted security profile %d, not recorded", new_profile)
            # Not recorded, the station would be refused once it connects under the new profile
            # (from profile 2 to 3, say): the operator must know.
            raise CsmsError(
                f"the station accepted security profile {new_profile} but the CSMS could not "
                "record it: send the SetNetworkProfile again"
            ) from None
        if pending is not None:
            log.info(
                "security profile %d pending: the station's first connection under it makes it "
                "its profile",
                pending,
            )

    async def _learn_set_variables(
        self, station_id: str, request: ocpp.SetVariablesRequest, response: Any
    ) -> None:
        await self.devices.record_values(station_id, convert.set_results(request, response))

    async def _learn_get_variables(
        self, station_id: str, request: ocpp.GetVariablesRequest, response: Any
    ) -> None:
        await self.devices.record_values(station_id, convert.get_results(response))

    async def _learn_remote_start(
        self, station_id: str, request: ocpp.RequestStartTransactionRequest, response: Any
    ) -> None:
        """The station accepted: transaction_svc records the idToken sent, for the transaction
        that will report this remoteStartId (a station may leave the idToken out of its events;
        they may also come before this answer). Best effort: the station's answer is returned
        whatever happens here. The record goes on if our caller gives up meanwhile (its deadline):
        the station starts the transaction all the same."""
        if response.status != ocpp.REQUEST_START_STOP_STATUS_ACCEPTED:
            await self._forget_remote_start16(station_id, request)
            return
        if self.transactions is None:
            return
        await self._shielded(self._record_remote_start(station_id, request))
        if request.HasField("charging_profile"):
            # Its TxProfile, for the transaction that will carry the remoteStartId.
            record = transaction_pb.RecordChargingProfileRequest(
                station_id=station_id,
                evse_id=request.evse_id if request.HasField("evse_id") else 0,
                charging_profile=request.charging_profile,
                remote_start_id=request.remote_start_id,
            )
            await self._shielded(
                self._tell_transactions(
                    "RecordChargingProfile", record, "its TxProfile is not listed"
                )
            )

    async def _shielded(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` to its end even if our caller gives up meanwhile (its deadline): the
        station did what it answered, the record must follow."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        rid = log_ctx.request_id.get()
        return () if rid == "-" else ((REQUEST_ID_KEY, rid),)

    async def _record_remote_start(
        self, station_id: str, request: ocpp.RequestStartTransactionRequest
    ) -> None:
        assert self.transactions is not None
        try:
            await self.transactions.RecordRemoteStart(
                transaction_pb.RecordRemoteStartRequest(
                    station_id=station_id,
                    remote_start_id=request.remote_start_id,
                    id_token=request.id_token,
                ),
                timeout=self.transactions_timeout,
                metadata=self._metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "RequestStartTransaction %d accepted, but transaction_svc's RecordRemoteStart "
                "failed (%s %s): its transaction shows an idToken only if the station sends one",
                request.remote_start_id,
                exc.code().name,
                exc.details(),
            )

    # -- smart charging (block K, kept in transaction_svc) ---------------------------------------

    async def _validate_profile(
        self, station_id: str, evse_id: int, profile: ocpp.ChargingProfile, remote_start: bool
    ) -> None:
        """transaction_svc checks the profile for the station (OCPP K01, F01): its refusal is
        ours (400, naming the rule); if it cannot check, nothing unchecked leaves (503)."""
        if self.transactions is None:
            raise Unavailable("charging profiles cannot be checked: no transaction_svc configured")
        request = transaction_pb.ValidateChargingProfileRequest(
            station_id=station_id,
            evse_id=evse_id,
            charging_profile=profile,
            remote_start=remote_start,
        )
        try:
            await self.transactions.ValidateChargingProfile(
                request, timeout=self.transactions_timeout, metadata=self._metadata()
            )
        except grpc.aio.AioRpcError as exc:
            refusal = _REFUSALS.get(exc.code())
            if refusal is not None and sent_by_peer(exc):
                raise refusal(exc.details() or "invalid charging profile") from None
            log.warning(
                "transaction_svc's ValidateChargingProfile failed (%s %s): not sent",
                exc.code().name,
                exc.details(),
            )
            raise Unavailable(
                "the charging profile cannot be checked now (transaction_svc does not answer): "
                "not sent"
            ) from None

    async def _check_charging_profile(
        self, station_id: str, request: ocpp.SetChargingProfileRequest
    ) -> None:
        await self._validate_profile(
            station_id, request.evse_id, request.charging_profile, remote_start=False
        )

    async def _before_remote_start(
        self, station_id: str, request: ocpp.RequestStartTransactionRequest
    ) -> None:
        await self._check_remote_start_profile(station_id, request)
        await self._expect_remote_start16(station_id, request)

    @staticmethod
    def _remote_start16(request: ocpp.RequestStartTransactionRequest) -> bool:
        """The request can go to a 1.6 station as RemoteStartTransaction (idTag of at most 20
        characters, a connector, not the station): otherwise the gateway refuses it, with
        nothing to expect."""
        return 0 < len(request.id_token.id_token) <= 20 and (
            not request.HasField("evse_id") or request.evse_id > 0
        )

    async def _expect_remote_start16(
        self, station_id: str, request: ocpp.RequestStartTransactionRequest
    ) -> None:
        """To a 1.6 station, whose RemoteStartTransaction cannot carry the remoteStartId:
        transaction_svc keeps it for the StartTransaction that follows, committed before the
        request leaves (the station may start before we hear its answer). Not kept, not sent:
        the transaction would lose its remote start (503)."""
        if not self._remote_start16(request):
            return
        if (await self.devices.get(station_id)).protocol != "ocpp1.6":
            return
        if self.transactions is None:
            raise Unavailable("remote starts to 1.6 stations need transaction_svc: none configured")
        expect = transaction_pb.ExpectRemoteStart16Request(
            station_id=station_id,
            remote_start_id=request.remote_start_id,
            id_tag=request.id_token.id_token,
        )
        if request.HasField("evse_id"):
            expect.connector_id = request.evse_id
        try:
            await self.transactions.ExpectRemoteStart16(
                expect, timeout=self.transactions_timeout, metadata=self._metadata()
            )
        except grpc.aio.AioRpcError as exc:
            refusal = _REFUSALS.get(exc.code())
            if refusal is not None:
                raise refusal(exc.details() or "remote start refused") from None
            raise Unavailable(
                f"the remote start could not be kept for the 1.6 StartTransaction that follows "
                f"it ({exc.code().name}): not sent"
            ) from None

    async def _forget_remote_start16(
        self, station_id: str, request: ocpp.RequestStartTransactionRequest
    ) -> None:
        """The station did not take it: no StartTransaction follows (best effort; one left
        expires)."""
        if self.transactions is None or not self._remote_start16(request):
            return
        try:
            if (await self.devices.get(station_id)).protocol != "ocpp1.6":
                return
        except CsmsError:
            return
        forget = transaction_pb.ForgetRemoteStart16Request(
            station_id=station_id, remote_start_id=request.remote_start_id
        )
        await self._shielded(
            self._tell_transactions(
                "ForgetRemoteStart16", forget, "it waits for a StartTransaction until it expires"
            )
        )

    async def _check_remote_start_profile(
        self, station_id: str, request: ocpp.RequestStartTransactionRequest
    ) -> None:
        if request.HasField("charging_profile"):
            evse_id = request.evse_id if request.HasField("evse_id") else 0
            await self._validate_profile(
                station_id, evse_id, request.charging_profile, remote_start=True
            )

    async def _check_clear_criteria(
        self, station_id: str, request: ocpp.ClearChargingProfileRequest
    ) -> None:
        problem = charging_profile_criteria_problem("ClearChargingProfile", to_ocpp(request))
        if problem is None:
            return
        # OCPP 1.6 has no K10.FR.02: its ClearChargingProfile without fields clears every
        # profile the CSMS set (OCTT 1.6 TC_067_CSMS's "clear all remaining").
        if (await self.devices.get(station_id)).protocol == "ocpp1.6":
            return
        raise InvalidArgument(problem)

    async def _announce_report(
        self, station_id: str, request: ocpp.GetChargingProfilesRequest
    ) -> None:
        """Before a GetChargingProfiles leaves: its criteria are checked (K09.FR.03), and its
        report (maybe answered before its CALLRESULT reaches us) will reconcile the profiles
        matching them."""
        problem = charging_profile_criteria_problem("GetChargingProfiles", to_ocpp(request))
        if problem is not None:
            raise InvalidArgument(problem)
        if self.transactions is not None:
            await self._tell_transactions(
                "ExpectChargingProfilesReport",
                transaction_pb.ExpectChargingProfilesReportRequest(
                    station_id=station_id, request=request
                ),
                "its report will only add profiles",
            )

    async def _learn_charging_profile(
        self,
        station_id: str,
        request: ocpp.SetChargingProfileRequest,
        response: ocpp.SetChargingProfileResponse,
    ) -> None:
        if self.transactions is None or response.status != ocpp.CHARGING_PROFILE_STATUS_ACCEPTED:
            return
        record = transaction_pb.RecordChargingProfileRequest(
            station_id=station_id,
            evse_id=request.evse_id,
            charging_profile=request.charging_profile,
        )
        await self._shielded(
            self._tell_transactions("RecordChargingProfile", record, "the profile is not listed")
        )

    async def _learn_cleared_profiles(
        self,
        station_id: str,
        request: ocpp.ClearChargingProfileRequest,
        response: ocpp.ClearChargingProfileResponse,
    ) -> None:
        if (
            self.transactions is None
            or response.status != ocpp.CLEAR_CHARGING_PROFILE_STATUS_ACCEPTED
        ):
            return
        forget = transaction_pb.ForgetChargingProfilesRequest(
            station_id=station_id, cleared=request
        )
        await self._shielded(
            self._tell_transactions(
                "ForgetChargingProfiles", forget, "the cleared profiles are still listed"
            )
        )

    async def _learn_no_profiles(
        self,
        station_id: str,
        request: ocpp.GetChargingProfilesRequest,
        response: ocpp.GetChargingProfilesResponse,
    ) -> None:
        if (
            self.transactions is None
            or response.status != ocpp.GET_CHARGING_PROFILE_STATUS_NO_PROFILES
        ):
            return
        none = transaction_pb.RecordNoChargingProfilesRequest(
            station_id=station_id, request_id=request.request_id
        )
        await self._shielded(
            self._tell_transactions(
                "RecordNoChargingProfiles", none, "profiles the station lacks are still listed"
            )
        )

    async def _tell_transactions(self, method: str, request: Message, otherwise: str) -> None:
        """One best-effort record in transaction_svc; a failure is a WARNING saying what the
        CSMS will get wrong meanwhile (``otherwise``)."""
        assert self.transactions is not None
        try:
            await getattr(self.transactions, method)(
                request, timeout=self.transactions_timeout, metadata=self._metadata()
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "transaction_svc's %s failed (%s %s): %s",
                method,
                exc.code().name,
                exc.details(),
                otherwise,
            )

    # -- boot policy ---------------------------------------------------------------------------

    async def boot(self, station_id: str, reason: str, reported: Mapping[str, str]) -> BootOutcome:
        """Record the boot; a Pending station under the automatic rule gets its GetBaseReport.

        The request leaves ``followup_delay`` seconds after we answer, in the background: the
        gateway must first send the station our BootNotification CALLRESULT (it does so as soon
        as this RPC returns, so the delay only has to cover one hop).
        """
        outcome = await self.devices.boot(station_id, reason, reported)
        if outcome.fetch_base_report:
            self._spawn(station_id, self._fetch_base_report(station_id))
        return outcome

    async def accept(self, station_id: str) -> Station:
        """Accept the station; a reachable one is asked to boot again (best effort)."""
        station = await self.devices.accept(station_id)
        if is_reachable(station, self.devices.clock()):
            self._spawn(station_id, self._trigger_boot(station_id))
        return station

    async def record_report(
        self,
        station_id: str,
        request_id: int,
        seq_no: int,
        tbc: bool,
        generated_at: datetime.datetime,
        variables: Sequence[ReportedVariable],
    ) -> None:
        """Store a NotifyReport part; the last part the automatic rule waits for accepts."""
        if await self.devices.record_report(
            station_id, request_id, seq_no, tbc, generated_at, variables
        ):
            self._accepted_by_rule(station_id, request_id)

    def _accepted_by_rule(self, station_id: str, request_id: int) -> None:
        log.info("base report %d complete: station accepted", request_id)
        self._spawn(station_id, self._trigger_boot(station_id))

    async def _fetch_base_report(self, station_id: str) -> None:
        await asyncio.sleep(self.followup_delay)
        request_id = await self.devices.start_base_report(station_id)
        if request_id is None:
            return
        request = ocpp.GetBaseReportRequest(
            request_id=request_id, report_base=ocpp.REPORT_BASE_FULL_INVENTORY
        )
        response = await self.call("GetBaseReport", station_id, request, None)
        status = response.status
        if status == ocpp.GENERIC_DEVICE_MODEL_STATUS_EMPTY_RESULT_SET:
            # Nothing to report: the report is complete already.
            if await self.devices.complete_base_report(station_id, request_id):
                self._accepted_by_rule(station_id, request_id)
        elif status != ocpp.GENERIC_DEVICE_MODEL_STATUS_ACCEPTED:
            log.warning(
                "GetBaseReport %d answered %s: the station stays Pending",
                request_id,
                ocpp.GenericDeviceModelStatusEnum.Name(status),
            )

    async def _trigger_boot(self, station_id: str) -> None:
        request = ocpp.TriggerMessageRequest(
            requested_message=ocpp.MESSAGE_TRIGGER_BOOT_NOTIFICATION
        )
        response = await self.call("TriggerMessage", station_id, request, None)
        log.info(
            "TriggerMessage BootNotification: %s",
            ocpp.TriggerMessageStatusEnum.Name(response.status),
        )

    # -- certificates --------------------------------------------------------------------------

    async def sign_certificate(
        self, station_id: str, csr: str, usage: pki.CertificateUse | None
    ) -> SignOutcome:
        """Sign the station's CSR; when accepted, the chain follows in a CertificateSigned call.

        ``usage`` None (the station gave no certificateType) is signed as a station certificate,
        the CN checked against the station id (or an OCPP 1.6 station's unique serial number):
        OCPP says such a certificate also serves the connection to the CSMS.
        """
        # A V2G certificate must chain to the V2G root the EVs trust (ISO 15118-2), not to the
        # CSMS's own CA.
        if usage == "V2GCertificate":
            outcome = await self.v2g_signer.sign(csr, station_id, usage)
        else:
            # An OCPP 1.6 station's certificate may name it by its serial number instead
            # (the security whitepaper's A00.FR.511; Devices.serial_identity).
            serial = await self.devices.serial_identity(station_id)
            outcome = await self.signer.sign(
                csr, station_id, usage or "ChargingStationCertificate", serial
            )
        if outcome.chain is None:
            log.warning("SignCertificate rejected: %s", outcome.additional_info)
        else:
            log.info("SignCertificate accepted: CertificateSigned follows")
            self._spawn(station_id, self._send_certificate(station_id, outcome.chain, usage))
        return outcome

    async def _send_certificate(
        self, station_id: str, chain: str, usage: pki.CertificateUse | None
    ) -> None:
        # As for the boot policy: our SignCertificate CALLRESULT must reach the station first.
        await asyncio.sleep(self.followup_delay)
        request = ocpp.CertificateSignedRequest(certificate_chain=chain)
        if usage is not None:
            request.certificate_type = proto_enum_number(ocpp.CertificateSigningUseEnum, usage)
        response = await self.call("CertificateSigned", station_id, request, None)
        status = response.status
        info = response.status_info
        (log.info if status == ocpp.CERTIFICATE_SIGNED_STATUS_ACCEPTED else log.warning)(
            "CertificateSigned answered %s%s",
            ocpp.CertificateSignedStatusEnum.Name(status),
            f" ({info.reason_code}: {info.additional_info})" if info.reason_code else "",
        )

    def _spawn(self, station_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; a failure is logged (for the boot policy, the next
        boot retries; for CertificateSigned, the station sends a new CSR when its own timer
        runs out)."""

        async def guarded() -> None:
            log_ctx.station_id.set(station_id)
            try:
                await work
            except (CsmsError, GatewayError) as exc:
                log.warning("background call failed: %s", exc)
            except Exception:
                log.exception("background call failed")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no background work is left (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel the background work, then close the gateway and transaction_svc channels."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gateways.close()
        if self._transactions_channel is not None:
            await self._transactions_channel.close()
