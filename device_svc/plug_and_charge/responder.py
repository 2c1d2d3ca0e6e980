"""The embedded test PKI's OCSP responder: RFC 6960 over HTTP (POST, and GET of base64 paths).

A deliberately small HTTP/1.1 server on asyncio streams (one request per connection): OCSP
clients send one request and read one response. The answers are computed by
:func:`~device_svc.plug_and_charge.domain.ocsp_answer` in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import logging
import urllib.parse

from device_svc.plug_and_charge.domain import ocsp_answer
from device_svc.plug_and_charge.embedded import EmbeddedPki

__all__ = ["OcspResponder"]

log = logging.getLogger(__name__)

_MAX_REQUEST = 16 * 1024


class OcspResponder:
    def __init__(self, embedded: EmbeddedPki, validity: datetime.timedelta) -> None:
        self.embedded = embedded
        self.validity = validity
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (useful with 0)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        log.info("OCSP responder of the embedded test PKI on %s:%d", host, bound)
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _answer(self, request: bytes) -> bytes:
        test_pki = self.embedded.pki()
        return ocsp_answer(
            test_pki.authorities(), request, self.embedded.issued(), validity=self.validity
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            if method == "POST":
                length = int(headers.get("content-length", "0"))
                if not 0 < length <= _MAX_REQUEST:
                    await _reply(writer, 400, b"")
                    return
                body = await asyncio.wait_for(reader.readexactly(length), 10)
            elif method == "GET":
                body = base64.b64decode(urllib.parse.unquote(target.rsplit("/", 1)[-1]))
            else:
                await _reply(writer, 405, b"")
                return
            der = await asyncio.to_thread(self._answer, body)
            await _reply(writer, 200, der)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
            binascii.Error,
        ):
            await _reply(writer, 400, b"")
        except ConnectionError:
            pass
        finally:
            writer.close()


async def _reply(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    reason = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/ocsp-response\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    try:
        writer.write(head.encode("ascii") + body)
        await writer.drain()
    except ConnectionError:
        pass
