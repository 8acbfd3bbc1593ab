"""An epoch through a real Celery worker (training queue), watched over the real websocket."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.learning import services
from apps.learning.models import TrainingStatus
from apps.learning.tasks import run_epoch
from swarmweb.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(run_id: int, cookie: bytes | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/training/{run_id}/", headers=headers)


def new_run(owner, epochs: int = 2):
    return services.start_training(
        owner=owner,
        name="live",
        benchmark={"seed": 2, "train_size": 100, "test_size": 20},
        epochs=epochs,
        episodes_per_epoch=32,
        queue=False,
    )


async def receive_until(comm: WebsocketCommunicator, kind: str, *, timeout: float = 90.0) -> list[dict]:
    seen = []
    while True:
        message = json.loads(await comm.receive_from(timeout=timeout))
        seen.append(message)
        if message["kind"] == kind:
            return seen


async def test_an_epoch_on_the_worker_reaches_the_browser_and_the_run_completes(alice, celery_worker):
    run = await sync_to_async(new_run)(alice)
    comm = communicator(run.pk, await sync_to_async(session_cookie)(alice))
    connected, _ = await comm.connect()
    assert connected
    snapshot = json.loads(await comm.receive_from())
    assert snapshot["kind"] == "snapshot" and snapshot["epochs_done"] == 0 and snapshot["history"] == []

    await sync_to_async(run_epoch.delay)(run.pk, 1)
    seen = await receive_until(comm, "epoch")
    epoch = seen[-1]
    assert epoch["epoch"] == 1 and epoch["metrics"]["episodes"] == 32
    assert {"mean_reward", "success_rate", "mean_cost", "entropy", "agent_usage"} <= set(epoch["metrics"])
    # The worker queues the next epoch itself; the last one ends with the held-out evaluation.
    seen = await receive_until(comm, "completed")
    assert "learned" in seen[-1]["evaluation"]["policies"]
    await comm.disconnect()
    await sync_to_async(run.refresh_from_db)()
    assert run.status == TrainingStatus.COMPLETED and run.epochs_done == 2


async def test_strangers_cannot_watch_a_training_run(alice, bob):
    run = await sync_to_async(new_run)(alice)
    comm = communicator(run.pk, await sync_to_async(session_cookie)(bob))
    connected, _ = await comm.connect()
    assert not connected
    anonymous = communicator(run.pk, None)
    connected, _ = await anonymous.connect()
    assert not connected
