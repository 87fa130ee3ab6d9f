"""A folder of text files as word counts: a simple tokenizer, stop words and a vocabulary."""

from __future__ import annotations

import numbers
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse

from genzoo.data.loaders import DatasetNotFound

__all__ = ["STOP_WORDS", "load_text_folder", "tokenize"]

# Common English function words, which carry no topic.
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves also may might must shall us one two many much well even ever yet
    """.split()
)

# A word is a run of letters (any alphabet); digits, punctuation and apostrophes split words.
_WORD = re.compile(r"[^\W\d_]+")


def tokenize(text: str) -> list[str]:
    """Return the lower-case words of `text` of at least two letters, in order.

    Examples
    --------
    >>> tokenize("The cat's 2 hats -- naïve, isn't it?")
    ['the', 'cat', 'hats', 'naïve', 'isn', 'it']
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str; got {type(text).__name__}.")
    return [w for w in _WORD.findall(text.lower()) if len(w) >= 2]


def _check_options(min_count, max_vocab, stop_words) -> frozenset:
    if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral) or min_count < 1:
        raise ValueError(f"min_count must be an int >= 1; got {min_count!r}.")
    if max_vocab is not None and (
        isinstance(max_vocab, bool) or not isinstance(max_vocab, numbers.Integral) or max_vocab < 1
    ):
        raise ValueError(f"max_vocab must be an int >= 1 or None; got {max_vocab!r}.")
    if isinstance(stop_words, str):
        raise ValueError("stop_words must be a collection of words, not one string.")
    return frozenset(w.lower() for w in (stop_words or ()))


def load_text_folder(
    path: str | os.PathLike,
    *,
    min_count: int = 1,
    max_vocab: int | None = None,
    stop_words=STOP_WORDS,
) -> tuple[scipy.sparse.csr_matrix, list[str], list[str]]:
    """Read every .txt file of a folder as one document of word counts.

    Files are read as UTF-8 (undecodable bytes replaced) in name order, split into words by
    `tokenize`, and stop words dropped. The vocabulary is the words used at least `min_count`
    times over all files, the `max_vocab` most frequent of them if given (ties broken
    alphabetically), sorted alphabetically.

    Parameters
    ----------
    path : str or path-like
        The folder; its sub-folders are not read.
    min_count : int, default=1
    max_vocab : int or None, default=None
    stop_words : collection of str, default=STOP_WORDS
        Words to drop; None or () keeps every word.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_files, n_words), float64 counts
    vocabulary : list of str, the word of each column
    names : list of str, the file name of each row

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = Path(folder, "a.txt").write_text("Cats chase mice. Cats sleep.")
    ...     _ = Path(folder, "b.txt").write_text("Dogs chase cats.")
    ...     X, vocabulary, names = load_text_folder(folder)
    >>> vocabulary, names, X.toarray().tolist()
    (['cats', 'chase', 'dogs', 'mice', 'sleep'], ['a.txt', 'b.txt'], [[2.0, 1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0, 0.0]])
    """  # noqa: E501
    stop = _check_options(min_count, max_vocab, stop_words)
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetNotFound(f"no such folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
    if not files:
        raise ValueError(f"{folder}: no .txt files found")
    counts = []
    for file in files:
        words = tokenize(file.read_text(encoding="utf-8", errors="replace"))
        counts.append(Counter(w for w in words if w not in stop))
    total = sum(counts, Counter())
    kept = sorted((w for w, c in total.items() if c >= min_count), key=lambda w: (-total[w], w))
    vocabulary = sorted(kept[:max_vocab])
    if not vocabulary:
        raise ValueError(
            f"{folder}: no word is left after stop words and min_count={min_count}; "
            "the files hold no usable text."
        )
    column = {w: j for j, w in enumerate(vocabulary)}
    rows, cols, values = [], [], []
    for i, doc in enumerate(counts):
        for word, c in doc.items():
            if word in column:
                rows.append(i)
                cols.append(column[word])
                values.append(float(c))
    X = scipy.sparse.csr_matrix(
        (np.array(values, dtype=np.float64), (rows, cols)), shape=(len(files), len(vocabulary))
    )
    return X, vocabulary, [f.name for f in files]
