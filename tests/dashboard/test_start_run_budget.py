"""Start run's budget fields: an error opens the folded budget section and focuses the first bad field."""

import re

import pytest
from django.test import Client

from apps.runs.models import Run


@pytest.fixture
def client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.mark.django_db
def test_budget_errors_open_the_section_and_focus_the_first_bad_field(client, make_swarm):
    swarm = make_swarm()
    response = client.post(f"/swarms/{swarm.pk}/", {"task": "Go", "max_steps": "0", "max_cost": "0.0000001"})
    html = response.content.decode()
    assert response.status_code == 400 and not Run.objects.exists()
    assert re.search(r'<details id="budget-fields" open>', html)
    assert 'id="start-run-errors"' in html and "fix the fields marked below" in html
    max_steps = re.search(r"<input[^>]*name=\"max_steps\"[^>]*>", html).group(0)
    max_cost = re.search(r"<input[^>]*name=\"max_cost\"[^>]*>", html).group(0)
    assert "autofocus" in max_steps and 'aria-invalid="true"' in max_steps
    assert "autofocus" not in max_cost and 'aria-invalid="true"' in max_cost
    assert "Ensure this value is greater than or equal to 1." in html


@pytest.mark.django_db
def test_a_task_error_leaves_the_budget_folded_and_focuses_the_task(client, make_swarm):
    swarm = make_swarm()
    html = client.post(f"/swarms/{swarm.pk}/", {"task": "", "max_steps": "5"}).content.decode()
    assert '<details id="budget-fields">' in html
    task = re.search(r"<textarea[^>]*name=\"task\"[^>]*>", html).group(0)
    assert "autofocus" in task


@pytest.mark.django_db
def test_without_errors_the_budget_stays_folded(client, make_swarm):
    html = client.get(f"/swarms/{make_swarm().pk}/").content.decode()
    assert '<details id="budget-fields">' in html and "autofocus" not in html
