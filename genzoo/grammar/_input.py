"""Checks of the sentences and trees handed to a PCFG; errors name the argument."""

from __future__ import annotations

import numpy as np

__all__ = ["check_collection", "check_tokens"]


def check_tokens(sentence, name: str) -> list[str]:
    """One sentence as a list of str tokens, or ValueError naming it."""
    if type(sentence) is list and sentence and all(type(t) is str and t for t in sentence):
        return sentence  # the common case, checked fast
    if isinstance(sentence, np.ndarray) and sentence.ndim == 1:
        sentence = sentence.tolist()
    if not isinstance(sentence, (list, tuple)):
        raise ValueError(
            f"{name} must be a list of str tokens; got {type(sentence).__name__}"
            + (" (split a text with str.split())." if isinstance(sentence, str) else ".")
        )
    if len(sentence) == 0:
        raise ValueError(f"{name} is an empty sentence; a sentence needs at least one token.")
    for j, token in enumerate(sentence):
        if not isinstance(token, str) or not token:
            raise ValueError(f"{name}[{j}] must be a non-empty str token; got {token!r}.")
    return list(sentence)


def check_collection(X, what: str) -> list:
    """X as a non-empty list (of sentences or trees), or ValueError naming X."""
    if isinstance(X, str):
        raise ValueError(f"X must be a list of {what}; got a string.")
    if isinstance(X, np.ndarray):
        X = X.tolist()
    if not isinstance(X, (list, tuple)):
        raise ValueError(f"X must be a list of {what}; got {type(X).__name__}.")
    if len(X) == 0:
        raise ValueError(f"X is empty: it holds no {what}.")
    return list(X)
