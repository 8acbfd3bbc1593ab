"""The run websocket through the real ASGI application and the real Redis channel layer."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.runs import services
from apps.runs.models import RunEvent
from swarmweb.asgi import application
from tests.conftest import drive

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(run_id: int, cookie: bytes | None, query: str = "format=json") -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/runs/{run_id}/?{query}", headers=headers)


async def receive_all(comm: WebsocketCommunicator, *, timeout: float = 1.0) -> list[dict]:
    """Everything the server sends until it has been quiet for ``timeout`` seconds."""
    events = []
    while not await comm.receive_nothing(timeout=timeout):
        events.append(json.loads(await comm.receive_from()))
    return events


@pytest.fixture
def finished_run(alice, make_swarm):
    from apps.runs.models import Run

    run = services.start_run(swarm=make_swarm(strategy_config={"max_turns": 3}), task="x", user=alice)
    drive(run)
    return Run.objects.get(pk=run.pk)


async def test_anonymous_visitors_are_refused(finished_run):
    comm = communicator(finished_run.pk, cookie=None)
    connected, _ = await comm.connect()
    assert not connected


async def test_other_users_cannot_watch_a_run(finished_run, bob):
    comm = communicator(finished_run.pk, cookie=await sync_to_async(session_cookie)(bob))
    connected, _ = await comm.connect()
    assert not connected


async def test_connecting_replays_the_events_after_the_given_sequence(finished_run, alice):
    cookie = await sync_to_async(session_cookie)(alice)
    comm = communicator(finished_run.pk, cookie, query="format=json&after=4")
    connected, _ = await comm.connect()
    assert connected
    events = await receive_all(comm, timeout=0.5)
    assert [e["seq"] for e in events] == list(range(5, finished_run.event_seq + 1))
    await comm.disconnect()


async def test_live_events_follow_the_replay_and_a_reconnect_loses_nothing(alice, make_agent, make_swarm):
    drafter = await sync_to_async(make_agent)("drafter", config={"replies": ["draft"]})
    config = {"stages": [{"agent": "drafter"}, {"name": "ok", "ask_human": {"prompt": "OK?"}}]}
    swarm = await sync_to_async(make_swarm)(strategy="sequential", agents=[drafter], strategy_config=config)
    run = await sync_to_async(lambda: drive(services.start_run(swarm=swarm, task="t", user=alice)))()
    cookie = await sync_to_async(session_cookie)(alice)

    comm = communicator(run.pk, cookie)
    assert (await comm.connect())[0]
    replayed = await receive_all(comm, timeout=0.5)
    assert replayed[-1]["kind"] == "run.status" and replayed[-1]["data"]["status"] == "waiting_input"
    (finished,) = [e for e in replayed if e["kind"] == "step.finished"]
    assert finished["data"]["spend"] == {"steps_started": 1, "cost": "0", "tokens": 0}
    last_seen = replayed[-1]["seq"]
    await comm.disconnect()

    # While nobody watches, a person answers and the run finishes.
    request = await sync_to_async(run.human_requests.get)()
    await sync_to_async(services.answer_human_request)(request_id=request.pk, answer={"answer": "yes"}, user=alice)

    comm = communicator(run.pk, cookie, query=f"format=json&after={last_seen}")
    assert (await comm.connect())[0]
    missed = await receive_all(comm, timeout=0.5)
    total = await sync_to_async(RunEvent.objects.filter(run=run).count)()
    assert [e["seq"] for e in missed] == list(range(last_seen + 1, total + 1))
    assert missed[-1]["data"]["status"] == "succeeded"

    await comm.disconnect()


async def test_events_published_while_connected_arrive_live_as_html(alice, make_agent, make_swarm):
    drafter = await sync_to_async(make_agent)("drafter", config={"replies": ["draft"]})
    config = {"stages": [{"agent": "drafter"}, {"name": "ok", "ask_human": {"prompt": "OK?"}}]}
    swarm = await sync_to_async(make_swarm)(strategy="sequential", agents=[drafter], strategy_config=config)
    run = await sync_to_async(lambda: drive(services.start_run(swarm=swarm, task="t", user=alice)))()
    cookie = await sync_to_async(session_cookie)(alice)
    seq = await sync_to_async(lambda: type(run).objects.get(pk=run.pk).event_seq)()

    comm = communicator(run.pk, cookie, query=f"after={seq}")
    assert (await comm.connect())[0]
    assert await comm.receive_nothing(timeout=0.3)
    request = await sync_to_async(run.human_requests.get)()
    await sync_to_async(services.answer_human_request)(request_id=request.pk, answer={"answer": "ship it"}, user=alice)
    html = await comm.receive_from(timeout=3)
    assert f'data-seq="{seq + 1}"' in html and 'id="hr-' in html
    fragments = [html] + [await comm.receive_from(timeout=3) for _ in range(2)]
    assert any("ship it" in f for f in fragments)
    await comm.disconnect()


async def test_live_only_notices_are_relayed_but_not_for_finished_steps(finished_run, alice):
    from apps.runs import broadcast

    cookie = await sync_to_async(session_cookie)(alice)
    comm = communicator(finished_run.pk, cookie, query=f"format=json&after={finished_run.event_seq}")
    assert (await comm.connect())[0]
    steps = await sync_to_async(lambda: list(finished_run.steps.order_by("index")))()
    running = steps[-1]
    await sync_to_async(type(running).objects.filter(pk=running.pk).update)(status="running")
    broadcast.publish_steps_started(finished_run.pk, [{"step_id": running.pk, "status": "running"}])
    broadcast.publish_step_delta(finished_run.pk, running.pk, "Hel")
    long_finished = {"step_id": steps[0].pk, "status": "running"}
    broadcast.publish_steps_started(finished_run.pk, [long_finished])
    # a batch notice: one frame per step still running, none for the finished one
    broadcast.publish_steps_started(finished_run.pk, [long_finished, {"step_id": running.pk, "status": "running"}])
    received = await receive_all(comm, timeout=0.5)
    assert received == [
        {"kind": "step.started", "live": True, "data": {"step_id": running.pk, "status": "running"}},
        {"kind": "step.delta", "step_id": running.pk, "text": "Hel"},
        {"kind": "step.started", "live": True, "data": {"step_id": running.pk, "status": "running"}},
    ]
    await comm.disconnect()
