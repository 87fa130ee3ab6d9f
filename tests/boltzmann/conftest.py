"""Shared by the Boltzmann tests: one torch thread (small matrices run fastest on one, and the
test machine is shared)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
