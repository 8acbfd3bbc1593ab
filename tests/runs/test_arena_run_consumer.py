"""The run websocket carries the HIVE and FORGE panels: JSON progress events and HTML panel swaps."""

import pytest
from asgiref.sync import sync_to_async

from apps.runs import services
from tests.conftest import drive
from tests.runs.test_run_consumer import communicator, receive_all, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_html(comm, *, timeout: float = 0.5) -> list[str]:
    fragments = []
    while not await comm.receive_nothing(timeout=timeout):
        fragments.append(await comm.receive_from())
    return fragments


def make_hive_run(alice, make_agent, make_swarm):
    agents = [
        make_agent("ann", config={"rules": [{"match": "^VOTE", "reply": "1"}], "default": "yes"}),
        make_agent("ben", config={"replies": [{"error": "offline"}], "cycle": True}),
    ]
    swarm = make_swarm(name="hv", strategy="hive", agents=agents, strategy_config={"quorum": 0.5})
    return drive(services.start_run(swarm=swarm, task="q", user=alice))


def make_forge_run(alice, make_agent, make_swarm):
    agents = [
        make_agent("gen", config={"replies": ["first", "second"]}),
        make_agent("crit", config={"rules": [{"match": "second", "reply": "score: 1"}], "default": "score: 0.2"}),
    ]
    return drive(services.start_run(swarm=make_swarm(name="fg", strategy="forge", agents=agents), task="t", user=alice))


async def test_a_watcher_receives_hive_and_forge_progress(alice, make_agent, make_swarm):
    hive_run = await sync_to_async(make_hive_run)(alice, make_agent, make_swarm)
    forge_run = await sync_to_async(make_forge_run)(alice, make_agent, make_swarm)
    cookie = await sync_to_async(session_cookie)(alice)

    comm = communicator(hive_run.pk, cookie)
    assert (await comm.connect())[0]
    events = await receive_all(comm, timeout=0.5)
    panels = [e["data"] for e in events if e["kind"] == "strategy.progress"]
    assert panels[0]["view"] == "hive" and panels[0]["round"] == 1
    final = panels[-1]
    assert final["outcome"]["answer"] == "yes" and final["rounds"][0]["abstained"][0]["agent"] == "ben"
    await comm.disconnect()

    comm = communicator(forge_run.pk, cookie, query="")  # HTML, as the page's htmx gets it
    assert (await comm.connect())[0]
    fragments = await receive_html(comm)
    panels = [f for f in fragments if 'id="strategy-panel"' in f]
    assert panels and 'hx-swap-oob="true"' in panels[-1]
    assert "Stopped: every critic accepted; result is draft 2." in panels[-1]
    assert 'diff-add">+ second' in panels[-1]
    await comm.disconnect()
