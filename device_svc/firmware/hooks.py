"""Block L's part in device_svc's commands (:class:`device_svc.operations.Hooks`): an
UpdateFirmware is recorded before it leaves, and the station's answer on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from common.ocpp_json import ocpp_enum_value
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.firmware.service import Firmware

__all__ = ["FirmwareHooks"]


class FirmwareHooks:
    def __init__(self, firmware: Firmware) -> None:
        self.firmware = firmware
        self.before: Mapping[str, Callable[[str, Any], Awaitable[None]]] = {
            "UpdateFirmware": self._announce,
        }
        self.learn: Mapping[str, Callable[[str, Any, Any], Awaitable[None]]] = {
            "UpdateFirmware": self._answered,
        }

    async def _announce(self, station_id: str, request: ocpp.UpdateFirmwareRequest) -> None:
        await self.firmware.announce_update(
            station_id, request.request_id, request.firmware.location
        )

    async def _answered(
        self,
        station_id: str,
        request: ocpp.UpdateFirmwareRequest,
        response: ocpp.UpdateFirmwareResponse,
    ) -> None:
        if not response.status:
            return  # no answer the schema allows: nothing to record
        await self.firmware.answered_update(
            station_id,
            request.request_id,
            ocpp_enum_value(ocpp.UpdateFirmwareStatusEnum, response.status),
        )
