"""Dashboard pages through Django's test client."""

import re

import pytest

from apps.core.demo import seed_demo
from apps.runs import services
from apps.runs.models import Run
from apps.swarms.models import Swarm
from tests.conftest import drive

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    seed_demo(alice)
    return client


def test_pages_require_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_swarm_list_shows_the_demo_swarms(logged_in):
    page = logged_in.get("/").content.decode()
    for name in ("Number cruncher", "Product meeting", "Trip planner with approval", "Launch checklist"):
        assert name in page


def test_starting_a_run_from_the_swarm_page_redirects_to_the_run(logged_in):
    swarm = Swarm.objects.get(name="Number cruncher")
    response = logged_in.post(f"/swarms/{swarm.pk}/", {"task": "2 + 2"})
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"


def test_a_bad_task_shows_a_message_beside_the_field(logged_in):
    swarm = Swarm.objects.get(name="Number cruncher")
    response = logged_in.post(f"/swarms/{swarm.pk}/", {"task": "", "max_steps": "0"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="field-error"' in page and "This field is required." in page
    assert Run.objects.count() == 0


def test_the_run_page_shows_the_history_and_connects_to_the_live_socket(logged_in, alice):
    run = drive(services.start_run(swarm=Swarm.objects.get(name="Number cruncher"), task="3 * 3", user=alice))
    page = logged_in.get(f"/runs/{run.pk}/").content.decode()
    assert f'ws-connect="/ws/runs/{run.pk}/"' in page
    assert f'id="run-seq" data-seq="{run.event_seq}"' in page
    assert "9 squared is 81" in page and 'data-status="succeeded"' in page
    assert page.count('class="step status-succeeded"') == 3
    assert len(re.findall(r'class="msg( human)?"', page)) == 4 and "message_id" not in page
    assert "3 steps · 0 tokens" in page


def test_a_person_answers_through_the_htmx_form(logged_in, alice):
    run = drive(services.start_run(swarm=Swarm.objects.get(name="Trip planner with approval"), task="Rome", user=alice))
    request = run.human_requests.get()
    url = f"/human-requests/{request.pk}/answer/"
    response = logged_in.post(url, {"decision": "perhaps"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Choose one of: approve, revise." in response.content.decode()
    response = logged_in.post(url, {"decision": "revise", "notes": "add a beach day"}, HTTP_HX_REQUEST="true")
    assert "Answered" in response.content.decode()
    run = drive(run)
    assert run.status == "succeeded" and "add a beach day" in run.result


def test_another_users_run_is_not_found(client, bob, alice):
    seed_demo(alice)
    run = services.start_run(swarm=Swarm.objects.get(name="Number cruncher"), task="1+1", user=alice)
    client.force_login(bob)
    assert client.get(f"/runs/{run.pk}/").status_code == 404


def test_uploading_a_bad_definition_lists_its_problems_beside_the_form(logged_in, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("swarm.yaml", b"name: x\nstrategy: chat_room\nagents:\n  - {name: a, provider: magic}\n")
    response = logged_in.post("/", {"file": bad})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="field-error problems"' in page and "swarm.yaml:4 agents[0].provider" in page
    assert not Swarm.objects.filter(name="x").exists()


def test_uploading_a_good_definition_imports_it_and_the_tree_shows_it(logged_in, alice):
    from pathlib import Path

    from django.core.files.uploadedfile import SimpleUploadedFile

    text = (Path(__file__).resolve().parents[2] / "examples" / "definitions" / "haas_board.yaml").read_bytes()
    response = logged_in.post("/", {"file": SimpleUploadedFile("swarm.yaml", text)})
    swarm = Swarm.objects.get(name="HAAS board")
    assert response.status_code == 302 and response["Location"] == f"/swarms/{swarm.pk}/"
    tree = logged_in.get("/agents/").content.decode()
    chair = tree.index("<strong>sob-chair</strong>")
    assert chair < tree.index("<strong>cto</strong>") < tree.index("<strong>analyst</strong>")
    assert "<code>tool.calculator</code>" in tree
    exported = logged_in.get(f"/swarms/{swarm.pk}/export/")
    assert b"name: HAAS board" in exported.content
