"""FileService: the file transfers over HTTP (through Envoy's transcoder, raw bodies in
``google.api.HttpBody`` chunks both ways).

Stations download firmware and upload logs on the URLs the CSMS gave them (their token is the
credential); operators upload an image's content and download the logs. A station's upload may
be ``multipart/form-data`` (what OCPP stations send: the first file part is kept, parsed as it
streams by python-multipart) or a raw body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.api import httpbody_pb2
from google.protobuf import struct_pb2
from python_multipart.multipart import MultipartParser, parse_options_header

from common.db import to_the_end
from common.errors import InvalidArgument
from common.rest_json import render
from csms.device.v1 import files_pb2 as files
from csms.device.v1 import files_pb2_grpc as files_grpc
from device_svc.files.storage import Storage
from device_svc.files.tokens import DOWNLOAD, FileTokens
from device_svc.firmware.convert import image_to_proto
from device_svc.firmware.service import Firmware
from device_svc.logs.service import Logs

__all__ = ["FileServicer"]

_OCTETS = "application/octet-stream"
# How much of a nameless first part is held while a part with a file name may still come.
_HELD = 1024 * 1024


class _Parts:
    """A multipart/form-data body parsed as it comes: the first part with a file name is the
    file, streamed; when no part has one, the first part is (held until the end, up to
    ``_HELD`` bytes: a bigger one is taken as the file at once)."""

    def __init__(self, boundary: bytes) -> None:
        self.out: list[bytes] = []
        self.filename = ""
        self._part = -1
        self._kept = -1
        self._first: list[bytes] = []
        self._first_size = 0
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_part_data": self._data,
                "on_header_field": self._field,
                "on_header_value": self._value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done,
            },
        )

    def _begin(self) -> None:
        self._part += 1
        self._headers = {}

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_done(self) -> None:
        if self._kept >= 0:
            return
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"filename")
        if name is not None:
            self._kept = self._part
            self.filename = name.decode(errors="replace").rsplit("/", 1)[-1][:255]
            self._first.clear()

    def _data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._part == self._kept:
            self.out.append(piece)
        elif self._kept < 0 and self._part == 0:
            self._first.append(piece)
            self._first_size += len(piece)
            if self._first_size > _HELD:
                # Too big for a form field: the file itself, though it has no name.
                self._kept = 0
                self.out.extend(self._first)
                self._first.clear()

    def feed(self, data: bytes) -> list[bytes]:
        self.parser.write(data)
        out, self.out = self.out, []
        return out

    def finish(self) -> list[bytes]:
        """The end of the body: what is left of the file (the first part's, if no part had a
        file name)."""
        self.parser.finalize()
        out, self.out = self.out, []
        if self._kept < 0:
            out.extend(self._first)
        return out


class FileServicer(files_grpc.FileServiceServicer):
    def __init__(
        self, tokens: FileTokens, storage: Storage, firmware: Firmware, logs: Logs
    ) -> None:
        self.tokens = tokens
        self.storage = storage
        self.firmware = firmware
        self.logs = logs

    async def _send(
        self, key: str, content_type: str, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        first = True
        async for chunk in self.storage.read(key):
            # The content type travels with the first chunk (Envoy takes it from there).
            yield httpbody_pb2.HttpBody(content_type=content_type if first else "", data=chunk)
            first = False
        if first:
            yield httpbody_pb2.HttpBody(content_type=content_type, data=b"")

    async def DownloadFile(
        self, request: files.DownloadFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        # A download whose station left may end here: never mid-statement (db.to_the_end).
        grant = await to_the_end(self.tokens.resolve(request.token, DOWNLOAD))
        image = await to_the_end(self.firmware.ready_image(grant.subject))
        async for body in self._send(image.storage_key, _OCTETS, context):
            yield body

    async def UploadFile(
        self,
        request_iterator: AsyncIterator[files.UploadFileChunk],
        context: grpc.aio.ServicerContext,
    ) -> struct_pb2.Struct:
        first = await anext(aiter(request_iterator), None)
        if first is None:
            raise InvalidArgument("no upload")

        async def chunks() -> AsyncIterator[tuple[bytes, str]]:
            content_type = first.content.content_type
            kind, options = parse_options_header(content_type)
            parts = None
            if kind == b"multipart/form-data":
                boundary = options.get(b"boundary")
                if not boundary:
                    raise InvalidArgument("a multipart/form-data body without a boundary")
                parts = _Parts(boundary)
            message: files.UploadFileChunk | None = first
            more = aiter(request_iterator)
            while message is not None:
                data = message.content.data
                if parts is None:
                    yield data, ""
                else:
                    for piece in parts.feed(data):
                        yield piece, parts.filename
                message = await anext(more, None)
            if parts is not None:
                for piece in parts.finish():
                    yield piece, parts.filename

        row = await self.logs.receive(first.token, chunks())
        answer = struct_pb2.Struct()
        answer.update({"received": True, "size": row.size, "sha256": row.sha256})
        return answer

    async def UploadFirmwareImage(
        self,
        request_iterator: AsyncIterator[files.UploadFirmwareImageChunk],
        context: grpc.aio.ServicerContext,
    ) -> struct_pb2.Struct:
        first = await anext(aiter(request_iterator), None)
        if first is None:
            raise InvalidArgument("no content")

        async def chunks() -> AsyncIterator[bytes]:
            yield first.content.data
            async for message in request_iterator:
                yield message.content.data

        row = await self.firmware.upload_image(
            first.id, chunks(), first.content.content_type or _OCTETS
        )
        answer = struct_pb2.Struct()
        answer.update(render(image_to_proto(row)))
        return answer

    async def DownloadLog(
        self, request: files.DownloadLogRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        row, key = await to_the_end(self.logs.download(request.station_id, request.request_id))
        await context.send_initial_metadata(
            (("content-disposition", f'attachment; filename="{row.filename}"'),)
        )
        async for body in self._send(key, row.content_type or _OCTETS, context):
            yield body
