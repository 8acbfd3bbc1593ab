"""Browser fixtures: the real ASGI app under uvicorn, Debian's chromium via Playwright,
and a page logged in as alice (with the demo swarms seeded)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from apps.core.demo import seed_demo

CHROMIUM = os.environ.get("SWARMWEB_CHROMIUM", "/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server_url(transactional_db):
    """The real ASGI application (HTTP and websockets) under uvicorn, in a thread."""
    import uvicorn

    from swarmweb.asgi import application

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(monkeypatch):
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        if os.environ.get("SWARMWEB_REQUIRE_BROWSER"):
            pytest.fail(f"chromium not found at {CHROMIUM}")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own
    # database calls are still synchronous, so tell Django that is intended.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server_url, alice, celery_worker):
    seed_demo(alice)
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server_url}/accounts/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wonderland-42")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server_url}/")
    yield page
    page.close()
