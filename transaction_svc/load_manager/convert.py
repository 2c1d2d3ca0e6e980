"""Sites between protobuf and the load manager's domain: pure code."""

from __future__ import annotations

from typing import Any

from common.columns import timestamp
from common.errors import InvalidArgument
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc.load_manager.domain import Held, SiteSpec
from transaction_svc.load_manager.service import SiteView
from transaction_svc.smart_charging.allocation import EQUAL_SHARE

__all__ = ["MASK_PATHS", "site_to_proto", "spec_fields", "spec_of"]

_UNITS = {ocpp.CHARGING_RATE_UNIT_A: "A", ocpp.CHARGING_RATE_UNIT_W: "W"}
_UNIT_NUMBERS = {v: k for k, v in _UNITS.items()}

# update_mask path (Site's field) → SiteSpec's field.
MASK_PATHS = {
    "name": "name",
    "limit": "limit",
    "charging_rate_unit": "unit",
    "min_limit": "min_limit",
    "evse_max": "evse_max",
    "strategy": "strategy",
    "evses": "evses",
    "group_priorities": "priorities",
}


def spec_fields(site: pb.Site) -> dict[str, Any]:
    """The SiteSpec fields a Site message gives (every writable one; absent ones as their
    defaults)."""
    priorities: dict[str, int] = {}
    for p in site.group_priorities:
        if p.group_id_token in priorities:
            raise InvalidArgument(f"groupPriorities: {p.group_id_token} is listed twice")
        priorities[p.group_id_token] = p.priority
    return {
        "name": site.name,
        "limit": site.limit,
        "unit": _UNITS.get(site.charging_rate_unit, "A"),
        "min_limit": site.min_limit if site.HasField("min_limit") else None,
        "evse_max": site.evse_max if site.HasField("evse_max") else None,
        "strategy": site.strategy or EQUAL_SHARE,
        "evses": tuple((e.station_id, e.evse_id) for e in site.evses),
        "priorities": priorities,
    }


def spec_of(site: pb.Site) -> SiteSpec:
    return SiteSpec(id=site.id, **spec_fields(site))


def site_to_proto(view: SiteView) -> pb.Site:
    spec, decision = view.spec, view.decision
    msg = pb.Site(
        id=spec.id,
        name=spec.name,
        limit=spec.limit,
        charging_rate_unit=_UNIT_NUMBERS[spec.unit],
        strategy=spec.strategy,
        evses=[pb.SiteEvse(station_id=s, evse_id=e) for s, e in spec.evses],
        group_priorities=[
            pb.GroupPriority(group_id_token=g, priority=p)
            for g, p in sorted(spec.priorities.items())
        ],
        fallback_limit=decision.fallback,
        allocated=decision.allocated,
        create_time=timestamp(view.created_at),
        update_time=timestamp(view.updated_at),
    )
    if spec.min_limit is not None:
        msg.min_limit = spec.min_limit
    if spec.evse_max is not None:
        msg.evse_max = spec.evse_max
    for key in sorted(decision.reasons):
        station_id, evse_id, transaction_id = key
        held = view.held.get(key, Held())
        # What the station holds: its last Accepted TxProfile, else its EVSE's default.
        limit = held.held if held.held is not None else decision.current[(station_id, evse_id, "")]
        msg.allocations.append(
            pb.SiteAllocation(
                station_id=station_id,
                evse_id=evse_id,
                transaction_id=transaction_id,
                limit=limit,
                target=decision.target[key],
                reason=decision.reasons[key],
                last_answer=held.answer,
                pending=held.pending is not None,
            )
        )
    return msg
