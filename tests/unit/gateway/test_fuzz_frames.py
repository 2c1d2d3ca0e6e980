"""Fuzz the gateway's frame handling (parse, validate, JSON → proto, the connection's reader).

Frames are random bytes and text, random JSON, and near-valid OCPP frames: payloads generated
from the official schemas of the routed actions, then mutated (fields dropped or added, values
of the wrong type, huge strings, deep nesting, NaN/Infinity, big numbers), with message type
ids, message ids, actions and frame lengths mutated too. Each frame is checked against OCPP-J
(Part 4) as an oracle written here from the spec, not from :mod:`gateway.ocppj`: a CALL with a
readable id gets exactly one CALLRESULT or CALLERROR with a Part 4 code, an unreadable frame
RpcFrameworkError with id "-1", a CALLRESULT or CALLERROR nothing; and after every frame a
Heartbeat is still answered on the same connection. Bounded: a few hundred examples, seconds.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import functools
import importlib.resources
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import fastjsonschema
import orjson
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve

from gateway import ocppj
from gateway.connection import StationConnection
from gateway.heartbeats import LastSeen
from gateway.routes import ROUTES, Router
from gateway.server import Gateway
from gateway.settings import Settings

# OCPP 2.0.1 Part 4, "CALLERROR": the only codes a CALLERROR may carry.
PART4_CODES = frozenset(
    {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)
# What a payload that breaks its schema may be answered with.
SCHEMA_CODES = frozenset(
    {
        "FormatViolation",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "TypeConstraintViolation",
    }
)
ROUTED = sorted(ROUTES)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,  # CI: nothing written to the work tree; failures print their reproduction
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
ANSWER_WAIT = 2.0  # seconds; a frame not answered within this is a hang

# -- strategies ------------------------------------------------------------------------------

# Text a station can send in a text frame: no lone surrogates (not UTF-8 encodable).
CHARS = st.characters(exclude_categories=("Cs",))
TEXT = st.text(CHARS, max_size=40)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
# RFC 3339 date-times as stations write them (offsets, Z, fractions up to nanoseconds).
DATE_TIMES = st.builds(
    lambda moment, z: moment.isoformat().replace("+00:00", "Z" if z else "+00:00"),
    st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [
                dt.UTC,
                dt.timezone(dt.timedelta(hours=5, minutes=30)),
                dt.timezone(-dt.timedelta(hours=8)),
            ]
        ),
    ),
    st.booleans(),
)
# Replaced in the serialized frame by JSON text orjson will not write (see _render).
_TOKENS = {
    "@@NaN@@": "NaN",
    "@@Inf@@": "Infinity",
    "@@-Inf@@": "-Infinity",
    "@@1e999@@": "1e999",
    "@@huge-int@@": "1" + "0" * 40,
    "@@deep@@": "[" * 2000 + "]" * 2000,
    "@@deep-ok@@": "[" * 200 + "]" * 200,
    "@@deep-object@@": '{"a":' * 150 + "1" + "}" * 150,
}
ODD_VALUES = st.sampled_from(
    [
        "x" * 100_000,
        2**31,
        -(2**31) - 1,
        2**63,
        2**64 - 1,
        -(2**63),
        1e308,
        -0.0,
        5e-324,
        "",
        [],
        {},
        None,
        True,
    ]
).map(copy.deepcopy)  # [] and {} are shared otherwise, and mutated() changes them in place
# Most mutations keep the frame readable JSON, so that most frames reach validation.
NEW_VALUES = st.one_of(JSON, JSON, ODD_VALUES, st.sampled_from(sorted(_TOKENS)))

_SCHEMAS = importlib.resources.files("ocpp").joinpath("v201", "schemas")


def _from_schema(node: dict[str, Any], definitions: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against one node of an OCPP schema (the subset of keywords they use)."""
    if "$ref" in node:
        return _from_schema(definitions[node["$ref"].rsplit("/", 1)[1]], definitions)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind is None:  # anyType (DataTransfer's data)
        return JSON
    if kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", ()))
        strategies = {name: _from_schema(sub, definitions) for name, sub in properties.items()}
        return st.fixed_dictionaries(
            {name: s for name, s in strategies.items() if name in required},
            optional={name: s for name, s in strategies.items() if name not in required},
        )
    if kind == "array":
        low = node.get("minItems", 0)
        return st.lists(
            _from_schema(node["items"], definitions),
            min_size=low,
            max_size=max(low, min(node.get("maxItems", 3), 3)),
        )
    if kind == "string":
        if node.get("format") == "date-time":
            return DATE_TIMES
        return st.text(CHARS, max_size=min(node.get("maxLength", 40), 40))
    if kind == "integer":
        return st.integers(node.get("minimum", -(2**31)), node.get("maximum", 2**31 - 1))
    if kind == "number":
        return st.floats(
            node.get("minimum"), node.get("maximum"), allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"schema keyword not covered: {node}")


@functools.cache
def valid_payloads(action: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = orjson.loads(_SCHEMAS.joinpath(f"{action}Request.json").read_bytes())
    return _from_schema(schema, schema.get("definitions", {}))


def _containers(value: Any) -> list[Any]:
    """Every dict and list in a JSON value, the value itself first."""
    found = [value] if isinstance(value, dict | list) else []
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    for child in children:
        found.extend(_containers(child))
    return found


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """The value with 0-3 mutations: a field dropped or added, a value replaced."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        places = _containers(value)
        if not places:
            return draw(NEW_VALUES)
        place = draw(st.sampled_from(places))
        new = draw(NEW_VALUES)
        if isinstance(place, dict):
            op = draw(st.sampled_from(["drop", "add", "replace"]))
            if op == "add" or not place:
                place[draw(TEXT)] = new
            elif op == "drop":
                del place[draw(st.sampled_from(sorted(place)))]
            else:
                place[draw(st.sampled_from(sorted(place)))] = new
        elif place:
            place[draw(st.integers(0, len(place) - 1))] = new
        else:
            place.append(new)
    return value


@st.composite
def payloads(draw: st.DrawFn, action: Any) -> Any:
    if isinstance(action, str) and action in ROUTES:
        return draw(mutated(copy.deepcopy(draw(valid_payloads(action)))))
    return draw(st.just({}) | mutated({}) | JSON)


def _render(message: Any) -> str:
    text = orjson.dumps(message).decode()
    for token, raw in _TOKENS.items():
        text = text.replace(f'"{token}"', raw)
    return text


@st.composite
def ocpp_frames(draw: st.DrawFn) -> str:
    """Near-valid frames: each breaks none, one or two of its parts (the payload on its own)."""
    broken = draw(st.lists(st.sampled_from(["type", "id", "action", "length", "text"]), max_size=2))
    message_type: Any = 2
    if "type" in broken:
        message_type = draw(st.sampled_from([3, 4, 0, 1, 5, -1, 2**40, 2.0, True, "2", None, [2]]))
    message_id: Any = draw(st.uuids().map(str) | TEXT.filter(lambda s: len(s) <= 36))
    if "id" in broken:
        message_id = draw(
            st.text(CHARS, min_size=37, max_size=60)
            | st.sampled_from(["", "-1", 7, None, ["id"], {"id": 1}, "@@NaN@@"])
        )
    action: Any = draw(st.sampled_from(ROUTED) | st.sampled_from(sorted(ocppj.ACTIONS)))
    if "action" in broken:
        action = draw(TEXT | JSON)
    frame: list[Any] = [message_type, message_id, action, draw(payloads(action))]
    if message_type == 3:
        frame = [3, message_id, frame[3]]
    elif message_type == 4:
        frame = [4, message_id, draw(TEXT | JSON), draw(TEXT | JSON), draw(JSON)]
    if "length" in broken:
        if draw(st.booleans()):
            frame = frame[: draw(st.integers(0, len(frame) - 1))]
        else:
            frame.append(draw(JSON))
    text = _render(frame)
    if "text" in broken:  # cut mid-frame
        text = text[: draw(st.integers(0, len(text)))]
    return text


RAW_FRAMES = st.one_of(st.binary(max_size=64), st.text(CHARS, max_size=64), JSON.map(_render))


@st.composite
def frames(draw: st.DrawFn) -> str | bytes:
    """Three in four near-valid OCPP frames, the rest raw bytes, raw text or any JSON."""
    if draw(st.sampled_from([True, True, True, False])):
        return draw(ocpp_frames())
    return draw(RAW_FRAMES)


FRAMES = frames()

# -- the oracle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """One answer: a CALLRESULT (codes empty) or a CALLERROR with one of codes."""

    message_id: str
    codes: frozenset[str] = frozenset()
    # Either a CALLRESULT or a CALLERROR with one of codes is right.
    or_result: bool = False


def rpc_error(message_id: str) -> Expect:
    return Expect(message_id, frozenset({"RpcFrameworkError"}))


def expected(frame: str | bytes) -> Expect | None:
    """What OCPP-J (Part 4) says a CSMS answers to this frame; None: nothing."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return rpc_error("-1")
    if type(message) is not list or not message:
        return rpc_error("-1")
    type_id = message[0]
    readable = len(message) > 1 and type(message[1]) is str and len(message[1]) <= 36
    message_id = message[1] if readable else "-1"
    if type(type_id) is not int:
        return rpc_error(message_id)
    if type_id in (3, 4):  # answers are never answered, however broken
        return None
    if type_id != 2:
        return Expect(message_id, frozenset({"MessageTypeNotSupported"}))
    if not readable or len(message) != 4 or type(message[2]) is not str:
        return rpc_error(message_id)
    action, payload = message[2], message[3]
    if action not in ocppj.ACTIONS:
        return Expect(message_id, frozenset({"NotImplemented"}))
    if type(payload) is not dict:
        return Expect(message_id, frozenset({"FormatViolation"}))
    if ocppj.nul_path(payload) is not None:  # no string of the CSMS holds a NUL
        return Expect(message_id, frozenset({"PropertyConstraintViolation"}))
    if action not in ROUTES:
        return Expect(message_id, frozenset({"NotSupported"}))
    # Which schema rule is reported first is the validator's choice; that some rule is, and
    # that a valid payload converts to proto and is answered, is what is checked here.
    try:
        ocppj.validate(action, "Request", payload, message_id)
    except ocppj.OcppError as exc:
        assert exc.code in SCHEMA_CODES, exc
        return Expect(message_id, SCHEMA_CODES)
    if _depth(payload) > DEEP:
        # Protobuf refuses messages nested deeper than 100 levels, and each JSON level of
        # customData (a google.protobuf.Struct) is two of them: from about 48 JSON levels a
        # payload is answered FormatViolation, saying so, never half-converted.
        return Expect(message_id, frozenset({"FormatViolation"}), or_result=True)
    return Expect(message_id)


DEEP = 45


def _depth(value: object) -> int:
    """How deep JSON objects and arrays nest in ``value`` (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check(answer: str | bytes, expect: Expect) -> None:
    """The answer has Part 4's shape, the expected id and one of the expected codes."""
    assert isinstance(answer, str), "answers are text frames"
    frame = orjson.loads(answer)
    if not expect.codes or (expect.or_result and frame[0] == 3):
        assert len(frame) == 3 and frame[:2] == [3, expect.message_id], frame
        assert type(frame[2]) is dict, frame
        return
    assert len(frame) == 5 and frame[:2] == [4, expect.message_id], frame
    code, description, details = frame[2:]
    assert code in PART4_CODES and code in expect.codes, frame
    assert type(description) is str and len(description) <= 255, frame
    assert type(details) is dict, frame


def test_oracle_codes_are_part4_codes() -> None:
    """The gateway's own code table is Part 4's, so checking against Part 4 is meaningful."""
    assert {code.value for code in ocppj.Code} == PART4_CODES


# -- the pipeline: parse, validate, JSON → proto, through the gateway's real _call -------------


class FakeChannel:
    """A gRPC channel whose every RPC answers an empty response at once, and counts calls."""

    def __init__(self) -> None:
        self.calls: list[Message] = []

    def unary_unary(
        self, method: str, request_serializer: Any, response_deserializer: Any, **_: Any
    ) -> Any:
        async def rpc(request: Message, **__: Any) -> Message:
            self.calls.append(request)
            return response_deserializer(b"")  # an empty message of the RPC's response type

        return rpc


def _gateway() -> Gateway:
    """The gateway's real frame handling: its _call, its Router and local Heartbeat answer."""
    channel = FakeChannel()
    channels = dict.fromkeys(("device", "transaction", "user"), channel)
    router = Router(channels, {"heartbeat": LastSeen(1000).answer})  # type: ignore[arg-type]
    return Gateway(Settings(), router)


async def _answer(gateway: Gateway, frame: str | bytes) -> str | None:
    """What the reader and worker make of one frame, without the socket."""
    try:
        message = ocppj.parse(frame)
    except ocppj.OcppError as exc:
        return exc.frame() if exc.reply else None
    if type(message) is not ocppj.Call:
        return None
    return await gateway._call("CS1", message)


def test_pipeline_answers_every_frame() -> None:
    """parse → validate → to_proto → RPC: no exception escapes, each frame answered per Part 4."""
    gateway = _gateway()
    with asyncio.Runner() as runner:

        @FUZZ
        @given(FRAMES)
        def one(frame: str | bytes) -> None:
            expect = expected(frame)
            event("no answer" if expect is None else ",".join(sorted(expect.codes)) or "result")
            answer = runner.run(_answer(gateway, frame))
            if expect is None:
                assert answer is None
            else:
                assert answer is not None
                check(answer, expect)

        one()


@pytest.mark.parametrize(
    "action", ["BootNotification", "TransactionEvent", "StatusNotification", "MeterValues"]
)
def test_valid_payloads_convert(action: str) -> None:
    """Every schema-valid payload of a routed action converts to proto and is answered."""
    gateway = _gateway()
    with asyncio.Runner() as runner:

        @settings(FUZZ, max_examples=50)
        @given(valid_payloads(action))
        def one(payload: dict[str, Any]) -> None:
            frame = orjson.dumps([2, "m1", action, payload]).decode()
            answer = runner.run(_answer(gateway, frame))
            assert answer is not None
            check(answer, expected(frame) or Expect("m1"))

        one()


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-05-01t12:00:00z",
        "2016-12-31T23:59:60Z",
        "2024-05-01T12:00:00.1234567891Z",
        "2024-05-01T17:30:00+0530",
    ],
)
def test_schema_valid_date_times_convert(timestamp: str) -> None:
    """Found by the fuzzer: schema-valid date-times protobuf's parser refuses are answered."""
    gateway = _gateway()
    frame = orjson.dumps(
        [
            2,
            "m1",
            "StatusNotification",
            {"timestamp": timestamp, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        ]
    ).decode()
    ocppj.validate("StatusNotification", "Request", orjson.loads(frame)[3])  # schema-valid
    check(asyncio.run(_answer(gateway, frame)) or "", Expect("m1"))


# -- the connection: the real reader and worker over a loopback WebSocket -----------------------


class Link:
    """A StationConnection on a loopback WebSocket, dispatching to the gateway's _call."""

    def __init__(self, server: Server, client: ClientConnection) -> None:
        self.server = server
        self.client = client
        self.station: StationConnection | None = None
        self.heartbeats = 0

    @classmethod
    async def open(cls, gateway: Gateway) -> Link:
        made: asyncio.Future[StationConnection] = asyncio.get_running_loop().create_future()

        async def handler(ws: ServerConnection) -> None:
            station = StationConnection(
                ws, "CS1", 1, functools.partial(gateway._call, "CS1"), send_timeout=5
            )
            made.set_result(station)
            await station.serve()

        server = await serve(handler, "127.0.0.1", 0, max_size=1 << 20, compression=None)
        port = next(iter(server.sockets)).getsockname()[1]
        link = cls(server, await connect(f"ws://127.0.0.1:{port}", compression=None))
        link.station = await made
        return link

    async def recv(self) -> str | bytes:
        return await asyncio.wait_for(self.client.recv(), ANSWER_WAIT)

    async def exchange(self, frames: list[str | bytes]) -> None:
        """Each frame, then a Heartbeat: its answer (if any) first, the Heartbeat's next."""
        for frame in frames:
            await self.client.send(frame)
            self.heartbeats += 1
            heartbeat = f"hb-{self.heartbeats}"
            await self.client.send(orjson.dumps([2, heartbeat, "Heartbeat", {}]).decode())
            expect = expected(frame)
            if expect is not None:
                check(await self.recv(), expect)
            check(await self.recv(), Expect(heartbeat))
        assert self.station is not None and not self.station.closed

    async def close(self) -> None:
        await self.client.close()
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
def runner() -> AsyncIterator[asyncio.Runner]:  # type: ignore[misc]
    with asyncio.Runner() as runner:
        yield runner


def test_connection_answers_every_frame_and_stays_usable(runner: asyncio.Runner) -> None:
    """Over one live connection: every frame answered per Part 4, then a Heartbeat answered."""
    link = runner.run(Link.open(_gateway()))
    try:

        @settings(FUZZ, max_examples=150)
        @given(st.lists(FRAMES, min_size=1, max_size=4))
        def batch(frames: list[str | bytes]) -> None:
            runner.run(link.exchange(frames))

        batch()
    finally:
        runner.run(link.close())


# -- the two validators agree ----------------------------------------------------------------

SCHEMA_KEYS = sorted((action, kind) for action in ocppj.ACTIONS for kind in ("Request", "Response"))


@functools.cache
def valid_for(action: str, kind: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = orjson.loads(_SCHEMAS.joinpath(f"{action}{kind}.json").read_bytes())
    return _from_schema(schema, schema.get("definitions", {}))


@settings(FUZZ, max_examples=1500)
@given(data=st.data())
def test_the_fast_validator_agrees_with_fastjsonschema(data: st.DataObject) -> None:
    """ocppj.validate takes jsonschema-rs's yes alone and asks fastjsonschema only on a no (for
    the rule to report): on valid and mutated payloads of all 128 schemas they agree, so the fast
    yes never lets through what fastjsonschema would answer with a CALLERROR."""
    action, kind = data.draw(st.sampled_from(SCHEMA_KEYS), label="schema")
    payload = data.draw(mutated(copy.deepcopy(data.draw(valid_for(action, kind)))), label="payload")
    try:
        ocppj.validator(action, kind)(payload)
        valid = True
    except fastjsonschema.JsonSchemaValueException:
        valid = False
    event(f"valid={valid}")
    assert ocppj.accepts(action, kind)(payload) == valid


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01t12:00:00z",
        "2024-05-01T12:00:00.123456789+05:30",
        "2024-05-01T12:00:00+0530",
        "2024-05-01T23:59:60Z",
        "2024-02-29T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00",
        "2024-05-01 12:00:00Z",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00,5Z",
        "2024-05-01T12:00Z",
        "20240501T120000Z",
    ],
)
def test_the_two_validators_agree_on_date_times(timestamp: str) -> None:
    """Calendar days, leap seconds, offsets and near misses: the same verdict from both."""
    payload = {
        "timestamp": timestamp,
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
    }
    try:
        ocppj.validator("StatusNotification", "Request")(payload)
        valid = True
    except fastjsonschema.JsonSchemaValueException:
        valid = False
    assert ocppj.accepts("StatusNotification", "Request")(payload) == valid
