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
    "MAX_STEPS",
    "MAX_UNITS",
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

UNITS = Interval(int, 1, MAX_UNITS)
ROWS = Interval(int, 1, MAX_ROWS)
STEPS = Interval(int, 1, MAX_STEPS)
BURN_IN = Interval(int, 0, MAX_STEPS)
AIS_CHAINS = Interval(int, 2, MAX_ROWS)
AIS_BETAS = Interval(int, 2, MAX_BETAS)
# The standard error of log Z, in nats, at which AIS stops adding chains.
AIS_TOL = Interval(float, 0, None, closed="neither")


def check_sizes(sizes, name: str = "hidden_layer_sizes") -> None:
    """Raise ValueError naming `name` if a layer has more than MAX_UNITS units."""
    too_wide = [s for s in sizes if isinstance(s, numbers.Integral) and s > MAX_UNITS]
    if too_wide:
        raise ValueError(
            f"{name} allows at most {MAX_UNITS} units per layer; got {too_wide[0]} in {sizes!r}."
        )
