"""Shared by the Boltzmann tests: one torch thread (small matrices run fastest on one, and the
test machine is shared)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    # Session scope, so that the module-scoped fitted models are built on one thread too: two
    # test workers each spinning several threads over tiny matrices run a hundred times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
