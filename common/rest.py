"""Serving a ``*RestService``: the REST face of a typed service, in JSON that speaks OCPP.

Each ``<Name>RestService`` method fronts the ``<Name>Service`` method of the same name (the
proto says why: :mod:`common.rest_json`). :class:`RestFacade` builds every method of it from
that pairing: the REST request becomes the typed request, the typed servicer answers, and the
answer goes back as the Struct of its REST JSON. A REST request field becomes the typed field of
the same name: copied when the types agree, parsed when it is a ``Struct`` body (the typed
field's message in JSON), a string standing for an enum (a query filter such as
``state=active``) or for a Timestamp (``since=2026-12-04T10:00:00Z``). Methods that need more
(a PATCH whose key is in the path, the commands that answer the station's own payload) get their
own request converter or handler. A NUL character anywhere in a converted request is a 400
naming the field (:func:`common.rest_json.check_text`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.protobuf import message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from common.errors import InvalidArgument
from common.rest_json import (
    RestJsonError,
    check_text,
    from_struct,
    parse,
    parse_enum,
    to_struct,
)

__all__ = [
    "Handler",
    "RequestConverter",
    "RestFacade",
    "message_class",
    "typed_service_of",
    "update_request",
]

#: A REST method's implementation: (REST request, context) → the Struct it answers.
Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[struct_pb2.Struct]]
#: A REST request → the typed request of the typed method; RestJsonError for a bad one.
RequestConverter = Callable[[Any], Message]

_STRUCT = "google.protobuf.Struct"
_TIMESTAMP = "google.protobuf.Timestamp"
_HTTP_BODY = "google.api.HttpBody"


def typed_service_of(rest: ServiceDescriptor) -> ServiceDescriptor:
    """``csms.x.v1.XRestService`` → ``csms.x.v1.XService``, from the same file."""
    name = rest.name.removesuffix("RestService") + "Service"
    if name == rest.name:
        raise ValueError(f"{rest.full_name} is not a *RestService")
    return rest.file.services_by_name[name]


def _converter(rest: Descriptor, typed: Descriptor, typed_type: type[Message]) -> RequestConverter:
    """The generic REST → typed request conversion, checked against both messages once."""
    steps: list[Callable[[Any, Any], None]] = []
    for fld in rest.fields:
        target = typed.fields_by_name.get(fld.name)
        if target is None:
            raise TypeError(f"{typed.full_name} has no field {fld.name} for {rest.full_name}")
        steps.append(_step(fld, target))

    def convert(request: Any) -> Message:
        out = typed_type()
        for step in steps:
            step(request, out)
        return out

    return convert


def _same_type(a: FieldDescriptor, b: FieldDescriptor) -> bool:
    if a.is_repeated != b.is_repeated or a.type != b.type:
        return False
    if a.message_type is not None:
        return bool(a.message_type.full_name == b.message_type.full_name)
    if a.enum_type is not None:
        return bool(a.enum_type.full_name == b.enum_type.full_name)
    return True


def _step(fld: FieldDescriptor, target: FieldDescriptor) -> Callable[[Any, Any], None]:
    name = fld.name
    if _same_type(fld, target):
        if fld.is_repeated:
            return lambda src, dst: getattr(dst, name).extend(getattr(src, name))
        if fld.message_type is not None or fld.has_presence:

            def copy_present(src: Any, dst: Any) -> None:
                if src.HasField(name):
                    if fld.message_type is not None:
                        getattr(dst, name).CopyFrom(getattr(src, name))
                    else:
                        setattr(dst, name, getattr(src, name))

            return copy_present
        return lambda src, dst: setattr(dst, name, getattr(src, name))
    if (
        fld.message_type is not None
        and fld.message_type.full_name == _STRUCT
        and target.message_type is not None
        and not target.is_repeated
    ):
        typed_type = message_class(target.message_type)

        def parse_body(src: Any, dst: Any) -> None:
            if src.HasField(name):
                getattr(dst, name).CopyFrom(parse(typed_type, from_struct(getattr(src, name))))

        return parse_body
    if (
        fld.type == FieldDescriptor.TYPE_STRING
        and target.message_type is not None
        and target.message_type.full_name == _TIMESTAMP
    ):
        json_name = target.json_name

        def parse_time(src: Any, dst: Any) -> None:
            value = getattr(src, name)
            if value:
                try:
                    getattr(dst, name).FromJsonString(value)
                except ValueError:
                    raise RestJsonError(
                        json_name, f"{value!r} is not an RFC 3339 date-time"
                    ) from None

        return parse_time
    if fld.type == FieldDescriptor.TYPE_STRING and target.enum_type is not None:
        enum, json_name = target.enum_type, target.json_name

        def parse_word(src: Any, dst: Any) -> None:
            value = getattr(src, name)
            if value:
                setattr(dst, name, parse_enum(enum, value, json_name))

        return parse_word
    raise TypeError(f"no conversion from {fld.full_name} to {target.full_name}")


def update_request(typed_type: type[Message], body: str, key: str) -> RequestConverter:
    """The converter of a REST PATCH ``{id, <body> Struct, update_mask}``: the body parsed into
    the typed request's ``body`` message, whose ``key`` field gets the path's id."""
    body_type = type(getattr(typed_type(), body))

    def convert(request: Any) -> Message:
        out = typed_type()
        resource = getattr(out, body)
        if request.HasField(body):
            resource.CopyFrom(parse(body_type, from_struct(getattr(request, body))))
        setattr(resource, key, request.id)
        if request.HasField("update_mask"):
            out.update_mask.CopyFrom(request.update_mask)
        return out

    return convert


class RestFacade:
    """A servicer of ``rest`` (a ``*RestService``) over the typed servicer of its service.

    Give it to the generated ``add_<Rest>Servicer_to_server``: it has one attribute per
    method. ``requests`` replaces the generic request conversion of some methods, ``handlers``
    whole methods.
    """

    def __init__(
        self,
        rest: ServiceDescriptor,
        typed_servicer: Any,
        *,
        requests: Mapping[str, RequestConverter] | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        typed = typed_service_of(rest)
        requests = requests or {}
        handlers = handlers or {}
        for method in rest.methods:
            handler = handlers.get(method.name)
            if handler is None:
                typed_method = typed.methods_by_name.get(method.name)
                if typed_method is None:
                    raise TypeError(f"{typed.full_name} has no method {method.name}")
                typed_type = message_class(typed_method.input_type)
                convert = requests.get(method.name) or _converter(
                    method.input_type, typed_method.input_type, typed_type
                )
                handler = _handler(getattr(typed_servicer, method.name), convert)
            setattr(self, method.name, handler)


def message_class(descriptor: Descriptor) -> type[Message]:
    """The generated class of a message descriptor."""
    cls: type[Message] = message_factory.GetMessageClass(descriptor)
    return cls


def _handler(typed_method: Callable[..., Awaitable[Message]], convert: RequestConverter) -> Handler:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> struct_pb2.Struct:
        try:
            typed_request = convert(request)
            check_text(typed_request)
        except RestJsonError as exc:
            raise InvalidArgument(str(exc)) from None
        answer = await typed_method(typed_request, context)
        if answer.DESCRIPTOR.full_name == _HTTP_BODY:  # A raw body (CSV, ...): as it is.
            return answer
        return to_struct(answer)

    return handle
