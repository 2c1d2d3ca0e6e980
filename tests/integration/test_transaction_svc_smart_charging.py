"""transaction_svc's smart charging (block K) over real gRPC, on SQLite and PostgreSQL: the
rules against what the CSMS knows, what stations accept and report, their limits and the EVs'
needs, the REST twins' OCPP words."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from common.ocpp_json import to_ocpp, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from csms.transaction.v1 import transaction_service_pb2_grpc as pb_grpc
from deploy.mesh import free_port
from transaction_svc import server as transaction_server
from transaction_svc.settings import Settings as TransactionSettings
from transaction_svc.smart_charging import composite, service

JSON = dict[str, Any]
STATION = "CS1"


def profile(id_: int = 1, **fields: Any) -> JSON:
    """A TxDefaultProfile, Absolute, in A."""
    return {
        "id": id_,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2026-01-01T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            }
        ],
        **fields,
    }


def tx_profile(id_: int, tx: str = "tx-1", **fields: Any) -> JSON:
    return profile(id_, chargingProfilePurpose="TxProfile", transactionId=tx, **fields)


def started(tx: str = "tx-1", evse: int = 1, **info: Any) -> pb.TransactionEventCall:
    payload = {
        "eventType": "Started",
        "timestamp": "2026-01-01T10:00:00Z",
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": tx, **info},
        "evse": {"id": evse, "connectorId": 1},
    }
    return pb.TransactionEventCall(
        station_id=STATION, request=to_proto(ocpp.TransactionEventRequest, payload)
    )


def ended(tx: str = "tx-1") -> pb.TransactionEventCall:
    payload = {
        "eventType": "Ended",
        "timestamp": "2026-01-01T11:00:00Z",
        "triggerReason": "EVDeparted",
        "seqNo": 1,
        "transactionInfo": {"transactionId": tx, "stoppedReason": "EVDisconnected"},
    }
    return pb.TransactionEventCall(
        station_id=STATION, request=to_proto(ocpp.TransactionEventRequest, payload)
    )


def validate(evse: int, p: JSON, remote_start: bool = False) -> pb.ValidateChargingProfileRequest:
    return pb.ValidateChargingProfileRequest(
        station_id=STATION,
        evse_id=evse,
        charging_profile=to_proto(ocpp.ChargingProfile, p),
        remote_start=remote_start,
    )


def record(evse: int, p: JSON, **extra: Any) -> pb.RecordChargingProfileRequest:
    return pb.RecordChargingProfileRequest(
        station_id=STATION,
        evse_id=evse,
        charging_profile=to_proto(ocpp.ChargingProfile, p),
        **extra,
    )


def report(request_id: int, evse: int, profiles: list[JSON], **extra: Any) -> Any:
    payload = {
        "requestId": request_id,
        "chargingLimitSource": extra.pop("source", "CSO"),
        "evseId": evse,
        "chargingProfile": profiles,
        **extra,
    }
    return pb.ReportChargingProfilesCall(
        station_id=STATION, request=to_proto(ocpp.ReportChargingProfilesRequest, payload)
    )


async def listed(stub: Any, **filters: Any) -> list[tuple[int, int, str]]:
    """(evseId, profile id, source) of the listed profiles."""
    found = await stub.ListChargingProfiles(
        pb.ListChargingProfilesRequest(station_id=STATION, **filters)
    )
    return [
        (
            p.evse_id,
            p.charging_profile.id,
            ocpp.ChargingLimitSourceEnum.Name(p.charging_limit_source),
        )
        for p in found.charging_profiles
    ]


CSO = "CHARGING_LIMIT_SOURCE_CSO"
EMS = "CHARGING_LIMIT_SOURCE_EMS"


@pytest.fixture
async def channel(migrated_db) -> AsyncIterator[grpc.aio.Channel]:  # type: ignore[no-untyped-def]
    """A channel to transaction_svc; no user_svc (no event here carries an idToken)."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    server, close = await transaction_server.start(
        TransactionSettings(
            grpc_listen="127.0.0.1:0", database_url=url, user_svc_addr=f"127.0.0.1:{free_port()}"
        )
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        await server.stop(1)
        await close()


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> pb_grpc.TransactionServiceStub:
    return pb_grpc.TransactionServiceStub(channel)


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


# -- the rules against what the CSMS knows ---------------------------------------------------


async def test_a_tx_profile_only_for_an_active_transaction_on_its_evse(stub) -> None:  # type: ignore[no-untyped-def]
    """K01.FR.09: no transaction yet, then one on EVSE 1: valid there, not on EVSE 2; once it
    ended, refused again."""
    err = await refused(stub.ValidateChargingProfile(validate(1, tx_profile(1))))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "K01.FR.09" in err.details()
    await stub.TransactionEvent(started())
    await stub.ValidateChargingProfile(validate(1, tx_profile(1)))
    err = await refused(stub.ValidateChargingProfile(validate(2, tx_profile(1))))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "EVSE 1" in err.details()
    await stub.TransactionEvent(ended())
    err = await refused(stub.ValidateChargingProfile(validate(1, tx_profile(1))))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_the_profile_s_own_rules_are_invalid_argument(stub) -> None:  # type: ignore[no-untyped-def]
    bad = profile(chargingProfilePurpose="ChargingStationExternalConstraints")
    err = await refused(stub.ValidateChargingProfile(validate(0, bad)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "K01.FR.22" in err.details()
    err = await refused(stub.ValidateChargingProfile(validate(1, tx_profile(1), True)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "F01.FR.11" in err.details()
    remote = {k: v for k, v in tx_profile(1).items() if k != "transactionId"}
    await stub.ValidateChargingProfile(validate(1, remote, True))


async def test_one_profile_per_evse_purpose_and_stack_level(stub) -> None:  # type: ignore[no-untyped-def]
    """K01.FR.06 against the stored profiles; the same id replaces (K01.FR.05)."""
    await stub.RecordChargingProfile(record(1, profile(1)))
    err = await refused(stub.ValidateChargingProfile(validate(1, profile(2))))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "K01.FR.06" in err.details()
    await stub.ValidateChargingProfile(validate(1, profile(1)))
    await stub.ValidateChargingProfile(validate(2, profile(2)))
    await stub.ValidateChargingProfile(validate(1, profile(2, stackLevel=1)))


# -- what stations accept, clear and report --------------------------------------------------


async def test_recorded_profiles_are_listed_and_filtered(stub) -> None:  # type: ignore[no-untyped-def]
    await stub.TransactionEvent(started())
    await stub.RecordChargingProfile(record(0, profile(1)))
    await stub.RecordChargingProfile(record(1, profile(2, stackLevel=2)))
    await stub.RecordChargingProfile(record(1, tx_profile(3)))
    assert await listed(stub) == [(0, 1, CSO), (1, 2, CSO), (1, 3, CSO)]
    assert await listed(stub, evse_id=1) == [(1, 2, CSO), (1, 3, CSO)]
    assert await listed(stub, evse_id=0) == [(0, 1, CSO)]
    assert await listed(stub, purpose=ocpp.CHARGING_PROFILE_PURPOSE_TX_PROFILE) == [(1, 3, CSO)]
    assert await listed(stub, stack_level=2) == [(1, 2, CSO)]
    assert await listed(stub, source=ocpp.CHARGING_LIMIT_SOURCE_EMS) == []
    # The same id replaces, wherever it was.
    await stub.RecordChargingProfile(record(2, profile(1)))
    assert await listed(stub) == [(1, 2, CSO), (1, 3, CSO), (2, 1, CSO)]
    # A TxProfile goes with its transaction.
    await stub.TransactionEvent(ended())
    assert await listed(stub) == [(1, 2, CSO), (2, 1, CSO)]


async def test_a_remote_start_tx_profile_joins_its_transaction(stub) -> None:  # type: ignore[no-untyped-def]
    """Recorded with its remoteStartId: listed at once, with the transactionId once the
    transaction carrying that remoteStartId is reported, gone when it ends."""
    remote = {k: v for k, v in tx_profile(9).items() if k != "transactionId"}
    await stub.RecordChargingProfile(record(0, remote, remote_start_id=42))
    found = await stub.ListChargingProfiles(pb.ListChargingProfilesRequest(station_id=STATION))
    [p] = found.charging_profiles
    assert not p.charging_profile.HasField("transaction_id")
    await stub.TransactionEvent(started("tx-R", evse=2, remoteStartId=42))
    found = await stub.ListChargingProfiles(pb.ListChargingProfilesRequest(station_id=STATION))
    [p] = found.charging_profiles
    assert (p.evse_id, p.charging_profile.transaction_id) == (2, "tx-R")
    await stub.TransactionEvent(ended("tx-R"))
    assert await listed(stub) == []


async def test_clearing_by_id_and_by_criteria(stub) -> None:  # type: ignore[no-untyped-def]
    for evse, p in [(0, profile(1)), (1, profile(2, stackLevel=1)), (1, profile(3))]:
        await stub.RecordChargingProfile(record(evse, p))

    async def forget(cleared: JSON) -> int:
        answer = await stub.ForgetChargingProfiles(
            pb.ForgetChargingProfilesRequest(
                station_id=STATION, cleared=to_proto(ocpp.ClearChargingProfileRequest, cleared)
            )
        )
        return int(answer.removed)

    assert await forget({"chargingProfileId": 2}) == 1
    assert await listed(stub) == [(0, 1, CSO), (1, 3, CSO)]
    assert await forget({"chargingProfileCriteria": {"evseId": 1, "stackLevel": 0}}) == 1
    assert await forget({"chargingProfileId": 77}) == 0
    assert await listed(stub) == [(0, 1, CSO)]
    assert await forget({}) == 1
    assert await listed(stub) == []


async def test_a_report_reconciles_what_its_request_asked_for(stub) -> None:  # type: ignore[no-untyped-def]
    """GetChargingProfiles for EVSE 1, answered in two parts: profile 2 reported (kept), profile
    4 reported by an EMS (added), profile 1 not reported (forgotten); EVSE 2's profile 3 was not
    asked for (kept)."""
    for evse, p in [(1, profile(1)), (1, profile(2, stackLevel=1)), (2, profile(3))]:
        await stub.RecordChargingProfile(record(evse, p))
    await stub.ExpectChargingProfilesReport(
        pb.ExpectChargingProfilesReportRequest(
            station_id=STATION,
            request=to_proto(
                ocpp.GetChargingProfilesRequest,
                {"requestId": 5, "evseId": 1, "chargingProfile": {}},
            ),
        )
    )
    await stub.ReportChargingProfiles(report(5, 1, [profile(2, stackLevel=1)], tbc=True))
    assert await listed(stub, evse_id=1) == [(1, 1, CSO), (1, 2, CSO)]  # not complete yet
    await stub.ReportChargingProfiles(report(5, 1, [profile(4, stackLevel=3)], source="EMS"))
    assert await listed(stub) == [(1, 2, CSO), (1, 4, EMS), (2, 3, CSO)]
    # An unsolicited report (no request awaited) adds, never forgets.
    await stub.ReportChargingProfiles(report(6, 2, [profile(5, stackLevel=1)]))
    assert await listed(stub, evse_id=2) == [(2, 3, CSO), (2, 5, CSO)]


async def test_no_profiles_forgets_what_the_request_asked_for(stub) -> None:  # type: ignore[no-untyped-def]
    for evse, p in [(0, profile(1)), (1, profile(2))]:
        await stub.RecordChargingProfile(record(evse, p))
    get = {"requestId": 8, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}
    await stub.ExpectChargingProfilesReport(
        pb.ExpectChargingProfilesReportRequest(
            station_id=STATION, request=to_proto(ocpp.GetChargingProfilesRequest, get)
        )
    )
    answer = await stub.RecordNoChargingProfiles(
        pb.RecordNoChargingProfilesRequest(station_id=STATION, request_id=8)
    )
    assert answer.removed == 2 and await listed(stub) == []
    # Not awaited (any more): nothing to forget.
    await stub.RecordChargingProfile(record(0, profile(1)))
    answer = await stub.RecordNoChargingProfiles(
        pb.RecordNoChargingProfilesRequest(station_id=STATION, request_id=8)
    )
    assert answer.removed == 0 and await listed(stub) == [(0, 1, CSO)]


# -- limits, needs, schedules ----------------------------------------------------------------


async def test_external_limits_are_stored_until_cleared(stub) -> None:  # type: ignore[no-untyped-def]
    schedule = profile(1)["chargingSchedule"][0]

    async def notify(payload: JSON) -> None:
        await stub.NotifyChargingLimit(
            pb.NotifyChargingLimitCall(
                station_id=STATION, request=to_proto(ocpp.NotifyChargingLimitRequest, payload)
            )
        )

    async def limits() -> list[JSON]:
        found = await stub.ListChargingLimits(pb.ListChargingLimitsRequest(station_id=STATION))
        return [
            {k: v for k, v in json_format.MessageToDict(limit).items() if k != "updateTime"}
            for limit in found.charging_limits
        ]

    await notify({"chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True}})
    await notify(
        {
            "evseId": 1,
            "chargingLimit": {"chargingLimitSource": "SO"},
            "chargingSchedule": [schedule],
        }
    )
    await notify({"evseId": 1, "chargingLimit": {"chargingLimitSource": "EMS"}})
    found = await limits()
    assert [(x.get("evseId"), x["chargingLimit"]["chargingLimitSource"]) for x in found] == [
        (None, "CHARGING_LIMIT_SOURCE_EMS"),
        (1, "CHARGING_LIMIT_SOURCE_EMS"),
        (1, "CHARGING_LIMIT_SOURCE_SO"),
    ]
    assert found[0]["chargingLimit"]["isGridCritical"] is True
    assert len(found[2]["chargingSchedule"]) == 1

    async def cleared(payload: JSON) -> None:
        await stub.ClearedChargingLimit(
            pb.ClearedChargingLimitCall(
                station_id=STATION, request=to_proto(ocpp.ClearedChargingLimitRequest, payload)
            )
        )

    await cleared({"chargingLimitSource": "SO", "evseId": 1})
    assert len(await limits()) == 2
    await cleared({"chargingLimitSource": "EMS"})  # every EVSE of that source
    assert await limits() == []


async def test_ev_charging_needs_and_schedule_are_stored_and_answered(stub) -> None:  # type: ignore[no-untyped-def]
    await stub.TransactionEvent(started())
    needs = {
        "requestedEnergyTransfer": "AC_three_phase",
        "acChargingParameters": {
            "energyAmount": 20000,
            "evMinCurrent": 6,
            "evMaxCurrent": 32,
            "evMaxVoltage": 400,
        },
    }
    answer = await stub.NotifyEVChargingNeeds(
        pb.NotifyEVChargingNeedsCall(
            station_id=STATION,
            request=to_proto(
                ocpp.NotifyEVChargingNeedsRequest,
                {"evseId": 1, "maxScheduleTuples": 3, "chargingNeeds": needs},
            ),
        )
    )
    assert to_ocpp(answer) == {"status": "Accepted"}
    answer = await stub.NotifyEVChargingNeeds(
        pb.NotifyEVChargingNeedsCall(
            station_id=STATION,
            request=to_proto(
                ocpp.NotifyEVChargingNeedsRequest,
                {"evseId": 2, "chargingNeeds": {"requestedEnergyTransfer": "DC"}},
            ),
        )
    )
    assert to_ocpp(answer)["status"] == "Rejected"
    ev_schedule = {
        "timeBase": "2026-01-01T10:05:00Z",
        "evseId": 1,
        "chargingSchedule": {
            "id": 1,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
        },
    }
    answer = await stub.NotifyEVChargingSchedule(
        pb.NotifyEVChargingScheduleCall(
            station_id=STATION,
            request=to_proto(ocpp.NotifyEVChargingScheduleRequest, ev_schedule),
        )
    )
    assert to_ocpp(answer) == {"status": "Accepted"}
    found = await stub.ListEVChargingNeeds(pb.ListEVChargingNeedsRequest(station_id=STATION))
    assert [
        (n.evse_id, n.transaction_id, n.max_schedule_tuples) for n in found.ev_charging_needs
    ] == [
        (1, "tx-1", 3),
        (2, "", 0),
    ]
    assert to_ocpp(found.ev_charging_needs[0].charging_needs) == needs
    [s] = found.ev_charging_schedules
    assert to_ocpp(s.charging_schedule) == ev_schedule["chargingSchedule"]
    assert s.time_base.ToJsonString() == "2026-01-01T10:05:00Z"


async def test_an_ev_schedule_above_the_csms_limits_is_rejected(stub) -> None:  # type: ignore[no-untyped-def]
    """K15.FR.11/12, K16.FR.06/07: within the EVSE's composite (here its TxProfile of 16 A, or
    11,040 W on three phases of 230 V) Accepted; above it Rejected, saying where."""
    await stub.TransactionEvent(started())
    await stub.RecordChargingProfile(record(1, tx_profile(5)))

    async def answer(unit: str, *limits: tuple[int, float]) -> dict[str, Any]:
        request = {
            "timeBase": "2026-01-01T10:05:00Z",
            "evseId": 1,
            "chargingSchedule": {
                "id": 1,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in limits],
            },
        }
        got = await stub.NotifyEVChargingSchedule(
            pb.NotifyEVChargingScheduleCall(
                station_id=STATION,
                request=to_proto(ocpp.NotifyEVChargingScheduleRequest, request),
            )
        )
        return to_ocpp(got)

    assert await answer("A", (0, 10), (600, 16)) == {"status": "Accepted"}
    assert await answer("W", (0, 11000)) == {"status": "Accepted"}
    assert await answer("A", (0, 10), (600, 20)) == {
        "status": "Rejected",
        "statusInfo": {
            "reasonCode": "ExceedsLimit",
            "additionalInfo": "K15.FR.12: 20 A at 600 s after timeBase is above the CSMS's "
            "limit of 16 A",
        },
    }
    assert (await answer("W", (0, 11100)))["status"] == "Rejected"
    found = await stub.ListEVChargingNeeds(pb.ListEVChargingNeedsRequest(station_id=STATION))
    assert [s.status for s in found.ev_charging_schedules] == [ocpp.GENERIC_STATUS_REJECTED]


async def test_needs_of_evse_0_are_refused(stub) -> None:  # type: ignore[no-untyped-def]
    err = await refused(
        stub.NotifyEVChargingNeeds(
            pb.NotifyEVChargingNeedsCall(
                station_id=STATION,
                request=to_proto(
                    ocpp.NotifyEVChargingNeedsRequest,
                    {"evseId": 0, "chargingNeeds": {"requestedEnergyTransfer": "DC"}},
                ),
            )
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- REST speaks OCPP ------------------------------------------------------------------------


async def test_the_rest_twin_lists_in_ocpp_words(stub, channel) -> None:  # type: ignore[no-untyped-def]
    """TransactionRestService.ListChargingProfiles: filters and answer in OCPP's words."""
    await stub.RecordChargingProfile(record(1, profile(1)))
    await stub.RecordChargingProfile(record(0, profile(2)))
    rest = pb_grpc.TransactionRestServiceStub(channel)
    answer = await rest.ListChargingProfiles(
        pb.ListChargingProfilesJson(station_id=STATION, purpose="TxDefaultProfile", source="CSO")
    )
    found = json_format.MessageToDict(answer)["chargingProfiles"]
    assert [(p["evseId"], p["chargingLimitSource"]) for p in found] == [(0, "CSO"), (1, "CSO")]
    assert found[1]["chargingProfile"] == profile(1)
    err = await refused(
        rest.ListChargingProfiles(pb.ListChargingProfilesJson(station_id=STATION, purpose="Tx"))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- the composite schedule: what the CSMS feeds the computation -----------------------------


async def test_reported_external_limits_join_the_composite(stub) -> None:  # type: ignore[no-untyped-def]
    """NotifyChargingLimit's schedules count as ChargingStationExternalConstraints: an EMS's
    8 A on EVSE 1 from 10:10 lowers its composite below its 16 A TxDefaultProfile, the station
    wide SO limit of 12 A (no startSchedule: from when it was reported) caps the station; an EV
    schedule above the EMS's limit is then Rejected. Cleared, they count no more."""
    await stub.RecordChargingProfile(record(1, profile(1)))
    ems = {
        "id": 7,
        "startSchedule": "2026-01-01T10:10:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}],
    }
    so = {
        "id": 8,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 12}],
    }
    for payload in (
        {"evseId": 1, "chargingLimit": {"chargingLimitSource": "EMS"}, "chargingSchedule": [ems]},
        {"chargingLimit": {"chargingLimitSource": "SO"}, "chargingSchedule": [so]},
    ):
        await stub.NotifyChargingLimit(
            pb.NotifyChargingLimitCall(
                station_id=STATION, request=to_proto(ocpp.NotifyChargingLimitRequest, payload)
            )
        )

    async def compute(evse: int, at: str) -> list[JSON]:
        answer = await stub.GetCompositeSchedule(
            pb.GetCompositeScheduleRequest(
                station_id=STATION,
                evse_id=evse,
                duration=1200,
                schedule_start=json_format.Parse(f'"{at}"', Timestamp()),
            )
        )
        return list(to_ocpp(answer)["chargingSchedulePeriod"])

    assert await compute(1, "2026-01-01T10:00:00Z") == [
        {"startPeriod": 0, "limit": 16.0},
        {"startPeriod": 600, "limit": 8.0},
    ]
    # The SO's limit holds from its report (now, in the test's clock: after 2026-01-01).
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(seconds=5)
    assert await compute(0, now.isoformat().replace("+00:00", "Z")) == [
        {"startPeriod": 0, "limit": 12.0}
    ]
    ev = {
        "timeBase": "2026-01-01T10:05:00Z",
        "evseId": 1,
        "chargingSchedule": {
            "id": 1,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
        },
    }
    answer = await stub.NotifyEVChargingSchedule(
        pb.NotifyEVChargingScheduleCall(
            station_id=STATION, request=to_proto(ocpp.NotifyEVChargingScheduleRequest, ev)
        )
    )
    assert to_ocpp(answer)["statusInfo"]["additionalInfo"] == (
        "K15.FR.12: 10 A at 300 s after timeBase is above the CSMS's limit of 8 A"
    )
    await stub.ClearedChargingLimit(
        pb.ClearedChargingLimitCall(
            station_id=STATION,
            request=to_proto(ocpp.ClearedChargingLimitRequest, {"chargingLimitSource": "EMS"}),
        )
    )
    assert await compute(1, "2026-01-01T10:00:00Z") == [{"startPeriod": 0, "limit": 16.0}]


async def test_the_composite_is_computed_from_the_profiles_that_apply(  # type: ignore[no-untyped-def]
    stub, monkeypatch
) -> None:
    """GetCompositeSchedule composes (transaction_svc.smart_charging.composite) the station's
    profiles of the EVSE and of the station, the TxProfile only of the transaction active on the
    EVSE (whose start anchors a Relative one): the station's 16 A, EVSE 1's TxProfile of 10 A for
    its transaction's first 10 minutes, then its TxDefaultProfile of 11 kW (15.9 A on three
    phases)."""
    calls: list[dict[str, Any]] = []

    def spy(profiles: Any, **kwargs: Any) -> JSON:
        calls.append({"profiles": list(profiles), **kwargs})
        return composite.composite_schedule(profiles, **kwargs)

    monkeypatch.setattr(service, "composite_schedule", spy)
    await stub.TransactionEvent(started("tx-1", evse=1))  # at 10:00
    await stub.TransactionEvent(started("tx-2", evse=2))
    relative = tx_profile(2, "tx-1", chargingProfileKind="Relative")
    relative["chargingSchedule"] = [
        {
            "id": 1,
            "duration": 600,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
        }
    ]
    in_w = profile(4)
    in_w["chargingSchedule"][0]["chargingRateUnit"] = "W"
    in_w["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] = 11000
    for evse, p in [
        (0, profile(1, chargingProfilePurpose="ChargingStationMaxProfile")),
        (1, relative),
        (2, tx_profile(3, "tx-2")),
        (1, in_w),
    ]:
        await stub.RecordChargingProfile(record(evse, p))

    async def compute(evse: int, **fields: Any) -> JSON:
        answer = await stub.GetCompositeSchedule(
            pb.GetCompositeScheduleRequest(station_id=STATION, evse_id=evse, **fields)
        )
        return to_ocpp(answer)

    at = json_format.Parse('"2026-01-01T10:05:00Z"', Timestamp())
    assert await compute(1, duration=3600, schedule_start=at) == {
        "evseId": 1,
        "duration": 3600,
        "scheduleStart": "2026-01-01T10:05:00Z",
        "chargingRateUnit": "A",  # not every schedule that applies is in W
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 10.0},
            {"startPeriod": 300, "limit": 15.9},
        ],
    }
    [call] = calls
    # EVSE 2's TxProfile is another transaction's; the rest is picked by EVSE by the composition.
    assert [(evse, p["id"]) for evse, p in call["profiles"]] == [(0, 1), (1, 2), (1, 4)]
    assert call["transaction_start"].isoformat() == "2026-01-01T10:00:00+00:00"
    in_watts = await compute(
        1, duration=60, schedule_start=at, charging_rate_unit=ocpp.CHARGING_RATE_UNIT_W
    )
    assert in_watts["chargingRateUnit"] == "W"
    assert in_watts["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 6900.0}]
    station = await compute(0, duration=60, schedule_start=at)
    assert station["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0}]
    assert calls[-1]["transaction_start"] is None
    err = await refused(
        stub.GetCompositeSchedule(
            pb.GetCompositeScheduleRequest(station_id=STATION, evse_id=1, duration=0)
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
