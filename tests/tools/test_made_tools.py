"""Tools made by agents: validated before registering, versioned, approved before first use, run in the sandbox."""

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from apps.engine.tools import ToolCall
from apps.runs import services as run_services
from apps.runs.models import HumanRequest, RunStatus
from apps.runs.tools import RunToolHost
from apps.tools.models import MadeTool, MadeToolStatus
from apps.tools.services import ToolRejected, propose_tool, review_tool
from tests.conftest import drive

pytestmark = pytest.mark.django_db

SLUGIFY = """
def slugify(title, sep="-"):
    words = "".join(c.lower() if c.isalnum() else " " for c in title).split()
    return sep.join(words)
"""
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "sep": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}
GOOD = {
    "name": "slugify",
    "description": "Turn a title into a URL slug.",
    "parameters": SCHEMA,
    "source": SLUGIFY,
    "example": {"title": "Hello, World!"},
}


def propose(owner, **changes):
    return propose_tool(owner=owner, **(GOOD | changes))


def test_a_good_tool_is_registered_after_a_smoke_call_and_waits_for_approval(alice):
    tool = propose(alice)
    assert (tool.name, tool.version, tool.status) == ("slugify", 1, MadeToolStatus.PENDING)
    assert tool.smoke_result == '"hello-world"'
    assert propose(alice, description="Slugs, v2.").version == 2


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"parameters": {"type": "array"}}, '"type": "object"'),
        ({"parameters": {"type": "object", "properties": {"title": {"type": "nonsense"}}}}, "not a valid JSON Schema"),
        ({"source": "def slugify(title, sep='-':\n    pass"}, "source:"),
        ({"source": "def other(title, sep='-'):\n    return title"}, "slugify"),
        ({"source": "def slugify(name, sep='-'):\n    return name"}, "title"),
        ({"source": "def slugify(title, sep):\n    return title"}, "sep"),
        ({"example": {"title": 3}}, "example:"),
        ({"name": "calculator", "source": SLUGIFY.replace("slugify", "calculator")}, "built-in"),
        ({"source": "def slugify(title, sep='-'):\n    raise ValueError('no slugs today')"}, "no slugs today"),
        ({"source": "def slugify(title, sep='-'):\n    return {1, 2}"}, "JSON"),
        ({"source": "def slugify(title, sep='-'):\n    while True:\n        pass"}, "time limit"),
        (
            {"source": "import socket\ndef slugify(title, sep='-'):\n    socket.create_connection(('127.0.0.1', 80))"},
            "smoke call",
        ),
    ],
)
def test_each_kind_of_bad_tool_is_rejected_with_its_reason_and_nothing_is_registered(alice, changes, reason):
    quick = {**settings.SWARMWEB, "MADE_TOOL_TIMEOUT_SECONDS": 2}
    with override_settings(SWARMWEB=quick), pytest.raises(ToolRejected) as caught:
        propose(alice, **changes)
    assert reason in " ".join(caught.value.reasons), caught.value.reasons
    assert not MadeTool.objects.exists()


def maker_and_user(make_agent, make_swarm):
    maker = make_agent(
        "smith",
        config={
            "replies": [
                {"content": "{{ tool_results[0].content }}", "tool_calls": [{"tool": "make_tool", "arguments": GOOD}]}
            ]
        },
        privileges=["tool.make_tool"],
    )
    user = make_agent(
        "writer",
        config={
            "replies": [
                {
                    "content": "{{ tool_results[0].content }}",
                    "tool_calls": [{"tool": "slugify", "arguments": {"title": "Agents Make Tools", "sep": "_"}}],
                }
            ],
            "cycle": True,
        },
        privileges=["tool.slugify"],
    )
    return maker, user, make_swarm(agents=[maker, user], strategy="sequential")


def test_a_made_tool_is_usable_only_after_a_person_approves_it_in_the_run(alice, make_agent, make_swarm):
    maker, user, swarm = maker_and_user(make_agent, make_swarm)
    run = run_services.start_run(swarm=swarm, task="make and use", user=alice)
    run_services.begin_run(run.pk)
    run_services.execute_step(run.steps.get(agent_name="smith").pk)
    tool = MadeTool.objects.get()
    assert tool.made_by == maker and tool.made_in_run_id == run.pk and tool.status == MadeToolStatus.PENDING
    request = HumanRequest.objects.get(run=run)
    assert "slugify" in request.prompt and "def slugify" in request.prompt

    writer_step = run.steps.get(agent_name="writer")
    early = RunToolHost(writer_step, user).call(ToolCall("slugify", {"title": "Too Soon"}))
    assert (early.ok, early.error_code) == (False, "not_approved")

    run_services.answer_human_request(request_id=request.pk, answer={"approve": True, "note": "looks safe"}, user=alice)
    tool.refresh_from_db()
    assert tool.status == MadeToolStatus.APPROVED and tool.reviewed_by == alice

    run_services.execute_step(writer_step.pk)
    writer_step.refresh_from_db()
    assert writer_step.data["tool_calls"][0]["ok"] and writer_step.output == "agents_make_tools"
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_agents_without_the_privilege_are_not_offered_a_made_tool(alice, make_agent, make_swarm):
    tool = propose(alice)
    review_tool(tool, approve=True, user=alice)
    holder = make_agent("holder", privileges=["tool.slugify"])
    other = make_agent("other", privileges=[])
    run = run_services.start_run(swarm=make_swarm(agents=[holder, other], strategy="sequential"), task="x", user=alice)
    run_services.begin_run(run.pk)
    step = run.steps.first()
    assert "slugify" in {s.name for s in RunToolHost(step, holder).specs()}
    assert "slugify" not in {s.name for s in RunToolHost(step, other).specs()}


def test_without_required_approval_a_tool_is_live_at_once(alice):
    with override_settings(SWARMWEB={**settings.SWARMWEB, "MADE_TOOLS_NEED_APPROVAL": False}):
        assert propose(alice).status == MadeToolStatus.APPROVED


def test_the_tools_page_shows_source_and_reviews(client, alice):
    tool = propose(alice)
    client.force_login(alice)
    listing = client.get(reverse("tools:tool-list")).content.decode()
    assert "slugify" in listing and "tool.make_tool" in listing
    page = client.get(reverse("tools:tool-detail", args=[tool.pk])).content.decode()
    assert "def slugify" in page and "Approve" in page
    client.post(reverse("tools:tool-review", args=[tool.pk]), {"decision": "reject", "note": "no"})
    tool.refresh_from_db()
    assert tool.status == MadeToolStatus.REJECTED


def test_a_maker_run_reports_rejections_back_to_the_agent(alice, make_agent, make_swarm):
    bad = GOOD | {"source": "def slugify(title, sep='-'):\n    return open('/etc/hostname', 'w')"}
    maker = make_agent(
        "smith",
        config={
            "replies": [
                {"content": "{{ tool_results[0].content }}", "tool_calls": [{"tool": "make_tool", "arguments": bad}]}
            ]
        },
        privileges=["tool.make_tool"],
    )
    run = drive(run_services.start_run(swarm=make_swarm(agents=[maker], strategy="sequential"), task="x", user=alice))
    assert run.status == RunStatus.SUCCEEDED
    assert run.result.startswith("Tool not registered: smoke call:")
    assert not MadeTool.objects.exists()
