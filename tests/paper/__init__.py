"""The paper exchange for every test (Django-free; registered by tests/conftest.py).

- ``paper_url`` (session): a real paper exchange in a subprocess on 127.0.0.1, a free port,
  its own temporary accounts file; stopped at the end of the session.
- ``paper_reset``: clears every fault before and after the test (nothing else).
- ``make_paper_credentials(paper_url, exchange, ...)``: a fresh funded paper account.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import pytest
import requests

from exchanges.base import Credentials

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "PAPER_READY "
READY_TIMEOUT_SECONDS = 20.0
DEFAULT_BALANCES = {"USDT": "100000", "BTC": "2", "ETH": "20"}
PASSPHRASE_EXCHANGES = ("okx",)


def _read_ready_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The PAPER_READY line; the stdout pipe is then drained in the background so the
    server can never block on a full pipe."""
    lines: Queue[str | None] = Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="paper-stdout", daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=timeout)
            if line is None:
                raise RuntimeError(f"the paper exchange exited with {process.wait()}")
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()
    except Empty:
        raise RuntimeError("the paper exchange did not report ready in time") from None


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def paper_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("paper")
    log_path = directory / "paper.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "paper",
                "--port",
                "0",
                "--accounts",
                str(directory / "accounts.json"),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        try:
            url = _read_ready_line(process, READY_TIMEOUT_SECONDS)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log:\n{log_path.read_text()[-4000:]}") from None
        yield url
    finally:
        _stop(process)


def clear_faults(paper_url: str) -> None:
    requests.delete(f"{paper_url}/_paper/faults", timeout=5).raise_for_status()


@pytest.fixture
def paper_reset(paper_url: str) -> Iterator[str]:
    """Clears every fault before and after the test; returns the paper URL."""
    clear_faults(paper_url)
    yield paper_url
    clear_faults(paper_url)


def make_paper_credentials(
    paper_url: str,
    exchange: str,
    balances: dict | None = None,
    permissions: list[str] | None = None,
) -> Credentials:
    """Create a paper account with random credentials and return them."""
    credentials = Credentials(
        api_key=f"paper{secrets.token_hex(16)}",
        api_secret=secrets.token_hex(32),
        passphrase=f"Pp{secrets.token_hex(8)}" if exchange in PASSPHRASE_EXCHANGES else "",
    )
    body: dict[str, object] = {
        "exchange": exchange,
        "apiKey": credentials.api_key,
        "apiSecret": credentials.api_secret,
        "balances": DEFAULT_BALANCES if balances is None else balances,
    }
    if credentials.passphrase:
        body["passphrase"] = credentials.passphrase
    if permissions is not None:
        body["permissions"] = permissions
    response = requests.post(f"{paper_url}/_paper/accounts", json=body, timeout=10)
    if response.status_code not in (200, 201):
        raise RuntimeError(
            f"paper account not created: {response.status_code} {response.text[:200]}"
        )
    return credentials
