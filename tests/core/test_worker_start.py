"""What a Celery worker does once it is ready (``swarmweb.celery``)."""

import gc

import pytest

from swarmweb import celery as worker_app


@pytest.fixture
def restored_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_ready_worker_freezes_its_start_up_heap_and_collects_the_young_generation_less_often(restored_gc):
    _, older, oldest = gc.get_threshold()
    young = 700  # Python's default, as a process starts
    gc.set_threshold(young, older, oldest)
    worker_app._prepare_step_worker(sender=None)
    assert gc.get_freeze_count() > 0  # what was loaded at start is out of the collector's sight
    assert gc.get_threshold()[1:] == (older, oldest)
    assert gc.get_threshold()[0] > young  # the young generation is collected less often than before
