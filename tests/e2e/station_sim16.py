"""An OCPP 1.6J charging station for end-to-end tests: :mod:`tests.e2e.station_sim`'s station,
offering ``ocpp1.6``, checking both directions against the 1.6 JSON schemas the ``ocpp`` package
ships, and answering the CSMS's 1.6 CALLs as a well-behaved 1.6 station would.

Its configuration (GetConfiguration / ChangeConfiguration) is :attr:`Station16.configuration`:
key → (value, readonly); a key it does not have is unknown to GetConfiguration and NotSupported
to ChangeConfiguration, a readonly one Rejected. With a GetConfigurationMaxKeys key, a
GetConfiguration asking for more keys is recorded as a violation. The security whitepaper's
AuthorizationKey (the Basic auth password) is write-only: ChangeConfiguration sets
:attr:`Station16.authorization_key`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from tests.e2e.station_sim import JSON, Handler, Station

__all__ = ["Station16"]


def _configuration() -> dict[str, tuple[str, bool]]:
    return {
        "HeartbeatInterval": ("300", False),
        "MeterValueSampleInterval": ("60", False),
        "NumberOfConnectors": ("2", True),
        "SupportedFeatureProfiles": ("Core,RemoteTrigger,LocalAuthListManagement", True),
    }


@dataclass
class Station16(Station):
    """A connected 1.6 station (build it with :meth:`connect`)."""

    ocpp_version: ClassVar[str] = "1.6"
    subprotocol: ClassVar[str] = "ocpp1.6"

    configuration: dict[str, tuple[str, bool]] = field(default_factory=_configuration)
    list_version: int = 0
    id_tags: dict[str, JSON] = field(default_factory=dict)
    authorization_key: str = ""

    async def boot(self, reason: str = "PowerUp") -> JSON:
        """BootNotification (1.6 has no reason: ``reason`` is ignored)."""
        return await self.call(
            "BootNotification", {"chargePointVendor": "E2E", "chargePointModel": "E2E-16"}
        )

    def _default(self, action: str) -> Handler | None:
        accepted: JSON = {"status": "Accepted"}
        fixed: Mapping[str, JSON] = {
            "Reset": accepted,
            "ChangeAvailability": accepted,
            "UnlockConnector": {"status": "Unlocked"},
            "TriggerMessage": accepted,
            "RemoteStartTransaction": accepted,
            "RemoteStopTransaction": accepted,
            "ClearCache": accepted,
            "CertificateSigned": accepted,
            "SetChargingProfile": accepted,
            "ClearChargingProfile": accepted,
            "ReserveNow": accepted,
            "CancelReservation": accepted,
            "UpdateFirmware": {},
            "GetDiagnostics": {"fileName": "diagnostics.zip"},
            "GetCompositeSchedule": {"status": "Rejected"},
            # The security whitepaper's
            "ExtendedTriggerMessage": accepted,
            "SignedUpdateFirmware": accepted,
            "GetLog": {"status": "Accepted", "filename": "security.log"},
            "InstallCertificate": accepted,
            "DeleteCertificate": accepted,
            "GetInstalledCertificateIds": {"status": "NotFound"},
        }
        if action in fixed:
            return lambda _req, a=fixed[action]: dict(a)
        return {
            "GetConfiguration": self._get_configuration,
            "ChangeConfiguration": self._change_configuration,
            "GetLocalListVersion": lambda _req: {"listVersion": self.list_version},
            "SendLocalList": self._send_local_list,
            "DataTransfer": self._data_transfer,
        }.get(action)

    def _get_configuration(self, request: JSON) -> JSON:
        by_name = {k.lower(): k for k in self.configuration}
        keys = request.get("key") or list(self.configuration)
        most = self.configuration.get("GetConfigurationMaxKeys", ("", True))[0]
        if most.isdigit() and len(request.get("key", [])) > int(most):
            # 1.6 section 9.1.8: the most keys one GetConfiguration.req may ask for.
            self.violations.append(f"GetConfiguration of {len(keys)} keys, more than {most}")
        known, unknown = [], []
        for asked in keys:
            key = by_name.get(asked.lower())
            if key is None:
                unknown.append(asked)
                continue
            value, readonly = self.configuration[key]
            known.append({"key": key, "readonly": readonly, "value": value})
        answer: JSON = {}
        if known:
            answer["configurationKey"] = known
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    def _change_configuration(self, request: JSON) -> JSON:
        if request["key"].lower() == "authorizationkey":
            # The security whitepaper's Basic auth password: write-only, never reported.
            self.authorization_key = request["value"]
            return {"status": "Accepted"}
        by_name = {k.lower(): k for k in self.configuration}
        key = by_name.get(request["key"].lower())
        if key is None:
            return {"status": "NotSupported"}
        if self.configuration[key][1]:
            return {"status": "Rejected"}
        self.configuration[key] = (request["value"], False)
        return {"status": "Accepted"}

    def _send_local_list(self, request: JSON) -> JSON:
        if request["updateType"] == "Full":
            self.id_tags.clear()
        elif request["listVersion"] <= self.list_version:
            return {"status": "VersionMismatch"}
        for entry in request.get("localAuthorizationList", []):
            if "idTagInfo" in entry:
                self.id_tags[entry["idTag"]] = entry["idTagInfo"]
            else:
                self.id_tags.pop(entry["idTag"], None)
        self.list_version = request["listVersion"]
        return {"status": "Accepted"}
