"""The rule that reconciles what the CSMS keeps of a station with a report the station sent in
parts (charging profiles, display messages, variable monitors): once the report's last part
arrived, the kept items its request asked for that no part listed, and that were kept before the
request left, are gone from the station (one kept since may be newer than the report)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

__all__ = ["Reported", "stale_after_report"]


class Reported(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def reported_by(self) -> int | None: ...

    @property
    def updated_at(self) -> datetime.datetime: ...


T = TypeVar("T", bound=Reported)


def stale_after_report(
    stored: Iterable[T],
    asked: Callable[[T], bool],
    request_id: int,
    requested_at: datetime.datetime,
    listed: Sequence[int] = (),
) -> list[int]:
    """The ids of ``stored`` items the report of ``request_id`` shows gone: ``asked`` for, not
    marked as listed by it (``reported_by``) nor in ``listed``, kept before ``requested_at``."""
    return [
        item.id
        for item in stored
        if asked(item)
        and item.reported_by != request_id
        and item.id not in listed
        and item.updated_at <= requested_at
    ]
