import pytest

from apps.engine.puppeteer import fold_topology


def test_a_chain_has_no_cycles_and_its_edges_are_counted():
    topology = fold_topology([["a", "b", "c"], ["a", "b"]])
    assert topology.nodes == ("a", "b", "c")
    assert topology.edges == {("a", "b"): 2, ("b", "c"): 1}
    assert topology.density == pytest.approx(2 / 6)
    assert topology.cycles == 0


def test_back_edges_and_self_loops_are_cycles():
    topology = fold_topology([["a", "b", "a"], ["b", "c"], ["c", "c"]])
    # a->b, b->a, b->c, c->c: cycles a-b-a and c-c; the self-loop is not a density edge.
    assert topology.density == pytest.approx(3 / 6)
    assert topology.cycles == 2


def test_every_elementary_cycle_of_a_complete_triangle_is_found():
    topology = fold_topology([["a", "b", "c", "a", "c", "b", "a"]])
    # a<->b, b<->c, a<->c and the two directed triangles.
    assert topology.density == 1.0
    assert topology.cycles == 5


def test_single_agent_and_empty_trajectories():
    assert fold_topology([["a"], []]).to_dict() == {"nodes": ["a"], "edges": [], "density": 0.0, "cycles": 0}
    assert fold_topology([["x", "y"]]).to_dict()["edges"] == [{"source": "x", "target": "y", "count": 1}]
