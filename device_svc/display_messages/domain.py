"""Block O's values and rules: pure code, no I/O; messages are OCPP MessageInfoType JSON."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from common import reports
from common.errors import InvalidArgument

__all__ = [
    "CSMS",
    "STATION",
    "Criteria",
    "StoredMessage",
    "check_message",
    "stale_after_report",
]

JSON = Mapping[str, Any]

# Where the CSMS learnt of a message.
CSMS = "CSMS"  # set through the CSMS and Accepted
STATION = "Station"  # listed in a NotifyDisplayMessages


@dataclasses.dataclass(frozen=True)
class StoredMessage:
    """A message a station shows, as the CSMS knows it."""

    id: int
    info: JSON
    source: str
    updated_at: datetime.datetime
    # The GetDisplayMessages requestId of the last report that listed it.
    reported_by: int | None = None

    @property
    def priority(self) -> str:
        return str(self.info.get("priority", ""))

    @property
    def state(self) -> str | None:
        state = self.info.get("state")
        return str(state) if state is not None else None


@dataclasses.dataclass(frozen=True)
class Criteria:
    """What a GetDisplayMessages asks for (O02: id, priority, state; none: every message)."""

    ids: tuple[int, ...] = ()
    priority: str | None = None
    state: str | None = None

    @classmethod
    def of_request(cls, request: JSON) -> Criteria:
        return cls(
            ids=tuple(int(i) for i in request.get("id") or ()),
            priority=request.get("priority"),
            state=request.get("state"),
        )

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.ids:
            found["id"] = list(self.ids)
        if self.priority is not None:
            found["priority"] = self.priority
        if self.state is not None:
            found["state"] = self.state
        return found

    def matches(self, message: StoredMessage) -> bool:
        return (
            (not self.ids or message.id in self.ids)
            and (self.priority is None or message.priority == self.priority)
            and (self.state is None or message.state == self.state)
        )


def check_message(info: JSON) -> None:
    """The rules of a message beyond its schema (checked before it is sent): InvalidArgument
    naming the field."""
    start, end = info.get("startDateTime"), info.get("endDateTime")
    if isinstance(start, str) and isinstance(end, str):
        if _instant(end) <= _instant(start):
            raise InvalidArgument("message.endDateTime must be after message.startDateTime")


def _instant(value: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def stale_after_report(
    stored: Iterable[StoredMessage],
    criteria: Criteria,
    request_id: int,
    requested_at: datetime.datetime,
    listed: Sequence[int] = (),
) -> list[int]:
    """The stored ones a finished report shows the station no longer has
    (:func:`common.reports.stale_after_report`, asked for by ``criteria``)."""
    return reports.stale_after_report(stored, criteria.matches, request_id, requested_at, listed)
