"""Importing and exporting definitions through the API, the command and the run engine."""

from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.agents.models import Agent, AuditEntry
from apps.runs import services as runs
from apps.runs.models import RunStatus
from apps.swarms.models import Swarm
from tests.conftest import drive

pytestmark = pytest.mark.django_db
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "definitions"


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def folder(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): p.read_text() for p in path.rglob("*") if p.is_file()}


def test_the_boss_worker_folder_imports_through_the_api_and_runs(api, alice):
    response = api.post("/api/swarms/import/", {"files": folder(EXAMPLES / "boss_worker")}, format="json")
    assert response.status_code == 201, response.json()
    swarm = Swarm.objects.get(pk=response.json()["id"])
    boss = Agent.objects.get(owner=alice, name="boss")
    assert (boss.level, [c.name for c in boss.children.order_by("name")]) == (1, ["calc", "checker", "report-writer"])
    assert sorted(a.name for a in boss.talks_to.all()) == ["calc", "checker", "report-writer"]
    assert boss.to_spec().instructions.startswith("You are boss, a level 1 manager.\nYour team: calc, checker")
    assert AuditEntry.objects.filter(owner=alice, action="spawn", allowed=True).count() == 4
    run = drive(runs.start_run(swarm=swarm, task="What is 6 * 7?", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (
        run.result
        == "REPORT for What is 6 * 7?: Plan: compute it, check it, report it. Result: 42 (PASS: pattern found)"
    )


def test_a_bad_definition_is_a_400_listing_every_problem_and_writes_nothing(api, alice):
    text = (
        (EXAMPLES / "haas_board.yaml")
        .read_text()
        .replace("parent: cto", "parent: ceo")
        .replace("privileges: [spawn, tool.echo]", "privileges: [spawn, tool.echo, broadcast, tool.telepathy]")
    )
    response = api.post("/api/swarms/import/", {"yaml": text}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    assert any("Unknown parent 'ceo'" in m for ms in error["fields"].values() for m in ms)
    assert any("Unknown privilege 'tool.telepathy'" in m for ms in error["fields"].values() for m in ms)
    assert len(error["fields"]) >= 3
    assert not Agent.objects.filter(owner=alice).exists() and not Swarm.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_multipart_upload_works_and_a_second_import_is_refused(api, alice):
    with (EXAMPLES / "haas_board.yaml").open("rb") as handle:
        assert api.post("/api/swarms/import/", {"file": handle}, format="multipart").status_code == 201
    assert Agent.objects.filter(owner=alice).count() == 8
    with (EXAMPLES / "haas_board.yaml").open("rb") as handle:
        response = api.post("/api/swarms/import/", {"file": handle}, format="multipart")
    assert response.status_code == 400 and "already have" in str(response.json()["error"]["fields"])
    assert Agent.objects.filter(owner=alice).count() == 8


def test_an_exported_swarm_imports_back_for_someone_else(api, alice, bob):
    api.post("/api/swarms/import/", {"yaml": (EXAMPLES / "haas_board.yaml").read_text()}, format="json")
    swarm = Swarm.objects.get(owner=alice)
    exported = api.get(f"/api/swarms/{swarm.pk}/export/")
    assert exported["Content-Type"].startswith("application/yaml")
    other = APIClient()
    other.force_authenticate(bob)
    response = other.post("/api/swarms/import/", {"yaml": exported.content.decode()}, format="json")
    assert response.status_code == 201, response.json()

    def shape(owner):
        return sorted(
            (a.name, a.level, a.parent.name if a.parent else None, tuple(a.privileges), tuple(a.rooms))
            for a in Agent.objects.filter(owner=owner)
        )

    assert shape(bob) == shape(alice)


def test_the_management_command_reports_problems_and_imports(alice, capsys):
    from django.core.management.base import CommandError

    call_command("import_swarm", str(EXAMPLES / "boss_worker"), owner="alice")
    with pytest.raises(CommandError, match="already have an agent named 'boss'"):
        call_command("import_swarm", str(EXAMPLES / "boss_worker"), owner="alice")
    assert Swarm.objects.filter(owner=alice).count() == 1


def test_the_haas_board_deliberates_and_its_chair_closes_the_session(api, alice):
    api.post("/api/swarms/import/", {"yaml": (EXAMPLES / "haas_board.yaml").read_text()}, format="json")
    run = drive(runs.start_run(swarm=Swarm.objects.get(owner=alice), task="Open a research lab.", user=alice))
    assert run.status == RunStatus.SUCCEEDED
    assert run.result.endswith("The session is closed.")
    assert list(run.messages.values_list("sender", flat=True))[:3] == ["task", "sob-chair", "sob-ethicist"]
    assert run.rooms.get().name == "boardroom"


def test_every_real_privilege_and_tool_can_be_given_in_a_definition(api, alice):
    text = """name: Toolsmiths
strategy: chat_room
agents:
  - name: smith
    level: 1
    provider: scripted
    config: {replies: [hi]}
    tools: [make_tool, memory_search, calculator]
    privileges: [tool.make_tool, tool.memory_search, tool.calculator, memory.write, spawn]
"""
    response = api.post("/api/swarms/import/", {"yaml": text}, format="json")
    assert response.status_code == 201, response.json()
    smith = Agent.objects.get(owner=alice, name="smith")
    assert smith.privileges == ["memory.write", "spawn", "tool.calculator", "tool.make_tool", "tool.memory_search"]
    assert smith.tools == ["make_tool", "memory_search", "calculator"]
    response = api.post(
        "/api/swarms/import/",
        {"yaml": text.replace("Toolsmiths", "Other").replace("smith", "smith2").replace("tool.make_tool", "tool.nope")},
        format="json",
    )
    assert response.status_code == 400
    assert any("Unknown privilege 'tool.nope'" in m for ms in response.json()["error"]["fields"].values() for m in ms)
