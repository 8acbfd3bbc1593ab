"""Every main page is usable on a 390 px wide phone screen: the nav wraps, wide tables scroll inside
their own box, and the page itself never scrolls sideways. In Debian's chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apps.runs import services as run_services
from apps.swarms.models import Swarm
from tests.conftest import wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.worker]

WIDTH = 390
TOLERANCE = 2  # rounding of sub-pixel borders
# Set SWARMWEB_SHOTS=/some/dir to keep a screenshot of every page looked at.
SHOTS = os.environ.get("SWARMWEB_SHOTS")


def overflow(page) -> dict:
    """The page's scroll width and the elements (tag#id.class) that stick out past the viewport."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const out = [];
          for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.right > width + 2 && el.closest('.table-scroll, .scroll-x, pre, table') === null) {
              out.push(el.tagName + (el.id ? '#' + el.id : '') + (el.className && el.className.baseVal === undefined
                ? '.' + String(el.className).split(' ').join('.') : ''));
            }
          }
          return {scrollWidth: document.documentElement.scrollWidth, offenders: out.slice(0, 8)};
        }"""
    )


def test_every_main_page_fits_a_390px_screen(page, live_server_url, alice):
    swarm = Swarm.objects.get(owner=alice, name="Launch checklist")
    run = wait_for_run(run_services.start_run(swarm=swarm, task="Launch it", user=alice), timeout=60)
    chat = Swarm.objects.get(owner=alice, name="Product meeting")
    chat_run = wait_for_run(run_services.start_run(swarm=chat, task="Build it?", user=alice), timeout=60)
    pages = {
        "swarm-list": "/",
        "swarm-detail": f"/swarms/{swarm.pk}/",
        "run-heist": f"/runs/{run.pk}/",
        "run-chat": f"/runs/{chat_run.pk}/",
        "agents": "/agents/",
        "runs": "/runs/",
        "training": "/training/",
        "memory": "/memory/",
        "tools": "/tools/",
        "arena": "/arena/",
        "patterns": "/swarms/patterns/",
    }
    page.set_viewport_size({"width": WIDTH, "height": 844})
    too_wide = {}
    for name, path in pages.items():
        page.goto(f"{live_server_url}{path}")
        page.wait_for_load_state("networkidle")
        measured = overflow(page)
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{SHOTS}/{name}-390.png", full_page=True)
        if measured["scrollWidth"] > WIDTH + TOLERANCE:
            too_wide[name] = measured
        nav = page.locator(".topbar nav")
        assert nav.bounding_box()["x"] + nav.bounding_box()["width"] <= WIDTH + TOLERANCE, name
    assert too_wide == {}
    if SHOTS:  # the same pages on a desktop, to compare
        page.set_viewport_size({"width": 1280, "height": 900})
        for name, path in pages.items():
            page.goto(f"{live_server_url}{path}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=f"{SHOTS}/{name}-1280.png", full_page=True)


def test_a_wide_table_scrolls_inside_its_box_not_the_page(page, live_server_url, alice):
    swarm = Swarm.objects.get(owner=alice, name="Launch checklist")
    page.set_viewport_size({"width": WIDTH, "height": 844})
    page.goto(f"{live_server_url}/swarms/{swarm.pk}/")
    box = page.locator(".table-scroll").first
    widths = box.evaluate("el => ({inner: el.scrollWidth, outer: el.clientWidth})")
    assert widths["outer"] <= WIDTH
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH + TOLERANCE
    if widths["inner"] > widths["outer"]:  # the members table is wider than the phone: it scrolls by itself
        box.evaluate("el => { el.scrollLeft = 40; }")
        assert box.evaluate("el => el.scrollLeft") > 0
