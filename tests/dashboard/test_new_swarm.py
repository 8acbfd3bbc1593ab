"""Composing a swarm in the browser: members, strategy and config, with problems shown beside the fields."""

import pytest
from django.urls import reverse

from apps.swarms.models import Swarm

pytestmark = pytest.mark.django_db


def post(client, **fields):
    data = {"name": "team", "description": "", "strategy": "chat_room", "strategy_config": "{}", **fields}
    return client.post(reverse("dashboard:swarm-new-json"), data)


def test_a_swarm_is_created_from_the_form_with_members_in_order(client, alice, make_agent):
    ann, ben = make_agent("ann"), make_agent("ben")
    client.force_login(alice)
    page = client.get(reverse("dashboard:swarm-new-json")).content.decode()
    assert "ann (level" in page and "hive" in page and "puppeteer" in page
    response = post(client, members=[f"agent:{ann.pk}", f"agent:{ben.pk}"], strategy_config='{"max_turns": 4}')
    swarm = Swarm.objects.get(name="team")
    assert response.status_code == 302 and response.url == reverse("dashboard:swarm-detail", args=[swarm.pk])
    assert swarm.member_names() == ["ann", "ben"] and swarm.strategy_config == {"max_turns": 4}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strategy_config": "{oops"}, "Not valid JSON"),
        ({"strategy_config": "[1]"}, "Must be a JSON object."),
        ({"strategy_config": '{"max_turns": "many"}'}, "strategy_config.max_turns: Must be a whole number."),
        ({"strategy": "board"}, "only level-0 agents sit on the board"),
        ({"members": []}, "This field is required."),
    ],
)
def test_problems_show_beside_the_fields_and_nothing_is_created(client, alice, make_agent, fields, message):
    ann = make_agent("ann")
    client.force_login(alice)
    response = post(client, **({"members": [f"agent:{ann.pk}"]} | fields))
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Swarm.objects.exists()


def test_other_peoples_agents_are_not_offered(client, alice, bob, make_agent):
    make_agent("bobs-agent", owner=bob)
    client.force_login(alice)
    assert "bobs-agent" not in client.get(reverse("dashboard:swarm-new-json")).content.decode()
