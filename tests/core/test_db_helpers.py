"""The bulk insert and update helpers of the run engine's hot path, on the suite's database."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.db import COPY_FROM_ROWS, allocate_ids, insert_rows, json_bytes, new_row, update_rows, update_rows_if
from apps.runs.models import Message, Room, Run, RunEvent, Step

TRICKY = "quotes ' \" \\ back\\slash, tab\t, newline\n, unicode ✓ 🐝, percent %s %(x)s, null-ish NULL"


@pytest.fixture
def run(alice, make_swarm):
    swarm = make_swarm()
    return Run.objects.create(swarm=swarm, owner=alice, task="t", strategy="chat_room", roster=[])


@pytest.mark.parametrize(
    "value",
    [
        {"text": TRICKY, "n": 1, "x": 1.5, "ok": True, "none": None, "list": [1, "a", {"b": []}]},
        {1: "int keys become strings, as json.dumps makes them"},
        {"huge": 2**70},  # beyond orjson: json.dumps takes it
        [],
        "plain",
    ],
)
def test_json_bytes_means_what_json_dumps_means(value):
    import json

    assert json.loads(json_bytes(value)) == json.loads(json.dumps(value))


def _fields(obj):
    return {k: v for k, v in obj.__dict__.items() if k != "_state"}


@pytest.mark.django_db
def test_new_row_builds_what_the_model_constructor_builds(run, make_agent):
    room = Room.objects.create(run=run, name="main")
    agent = make_agent("w")
    given = {"run": run, "key": "k", "index": 3, "agent_id": agent.pk, "room": room, "input": TRICKY, "timeout_s": 2.5}
    fast, slow = new_row(Step, **given), Step(**given)
    assert _fields(fast) == _fields(slow)
    assert fast._state.adding and fast._state.db is None
    assert fast._state.fields_cache == slow._state.fields_cache == {"run": run, "room": room}
    assert fast.run is run and fast.room is room  # cached: no query
    assert fast.data == {} and fast.data is not new_row(Step, run=run).data  # a fresh default each time
    assert _fields(new_row(Step, run=run, room=None)) == _fields(Step(run=run, room=None))
    with pytest.raises(TypeError, match="unexpected fields: nope"):
        new_row(Step, run=run, nope=1)
    insert_rows([fast])
    assert Step.objects.get(pk=fast.pk).input == TRICKY


@pytest.mark.django_db
def test_new_row_leaves_models_with_init_receivers_to_their_constructor(run):
    from django.db.models.signals import post_init

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Message)
    try:
        message = new_row(Message, run=run, sender="a", content="hi")
    finally:
        post_init.disconnect(receiver, sender=Message)
    assert seen == [message]
    assert new_row(Message, run=run, sender="a", content="hi") not in seen


@pytest.mark.django_db
def test_insert_rows_saves_every_value_and_sets_keys(run):
    room = Room.objects.create(run=run, name="main")
    many = COPY_FROM_ROWS + 4  # the COPY path on PostgreSQL
    events = [RunEvent(run=run, seq=i + 1, kind="message.posted", data={"text": TRICKY, "n": i}) for i in range(many)]
    messages = [Message(run=run, room=room, sender="a", content=TRICKY, is_human=bool(i % 2)) for i in range(many)]
    insert_rows(events)
    insert_rows(messages)
    insert_rows([])
    few = [Message(run=run, room=room, sender="c", content=TRICKY) for _ in range(2)]  # the INSERT path
    insert_rows(few)
    assert all(e.pk and not e._state.adding for e in events + messages + few)
    assert len({e.pk for e in events}) == many
    stored = list(RunEvent.objects.filter(run=run).order_by("seq"))
    assert [(e.pk, e.data) for e in stored] == [(e.pk, {"text": TRICKY, "n": i}) for i, e in enumerate(events)]
    assert [e.created_at for e in stored] == [e.created_at for e in events]  # auto_now_add, as save() would
    assert events[0].created_at.tzinfo is not None
    got = list(Message.objects.filter(run=run, sender="a").order_by("pk").values_list("pk", "content", "is_human"))
    assert got == [(m.pk, TRICKY, bool(i % 2)) for i, m in enumerate(messages)]
    # the ids came from the table's own sequence: a normal insert afterwards does not collide
    later = Message.objects.create(run=run, room=room, sender="b", content="after")
    assert later.pk > max(m.pk for m in messages)


@pytest.mark.django_db
def test_update_rows_writes_each_rows_own_values(run, make_agent):
    agent = make_agent("w")
    steps = [Step(run=run, key=f"k{i}", index=i + 1, agent=agent, agent_name="w", input="in") for i in range(10)]
    insert_rows(steps)
    now = timezone.now()
    rows = [
        (
            step.pk,
            {
                "status": "succeeded",
                "output": f"{TRICKY} {i}",
                "data": {"tool_calls": [{"name": "x", "args": TRICKY}]} if i else {},
                "cost": Decimal("0.001234") * i,
                "done": bool(i % 2),
                "finished_at": now + timedelta(seconds=i),
                "lease_expires_at": None,
                "claim_token": None,
                "latency_ms": 10 * i,
            },
        )
        for i, step in enumerate(steps)
    ]
    update_rows(Step, rows)
    update_rows(Step, [(steps[0].pk, {"error": "only this one"})])  # a single row, other columns
    for step, (_pk, values) in zip(steps, rows, strict=True):
        stored = Step.objects.get(pk=step.pk)
        for name, value in values.items():
            assert getattr(stored, name) == value, name
    assert Step.objects.get(pk=steps[0].pk).error == "only this one"
    assert Step.objects.get(pk=steps[1].pk).error == ""


@pytest.mark.django_db
def test_update_rows_does_not_truncate_silently(run, make_agent):
    from django.db import DataError, transaction

    agent = make_agent("w")
    step = Step(run=run, key="k", index=1, agent=agent, agent_name="w", input="in")
    other = Step(run=run, key="k2", index=2, agent=agent, agent_name="w", input="in")
    insert_rows([step, other])
    too_long = "x" * 500  # the status column holds far less
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    with pytest.raises(DataError), transaction.atomic():
        update_rows(Step, [(step.pk, {"status": too_long}), (other.pk, {"status": "queued"})])


@pytest.mark.django_db
def test_update_rows_if_writes_only_rows_that_still_hold_their_expected_values(run, make_agent):
    import uuid

    agent = make_agent("w")
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    steps = [
        Step(run=run, key=f"k{i}", index=i + 1, agent=agent, agent_name="w", input="in", status="running")
        for i in range(6)
    ]
    for i, step in enumerate(steps):
        step.claim_token = theirs if i == 2 else mine  # step 2 was claimed again by another worker
    steps[4].status = "cancelled"  # and step 4 was cancelled meanwhile
    insert_rows(steps)
    rows = [
        (
            step.pk,
            {"status": "running", "claim_token": mine if i != 5 else step.claim_token},
            {"status": "succeeded", "output": f"{TRICKY} {i}", "data": {"i": i}, "claim_token": None},
        )
        for i, step in enumerate(steps)
    ]
    written = update_rows_if(Step, rows)
    assert written == {steps[i].pk for i in (0, 1, 3, 5)}
    for i, step in enumerate(steps):
        stored = Step.objects.get(pk=step.pk)
        if step.pk in written:
            assert (stored.status, stored.output, stored.data, stored.claim_token) == (
                "succeeded",
                f"{TRICKY} {i}",
                {"i": i},
                None,
            )
        else:
            assert stored.status == step.status and stored.claim_token == step.claim_token and stored.output == ""
    # a row expected to hold NULL, and a single row (one statement, not arrays)
    assert update_rows_if(Step, [(steps[0].pk, {"claim_token": None}, {"error": "e"})]) == {steps[0].pk}
    assert update_rows_if(Step, [(steps[2].pk, {"claim_token": None}, {"error": "e"})]) == set()


@pytest.mark.django_db
@pytest.mark.parametrize("count", [2, COPY_FROM_ROWS + 3])
def test_keys_allocated_ahead_are_the_keys_the_rows_are_inserted_under(run, count):
    from django.db import connection

    steps = [new_row(Step, run=run, key=f"k{i}", index=i, input=f"in {i}") for i in range(count)]
    assert allocate_ids(steps) is (connection.vendor in ("postgresql", "sqlite"))
    keys = [s.pk for s in steps]
    assert None not in keys and len(set(keys)) == count
    assert not Step.objects.filter(pk__in=keys).exists()  # keys only: nothing written yet
    between = Step.objects.create(run=run, key="between", index=50)  # an insert meanwhile takes another key
    assert between.pk not in keys
    insert_rows(steps)
    assert [s.pk for s in steps] == keys
    stored = dict(Step.objects.filter(run=run).exclude(pk=between.pk).values_list("pk", "input"))
    assert stored == {s.pk: s.input for s in steps}
    assert all(not s._state.adding for s in steps)
    later = new_row(Step, run=run, key="later", index=99)
    insert_rows([later])  # the sequence moved past the allocated keys
    assert later.pk not in stored


@pytest.mark.django_db
def test_on_sqlite_keys_are_allocated_for_a_table_never_written_and_given_back_by_a_rollback(alice):
    from django.db import connection, transaction

    from apps.memory.models import MemoryEntry

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's AUTOINCREMENT counter")
    model = MemoryEntry
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [model._meta.db_table])
    top = model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rows = [model(owner=alice, text=f"t{i}") for i in range(3)]
    with transaction.atomic():  # no counter yet: one is created, inside the transaction
        assert allocate_ids(rows) is True
    assert [r.pk for r in rows] == [top + 1, top + 2, top + 3]
    again = [model(owner=alice, text="again")]
    try:
        with transaction.atomic():
            allocate_ids(again)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    fresh = [model(owner=alice, text="fresh")]
    allocate_ids(fresh)
    assert fresh[0].pk == again[0].pk == top + 4  # the rolled-back allocation gave its key back
