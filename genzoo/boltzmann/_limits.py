"""Upper bounds on the sizes a user can ask of a Boltzmann machine.

A typo such as ``n_chains=10**9`` should be a ValueError that names the argument, raised on the
host before anything is allocated, rather than an out-of-memory error on the device or a run
that never ends. Each bound is far above any setting in the literature.
"""

from __future__ import annotations

import numbers

from genzoo._validation import Interval

__all__ = [
    "MAX_BETAS",
    "MAX_POSTERIOR_SAMPLES",
    "MAX_ROWS",
    "MAX_SAMPLE_ELEMENTS",
    "MAX_STEPS",
    "MAX_UNITS",
    "check_n_samples",
    "check_sizes",
]

# Units in one layer (n_components, each of hidden_layer_sizes).
MAX_UNITS = 2**16
# Rows of one state tensor: n_chains, batch_size (the default number of chains), AIS chains.
MAX_ROWS = 2**20
# Gibbs sweeps or mean-field iterations in one call: k, sample_burn_in, n_gibbs_steps,
# n_mean_field.
MAX_STEPS = 10**6
# AIS inverse temperatures (Salakhutdinov & Murray used 14,500).
MAX_BETAS = 10**7
# Draws from the DBN's recognition posterior per row of log_prob.
MAX_POSTERIOR_SAMPLES = 10**5
# Elements (samples x units) of the widest state tensor of one `sample` call: 4 GiB in float32.
MAX_SAMPLE_ELEMENTS = 2**30

UNITS = Interval(int, 1, MAX_UNITS)
ROWS = Interval(int, 1, MAX_ROWS)
STEPS = Interval(int, 1, MAX_STEPS)
BURN_IN = Interval(int, 0, MAX_STEPS)
AIS_CHAINS = Interval(int, 2, MAX_ROWS)
AIS_BETAS = Interval(int, 2, MAX_BETAS)


def check_sizes(sizes, name: str = "hidden_layer_sizes") -> None:
    """Raise ValueError naming `name` if a layer has more than MAX_UNITS units."""
    too_wide = [s for s in sizes if isinstance(s, numbers.Integral) and s > MAX_UNITS]
    if too_wide:
        raise ValueError(
            f"{name} allows at most {MAX_UNITS} units per layer; got {too_wide[0]} in {sizes!r}."
        )


def check_n_samples(n_samples: int, width: int) -> None:
    """Raise ValueError naming n_samples if `n_samples` rows of `width` units are too many."""
    if n_samples * width > MAX_SAMPLE_ELEMENTS:
        most = max(1, MAX_SAMPLE_ELEMENTS // width)
        raise ValueError(
            f"n_samples must be at most {most} for a model whose widest layer has {width} units "
            f"({MAX_SAMPLE_ELEMENTS} states at once); got {n_samples}. Draw in several calls."
        )
