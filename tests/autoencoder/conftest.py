"""Shared by the autoencoder tests: one torch thread (small networks run fastest on one, and
the test machine is shared). Module-scoped, so the module's fitted fixtures train on one
thread too: a model fitted on two threads sums in another order than a twin fitted on one,
and the tests compare such twins exactly."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
