"""What a broken network does to an answer, byte by byte on the client's connection.

aiohttp writes an answer in one go and keeps the connection open. The wire faults of
``faults.py`` need every byte under their control, so they turn the adapter's
``web.Response`` into the bytes aiohttp would send (status line, headers, body; plus
``Connection: close``), write what the fault lets through and end the connection
themselves. When aiohttp then tries to write the answer it meets a closing transport and
handles that as a client that went away, quietly.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from email.utils import formatdate

from aiohttp import hdrs, web
from aiohttp.http import SERVER_SOFTWARE

PIECE_BYTES = 8
# What nginx answers when its upstream fails: the usual gateway in front of an exchange.
GATEWAY_ERROR_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def gateway_error() -> web.Response:
    """A 502 from the gateway in front of the exchange: an HTML page, not the API's JSON."""
    return web.Response(
        status=502,
        body=GATEWAY_ERROR_PAGE,
        headers={hdrs.CONTENT_TYPE: "text/html", hdrs.SERVER: "nginx"},
    )


def answer_bytes(request: web.Request, response: web.StreamResponse) -> tuple[bytes, bytes] | None:
    """(status line and headers, body) of ``response`` as it goes on the wire, with the
    Content-Length of the whole body; None for anything but a plain in-memory answer
    (every adapter answers with one)."""
    if not isinstance(response, web.Response) or response.prepared:
        return None
    body = response.body
    if body is None:
        body = b""
    if not isinstance(body, bytes | bytearray):
        return None
    headers = response.headers.copy()
    headers[hdrs.CONTENT_LENGTH] = str(len(body))
    headers.setdefault(hdrs.DATE, formatdate(usegmt=True))
    headers.setdefault(hdrs.SERVER, SERVER_SOFTWARE)
    headers[hdrs.CONNECTION] = "close"
    version = request.version
    lines = [f"HTTP/{version.major}.{version.minor} {response.status} {response.reason}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), bytes(body)


async def send_and_close(request: web.Request, data: bytes, *, pause_seconds: float) -> None:
    """Write ``data`` (in PIECE_BYTES pieces ``pause_seconds`` apart when pausing), then
    close the connection once it is flushed. Stops early when the client has gone."""
    transport = request.transport
    pieces = [data]
    if pause_seconds > 0:
        pieces = [data[at : at + PIECE_BYTES] for at in range(0, len(data), PIECE_BYTES)]
    for index, piece in enumerate(pieces):
        if index:
            await asyncio.sleep(pause_seconds)
        if transport is None or transport.is_closing():
            return
        transport.write(piece)
    if transport is not None:
        transport.close()


def drop(request: web.Request) -> None:
    """End the connection at once with no reply (a FIN)."""
    if request.transport is not None:
        request.transport.abort()


def reset(request: web.Request) -> None:
    """End the connection with a TCP RST: with lingering on for 0 s, closing the socket
    throws away anything unsent and resets the connection instead of a FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
