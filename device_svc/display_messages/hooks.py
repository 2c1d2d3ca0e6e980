"""Block O's part in device_svc's commands (:class:`device_svc.operations.Hooks`): a message
checked before SetDisplayMessage leaves, a GetDisplayMessages announced, and what the answers
teach kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from common.ocpp_json import to_ocpp
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.display_messages.service import DisplayMessages

__all__ = ["DisplayMessageHooks"]


class DisplayMessageHooks:
    def __init__(self, messages: DisplayMessages) -> None:
        self.messages = messages
        self.before: Mapping[str, Callable[[str, Any], Awaitable[None]]] = {
            "SetDisplayMessage": self._check,
            "GetDisplayMessages": self._announce,
        }
        self.learn: Mapping[str, Callable[[str, Any, Any], Awaitable[None]]] = {
            "SetDisplayMessage": self._set,
            "ClearDisplayMessage": self._cleared,
            "GetDisplayMessages": self._none,
        }

    async def _check(self, station_id: str, request: ocpp.SetDisplayMessageRequest) -> None:
        self.messages.check(to_ocpp(request))

    async def _announce(self, station_id: str, request: ocpp.GetDisplayMessagesRequest) -> None:
        """Before it leaves: its NotifyDisplayMessages (maybe sent before its CALLRESULT
        reaches us) will reconcile the messages matching its criteria."""
        await self.messages.expect_report(station_id, to_ocpp(request))

    async def _set(
        self,
        station_id: str,
        request: ocpp.SetDisplayMessageRequest,
        response: ocpp.SetDisplayMessageResponse,
    ) -> None:
        if response.status == ocpp.DISPLAY_MESSAGE_STATUS_ACCEPTED:
            await self.messages.accepted(station_id, to_ocpp(request.message))

    async def _cleared(
        self,
        station_id: str,
        request: ocpp.ClearDisplayMessageRequest,
        response: ocpp.ClearDisplayMessageResponse,
    ) -> None:
        # Accepted: cleared; Unknown: the station has no message of that id (O05) either way.
        if response.status in (
            ocpp.CLEAR_MESSAGE_STATUS_ACCEPTED,
            ocpp.CLEAR_MESSAGE_STATUS_UNKNOWN,
        ):
            await self.messages.cleared(station_id, request.id)

    async def _none(
        self,
        station_id: str,
        request: ocpp.GetDisplayMessagesRequest,
        response: ocpp.GetDisplayMessagesResponse,
    ) -> None:
        if response.status == ocpp.GET_DISPLAY_MESSAGES_STATUS_UNKNOWN:
            await self.messages.none_reported(station_id, request.request_id)
