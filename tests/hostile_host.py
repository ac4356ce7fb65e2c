"""A host that is not an exchange (Django-free; registered by tests/conftest.py).

``hostile_host``: a real HTTP server on 127.0.0.1, a free port, answering every request with
the one answer the test sets (status, headers, body): a gateway page, a huge message, a
Retry-After of decades. It stands for a host an operator allowlisted that then misbehaves,
or a user's attempt to point a connection somewhere else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class HostileHost:
    url: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"
    requests: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return self.url.removeprefix("http://")

    def answer(self, status: int, body: str | bytes, headers: dict[str, str] | None = None) -> None:
        self.status, self.headers = status, dict(headers or {})
        self.body = body.encode() if isinstance(body, str) else body


def _handler(host: HostileHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            host.requests.append(f"{self.command} {self.path}")
            self.send_response(host.status)
            for name, value in host.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(host.body)))
            self.end_headers()
            self.wfile.write(host.body)

        do_GET = do_POST = do_DELETE = do_PUT = _reply

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


@pytest.fixture
def hostile_host() -> Iterator[HostileHost]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    host = HostileHost(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
