"""The API's documentation page loads nothing from the internet (no CDN, no web fonts, no logo)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _requests_made(browser, url: str, ready: str) -> list[str]:
    page = browser.new_page()
    made: list[str] = []
    page.on("request", lambda request: made.append(request.url))
    page.goto(url)
    page.wait_for_selector(ready, timeout=20_000)
    page.wait_for_load_state("networkidle")
    page.close()
    return made


def test_the_api_docs_load_only_from_this_server(browser, live_server_url):
    made = _requests_made(browser, f"{live_server_url}/api/docs/", "#swagger-ui .info .title")
    assert any(url.endswith("/api/schema/") for url in made), made  # the page really drew the schema
    elsewhere = [url for url in made if not url.startswith((live_server_url, "data:", "blob:"))]
    assert elsewhere == []


def test_redoc_which_fetches_its_logo_from_a_cdn_is_gone_and_its_address_leads_to_the_docs(browser, live_server_url):
    made = _requests_made(browser, f"{live_server_url}/api/redoc/", "#swagger-ui .info .title")
    assert [url for url in made if not url.startswith((live_server_url, "data:", "blob:"))] == []
    assert not any("redoc" in url for url in made[1:]), made
