"""Tests for proto/tools/gen_openapi.py: the OpenAPI document says what Envoy serves."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from openapi_spec_validator import validate

from common import ocpp_examples
from common.rest import message_class
from common.rest_json import enum_words, parse
from deploy import mesh

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "proto" / "tools" / "gen_openapi.py"
DESCRIPTOR = ROOT / "gen" / "descriptor.pb"
DOC_URI = "urn:csms:openapi"
VERBS = ("get", "put", "post", "delete", "patch")


def _load_generator() -> ModuleType:
    # proto/tools is a folder of scripts, not a package, so load the file itself.
    spec = importlib.util.spec_from_file_location("gen_openapi", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def files() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes())


@pytest.fixture(scope="module")
def pool(files: descriptor_pb2.FileDescriptorSet) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return pool


@pytest.fixture(scope="module")
def doc(files: descriptor_pb2.FileDescriptorSet) -> dict[str, Any]:
    document: dict[str, Any] = gen.build(files)
    return document


def _shape(template: str) -> str:
    """A path template with its variables unnamed: /v1/idTokens/{id} → /v1/idTokens/{}."""
    return re.sub(r"\{[^}]*\}", "{}", template)


def _http_rules(files: descriptor_pb2.FileDescriptorSet) -> Iterator[tuple[str, str, str]]:
    """(REST method full name, verb, template) of every rule of every *RestService and of
    FileService (raw bodies), read straight from the descriptor set (not through the
    generator)."""

    def flatten(rule: Any) -> Iterator[tuple[str, str]]:
        pattern = rule.WhichOneof("pattern")
        if pattern == "custom":
            yield rule.custom.kind.lower(), rule.custom.path
        elif pattern:
            yield pattern, getattr(rule, pattern)
        for extra in rule.additional_bindings:
            yield from flatten(extra)

    for file in files.file:
        for service in file.service:
            if not (service.name.endswith("RestService") or service.name == "FileService"):
                continue
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                for verb, template in flatten(rule):
                    yield f"{file.package}.{service.name}.{method.name}", verb, template


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for verb, operation in item.items():
            if verb in VERBS:
                yield path, verb, operation


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A JSON Schema 2020-12 validator (what OpenAPI 3.1 schemas are) of ``schema``, whose
    references point into the document."""
    resource = referencing.Resource.from_contents(
        doc, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(DOC_URI, resource)
    rebased = _rebase(schema)
    return jsonschema.Draft202012Validator(
        rebased, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _rebase(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (DOC_URI + v if k == "$ref" and v.startswith("#") else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_the_document_is_valid_openapi(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_http_rule_of_the_rest_services_is_an_operation(
    files: descriptor_pb2.FileDescriptorSet, doc: dict[str, Any]
) -> None:
    """Every rule (additional bindings too) once, and nothing else but the document itself."""
    rules = {(verb, _shape(template)) for _, verb, template in _http_rules(files)}
    documented = {(verb, _shape(path)) for path, verb, _ in _operations(doc)}
    assert ("post", "/chargingstations/create") in rules  # an additional binding
    assert ("post", "/v1/chargingStations/{}:reset") in rules
    assert documented == rules | {("get", gen.OPENAPI_PATH)}


def test_operation_ids_name_the_rest_method(
    files: descriptor_pb2.FileDescriptorSet, doc: dict[str, Any]
) -> None:
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids))
    by_path = {(verb, path): op for path, verb, op in _operations(doc)}
    reset = by_path["post", "/v1/chargingStations/{station_id}:reset"]
    assert reset["operationId"] == "DeviceRestService_Reset"
    assert by_path["post", "/chargingstations/create"]["operationId"] == (
        "DeviceRestService_CreateChargingStation2"
    )


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        _resolve(doc, ref)


def test_enum_fields_list_the_rest_words(
    doc: dict[str, Any], pool: descriptor_pool.DescriptorPool
) -> None:
    """Every enum field of our resources: OCPP's spelling for OCPP's enums, words for ours."""
    schemas = doc["components"]["schemas"]
    checked = 0
    for name, schema in schemas.items():
        if not name.startswith("csms."):
            continue
        for fld in pool.FindMessageTypeByName(name).fields:
            if fld.enum_type is None:
                continue
            prop = schema["properties"][fld.json_name]
            prop = prop.get("items", prop)
            assert prop["type"] == "string"
            assert prop["enum"] == list(enum_words(fld.enum_type).values())
            checked += 1
    assert checked >= 5
    id_token = schemas["csms.user.v1.IdToken"]["properties"]
    assert "ISO14443" in id_token["type"]["enum"] and "Accepted" in id_token["status"]["enum"]
    transaction = schemas["csms.transaction.v1.Transaction"]["properties"]
    assert "EVDisconnected" in transaction["stoppedReason"]["enum"]
    assert schemas["csms.user.v1.ApiKey"]["properties"]["role"]["enum"] == ["reader", "operator"]
    # A query filter standing for an enum of the typed request takes its words.
    (state,) = [
        p for p in doc["paths"]["/v1/transactions"]["get"]["parameters"] if p["name"] == "state"
    ]
    assert state["schema"] == {"type": "string", "enum": ["active", "ended"]}


def test_rendering_rules_of_scalars_and_well_known_types(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    station = schemas["csms.device.v1.ChargingStation"]["properties"]
    assert station["createTime"] == {"type": "string", "format": "date-time"}
    assert station["securityProfile"]["type"] == "integer"
    assert station["connected"]["type"] == "boolean"
    assert station["evses"]["items"] == {"$ref": "#/components/schemas/csms.device.v1.Evse"}
    # Comments of the .proto are the descriptions.
    assert station["id"]["description"] == (
        "The station identity: the last segment of its WebSocket URL."
    )
    assert station["gateway"]["readOnly"] is True
    assert station["basicAuthPassword"]["writeOnly"] is True
    # OCPP messages inside resources are OCPP's own schemas.
    variable = schemas["csms.device.v1.Variable"]["properties"]
    assert variable["component"] == {"$ref": "#/components/schemas/ocpp.ComponentType"}
    patch = doc["paths"]["/v1/chargingStations/{id}"]["patch"]
    (mask,) = [p for p in patch["parameters"] if p["name"] == "updateMask"]
    assert mask["in"] == "query" and mask["schema"] == {"type": "string"}
    # A query string standing for a Timestamp of the typed request: an RFC 3339 date-time.
    events = doc["paths"]["/v1/chargingStations/{station_id}/events"]["get"]
    (since,) = [p for p in events["parameters"] if p["name"] == "since"]
    assert since["schema"] == {"type": "string", "format": "date-time"}


def test_query_parameters_are_the_unbound_fields_by_json_name(doc: dict[str, Any]) -> None:
    listing = doc["paths"]["/v1/chargingStations"]["get"]
    assert [p["name"] for p in listing["parameters"]] == [
        "pageSize",
        "pageToken",
        "idContains",
        "status",
    ]
    assert all(p["in"] == "query" and "required" not in p for p in listing["parameters"])
    # body "*": every field but the path's is in the body, none in the query.
    sync = doc["paths"]["/v1/chargingStations/{station_id}/localList:sync"]["post"]
    assert [p["in"] for p in sync["parameters"]] == ["path"]
    assert list(sync["requestBody"]["content"]["application/json"]["schema"]["properties"]) == [
        "full"
    ]


def _command_operations(
    files: descriptor_pb2.FileDescriptorSet, doc: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """(OCPP action, operation) of every command: the REST methods taking StationCommandJson."""
    by_path = {(verb, _shape(path)): op for path, verb, op in _operations(doc)}
    commands = []
    for file in files.file:
        for service in file.service:
            for method in service.method:
                if service.name.endswith("RestService") and method.input_type.endswith(
                    ".StationCommandJson"
                ):
                    rule = method.options.Extensions[annotations_pb2.http]
                    commands.append((method.name, by_path["post", _shape(rule.post)]))
    return commands


def test_commands_take_and_answer_ocpp_schemas(
    files: descriptor_pb2.FileDescriptorSet, doc: dict[str, Any]
) -> None:
    commands = _command_operations(files, doc)
    assert len(commands) >= 21
    schemas = doc["components"]["schemas"]
    for action, operation in commands:
        body = operation["requestBody"]["content"]["application/json"]
        answer = operation["responses"]["200"]["content"]["application/json"]
        assert body["schema"] == {"$ref": f"#/components/schemas/ocpp.{action}Request"}
        assert answer["schema"] == {"$ref": f"#/components/schemas/ocpp.{action}Response"}
        for kind in ("Request", "Response"):
            official = ocpp_examples.schema(action, kind)
            copy = schemas[f"ocpp.{action}{kind}"]
            assert copy.get("required") == official.get("required")
            assert list(copy["properties"]) == list(official["properties"])
        # The examples: generated from OCPP's schemas, valid against the official schema and
        # against the document's copy of it.
        assert body["example"] == ocpp_examples.payload_example(action, "Request")
        assert answer["example"] == ocpp_examples.payload_example(action, "Response")
        for example, kind in ((body["example"], "Request"), (answer["example"], "Response")):
            official = jsonschema.Draft6Validator(
                ocpp_examples.schema(action, kind),
                format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER,
            )
            assert list(official.iter_errors(example)) == []
            embedded = _validator(doc, {"$ref": f"#/components/schemas/ocpp.{action}{kind}"})
            assert list(embedded.iter_errors(example)) == []
        for error in ("400", "401", "403", "404", "503", "504"):
            assert error in operation["responses"]


def test_embedded_ocpp_schemas_refuse_what_the_official_ones_refuse(doc: dict[str, Any]) -> None:
    """The rewritten references still bind: a wrong enum deep inside is refused."""
    embedded = _validator(doc, {"$ref": "#/components/schemas/ocpp.GetVariablesRequest"})
    example = ocpp_examples.payload_example("GetVariables", "Request")
    example["getVariableData"][0]["attributeType"] = "Sometimes"
    assert not embedded.is_valid(example)
    del example["getVariableData"][0]["attributeType"]
    example["getVariableData"][0]["component"]["name"] = "x" * 51
    assert not embedded.is_valid(example)


def test_every_operation_has_an_example_request(doc: dict[str, Any]) -> None:
    """A value for every path variable; a body for every operation that takes one."""
    for path, _verb, operation in _operations(doc):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["example"] != "example", (path, parameter["name"])
            if "example" in parameter and "enum" in parameter["schema"]:
                assert parameter["example"] in parameter["schema"]["enum"]
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:  # (a file's raw body has none)
            assert "example" in content["application/json"], path
    create = doc["paths"]["/v1/idTokens"]["post"]["requestBody"]["content"]["application/json"]
    assert create["example"] == {"idToken": "TAG-001", "type": "ISO14443", "status": "Accepted"}


def test_every_curated_example_names_a_rest_method(pool: descriptor_pool.DescriptorPool) -> None:
    for key in gen.METHOD_EXAMPLES:
        service, method = key.split(".")
        found = [
            s
            for s in ("csms.device.v1", "csms.transaction.v1", "csms.user.v1")
            if method in _service_methods(pool, f"{s}.{service}")
        ]
        assert found, key


def _service_methods(pool: descriptor_pool.DescriptorPool, name: str) -> set[str]:
    try:
        return set(pool.FindServiceByName(name).methods_by_name)
    except KeyError:
        return set()


def test_resource_examples_fit_their_schemas_and_the_typed_requests(
    doc: dict[str, Any], pool: descriptor_pool.DescriptorPool
) -> None:
    """Each resource body example is valid against its documented schema and is what the REST
    facade parses into the typed request's field (common.rest_json.parse), as the service
    will."""
    checked = 0
    for path, _verb, operation in _operations(doc):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        assert list(_validator(doc, body["schema"]).iter_errors(body["example"])) == [], path
        ref = body["schema"].get("$ref", "")
        name = ref.removeprefix("#/components/schemas/")
        if name.startswith("csms."):
            parse(message_class(pool.FindMessageTypeByName(name)), body["example"])
            checked += 1
    assert checked >= 5


def test_body_star_examples_parse_as_the_rest_request(
    doc: dict[str, Any], pool: descriptor_pool.DescriptorPool
) -> None:
    """``body: "*"``: Envoy's transcoder parses the body as the REST request message."""
    sync = doc["paths"]["/v1/chargingStations/{station_id}/localList:sync"]["post"]
    example = sync["requestBody"]["content"]["application/json"]["example"]
    request = message_class(pool.FindMessageTypeByName("csms.user.v1.SyncLocalListRequest"))()
    json_format.ParseDict(example, request)
    assert request.full is True


def test_errors_and_security(doc: dict[str, Any]) -> None:
    components = doc["components"]
    assert set(components["securitySchemes"]) == {"bearer", "apiKey"}
    assert components["securitySchemes"]["apiKey"]["name"] == "x-api-key"
    assert doc["security"] == [{"bearer": []}, {"apiKey": []}]
    error = components["schemas"]["Error"]["properties"]
    assert set(error) == {"code", "message", "details"}


def test_output_is_deterministic_and_current(files: descriptor_pb2.FileDescriptorSet) -> None:
    """Two builds give the same bytes, and gen/openapi.json is this build (``make proto``)."""
    text = gen.render(gen.build(files))
    assert text == gen.render(gen.build(files))
    assert (ROOT / "gen" / gen.DOCUMENT_PATH).read_text(encoding="utf-8") == text, (
        "regenerate: make proto"
    )


def test_envoy_serves_the_document_at_its_path(doc: dict[str, Any], tmp_path: pathlib.Path) -> None:
    """deploy/envoy.yaml answers GET /v1/openapi.json with gen/openapi.json, before the
    catch-all route, within its direct-response size limit."""
    settings = mesh.MeshSettings(host="127.0.0.1", data_dir=tmp_path)
    config = yaml.safe_load(mesh.envoy_config(settings, DESCRIPTOR))
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    route_config = manager["typed_config"]["route_config"]
    routes = route_config["virtual_hosts"][0]["routes"]
    (index,) = [i for i, r in enumerate(routes) if r["match"].get("path") == gen.OPENAPI_PATH]
    assert index < len(routes) - 1 and routes[-1]["match"] == {"prefix": "/"}
    assert routes[index]["direct_response"]["body"]["filename"] == str(
        DESCRIPTOR.with_name(gen.DOCUMENT_PATH)
    )
    size = len(gen.render(doc).encode())
    assert size < route_config["max_direct_response_body_size_bytes"]
    assert gen.OPENAPI_PATH in doc["paths"]
