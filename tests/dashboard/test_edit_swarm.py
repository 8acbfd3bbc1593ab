"""Editing a swarm in the browser: the new-swarm composer, filled in, saving through ``update_swarm``."""

import html
import json
import re

import pytest
from django.urls import reverse

from apps.agents.models import Agent, AgentStatus
from apps.runs import services as run_services
from apps.swarms.models import Swarm

pytestmark = pytest.mark.django_db

WORKFLOW = {"nodes": [{"name": "draft", "agent": "ben"}, {"name": "review", "agent": "ann", "depends_on": ["draft"]}]}


@pytest.fixture
def team(make_agent, make_swarm):
    ann, ben = make_agent("ann"), make_agent("ben")
    return make_swarm(name="team", description="Writes things.", agents=[ann, ben], strategy_config={"max_turns": 3})


def edit_url(swarm: Swarm) -> str:
    return reverse("dashboard:swarm-edit", args=[swarm.pk])


def post(client, swarm: Swarm, *, follow: bool = False, **fields):
    """Submit the edit form as the page fills it in, with ``fields`` changed."""
    current = {
        "name": swarm.name,
        "description": swarm.description,
        "strategy": swarm.strategy,
        "strategy_config": json.dumps(swarm.strategy_config),
        "members": [f"agent:{a.pk}" for a in swarm.member_objects()],
    }
    return client.post(edit_url(swarm), current | fields, follow=follow)


def saved(swarm: Swarm) -> tuple:
    """What the database holds for ``swarm``."""
    fresh = Swarm.objects.get(pk=swarm.pk)
    return fresh.name, fresh.description, fresh.strategy, fresh.strategy_config, fresh.member_names(), fresh.updated_at


def errors_beside(page: str, field: str) -> list[str]:
    """The error messages shown in the block of the form's ``field`` (from its input to the next field)."""
    start = page.index(f'name="{field}"')
    end = page.find('<div class="field">', start)
    block = page[start : end if end != -1 else None]
    return [html.unescape(e) for e in re.findall(r'<div class="field-error">(.*?)</div>', block, re.S)]


def agent_key(name: str) -> str:
    return f"agent:{Agent.objects.get(name=name).pk}"


def test_the_edit_page_is_the_composer_filled_in_with_the_swarm(client, alice, team, make_agent, make_swarm):
    make_agent("cat")
    make_swarm(name="other", agents=[make_agent("dan")])
    client.force_login(alice)
    page = client.get(edit_url(team)).content.decode()
    assert "<h1>Edit team</h1>" in page and "Save changes</button>" in page
    assert (
        f'action="{edit_url(team)}"' in page and f'href="{reverse("dashboard:swarm-detail", args=[team.pk])}"' in page
    )
    assert 'value="team"' in page and "Writes things.</textarea>" in page
    assert '<option value="chat_room" selected>' in page
    assert html.escape(json.dumps({"max_turns": 3}, indent=2)) in page
    ticked = re.findall(r'<input type="checkbox" name="members" value="([^"]+)"[^>]*checked>', page)
    assert ticked == [agent_key("ann"), agent_key("ben")]
    assert "cat (level" in page and "other (swarm)" in page and "team (swarm)" not in page


def test_an_edit_changes_name_strategy_config_and_members_in_order(client, alice, team, make_agent):
    cat = make_agent("cat")
    client.force_login(alice)
    response = post(
        client,
        team,
        name="crew",
        strategy="heist",
        strategy_config=json.dumps(WORKFLOW),
        members=[f"agent:{cat.pk}", agent_key("ben"), agent_key("ann")],
        follow=True,
    )
    assert response.redirect_chain == [(reverse("dashboard:swarm-detail", args=[team.pk]), 302)]
    assert "Saved 'crew'." in html.unescape(response.content.decode())
    team.refresh_from_db()
    assert (team.name, team.strategy, team.strategy_config) == ("crew", "heist", WORKFLOW)
    assert team.member_names() == ["cat", "ben", "ann"]


def test_members_can_be_dropped_and_swarms_added(client, alice, team, make_agent, make_swarm):
    other = make_swarm(name="other", agents=[make_agent("dan")])
    client.force_login(alice)
    response = post(client, team, members=[f"swarm:{other.pk}", agent_key("ann")])
    assert response.status_code == 302
    assert [m.pk for m in team.member_objects()] == [other.pk, Agent.objects.get(name="ann").pk]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {
                "strategy": "heist",
                "strategy_config": json.dumps(
                    {
                        "nodes": [
                            {"name": "a", "agent": "ann", "depends_on": ["b"]},
                            {"name": "b", "agent": "ben", "depends_on": ["a"]},
                        ]
                    }
                ),
            },
            "strategy_config",
            "strategy_config.nodes: Cycle: a -> b -> a.",
        ),
        (
            {"strategy": "heist", "strategy_config": json.dumps({"nodes": [{"name": "a", "agent": "zed"}]})},
            "strategy_config",
            "strategy_config.nodes[0].agent: Unknown agent 'zed': not a member of this swarm.",
        ),
        ({"strategy_config": "{oops"}, "strategy_config", "Not valid JSON"),
        ({"name": "other"}, "name", "You already have a swarm named 'other'."),
        ({"name": ""}, "name", "This field is required."),
        ({"members": ["agent:999999"]}, "members", "Select a valid choice. agent:999999"),
        ({"members": []}, "members", "This field is required."),
        ({"strategy": "board"}, "members", "ann is a level-1 agent: only level-0 agents sit on the board."),
    ],
)
def test_a_rejected_edit_shows_the_problem_beside_its_field_and_writes_nothing(
    client, alice, team, make_agent, make_swarm, fields, field, message
):
    make_swarm(name="other", agents=[make_agent("dan")])
    before = saved(team)
    client.force_login(alice)
    # Otherwise valid changes ride along: none of them may be written either.
    changes = {"name": "renamed", "description": "", "members": [agent_key("ben"), agent_key("ann")]}
    response = post(client, team, **(changes | fields))
    assert response.status_code == 400
    assert any(e.startswith(message) for e in errors_beside(response.content.decode(), field))
    assert saved(team) == before


def test_the_page_keeps_its_title_after_a_rejected_new_name(client, alice, team, make_swarm, make_agent):
    make_swarm(name="other", agents=[make_agent("dan")])
    client.force_login(alice)
    page = post(client, team, name="other").content.decode()
    assert "<h1>Edit team</h1>" in page and 'value="other"' in page


def test_other_peoples_agents_cannot_be_added(client, alice, bob, team, make_agent):
    bobs = make_agent("bobs-agent", owner=bob)
    client.force_login(alice)
    assert "bobs-agent" not in client.get(edit_url(team)).content.decode()
    before = saved(team)
    response = post(client, team, members=[agent_key("ann"), f"agent:{bobs.pk}"])
    assert response.status_code == 400 and saved(team) == before


def test_a_terminated_member_stays_when_the_form_is_saved_unchanged(client, alice, team):
    Agent.objects.filter(name="ben").update(status=AgentStatus.TERMINATED)
    client.force_login(alice)
    assert "ben (level 1, scripted, terminated)" in client.get(edit_url(team)).content.decode()
    assert post(client, team, description="Still writes.").status_code == 302
    assert team.member_names() == ["ann", "ben"]


def test_someone_else_gets_not_found(client, bob, team):
    before = saved(team)
    client.force_login(bob)
    assert client.get(edit_url(team)).status_code == 404
    assert post(client, team, name="mine now").status_code == 404
    assert saved(team) == before


def test_staff_may_edit_anyones_swarm_with_the_owners_agents(client, django_user_model, team, make_agent):
    admin = django_user_model.objects.create_user(username="admin", password="x", is_staff=True)
    make_agent("admins-agent", owner=admin)
    client.force_login(admin)
    page = client.get(edit_url(team)).content.decode()
    assert "ann (level" in page and "admins-agent" not in page
    assert post(client, team, members=[agent_key("ben")]).status_code == 302
    team.refresh_from_db()
    assert team.member_names() == ["ben"] and team.owner.username == "alice"


def test_visitors_are_sent_to_log_in(client, team):
    response = client.get(edit_url(team))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_swarm_page_links_to_the_edit_page(client, alice, team):
    client.force_login(alice)
    page = client.get(reverse("dashboard:swarm-detail", args=[team.pk])).content.decode()
    assert f'href="{edit_url(team)}">Edit</a>' in page


def test_a_run_already_started_keeps_the_swarm_it_started_with(client, alice, team):
    run = run_services.start_run(swarm=team, task="write", user=alice)
    client.force_login(alice)
    response = post(client, team, strategy_config='{"max_turns": 9}', members=[agent_key("ben")])
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.strategy_config == {"max_turns": 3} and run.member_names() == ["ann", "ben"]
