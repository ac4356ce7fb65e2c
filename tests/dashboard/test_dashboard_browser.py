"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver): log in
through the admin's form, read what the SVG draws, change the database and watch the page
follow without a reload.

Skipped only where chromium or its driver is absent. ``DASHBOARD_SCREENSHOT=<path>``
saves a screenshot of the seeded page there (the README's is docs/img/dashboard.png).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from connections.models import ConnectionState, ExchangeConnection
from connections.ratelimits import exchange_limiter
from exchanges.limits import Charge
from tests.dashboard.conftest import add_checks, add_order, make_connection, set_stream

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
)
PASSWORD = "correct-horse-9"
STEP = timedelta(minutes=5)  # one bucket of the 1 h range
# buckets back from the one holding now: 0..10 stay inside the hour even if a bucket
# boundary passes between seeding and drawing
SEEDED_BUCKETS = 10

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs Debian's chromium and chromium-driver "
        "(apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    # Selenium Manager is never asked for anything: the driver's path is given, offline
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1360,1000",
        "--hide-scrollbars",
        "--force-color-profile=srgb",
        "--disable-extensions",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _use_rate_limit(connection: ExchangeConnection, weight: int) -> None:
    """Weight through the real limiter, as a request of this connection would take it."""
    limiter = exchange_limiter(connection.exchange)
    lease = uuid.uuid4().hex
    assert (
        limiter.try_acquire(
            Charge("GET", "/api/v5/market/ticker", weight=weight),
            destination="paper",
            lease_id=lease,
            usage_scope=str(connection.pk),
        )
        == 0
    )
    limiter.release(lease, destination="paper")


def seed_operator_view(owner: Any, now: datetime) -> dict[str, Any]:
    """Four paper connections over the last hour: three well, Bybit failing (circuit open),
    with orders, one unknown and two flagged."""
    connections = {
        "okx": make_connection(owner, name="Paper okx", exchange="okx", health_status="healthy"),
        "binance": make_connection(
            owner, name="Paper binance", exchange="binance", health_status="healthy"
        ),
        "bingx": make_connection(
            owner,
            name="Paper bingx",
            exchange="bingx",
            health_status="degraded",
            last_error="HTTP 429 rate limited",
            last_error_code="rate_limited",
        ),
        "bybit": make_connection(
            owner,
            name="Paper bybit",
            exchange="bybit",
            health_status="unhealthy",
            circuit="open",
            consecutive_failures=5,
            opened_at=now - timedelta(minutes=7),
            last_error="the exchange answered 503 five times in a row",
            last_error_code="exchange_unavailable",
        ),
    }
    base = {"okx": 80, "binance": 140, "bingx": 210, "bybit": 120}
    for exchange, connection in connections.items():
        for back in range(SEEDED_BUCKETS + 1):
            at = now - back * STEP
            latencies = [base[exchange] + 7 * ((back * 3 + k) % 5) for k in range(3)]
            if exchange == "bingx" and back % 4 == 1:
                latencies.append(base[exchange] * 4)  # a slow tail: p99 apart from p50
            failing = exchange == "bybit" and back <= 2
            add_checks(
                connection,
                at=at,
                latencies=[] if failing else latencies,
                failed=3 if failing else (1 if exchange == "bingx" and back == 3 else 0),
            )
        for back in range(0, SEEDED_BUCKETS + 1, 2):
            add_order(
                connection,
                at=now - back * STEP,
                status="filled",
                placed_after_ms=base[exchange] + 40,
            )
        set_stream(
            connection,
            state="down" if exchange == "bybit" else "connected",
            since=now - timedelta(minutes=40),
            reconnects=3 if exchange == "bybit" else 0,
            last_message_at=now - timedelta(seconds=2),
            holder="runner-1",
        )
    add_order(connections["bybit"], at=now - STEP, status="unknown", placed_after_ms=3000)
    add_order(connections["bybit"], at=now - 2 * STEP, status="failed", flagged=True)
    add_order(connections["bingx"], at=now - 3 * STEP, status="rejected", flagged=True)
    for exchange, weight in (("okx", 6), ("binance", 300), ("bingx", 40), ("bybit", 9)):
        _use_rate_limit(connections[exchange], weight)
    return connections


def _login(browser: Any, base_url: str, username: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/admin/dashboard/?range=1h")
    assert "/admin/login/" in browser.current_url  # anonymous: the admin's login first
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def _card(browser: Any, connection: ExchangeConnection) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'[data-connection="{connection.pk}"]')


def _screenshot(browser: Any) -> None:
    target = os.environ.get("DASHBOARD_SCREENSHOT")
    if not target:
        return
    # the top of the page: tiles, charts, exchanges and the worst connections first
    height = min(browser.execute_script("return document.documentElement.scrollHeight"), 1800)
    browser.set_window_size(1360, height)
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(path))


def test_the_dashboard_draws_the_seeded_data_and_follows_the_database_live(
    browser: Any, live_server: Any, make_user: Any, settings: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    settings.DASHBOARD_REFRESH_SECONDS = 1
    staff = make_user("operator", staff=True, password=PASSWORD)
    connections = seed_operator_view(staff, timezone.now())
    _login(browser, live_server.url, "operator")
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, "[data-dashboard]"))
    assert browser.find_element(By.CSS_SELECTOR, "#content h1").text == "Health dashboard"
    assert browser.find_element(By.CSS_SELECTOR, ".range-switch a.selected").text == "1h"
    assert browser.find_element(By.ID, "site-name").text  # the admin's header

    okx = _card(browser, connections["okx"])
    # one point per bucket with passed checks, for each of p50 and p99; x axis: 3 time
    # labels, y axis 0 .. a round ceiling in ms
    for series in ("p50", "p99"):
        points = okx.find_elements(
            By.CSS_SELECTOR, f'[data-chart$="-latency"] [data-series="{series}"] circle'
        )
        assert len(points) == SEEDED_BUCKETS + 1
    latency = okx.find_element(By.CSS_SELECTOR, '[data-chart$="-latency"]')
    x_labels = [t.text for t in latency.find_elements(By.CSS_SELECTOR, ".x-axis .tick-label")]
    assert len(x_labels) == 3 and all(len(label) == 5 and label[2] == ":" for label in x_labels)
    y_labels = [t.text for t in latency.find_elements(By.CSS_SELECTOR, ".y-axis .tick-label")]
    assert y_labels[0] == "0" and int(y_labels[-1]) >= 108  # the slowest okx check
    assert (
        latency.find_element(By.TAG_NAME, "title")
        .get_attribute("textContent")
        .startswith("Check latency of Paper okx")
    )
    orders = okx.find_elements(By.CSS_SELECTOR, '[data-chart$="-orders"] rect.bar')
    assert len(orders) == SEEDED_BUCKETS // 2 + 1

    # the failing connection: red, its reason, its failed checks as red bars
    bybit = _card(browser, connections["bybit"])
    assert bybit.get_attribute("data-circuit") == "open"
    badge = bybit.find_element(By.CSS_SELECTOR, "[data-field=circuit]")
    assert badge.text == "circuit open"
    assert badge.value_of_css_property("background-color") == "rgba(198, 40, 40, 1)"
    reason = bybit.find_element(By.CSS_SELECTOR, "[data-field=reason]").text
    assert "exchange_unavailable" in reason and "503 five times" in reason
    failed = bybit.find_elements(
        By.CSS_SELECTOR, '[data-chart$="-errors"] rect[data-series="failed"]'
    )
    assert [bar.get_attribute("data-value") for bar in failed] == ["3", "3", "3"]
    assert bybit.find_element(By.CSS_SELECTOR, "[data-field=stream]").text.startswith("down")

    # the tiles, linked to the order list filtered accordingly
    flagged = browser.find_element(By.CSS_SELECTOR, "[data-tile=orders-flagged]")
    assert flagged.find_element(By.CLASS_NAME, "tile-value").text == "2"
    assert "flagged__exact=1" in flagged.find_element(By.TAG_NAME, "a").get_attribute("href")
    unknown = browser.find_element(By.CSS_SELECTOR, "[data-tile=orders-unknown]")
    assert unknown.find_element(By.CLASS_NAME, "tile-value").text == "1"
    # rate limits: one bar per pool window with its ceiling
    usage = browser.find_elements(By.CSS_SELECTOR, '[data-exchange="binance"] rect.usage-bar')
    assert usage and all(int(bar.get_attribute("data-limit")) > 0 for bar in usage)
    assert max(int(bar.get_attribute("data-used")) for bar in usage) >= 300
    _screenshot(browser)

    # now the database changes; the page follows without a reload
    browser.execute_script("window.dashboardNotReloaded = true;")
    add_order(connections["okx"], at=timezone.now(), status="filled", flagged=True)
    ConnectionState.objects.filter(connection=connections["binance"]).update(
        circuit="open",
        health_status="unhealthy",
        last_error="signature rejected",
        last_error_code="auth_failed",
    )
    WebDriverWait(browser, 15).until(
        lambda b: (
            b.find_element(By.CSS_SELECTOR, "[data-tile=orders-flagged] .tile-value").text == "3"
        )
    )
    binance = _card(browser, connections["binance"])
    WebDriverWait(browser, 5).until(
        lambda b: _card(b, connections["binance"]).get_attribute("data-circuit") == "open"
    )
    binance = _card(browser, connections["binance"])
    assert "signature rejected" in binance.find_element(By.CSS_SELECTOR, "[data-field=reason]").text
    assert browser.execute_script("return window.dashboardNotReloaded === true;")
    assert (
        int(
            browser.find_element(By.CSS_SELECTOR, "[data-dashboard]").get_attribute(
                "data-refreshes"
            )
        )
        >= 1
    )
