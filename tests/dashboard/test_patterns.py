"""Start from a pattern: the gallery's patterns create their agents and swarm in one step, and run offline."""

import pytest
from django.test import Client

from apps.agents.models import Agent, AuditEntry
from apps.core.errors import FieldsError
from apps.runs import services as run_services
from apps.runs.models import RunStatus
from apps.swarms.models import Swarm
from apps.swarms.patterns import PATTERNS, create_from_pattern, pattern, suggested_names
from tests.conftest import wait_for_run


@pytest.mark.django_db
@pytest.mark.parametrize("key", [p.key for p in PATTERNS])
def test_each_pattern_creates_its_agents_and_swarm_through_the_services(alice, key):
    p = pattern(key)
    swarm = create_from_pattern(owner=alice, key=key, name=p.title, prefix="mine")
    assert swarm.strategy == p.strategy and swarm.owner == alice
    names = p.agent_names("mine")
    assert set(Agent.objects.filter(owner=alice).values_list("name", flat=True)) == set(names)
    assert all(member.startswith("mine-") for member in swarm.member_names())
    assert AuditEntry.objects.filter(owner=alice, action="spawn", allowed=True).count() == len(names)


@pytest.mark.django_db
def test_a_heist_pattern_opens_with_its_nodes_where_the_picture_has_them(alice):
    swarm = create_from_pattern(owner=alice, key="heist-pipeline", name="Pipe", prefix="h")
    nodes = swarm.layout["nodes"]
    assert set(nodes) == {"fetch", "parse", "report"}
    assert nodes["fetch"]["x"] < nodes["parse"]["x"] < nodes["report"]["x"]
    assert "members" not in swarm.layout  # the picture does not show every member: the designer places them


@pytest.mark.django_db
def test_the_haas_board_seats_level_0_members_with_executives_under_the_chair(alice):
    swarm = create_from_pattern(owner=alice, key="haas-board", name="Board", prefix="b")
    assert {a.level for a in swarm.member_objects()} == {0}
    executives = Agent.objects.filter(owner=alice, parent__name="b-chair")
    assert sorted(executives.values_list("name", "level")) == [("b-coo", 1), ("b-cto", 1)]


@pytest.mark.django_db
def test_an_agent_name_clash_is_named_and_nothing_is_created(alice, make_agent):
    make_agent("team-calc")
    with pytest.raises(FieldsError) as caught:
        create_from_pattern(owner=alice, key="boss-worker", name="My team", prefix="team")
    assert "team-calc" in caught.value.fields["prefix"][0]
    assert list(Agent.objects.filter(owner=alice).values_list("name", flat=True)) == ["team-calc"]
    assert not Swarm.objects.filter(owner=alice).exists()


@pytest.mark.django_db
def test_a_swarm_name_clash_is_named_and_nothing_is_created(alice):
    create_from_pattern(owner=alice, key="hive-vote", name="Council", prefix="hive")
    with pytest.raises(FieldsError) as caught:
        create_from_pattern(owner=alice, key="forge-critics", name="Council", prefix="forge")
    assert "You already have a swarm named 'Council'" in caught.value.fields["name"][0]
    assert not Agent.objects.filter(owner=alice, name__startswith="forge-").exists()
    assert Swarm.objects.filter(owner=alice).count() == 1


@pytest.mark.django_db
def test_a_failure_half_way_rolls_back_the_agents_already_created(alice, monkeypatch):
    from apps.swarms import patterns

    def refuse(**kwargs):
        raise FieldsError("Refused.", fields={"members": ["No."]})

    monkeypatch.setattr(patterns, "create_swarm", refuse)
    with pytest.raises(FieldsError):
        create_from_pattern(owner=alice, key="heist-pipeline", name="Pipeline", prefix="p")
    assert not Agent.objects.filter(owner=alice).exists()


@pytest.mark.django_db
def test_a_bad_prefix_is_refused_beside_its_field(alice):
    with pytest.raises(FieldsError) as caught:
        create_from_pattern(owner=alice, key="boss-worker", name="T", prefix="9 lives")
    assert "Start with a letter" in caught.value.fields["prefix"][0]


@pytest.mark.django_db
def test_suggested_names_skip_what_the_person_already_has(alice):
    p = pattern("boss-worker")
    assert suggested_names(alice, p) == ("Boss-worker team", "team")
    create_from_pattern(owner=alice, key="boss-worker", name="Boss-worker team", prefix="team")
    assert suggested_names(alice, p) == ("Boss-worker team 2", "team2")


@pytest.mark.worker
@pytest.mark.parametrize("key", [p.key for p in PATTERNS])
def test_each_patterns_swarm_runs_to_success_offline_through_the_worker(alice, celery_worker, key):
    p = pattern(key)
    swarm = create_from_pattern(owner=alice, key=key, name=p.title, prefix="x")
    run = wait_for_run(run_services.start_run(swarm=swarm, task=p.example_task, user=alice), timeout=60)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert EXPECTED_RESULT[key] in run.result
    outputs = {step.agent_name: step.output for step in run.steps.filter(status="succeeded")}
    for agent, output in EXPECTED_OUTPUTS.get(key, {}).items():
        assert outputs.get(agent) == output, (agent, outputs)
    assert set(run.steps.values_list("agent_name", flat=True)) <= set(p.agent_names("x"))


# What each pattern's run ends with on its example task: the strategy really did its job.
EXPECTED_RESULT = {
    "haas-board": "Resolved: proceed",  # the chair closes after the ethicist and the strategist spoke
    "boss-worker": "The team has worked on: What is (12 + 30) * 2?",
    "heist-pipeline": "Parsed: Mirror copy of the sources",  # the fetch fell back to the mirror
    "orc-arena": "[math] x-sage: 42",
    "sao-curriculum": "x-calc: reached the top",
    "hive-vote": "Ship on Friday.",  # two of three votes
    "forge-critics": "assert add(2, 3) == 5",  # the revised draft both critics accepted
    "learned-router": "What is 12 + 30?",
}
# Members whose work the result does not show: what they answered.
EXPECTED_OUTPUTS = {
    "boss-worker": {"x-calc": "84", "x-scribe": "Notes on: What is (12 + 30) * 2?"},  # the director's orders
    "heist-pipeline": {"x-mirror": "Mirror copy of the sources for: Summarise this week's release notes"},
    "learned-router": {"x-calc": "42"},
}


# ---- the gallery in the dashboard -----------------------------------------------------------


@pytest.fixture
def client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.mark.django_db
def test_the_gallery_lists_every_pattern_with_a_picture_and_a_button(client):
    from django.template import Context, Template

    from apps.dashboard.templatetags.patterns import pattern_gallery  # noqa: F401 (the tag's module loads)

    response = client.get("/swarms/patterns/")
    html = response.content.decode()
    assert response.status_code == 200
    for p in PATTERNS:
        assert f'data-testid="pattern-{p.key}"' in html and p.title in html
    assert html.count("<svg") >= len(PATTERNS)
    assert html.count('name="csrfmiddlewaretoken"') >= len(PATTERNS)
    assert "Needs a training run first" in html
    rendered = Template("{% load patterns %}{% pattern_gallery %}").render(
        Context({"request": response.wsgi_request, "user": response.wsgi_request.user})
    )
    assert 'id="pattern-gallery"' in rendered


@pytest.mark.django_db
def test_using_a_pattern_creates_it_and_goes_to_the_new_swarms_page(client, alice):
    from apps.dashboard.pattern_views import after_create_url

    response = client.post("/swarms/patterns/boss-worker/", {"name": "Crew", "prefix": "crew"})
    swarm = Swarm.objects.get(owner=alice, name="Crew")
    assert response.status_code == 302 and response["Location"] == after_create_url(swarm)
    assert sorted(swarm.member_names()) == ["crew-boss", "crew-calc", "crew-scribe"]


@pytest.mark.django_db
def test_a_clash_in_the_gallery_is_shown_beside_the_field_and_creates_nothing(client, alice, make_agent):
    make_agent("crew-boss")
    response = client.post("/swarms/patterns/boss-worker/", {"name": "Crew", "prefix": "crew"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "You already have agents named crew-boss" in html
    assert 'data-testid="pattern-boss-worker-error"' in html or "field-error" in html
    assert not Swarm.objects.filter(owner=alice).exists()
    assert Agent.objects.filter(owner=alice).count() == 1


@pytest.mark.django_db
def test_an_unknown_pattern_is_not_found(client):
    assert client.post("/swarms/patterns/no-such-thing/", {"name": "X", "prefix": "x"}).status_code == 404
    assert not Swarm.objects.exists()


@pytest.mark.django_db
def test_the_gallery_refuses_a_get_on_the_create_url_and_needs_csrf(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/swarms/patterns/boss-worker/", {"name": "C", "prefix": "c"}).status_code == 403
    assert strict.get("/swarms/patterns/boss-worker/").status_code == 405
    assert not Swarm.objects.exists()
