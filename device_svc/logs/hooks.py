"""Block N's logs in device_svc's commands (:class:`device_svc.operations.Hooks`): a GetLog is
recorded before it leaves, and the station's answer on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.logs.service import Logs

__all__ = ["LogHooks"]


class LogHooks:
    def __init__(self, logs: Logs) -> None:
        self.logs = logs
        self.before: Mapping[str, Callable[[str, Any], Awaitable[None]]] = {
            "GetLog": self._announce,
        }
        self.learn: Mapping[str, Callable[[str, Any, Any], Awaitable[None]]] = {
            "GetLog": self._answered,
        }

    async def _announce(self, station_id: str, request: ocpp.GetLogRequest) -> None:
        await self.logs.announce(station_id, request)

    async def _answered(
        self, station_id: str, request: ocpp.GetLogRequest, response: ocpp.GetLogResponse
    ) -> None:
        await self.logs.answered(station_id, request, response)
