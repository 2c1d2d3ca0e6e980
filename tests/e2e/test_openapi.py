"""The OpenAPI document through the real Envoy: a reader may read it, it documents every REST
route Envoy serves, and a request built from each of its examples is accepted."""

from __future__ import annotations

import pathlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from deploy.mesh import Mesh

from .conftest import rest_client

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPENAPI = "/v1/openapi.json"
VERBS = ("get", "put", "post", "delete", "patch")
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
# What the example calls must not do to the shared mesh: make an API key.
UNSAFE = {("post", "/v1/apiKeys")}
# Calls in this order: what creates the example's station and token first, what deletes last.
PHASES = {"get": 1, "patch": 1, "put": 1, "post": 2, "delete": 3}


@pytest.fixture
async def reader(mesh: Mesh, reader_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rest_client(mesh, reader_key) as client:
        yield client


@pytest.fixture
async def document(reader: httpx.AsyncClient) -> dict[str, Any]:
    resp = await reader.get(OPENAPI)
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def _envoy_config(mesh: Mesh) -> dict[str, Any]:
    """The config the mesh's Envoy runs with."""
    run_dir = mesh.log_dir or mesh.settings.data_dir
    config: dict[str, Any] = yaml.safe_load((run_dir / "envoy.yaml").read_text())
    return config


def _api_manager(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = [x for x in config["static_resources"]["listeners"] if x["name"] == "api"]
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def _shape(template: str) -> str:
    """A path template with its variables unnamed: /v1/idTokens/{id} → /v1/idTokens/{}."""
    return re.sub(r"\{[^}]*\}", "{}", template)


def _flatten(rule: Any) -> Iterator[tuple[str, str]]:
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        yield rule.custom.kind.lower(), rule.custom.path
    elif pattern:
        yield pattern, getattr(rule, pattern)
    for extra in rule.additional_bindings:
        yield from _flatten(extra)


def _served_routes(mesh: Mesh) -> set[tuple[str, str]]:
    """(verb, path shape) of every REST route the mesh's Envoy serves: every http rule of the
    services its transcoder loads from its descriptor set, and its own direct responses."""
    manager = _api_manager(_envoy_config(mesh))
    (transcoder,) = [f for f in manager["http_filters"] if f["name"] == TRANSCODER]
    settings = transcoder["typed_config"]
    files = descriptor_pb2.FileDescriptorSet.FromString(
        pathlib.Path(settings["proto_descriptor"]).read_bytes()
    )
    services = set(settings["services"])
    served = set()
    for file in files.file:
        for service in file.service:
            if f"{file.package}.{service.name}" in services:
                for method in service.method:
                    rule = method.options.Extensions[annotations_pb2.http]
                    served.update((verb, _shape(path)) for verb, path in _flatten(rule))
    for route in manager["route_config"]["virtual_hosts"][0]["routes"]:
        # (The 413s of too large a file are refusals on the transcoded routes, not routes.)
        if "direct_response" in route and route["direct_response"]["status"] == 200:
            # (The console's files are pages, not the API: README "Console".)
            if not route["match"]["path"].startswith("/console"):
                served.add(("get", route["match"]["path"]))
    return served


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for verb, operation in item.items():
            if verb in VERBS:
                yield path, verb, operation


def _replaced(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every string that is a key of ``names`` replaced, deep."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: _replaced(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, names) for v in value]
    return value


async def test_the_document_needs_a_key(mesh: Mesh) -> None:
    """ext_authz runs first: no key is 401, as everywhere else."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{mesh.settings.envoy_port}") as c:
        resp = await c.get(OPENAPI)
    assert resp.status_code == 401
    assert resp.json()["code"] == 16


async def test_a_reader_gets_the_generated_document(
    mesh: Mesh, reader: httpx.AsyncClient, reader_key: str
) -> None:
    """What ``make proto`` wrote, as it is, as JSON; with the key in x-api-key too."""
    resp = await reader.get(OPENAPI)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.content == (ROOT / "gen" / "openapi.json").read_bytes()
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{mesh.settings.envoy_port}", headers={"x-api-key": reader_key}
    ) as client:
        other = await client.get(OPENAPI)
    assert other.status_code == 200 and other.content == resp.content


async def test_every_route_envoy_serves_is_documented(mesh: Mesh, document: dict[str, Any]) -> None:
    served = _served_routes(mesh)
    documented = {(verb, _shape(path)) for path, verb, _ in _operations(document)}
    assert ("post", "/v1/chargingStations/{}:reset") in served
    assert ("get", OPENAPI) in served
    assert served - documented == set()
    assert documented - served == set()


async def test_a_request_built_from_each_example_is_accepted(
    document: dict[str, Any], rest: httpx.AsyncClient
) -> None:
    """Every operation but the making of API keys, on a fresh station and id token named where
    the examples name theirs. The station is registered but not connected: a command's 503
    says its body passed the OCPP schema (400 would mean the example is wrong)."""
    paths = document["paths"]
    station_example = paths["/v1/chargingStations"]["post"]["requestBody"]["content"][
        "application/json"
    ]["example"]
    token_example = paths["/v1/idTokens"]["post"]["requestBody"]["content"]["application/json"][
        "example"
    ]
    suffix = uuid.uuid4().hex[:10]
    names = {
        station_example["id"]: f"CS-oa-{suffix}",
        token_example["idToken"]: f"TAG-oa-{suffix}",
    }
    creates = {("post", "/v1/chargingStations"), ("post", "/v1/idTokens")}
    calls = sorted(
        (
            (0 if (verb, path) in creates else PHASES[verb], path, verb, operation)
            for path, verb, operation in _operations(document)
            if (verb, path) not in UNSAFE
        ),
        key=lambda c: (c[0], c[1], c[2]),
    )
    outcomes = []
    for _, path, verb, operation in calls:
        url, params = path, {}
        for parameter in operation.get("parameters", []):
            if "example" not in parameter:
                continue
            value = _replaced(parameter["example"], names)
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", str(value))
            else:
                params[parameter["name"]] = value
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        kwargs: dict[str, Any] = {"params": params}
        if "example" in body:
            kwargs["json"] = _replaced(body["example"], names)
        if "text/event-stream" in operation["responses"]["200"].get("content", {}):
            # A stream (server-sent events): its first event is the answer here.
            async with rest.stream(verb.upper(), url, **kwargs) as resp:
                first = b""
                async for chunk in resp.aiter_bytes():
                    first += chunk
                    if b"\n\n" in first or resp.status_code != 200:
                        break
            outcomes.append((verb.upper(), url, resp.status_code, first.decode()[:300]))
            continue
        resp = await rest.request(verb.upper(), url, **kwargs)
        outcomes.append((verb.upper(), url, resp.status_code, resp.text[:300]))
    by_call = {(verb, url): status for verb, url, status, _ in outcomes}
    # A body or parameter the services refuse is INVALID_ARGUMENT (google.rpc code 3); 400
    # with FAILED_PRECONDITION (9) is the state of what the example names (reservation 17, made
    # and cancelled by other tests sharing the mesh, "is Cancelled, not live"): the request
    # itself was taken.
    refused = [
        o
        for o in outcomes
        if (o[2] == 400 and '"code":9,' not in o[3].replace(" ", "")) or "httpStatus" in o[3]
    ]
    assert refused == [], refused
    station, token = f"CS-oa-{suffix}", f"TAG-oa-{suffix}"
    assert by_call["POST", "/v1/chargingStations"] == 200
    assert by_call["POST", "/v1/idTokens"] == 200
    assert by_call["GET", f"/v1/chargingStations/{station}"] == 200
    assert by_call["GET", f"/v1/idTokens/{token}"] == 200
    assert by_call["PATCH", f"/v1/chargingStations/{station}"] == 200
    assert by_call["DELETE", f"/v1/chargingStations/{station}"] == 200
    commands = [o for o in outcomes if re.search(rf"/{station}:(?!accept)", o[1])]
    assert len(commands) >= 21
    assert {status for _, _, status, _ in commands} == {503}, commands
