"""One class per kind of data: how a data set of that kind goes to a model and comes back.

The zoo, the command line, the pictures and the conformance suite all ask the data's kind,
never test its name: how to call `fit` and `log_prob` (labels, trees, `lengths`), how many
items and tokens a part holds, how to draw samples for evaluation, which numbers the sample
metrics compare, how to picture samples, and what corrupted input of the kind looks like.

>>> from genzoo.data import load
>>> from genzoo.data.kinds import kind_of
>>> data = load("casino", n_samples=20, random_state=0)
>>> kind_of(data).n_items(data, "test") == len(data.lengths_test)
True
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

__all__ = ["DataKind", "KINDS", "get_kind", "kind_of"]


class DataKind:
    """A kind of data: "vectors", "images", "counts", "sequences", "table" or "sentences".

    The base class describes arrays whose first axis holds the items (vectors); the other
    kinds override what differs.
    """

    name: ClassVar[str] = "vectors"
    # Whether a picture of samples draws the training data behind them.
    draws_reference: ClassVar[bool] = True

    def sklearn_input_tags(self, tags) -> None:
        """Set scikit-learn's input tags (`sklearn.utils.InputTags`) for data of this kind,
        which tell its estimator checks what data to feed the model."""

    # --- handing a data set to a model

    def fit_args(
        self, dataset, part: str = "train", *, conditional: bool = False,
        second_domain: bool = False, X=None,
    ):  # fmt: skip
        """(args, kwargs) of `fit` for a part of `dataset`, or for a replacement X.

        With `second_domain` (a translation model's `fit`), the data set's second domain
        comes as ``X_b``; other models see domain a alone.
        """
        X = getattr(dataset, f"X_{part}") if X is None else X
        args = (X, getattr(dataset, f"y_{part}")) if conditional else (X,)
        kwargs = self.eval_kwargs(dataset, part)
        if second_domain:
            if not dataset.has_second_domain:
                raise ValueError(
                    f"data set {dataset.name!r} has one domain; a translation model needs two."
                )
            kwargs = {**kwargs, "X_b": getattr(dataset, f"X_b_{part}")}
        return args, kwargs

    def eval_kwargs(self, dataset, part: str = "test") -> dict:
        """Keywords of `log_prob` and `score` beside X (sequence lengths)."""
        return {}

    def n_items(self, dataset, part: str = "test") -> int:
        return len(getattr(dataset, f"X_{part}"))

    def n_tokens(self, dataset, part: str = "test") -> int | None:
        """Steps, words or counted words of a part, for per-token likelihoods; else None."""
        return None

    def halves(self, dataset, part: str = "test") -> list[tuple]:
        """The part cut in two, each half as (X, kwargs) for `log_prob`."""
        X = getattr(dataset, f"X_{part}")
        half = len(X) // 2
        return [(X[:half], {}), (X[half:], {})]

    def draw(self, model, dataset, n: int, random_state: int):
        """n samples for evaluation; a conditional model draws the test part's labels."""
        y = dataset.y_test[:n] if model.conditional else None
        return model.sample(n, y=y, random_state=random_state)

    # --- comparing and picturing samples

    def features(self, samples, X_test, X_train):
        """(samples, X_test, X_train or None) as rows of numbers for the sample metrics.

        X_train is None where memorization means nothing for the kind.
        """
        return samples, X_test, X_train

    def reference(self, dataset):
        """What a picture of samples draws behind them (the training rows), or None."""
        if not self.draws_reference:
            return None
        X = dataset.X_train
        return np.asarray(X).reshape(len(X), -1)

    def draw_figure(self, fig, samples, reference, image_shape) -> None:
        from genzoo import plotting

        if image_shape is not None:
            images = plotting.as_images(np.asarray(samples, dtype=np.float64), image_shape)
            plotting.draw_image_grid(fig, images)
            return
        samples = np.asarray(samples, dtype=np.float64)
        ref = None if reference is None else np.asarray(reference, dtype=np.float64)
        plotting.draw_vectors(fig.add_subplot(), samples.reshape(len(samples), -1), ref)

    # --- checks of samples and corrupted input, for the conformance suite

    def sample_problem(self, samples, X_train, n: int) -> str | None:
        """What is wrong with `n` samples of a model of this data, or None."""
        if not isinstance(samples, np.ndarray) or samples.dtype.kind not in "fiu":
            return f"samples are {type(samples).__name__}, not a numeric array"
        if samples.shape != (n, *np.shape(X_train)[1:]):
            return f"samples have shape {samples.shape}, not {(n, *np.shape(X_train)[1:])}"
        if not np.isfinite(samples).all():
            return "samples hold NaN or infinity"
        return None

    def bad_inputs(self, X) -> dict:
        """Corrupted copies of training input X, each with the message fit must raise."""
        nan, inf = np.array(X, dtype=np.float64), np.array(X, dtype=np.float64)
        nan.flat[3] = np.nan
        inf.flat[5] = np.inf
        strings = np.array(X, dtype=object)
        strings.flat[0] = "a"
        return {
            "NaN": (nan, "NaN"),
            "inf": (inf, "infinity"),
            "empty": (X[:0], "empty"),
            "strings": (strings, "numeric"),
            "text": ("not data", "X"),
        }

    def wrong_features(self, X):
        """X with one feature too many, and the message log_prob must raise."""
        flat = np.asarray(X).reshape(len(X), -1)
        return np.concatenate([flat, flat[:, :1]], axis=1), "X has|features"


class Images(DataKind):
    name = "images"
    draws_reference = False

    def draw_figure(self, fig, samples, reference, image_shape) -> None:
        from genzoo import plotting

        images = plotting.as_images(np.asarray(samples, dtype=np.float64), image_shape)
        plotting.draw_image_grid(fig, images)


class Counts(DataKind):
    name = "counts"

    def sklearn_input_tags(self, tags) -> None:
        # Whole numbers >= 0: the checks round their data to non-negative integers.
        tags.positive_only = True
        tags.categorical = True

    def n_tokens(self, dataset, part: str = "test") -> int | None:
        return int(round(float(getattr(dataset, f"X_{part}").sum())))

    def bad_inputs(self, X) -> dict:
        negative = np.array(X, dtype=np.float64)
        negative.flat[2] = -1
        return {**super().bad_inputs(X), "negative": (negative, "negative")}


class Sequences(DataKind):
    """Steps of all sequences stacked in X, with `lengths` (the hmmlearn convention)."""

    name = "sequences"
    draws_reference = False

    def eval_kwargs(self, dataset, part: str = "test") -> dict:
        return {"lengths": getattr(dataset, f"lengths_{part}")}

    def n_items(self, dataset, part: str = "test") -> int:
        return len(getattr(dataset, f"lengths_{part}"))

    def n_tokens(self, dataset, part: str = "test") -> int | None:
        return len(getattr(dataset, f"X_{part}"))

    def halves(self, dataset, part: str = "test") -> list[tuple]:
        X, lengths = getattr(dataset, f"X_{part}"), getattr(dataset, f"lengths_{part}")
        cut = len(lengths) // 2
        steps = int(np.sum(lengths[:cut]))
        return [(X[:steps], {"lengths": lengths[:cut]}), (X[steps:], {"lengths": lengths[cut:]})]

    def draw(self, model, dataset, n: int, random_state: int):
        n = min(n, len(dataset.lengths_test))
        length = int(np.median(dataset.lengths_test))
        return model.sample(n, length=length, random_state=random_state)

    def features(self, samples, X_test, X_train):
        # the marginal of one step: repeats of training steps are expected, so no memorization
        return samples.reshape(-1, samples.shape[-1]), X_test, None

    def draw_figure(self, fig, samples, reference, image_shape) -> None:
        from genzoo import plotting

        plotting.draw_sequences(fig.add_subplot(), np.asarray(samples, dtype=np.float64))

    def sample_problem(self, samples, X_train, n: int) -> str | None:
        if not isinstance(samples, np.ndarray) or samples.dtype.kind not in "fiu":
            return f"samples are {type(samples).__name__}, not a numeric array"
        if samples.ndim != 3 or samples.shape[0] != n or samples.shape[2] != X_train.shape[1]:
            return f"samples have shape {samples.shape}, not ({n}, length, {X_train.shape[1]})"
        return None if np.isfinite(samples).all() else "samples hold NaN or infinity"


class Table(DataKind):
    """Discrete tables: a DataFrame of categories, one column per variable."""

    name = "table"

    def sklearn_input_tags(self, tags) -> None:
        tags.categorical = True  # states of discrete variables, numbers or strings
        tags.string = True

    def features(self, samples, X_test, X_train):
        samples, X_test = _one_hot(samples, X_test)
        return samples, X_test, None

    def reference(self, dataset):
        return dataset.X_train

    def draw_figure(self, fig, samples, reference, image_shape) -> None:
        from genzoo import plotting

        plotting.draw_table_frequencies(fig, samples, reference)

    def sample_problem(self, samples, X_train, n: int) -> str | None:
        if list(getattr(samples, "columns", [])) != list(X_train.columns) or len(samples) != n:
            return "samples are not a DataFrame of n rows with the training columns"
        return None

    def bad_inputs(self, X) -> dict:
        missing = X.copy()
        missing.iloc[3, 0] = None
        return {
            "empty": (X.iloc[:0], "empty"),
            "text": ("not data", "X"),
            "missing": (missing, "missing"),
        }

    def wrong_features(self, X):
        return X.rename(columns={X.columns[0]: "no_such_column"}), "column"


class Sentences(DataKind):
    """Sentences as lists of str tokens; a treebank also has bracketed trees."""

    name = "sentences"
    draws_reference = False

    def sklearn_input_tags(self, tags) -> None:
        # Lists of tokens, not a 2-D array: scikit-learn's data checks do not apply.
        tags.two_d_array = False
        tags.string = True

    def fit_args(
        self, dataset, part: str = "train", *, conditional: bool = False,
        second_domain: bool = False, X=None,
    ):  # fmt: skip
        trees = getattr(dataset, f"trees_{part}")
        if X is None and trees is not None:
            X = trees  # a treebank: fit by maximum likelihood on its trees
        return super().fit_args(
            dataset, part, conditional=conditional, second_domain=second_domain, X=X
        )

    def n_tokens(self, dataset, part: str = "test") -> int | None:
        return sum(len(s) for s in getattr(dataset, f"X_{part}"))

    def features(self, samples, X_test, X_train):
        samples, X_test = _bag_of_words(samples, X_test)
        return samples, X_test, None

    def draw_figure(self, fig, samples, reference, image_shape) -> None:
        from genzoo import plotting

        plotting.draw_sentences(fig, samples)

    def sample_problem(self, samples, X_train, n: int) -> str | None:
        if not isinstance(samples, list) or len(samples) != n:
            return f"samples are not a list of {n} sentences"
        tokens = (isinstance(s, list) and s and all(isinstance(t, str) for t in s) for s in samples)
        if not all(tokens):
            return "a sample is not a non-empty list of str tokens"
        return None

    def bad_inputs(self, X) -> dict:
        return {
            "empty": ([], "empty"),
            "text": ("not data", "X"),
            "strings": ([["a", 3]], "str"),
            "malformed": (["(S (NP the"], "bracket|malformed|tree"),
        }

    def wrong_features(self, X):
        return [*X[:2], ["no_such_word_zz"]], "unknown word|no_such_word_zz"


KINDS: dict[str, DataKind] = {
    kind.name: kind for kind in (DataKind(), Images(), Counts(), Sequences(), Table(), Sentences())
}


def get_kind(name: str) -> DataKind:
    """Return the kind called `name`, or raise ValueError listing the kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {name!r}.") from None


def kind_of(dataset) -> DataKind:
    """Return the kind of a `Dataset`."""
    return get_kind(dataset.kind)


# --- sample metrics' rows for data that are not rows of numbers


def _bag_of_words(*corpora) -> list[np.ndarray]:
    """Each sentence as its word frequencies over the words of all corpora, and its length."""
    vocabulary = {w: i for i, w in enumerate(sorted({w for c in corpora for s in c for w in s}))}
    out = []
    for corpus in corpora:
        X = np.zeros((len(corpus), len(vocabulary) + 1))
        for row, sentence in enumerate(corpus):
            for word in sentence:
                X[row, vocabulary[word]] += 1.0 / len(sentence)
            X[row, -1] = len(sentence)
        out.append(X)
    return out


def _one_hot(*tables) -> list[np.ndarray]:
    """Rows of each table as one-hot vectors over the states any of them shows per column."""
    encoded = [[] for _ in tables]
    for column in tables[0].columns:
        values = [np.asarray(t[column]).astype(str) for t in tables]
        states = np.unique(np.concatenate(values))
        for parts, v in zip(encoded, values, strict=True):
            parts.append((v[:, None] == states[None, :]).astype(np.float64))
    return [np.concatenate(parts, axis=1) for parts in encoded]
