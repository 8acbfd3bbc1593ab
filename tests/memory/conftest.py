import pytest

from apps.memory.index import shared_cache


@pytest.fixture(autouse=True)
def cold_cache():
    """Each memory test starts, and leaves, with this process's vector cache empty."""
    shared_cache().clear()
    yield
    shared_cache().clear()
