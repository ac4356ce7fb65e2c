"""A real local HTTP receiver for alert webhooks: a threading ``http.server`` on 127.0.0.1,
port 0 (session-scoped; the Celery worker fixture posts its alerts here).

``receiver.url`` takes POSTs and records each JSON body; ``receiver.mode`` switches how it
answers: ``ok`` (200), ``fail`` (500) or ``hang`` (records the body in ``held`` on arrival and
answers once ``release`` is set, or after ``HANG_SECONDS`` at the latest). ``received`` holds
the bodies of the requests answered.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

HANG_SECONDS = 20.0


class AlertReceiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.mode = "ok"
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.mode == "hang":
                    with receiver.lock:
                        receiver.held.append(json.loads(body or b"null"))
                    receiver.release.wait(HANG_SECONDS)
                with receiver.lock:
                    receiver.received.append(json.loads(body or b"null"))
                status = 500 if receiver.mode == "fail" else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def about(self, subject: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for body in self.received if body and body.get("subject") == subject]

    def held_about(self, subject: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for body in self.held if body and body.get("subject") == subject]

    def wait_for(self, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError("the receiver got nothing of the kind in time")


@pytest.fixture(scope="session")
def alert_receiver() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def webhook(alert_receiver: AlertReceiver, settings: Any) -> Iterator[AlertReceiver]:
    """This test raises alerts to the receiver (which answers normally again afterwards)."""
    settings.ALERT_WEBHOOK_URL = alert_receiver.url
    alert_receiver.mode = "ok"
    alert_receiver.release.clear()
    yield alert_receiver
    alert_receiver.mode = "ok"
    alert_receiver.release.set()
