"""user_svc over real gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from common import db
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.user.v1 import user_service_pb2 as pb
from user_svc.service import IdTokens


def _ts(when: datetime.datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    return ts


def _in_days(days: int) -> timestamp_pb2.Timestamp:
    return _ts(
        datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days)
    )


async def _create(stub, id_token: str, **fields) -> pb.IdToken:  # type: ignore[no-untyped-def]
    return await stub.CreateIdToken(
        pb.CreateIdTokenRequest(id_token=pb.IdToken(id_token=id_token, **fields))
    )


async def _authorize(stub, id_token: str, type_: int = ocpp.ID_TOKEN_ISO14443) -> ocpp.IdTokenInfo:  # type: ignore[no-untyped-def]
    resp = await stub.Authorize(
        pb.AuthorizeCall(
            station_id="CS1",
            request=ocpp.AuthorizeRequest(id_token=ocpp.IdToken(id_token=id_token, type=type_)),
        )
    )
    return resp.id_token_info


async def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code()


async def test_create_get_list_update_delete(user_stub) -> None:
    """The standard methods keep what was given, default to Accepted and return the resource."""
    expiry = _in_days(30)
    created = await _create(
        user_stub,
        "04A2B3C4D5E6F7",
        type=ocpp.ID_TOKEN_ISO14443,
        expiry_date=expiry,
        group_id_token="FLEET-1",
    )
    assert created.id_token == "04A2B3C4D5E6F7" and created.type == ocpp.ID_TOKEN_ISO14443
    assert created.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
    assert created.expiry_date == expiry and created.group_id_token == "FLEET-1"
    assert created.create_time.seconds > 0 and created.update_time.seconds > 0

    # OCPP idTokens are case-insensitive: any spelling names the same token.
    got = await user_stub.GetIdToken(pb.GetIdTokenRequest(id_token="04a2b3c4d5e6f7"))
    assert got == created

    masked = await user_stub.UpdateIdToken(
        pb.UpdateIdTokenRequest(
            id_token=pb.IdToken(
                id_token="04A2B3C4D5E6F7",
                status=ocpp.AUTHORIZATION_STATUS_BLOCKED,
                group_id_token="IGNORED",
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["status", "expiry_date"]),
        )
    )
    assert masked.status == ocpp.AUTHORIZATION_STATUS_BLOCKED
    assert not masked.HasField("expiry_date") and masked.group_id_token == "FLEET-1"

    unmasked = await user_stub.UpdateIdToken(
        pb.UpdateIdTokenRequest(
            id_token=pb.IdToken(
                id_token="04A2B3C4D5E6F7", status=ocpp.AUTHORIZATION_STATUS_ACCEPTED
            )
        )
    )
    assert unmasked.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
    assert unmasked.type == ocpp.ID_TOKEN_ISO14443 and unmasked.group_id_token == "FLEET-1"

    page = await user_stub.ListIdTokens(pb.ListIdTokensRequest())
    assert [t.id_token for t in page.id_tokens] == ["04A2B3C4D5E6F7"]
    assert not page.next_page_token

    await user_stub.DeleteIdToken(pb.DeleteIdTokenRequest(id_token="04A2B3C4D5E6F7"))
    assert (
        await _code(user_stub.GetIdToken(pb.GetIdTokenRequest(id_token="04A2B3C4D5E6F7")))
        == grpc.StatusCode.NOT_FOUND
    )


async def test_errors(user_stub) -> None:
    """Duplicates are ALREADY_EXISTS, missing tokens NOT_FOUND, bad input INVALID_ARGUMENT."""
    await _create(user_stub, "abc")
    assert await _code(_create(user_stub, "ABC")) == grpc.StatusCode.ALREADY_EXISTS
    for bad in ("", "x" * 37):
        assert await _code(_create(user_stub, bad)) == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        await _code(_create(user_stub, "g", group_id_token="y" * 37))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert await _code(_create(user_stub, "t", type=99)) == grpc.StatusCode.INVALID_ARGUMENT

    missing = pb.IdToken(id_token="nope", status=ocpp.AUTHORIZATION_STATUS_BLOCKED)
    assert (
        await _code(user_stub.GetIdToken(pb.GetIdTokenRequest(id_token="nope")))
        == grpc.StatusCode.NOT_FOUND
    )
    assert (
        await _code(user_stub.UpdateIdToken(pb.UpdateIdTokenRequest(id_token=missing)))
        == grpc.StatusCode.NOT_FOUND
    )
    assert (
        await _code(user_stub.DeleteIdToken(pb.DeleteIdTokenRequest(id_token="nope")))
        == grpc.StatusCode.NOT_FOUND
    )
    for mask in (["id_token"], ["status"]):  # not writable; status cannot be cleared
        update = pb.UpdateIdTokenRequest(
            id_token=pb.IdToken(id_token="abc"),
            update_mask=field_mask_pb2.FieldMask(paths=mask),
        )
        assert await _code(user_stub.UpdateIdToken(update)) == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        await _code(user_stub.ListIdTokens(pb.ListIdTokensRequest(page_token="a")))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (
        await _code(user_stub.Authorize(pb.AuthorizeCall(station_id="CS1")))
        == grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_list_pages(user_stub) -> None:
    """Listing walks every token once, page by page, in case-insensitive order."""
    for name in ("t3", "T1", "t0", "T4", "t2"):
        await _create(user_stub, name)
    seen, token = [], ""
    while True:
        page = await user_stub.ListIdTokens(pb.ListIdTokensRequest(page_size=2, page_token=token))
        assert len(page.id_tokens) <= 2
        seen += [t.id_token for t in page.id_tokens]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["t0", "T1", "t2", "t3", "T4"]


async def test_authorize(user_stub) -> None:
    """Authorize answers from the stored token: status, expiry, group and type."""
    expiry = _in_days(7)
    await _create(user_stub, "GOOD", expiry_date=expiry, group_id_token="FLEET")
    await _create(user_stub, "PLAIN", type=ocpp.ID_TOKEN_ISO14443)
    await _create(user_stub, "BLOCKED", status=ocpp.AUTHORIZATION_STATUS_BLOCKED)
    await _create(user_stub, "OLD", expiry_date=_in_days(-1))
    await _create(user_stub, "APP", type=ocpp.ID_TOKEN_EMAID)

    good = await _authorize(user_stub, "good", ocpp.ID_TOKEN_KEY_CODE)  # stored without type
    assert good.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
    assert good.cache_expiry_date_time == expiry
    assert good.group_id_token == ocpp.IdToken(id_token="FLEET", type=ocpp.ID_TOKEN_CENTRAL)

    plain = await _authorize(user_stub, "PLAIN")
    assert plain.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
    assert not plain.HasField("cache_expiry_date_time") and not plain.HasField("group_id_token")

    assert (await _authorize(user_stub, "NOBODY")).status == ocpp.AUTHORIZATION_STATUS_UNKNOWN
    blocked = await _authorize(user_stub, "BLOCKED")
    assert blocked.status == ocpp.AUTHORIZATION_STATUS_BLOCKED
    assert not blocked.HasField("group_id_token")
    assert (await _authorize(user_stub, "OLD")).status == ocpp.AUTHORIZATION_STATUS_EXPIRED
    assert (await _authorize(user_stub, "APP")).status == ocpp.AUTHORIZATION_STATUS_UNKNOWN
    app = await _authorize(user_stub, "APP", ocpp.ID_TOKEN_EMAID)
    assert app.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED
    free = await _authorize(user_stub, "", ocpp.ID_TOKEN_NO_AUTHORIZATION)
    assert free.status == ocpp.AUTHORIZATION_STATUS_ACCEPTED


def _call(id_token: str, type_: int = ocpp.ID_TOKEN_ISO14443) -> pb.AuthorizeCall:
    return pb.AuthorizeCall(
        station_id="CS1",
        request=ocpp.AuthorizeRequest(id_token=ocpp.IdToken(id_token=id_token, type=type_)),
    )


async def test_batch_answers_each_authorize_as_alone(user_stub) -> None:
    """Authorizes: one outcome per item, in order, each what Authorize answers; an item that
    Authorize refuses fails alone."""
    await _create(user_stub, "GOOD", expiry_date=_in_days(7), group_id_token="FLEET")
    await _create(user_stub, "BLOCKED", status=ocpp.AUTHORIZATION_STATUS_BLOCKED)
    calls = [
        _call("good", ocpp.ID_TOKEN_KEY_CODE),
        _call("NOBODY"),
        pb.AuthorizeCall(station_id="CS1"),  # no idToken: INVALID_ARGUMENT
        _call("BLOCKED"),
        _call("GOOD"),  # the same token twice in one batch
        _call("x" * 40),  # malformed: Unknown
        _call("", ocpp.ID_TOKEN_NO_AUTHORIZATION),
    ]
    response = await user_stub.Authorizes(
        pb.AuthorizesRequest(
            items=[
                pb.AuthorizesRequest.Item(call=c, request_id=f"CS1/m{n}")
                for n, c in enumerate(calls)
            ]
        )
    )
    kinds = [o.WhichOneof("outcome") for o in response.outcomes]
    assert kinds == [
        "response",
        "response",
        "error",
        "response",
        "response",
        "response",
        "response",
    ]
    assert response.outcomes[2].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    for n, c in enumerate(calls):
        if n != 2:
            assert response.outcomes[n].response == await user_stub.Authorize(c), n
    statuses = [o.response.id_token_info.status for o in response.outcomes if o.response.ByteSize()]
    assert statuses == [
        ocpp.AUTHORIZATION_STATUS_ACCEPTED,
        ocpp.AUTHORIZATION_STATUS_UNKNOWN,
        ocpp.AUTHORIZATION_STATUS_BLOCKED,
        ocpp.AUTHORIZATION_STATUS_ACCEPTED,
        ocpp.AUTHORIZATION_STATUS_UNKNOWN,
        ocpp.AUTHORIZATION_STATUS_ACCEPTED,
    ]


async def test_concurrent_authorizations_read_their_tokens_together(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """Authorizations waiting at the same moment are read in one statement, and each still
    gets its own token's answer."""
    url = await asyncio.to_thread(migrated_db, "user_svc")
    engine = db.create_engine(url)
    try:
        tokens = IdTokens(db.session_factory(engine))
        for n in range(10):
            await tokens.create(f"CARD{n}", {"status": "Blocked" if n % 3 == 0 else ""})
        groups: list[int] = []
        read_many = tokens._reads.apply_many
        assert read_many is not None

        async def counting(conn, keys):  # type: ignore[no-untyped-def]
            groups.append(len(keys))
            return await read_many(conn, keys)

        tokens._reads.apply_many = counting
        asked = [f"card{n % 12}" for n in range(60)]  # CARD10 and CARD11 are not stored
        answers = await asyncio.gather(*(tokens.authorize(t, "ISO14443") for t in asked))
        assert max(groups) > 1 and sum(groups) == len(asked)
        expected = [
            "Unknown" if n % 12 >= 10 else "Blocked" if n % 12 % 3 == 0 else "Accepted"
            for n in range(60)
        ]
        assert [a.status for a in answers] == expected
    finally:
        await engine.dispose()
