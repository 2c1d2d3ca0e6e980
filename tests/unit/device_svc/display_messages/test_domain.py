"""device_svc.display_messages.domain: criteria, the message rules, reconciling a report."""

from __future__ import annotations

import datetime

import pytest

from common.errors import InvalidArgument
from device_svc.display_messages.domain import (
    CSMS,
    Criteria,
    StoredMessage,
    check_message,
    stale_after_report,
)

T0 = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)


def message(
    id_: int, priority: str = "NormalCycle", state: str | None = None, **kw: object
) -> StoredMessage:
    info = {"id": id_, "priority": priority, "message": {"format": "UTF8", "content": "hi"}}
    if state is not None:
        info["state"] = state
    return StoredMessage(id_, info, CSMS, kw.pop("at", T0), kw.pop("reported_by", None))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "matching"),
    [
        ({}, [1, 2, 3]),
        ({"id": [2, 9]}, [2]),
        ({"priority": "AlwaysFront"}, [3]),
        ({"state": "Charging"}, [2]),
        ({"priority": "NormalCycle", "state": "Charging"}, [2]),
    ],
)
def test_criteria_of_a_request(request_: dict[str, object], matching: list[int]) -> None:
    stored = [message(1), message(2, state="Charging"), message(3, "AlwaysFront", "Idle")]
    criteria = Criteria.of_request({"requestId": 5, **request_})
    assert [m.id for m in stored if criteria.matches(m)] == matching
    assert Criteria.of_request(criteria.as_json()) == criteria


def test_a_message_ends_after_it_starts() -> None:
    check_message({"startDateTime": "2026-12-05T10:00:00Z", "endDateTime": "2026-12-05T11:00:00Z"})
    check_message({"endDateTime": "2026-12-05T11:00:00Z"})
    with pytest.raises(InvalidArgument, match="endDateTime must be after"):
        check_message(
            {"startDateTime": "2026-12-05T10:00:00Z", "endDateTime": "2026-12-05T10:00:00.000Z"}
        )


def test_a_finished_report_removes_what_it_asked_for_and_did_not_list() -> None:
    """Asked for NormalCycle ones: 1 was listed (reported_by), 2 was not (gone), 3 is of another
    priority, 4 was set after the request left (newer than the report)."""
    later = T0 + datetime.timedelta(seconds=5)
    stored = [
        message(1, reported_by=7),
        message(2),
        message(3, "AlwaysFront"),
        message(4, at=later + datetime.timedelta(seconds=1)),
    ]
    criteria = Criteria(priority="NormalCycle")
    assert stale_after_report(stored, criteria, 7, later) == [2]
    assert stale_after_report(stored, criteria, 7, later, listed=[2]) == []
