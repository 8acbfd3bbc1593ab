"""Start run's budget errors in Debian's chromium: the folded section opens and the bad field has focus."""

import pytest

from apps.runs.models import Run

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_in_the_browser_the_bad_budget_field_is_shown_and_focused(page, live_server_url, alice):
    from apps.swarms.models import Swarm

    swarm = Swarm.objects.get(owner=alice, name="Number cruncher")
    page.goto(f"{live_server_url}/swarms/{swarm.pk}/")
    page.fill("#id_task", "What is 2 + 2?")
    page.click("#budget-fields summary")
    page.fill("#id_max_cost", "-1")
    page.click("#start-run-form button[type=submit]")
    page.wait_for_selector("#start-run-errors")
    assert page.evaluate("document.getElementById('budget-fields').open") is True
    assert page.evaluate("document.activeElement.id") == "id_max_cost"
    error = page.locator("#budget-fields .field div.field-error").first
    assert error.is_visible() and "greater than or equal to" in error.inner_text()
    assert page.input_value("#id_task") == "What is 2 + 2?"
    assert not Run.objects.filter(swarm=swarm).exists()
