"""Training through the REST API and the dashboard pages: validation, scoping, stop/resume."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.learning import services
from apps.learning.models import TrainingDataset, TrainingRun, TrainingStatus

pytestmark = pytest.mark.django_db

JSONL = "\n".join(json.dumps({"task": f"{i} + 1?", "expected": i + 1, "checker": "numeric"}) for i in range(6))


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def test_a_dataset_is_uploaded_as_jsonl_and_bad_lines_come_back_as_field_errors(api):
    response = api.post("/api/training-datasets/", {"name": "sums", "jsonl": JSONL}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["task_count"] == 6
    response = api.post("/api/training-datasets/", {"name": "bad", "jsonl": JSONL + "\n{nope"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "line 7" in error["fields"]["tasks"][0]
    assert TrainingDataset.objects.count() == 1


def test_starting_with_bad_hyperparameters_is_a_400_naming_them(api, django_capture_on_commit_callbacks):
    response = api.post("/api/training-runs/", {"config": {"gamma": 3}, "epochs": 2}, format="json")
    assert response.status_code == 400
    assert "gamma" in " ".join(response.json()["error"]["fields"]["config"])
    assert not TrainingRun.objects.exists()


def test_start_stop_and_resume_through_the_api(api, alice, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("apps.learning.tasks.run_epoch.delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/training-runs/", {"name": "r", "epochs": 3, "episodes_per_epoch": 16}, format="json")
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    assert queued == [(run_id, 1)]
    assert api.post(f"/api/training-runs/{run_id}/stop/").json()["status"] == TrainingStatus.STOPPED
    assert api.post(f"/api/training-runs/{run_id}/stop/").status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/training-runs/{run_id}/resume/", {}, format="json")
    assert response.json()["status"] == TrainingStatus.QUEUED
    assert queued[-1] == (run_id, 1)
    assert api.get(f"/api/training-runs/{run_id}/epochs/").json() == []


def test_other_users_training_runs_are_invisible(api, bob):
    run = services.start_training(owner=bob, name="bobs", epochs=1, queue=False)
    assert api.get(f"/api/training-runs/{run.pk}/").status_code == 404
    body = api.get("/api/training-runs/").json()
    assert (body["results"] if isinstance(body, dict) else body) == []


def test_the_schema_documents_the_training_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/training-runs/{id}/resume/" in schema and "/api/training-datasets/" in schema


def test_the_start_form_shows_problems_beside_the_fields(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("learning:training-list"),
        {"form": "start", "name": "r", "environment": "swarm", "epochs": 2, "episodes_per_epoch": 8},
    )
    assert response.status_code == 400
    assert "Choose one of your swarms." in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_the_dataset_form_lists_bad_lines(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("learning:training-list"), {"form": "dataset", "name": "d", "text": "{bad", "test_fraction": 0.2}
    )
    assert response.status_code == 400
    assert "line 1: not valid JSON" in response.content.decode()


def test_the_training_page_carries_the_snapshot_for_the_live_view(client, alice):
    run = services.start_training(owner=alice, name="mine", epochs=4, queue=False)
    client.force_login(alice)
    response = client.get(reverse("learning:training-detail", args=[run.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="training-state"' in body and f"/ws/training/{run.pk}/" in body and "uPlot" in body
