"""user_svc's API keys and Envoy's Authorization/Check over real gRPC on SQLite and PostgreSQL.

Envoy itself is the end-to-end tests' job: here the CheckRequests are built as Envoy sends them
(lower-case header names; the path as the client sent it, query included).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
import orjson
import pytest
from envoy.service.auth.v3 import external_auth_pb2 as authz
from envoy.service.auth.v3 import external_auth_pb2_grpc as authz_grpc
from google.rpc import code_pb2
from sqlalchemy import text

from common.db import create_engine, session_factory
from csms.user.v1 import user_service_pb2 as pb
from csms.user.v1 import user_service_pb2_grpc as pb_grpc
from user_svc import access
from user_svc import server as user_server
from user_svc.__main__ import api_keys_cli
from user_svc.service import ApiKeys
from user_svc.settings import Settings

READER, OPERATOR = pb.API_KEY_ROLE_READER, pb.API_KEY_ROLE_OPERATOR


@dataclass
class UserSvc:
    url: str
    users: pb_grpc.UserServiceStub
    authz: authz_grpc.AuthorizationStub

    async def key(self, role: int, name: str = "") -> pb.ApiKey:
        return await self.users.CreateApiKey(
            pb.CreateApiKeyRequest(api_key=pb.ApiKey(name=name, role=role))
        )

    async def check(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> authz.CheckResponse:
        request = authz.CheckRequest()
        http = request.attributes.request.http
        http.method, http.path = method, path
        http.headers.update(headers or {})
        return await self.authz.Check(request)


@pytest.fixture
async def start(migrated_db) -> AsyncIterator[Callable[..., Awaitable[UserSvc]]]:  # type: ignore[no-untyped-def]
    """A factory: ``await start(allow_anonymous_legacy_create=True)`` gives a fresh user_svc."""
    running = []
    channels: list[grpc.aio.Channel] = []

    async def make(**settings: object) -> UserSvc:
        url = await asyncio.to_thread(migrated_db, "user_svc")
        server, close = await user_server.start(
            Settings(grpc_listen="127.0.0.1:0", database_url=url, **settings)
        )
        running.append((server, close))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{server.port}"))
        return UserSvc(
            url, pb_grpc.UserServiceStub(channels[-1]), authz_grpc.AuthorizationStub(channels[-1])
        )

    yield make
    for channel in channels:
        await channel.close()
    for server, close in running:
        await server.stop(1)
        await close()


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code()


async def test_create_returns_the_secret_once_and_list_never(start) -> None:  # type: ignore[no-untyped-def]
    """CreateApiKey answers the secret; ListApiKeys gives names, roles and times, no secret."""
    svc = await start()
    created = await svc.key(OPERATOR, "ci")
    assert created.secret.startswith(f"csms_{created.id}_") and len(created.secret) > 50
    assert created.name == "ci" and created.role == OPERATOR
    assert created.create_time.seconds > 0 and not created.HasField("revoke_time")
    reader = await svc.key(READER)
    listed = await svc.users.ListApiKeys(pb.ListApiKeysRequest())
    assert {k.id: k.role for k in listed.api_keys} == {created.id: OPERATOR, reader.id: READER}
    assert all(k.secret == "" for k in listed.api_keys)
    assert listed.next_page_token == ""


async def test_only_the_secrets_hash_is_stored(start) -> None:  # type: ignore[no-untyped-def]
    """The row holds the secret's SHA-256 and nothing else of it."""
    svc = await start()
    created = await svc.key(READER, "grafana")
    engine = create_engine(svc.url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT * FROM api_keys"))).mappings().one()
    finally:
        await engine.dispose()
    assert row["secret_hash"] == hashlib.sha256(created.secret.encode()).hexdigest()
    secret_part = created.secret.removeprefix(f"csms_{created.id}_")  # may itself hold "_"
    assert not any(secret_part in str(v) for v in row.values())


async def test_role_is_required_and_names_are_bounded(start) -> None:  # type: ignore[no-untyped-def]
    """No role, or a name over 100 characters: INVALID_ARGUMENT."""
    svc = await start()
    assert await _code(svc.key(pb.API_KEY_ROLE_UNSPECIFIED)) == grpc.StatusCode.INVALID_ARGUMENT
    assert await _code(svc.key(READER, "n" * 101)) == grpc.StatusCode.INVALID_ARGUMENT


async def test_revoke_is_idempotent_and_unknown_is_not_found(start) -> None:  # type: ignore[no-untyped-def]
    """Revoking sets revoke_time once; again changes nothing; an unknown id is NOT_FOUND."""
    svc = await start()
    created = await svc.key(READER)
    first = await svc.users.RevokeApiKey(pb.RevokeApiKeyRequest(id=created.id))
    assert first.HasField("revoke_time") and first.secret == ""
    again = await svc.users.RevokeApiKey(pb.RevokeApiKeyRequest(id=created.id))
    assert again.revoke_time == first.revoke_time
    unknown = svc.users.RevokeApiKey(pb.RevokeApiKeyRequest(id="zzzzzzzz"))
    assert await _code(unknown) == grpc.StatusCode.NOT_FOUND


async def test_list_pages(start) -> None:  # type: ignore[no-untyped-def]
    """page_size and page_token walk every key once."""
    svc = await start()
    made = {(await svc.key(READER, f"k{i}")).id for i in range(5)}
    seen, token = [], ""
    while True:
        page = await svc.users.ListApiKeys(pb.ListApiKeysRequest(page_size=2, page_token=token))
        assert len(page.api_keys) <= 2
        seen += [k.id for k in page.api_keys]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(made)


# (name, method, path, which key: "reader"/"operator"/"revoked"/"wrong"/None, HTTP status)
TABLE = [
    ("reader GET", "GET", "/v1/chargingStations?pageSize=5", "reader", 200),
    (
        "reader gRPC List",
        "POST",
        "/csms.device.v1.DeviceService/ListChargingStations",
        "reader",
        200,
    ),
    ("reader POST", "POST", "/v1/chargingStations", "reader", 403),
    ("reader gRPC command", "POST", "/csms.device.v1.DeviceService/Reset", "reader", 403),
    ("operator POST", "POST", "/v1/chargingStations", "operator", 200),
    ("operator revokes", "POST", "/v1/apiKeys/abcdefgh:revoke", "operator", 200),
    ("reader lists keys", "GET", "/v1/apiKeys", "reader", 403),
    ("operator lists keys", "GET", "/v1/apiKeys", "operator", 200),
    ("no key", "GET", "/v1/chargingStations", None, 401),
    ("wrong key", "GET", "/v1/chargingStations", "wrong", 401),
    ("revoked key", "GET", "/v1/chargingStations", "revoked", 401),
    ("internal for operator", "POST", "/csms.device.v1.DeviceService/Heartbeat", "operator", 403),
    ("internal Authorize", "POST", "/csms.user.v1.UserService/Authorize", "operator", 403),
    ("legacy create, setting off", "POST", "/chargingstations/create", None, 401),
]


async def _secrets(svc: UserSvc) -> dict[str, str]:
    revoked = await svc.key(OPERATOR, "old")
    await svc.users.RevokeApiKey(pb.RevokeApiKeyRequest(id=revoked.id))
    operator = await svc.key(OPERATOR)
    # Same id as a real key, other random part: the hash must not match.
    wrong = operator.secret[:-4] + ("AAAA" if not operator.secret.endswith("AAAA") else "BBBB")
    return {
        "reader": (await svc.key(READER)).secret,
        "operator": operator.secret,
        "revoked": revoked.secret,
        "wrong": wrong,
    }


async def test_check_decisions_table(start) -> None:  # type: ignore[no-untyped-def]
    """Each row: the status Envoy is told, with a JSON body and www-authenticate on 401."""
    svc = await start()
    secrets = await _secrets(svc)
    for name, method, path, which, status in TABLE:
        headers = _bearer(secrets[which]) if which else {}
        resp = await svc.check(method, path, headers)
        if status == 200:
            assert resp.status.code == code_pb2.OK, name
            assert resp.HasField("ok_response"), name
            assert set(resp.ok_response.headers_to_remove) >= {"authorization", "x-api-key"}
            continue
        denied = resp.denied_response
        assert denied.status.code == status, name
        code = code_pb2.UNAUTHENTICATED if status == 401 else code_pb2.PERMISSION_DENIED
        assert resp.status.code == code, name
        body = orjson.loads(denied.body)
        assert body["code"] == code and body["message"], name
        headers_out = {h.header.key: h.header.value for h in denied.headers}
        assert ("www-authenticate" in headers_out) == (status == 401), name
        if status == 401:
            assert headers_out["www-authenticate"].startswith("Bearer"), name


async def test_legacy_create_is_anonymous_only_when_allowed(start) -> None:  # type: ignore[no-untyped-def]
    """With the insecure local mode on: the legacy create passes without a key, nothing else."""
    svc = await start(allow_anonymous_legacy_create=True)
    assert (await svc.check("POST", "/chargingstations/create")).status.code == code_pb2.OK
    other = await svc.check("POST", "/v1/chargingStations")
    assert other.denied_response.status.code == 401
    listing = await svc.check("GET", "/v1/chargingStations")
    assert listing.denied_response.status.code == 401


async def test_x_api_key_header_and_grpc_bodies(start) -> None:  # type: ignore[no-untyped-def]
    """x-api-key works like Bearer; a gRPC client's refusal body is the plain message."""
    svc = await start()
    reader = (await svc.key(READER)).secret
    ok = await svc.check("GET", "/v1/idTokens", {"x-api-key": reader})
    assert ok.status.code == code_pb2.OK
    grpc_headers = {"x-api-key": reader, "content-type": "application/grpc"}
    denied = await svc.check("POST", "/csms.user.v1.UserService/CreateIdToken", grpc_headers)
    assert denied.denied_response.status.code == 403
    assert "reader" in denied.denied_response.body and not denied.denied_response.body.startswith(
        "{"
    )
    basic = await svc.check("GET", "/v1/idTokens", {"authorization": "Basic dXNlcjpwdw=="})
    assert basic.denied_response.status.code == 401


async def test_a_revoked_key_stops_at_once(start) -> None:  # type: ignore[no-untyped-def]
    """A key that was just let through (and is remembered) is refused right after its revoke."""
    svc = await start()
    key = await svc.key(OPERATOR)
    assert (await svc.check("GET", "/v1/idTokens", _bearer(key.secret))).status.code == 0
    await svc.users.RevokeApiKey(pb.RevokeApiKeyRequest(id=key.id))
    after = await svc.check("GET", "/v1/idTokens", _bearer(key.secret))
    assert after.denied_response.status.code == 401


async def test_another_replicas_revoke_is_seen_after_the_cache_ttl(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """Two user_svc replicas: one revokes, the other refuses the key once its TTL ran out."""
    url = await asyncio.to_thread(migrated_db, "user_svc")
    engine = create_engine(url)
    clock = [100.0]
    try:
        sessions = session_factory(engine)
        here = ApiKeys(sessions, cache_ttl=1.0, monotonic=lambda: clock[0])
        there = ApiKeys(sessions, cache_ttl=1.0)
        key, secret = await there.create("ci", "operator")
        assert await here.authenticate(secret) == "operator"
        await there.revoke(key.id)
        clock[0] += 0.5
        assert await here.authenticate(secret) == "operator"  # still remembered
        clock[0] += 0.6
        assert await here.authenticate(secret) is None
    finally:
        await engine.dispose()


def test_the_cli_creates_lists_and_revokes(migrated_db, capsys) -> None:  # type: ignore[no-untyped-def]
    """python -m user_svc create-api-key / list-api-keys / revoke-api-key on the database."""
    settings = Settings(database_url=migrated_db("user_svc"))

    def cli(*argv: str) -> str:
        assert api_keys_cli(argv, settings) == 0
        return str(capsys.readouterr().out)

    secret = cli("create-api-key", "--role", "operator", "--name", "me").strip().splitlines()[-1]
    key_id = access.key_id_of(secret)
    assert key_id is not None
    listed = cli("list-api-keys")
    assert key_id in listed and "operator" in listed and "active" in listed
    assert secret.removeprefix(f"csms_{key_id}_") not in listed
    assert "revoked" in cli("revoke-api-key", key_id)
    assert api_keys_cli(["revoke-api-key", "zzzzzzzz"], settings) == 1
