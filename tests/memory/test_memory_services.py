"""Memory services: write, search with filters and scopes, ranking with the real model, isolation, errors."""

import pytest
from django.db import transaction

from apps.core.errors import FieldsError
from apps.engine.embeddings import shared_embedder
from apps.memory import services
from apps.memory.models import MemoryEntry
from apps.runs.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_agent, make_swarm):
    scout, scribe = make_agent("scout"), make_agent("scribe")
    return make_swarm(name="team", agents=[scout, scribe]), scout, scribe


def a_run(owner, swarm) -> Run:
    return Run.objects.create(owner=owner, swarm=swarm, task="look around", strategy=swarm.strategy)


def texts(hits) -> list[str]:
    return [hit.entry.text for hit in hits]


def test_an_agent_finds_what_another_agent_wrote_to_the_swarm_memory(alice, team):
    swarm, scout, _scribe = team
    run = a_run(alice, swarm)
    entry = services.write_memory(
        owner=alice, swarm=swarm, text="The bridge on the north road is closed.", author=scout, run=run, tags=["roads"]
    )
    assert entry.store.swarm == swarm and entry.author == scout and entry.tag_list == ["roads"]
    assert len(entry.vector) == 384

    hits = services.search_memory(owner=alice, swarm=swarm, query="Can we cross the river up north?", k=3)

    assert texts(hits) == ["The bridge on the north road is closed."]
    assert hits[0].entry.author == scout and hits[0].entry.run == run
    assert 0.2 < hits[0].score <= 1.0


def test_the_real_model_ranks_the_most_similar_entry_first(alice, team):
    swarm, scout, _ = team
    for text in (
        "Quarterly revenue grew by twelve percent.",
        "The cat sleeps on the warm windowsill all afternoon.",
        "Deploy the web server with two worker processes.",
        "Tomatoes need six hours of sun a day.",
    ):
        services.write_memory(owner=alice, swarm=swarm, text=text, author=scout)

    hits = services.search_memory(owner=alice, swarm=swarm, query="Where does my kitten like to nap?", k=4)

    assert hits[0].entry.text.startswith("The cat sleeps")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score > hits[1].score + 0.1
    gardening = services.search_memory(owner=alice, swarm=swarm, query="growing vegetables in the garden", k=1)
    assert texts(gardening) == ["Tomatoes need six hours of sun a day."]


def test_filters_narrow_by_author_run_tag_and_scope(alice, team):
    swarm, scout, scribe = team
    first, second = a_run(alice, swarm), a_run(alice, swarm)
    services.write_memory(owner=alice, swarm=swarm, text="scout saw wolves", author=scout, run=first, tags=["danger"])
    services.write_memory(owner=alice, swarm=swarm, text="scribe saw wolves", author=scribe, run=first, tags=["log"])
    services.write_memory(owner=alice, swarm=swarm, text="scout saw wolves again", author=scout, run=second)
    services.write_memory(owner=alice, agent=scout, text="my private note on wolves", author=scout)
    query = {"owner": alice, "query": "wolves", "k": 10}

    assert len(services.search_memory(swarm=swarm, **query)) == 3
    assert set(texts(services.search_memory(swarm=swarm, author=scout, **query))) == {
        "scout saw wolves",
        "scout saw wolves again",
    }
    assert set(texts(services.search_memory(swarm=swarm, run=first.pk, **query))) == {
        "scout saw wolves",
        "scribe saw wolves",
    }
    assert texts(services.search_memory(swarm=swarm, tag="danger", **query)) == ["scout saw wolves"]
    assert texts(services.search_memory(swarm=swarm, author=scout, run=first, tag="danger", **query)) == [
        "scout saw wolves"
    ]
    assert services.search_memory(swarm=swarm, author=scribe, tag="danger", **query) == []
    assert services.search_memory(swarm=swarm, tag="nothing-here", **query) == []
    assert texts(services.search_memory(agent=scout, **query)) == ["my private note on wolves"]
    assert services.search_memory(agent=scribe, **query) == []  # no store yet: nothing, no error


def test_k_and_min_score_bound_the_results(alice, team):
    swarm, _scout, _ = team
    services.write_memories(
        owner=alice,
        swarm=swarm,
        items=[services.NewMemory(text=f"note number {i} about the harbour") for i in range(8)]
        + [services.NewMemory(text="Photosynthesis turns light into sugar.")],
    )
    assert len(services.search_memory(owner=alice, swarm=swarm, query="harbour notes", k=5)) == 5
    strong = services.search_memory(owner=alice, swarm=swarm, query="harbour notes", k=20, min_score=0.4)
    assert 1 <= len(strong) <= 8 and all(h.score >= 0.4 for h in strong)
    assert "Photosynthesis turns light into sugar." not in texts(strong)


def test_bulk_writes_number_entries_in_order(alice, team):
    swarm, scout, _ = team
    entries = services.write_memories(
        owner=alice, swarm=swarm, items=[services.NewMemory(text=t, author=scout) for t in ("one", "two", "three")]
    )
    assert [e.seq for e in entries] == [1, 2, 3]
    assert services.write_memory(owner=alice, swarm=swarm, text="four").seq == 4
    assert entries[0].store.__class__.objects.get(pk=entries[0].store_id).seq == 4


def test_users_see_only_their_own_memory(alice, bob, team, make_agent, make_swarm):
    swarm, scout, _ = team
    secret = services.write_memory(owner=alice, swarm=swarm, text="alice's launch codes", author=scout)
    bobs_swarm = make_swarm(name="bobs", owner=bob, agents=[make_agent("bobby", owner=bob)])
    services.write_memory(owner=bob, swarm=bobs_swarm, text="bob's shopping list")

    with pytest.raises(FieldsError) as caught:
        services.search_memory(owner=bob, swarm=swarm.pk, query="launch codes")
    assert caught.value.fields == {"swarm": ["No swarm of yours has this id."]}
    with pytest.raises(FieldsError):
        services.search_memory(owner=bob, swarm=bobs_swarm, query="launch codes", author=scout)
    assert "alice's launch codes" not in texts(services.search_memory(owner=bob, swarm=bobs_swarm, query="codes"))
    with pytest.raises(FieldsError) as caught:
        services.delete_memory(owner=bob, entry=secret.pk)
    assert caught.value.code == "not_found"
    assert MemoryEntry.objects.filter(pk=secret.pk).exists()


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"text": "   "}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"tags": ["has space"]}, "tags"),
        ({"tags": "not-a-list"}, "tags"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"swarm": None}, "scope"),
        ({"agent": "use_the_scout"}, "scope"),
        ({"swarm": 999_999}, "swarm"),
        ({"author": 999_999}, "author"),
        ({"run": 999_999}, "run"),
    ],
)
def test_invalid_writes_raise_field_errors_and_write_nothing(alice, team, arguments, field):
    swarm, scout, _ = team
    if arguments.get("agent") == "use_the_scout":
        arguments = {"agent": scout}  # both a swarm and an agent
    kwargs = {"owner": alice, "swarm": swarm, "text": "fine text", **arguments}

    with pytest.raises(FieldsError) as caught:
        services.write_memory(**kwargs)

    assert field in caught.value.fields, caught.value.fields
    assert not MemoryEntry.objects.exists()


def test_another_owners_swarm_agent_or_run_are_unknown_and_nothing_is_written(alice, bob, team, make_agent):
    swarm, scout, _ = team
    intruder = make_agent("intruder", owner=bob)
    alices_run = a_run(alice, swarm)
    with pytest.raises(FieldsError) as caught:
        services.write_memory(owner=bob, swarm=swarm, text="mine now", author=intruder)
    assert caught.value.fields == {"swarm": ["No swarm of yours has this id."]}
    with pytest.raises(FieldsError) as caught:
        services.write_memory(owner=bob, agent=intruder, text="hello", author=scout.pk, run=alices_run)
    assert set(caught.value.fields) == {"author", "run"} and caught.value.code == "unknown_agent"
    with pytest.raises(FieldsError) as caught:
        services.write_memory(owner=alice, agent=intruder, text="hello")
    assert caught.value.fields == {"agent": ["No agent of yours has this id."]}
    assert not MemoryEntry.objects.exists()


@pytest.mark.parametrize("k", [0, 101, "5", True, 2.5])
def test_a_bad_k_is_a_field_error(alice, team, k):
    swarm, _, _ = team
    with pytest.raises(FieldsError) as caught:
        services.search_memory(owner=alice, swarm=swarm, query="anything", k=k)
    assert list(caught.value.fields) == ["k"]


def test_search_reports_every_problem_at_once(alice, team):
    swarm, _, _ = team
    with pytest.raises(FieldsError) as caught:
        services.search_memory(owner=alice, swarm=swarm, query="", k=0, tag="no spaces", run=12345, min_score="high")
    assert set(caught.value.fields) == {"query", "k", "tag", "run", "min_score"}


def test_deleting_an_entry_removes_it_from_searches(alice, team):
    swarm, _scout, _ = team
    keep = services.write_memory(owner=alice, swarm=swarm, text="the well water is safe")
    drop = services.write_memory(owner=alice, swarm=swarm, text="the well water is poisoned")
    assert set(texts(services.search_memory(owner=alice, swarm=swarm, query="well water", k=5))) == {
        keep.text,
        drop.text,
    }

    services.delete_memory(owner=alice, entry=drop)

    assert texts(services.search_memory(owner=alice, swarm=swarm, query="well water", k=5)) == [keep.text]
    other = services.write_memory(owner=alice, swarm=swarm, text="a note about bread")
    # The deleted entry no longer takes one of the k places (a stale cache would leave one result).
    assert texts(services.search_memory(owner=alice, swarm=swarm, query="well water poisoned", k=2)) == [
        keep.text,
        other.text,
    ]
    with pytest.raises(FieldsError):
        services.delete_memory(owner=alice, entry=drop.pk)


def test_a_write_rolled_back_after_a_search_never_haunts_later_searches(alice, team):
    swarm, _, _ = team
    services.write_memory(owner=alice, swarm=swarm, text="committed entry about ships")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.write_memory(owner=alice, swarm=swarm, text="phantom entry about ships")
        assert len(services.search_memory(owner=alice, swarm=swarm, query="ships", k=5)) == 2  # cached, uncommitted
        raise RuntimeError("the step failed")
    services.write_memory(owner=alice, swarm=swarm, text="replacement entry about ships")

    hits = services.search_memory(owner=alice, swarm=swarm, query="ships", k=5)

    assert sorted(texts(hits)) == ["committed entry about ships", "replacement entry about ships"]
    # Each score is the entry's own vector against the query (not the phantom's, whose id SQLite may reuse).
    query = shared_embedder().embed_one("ships")
    assert [h.score for h in hits] == pytest.approx([float(h.entry.vector @ query) for h in hits], abs=1e-5)
