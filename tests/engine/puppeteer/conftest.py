import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The policies here are tiny: one thread is faster than several fighting over busy cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
