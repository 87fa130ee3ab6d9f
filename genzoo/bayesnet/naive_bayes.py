"""Naive Bayes as generative models of P(X, y): Gaussian, multinomial, Bernoulli, categorical.

Each model is fitted from per-class sufficient statistics (sums over rows), so `fit` on data in
memory, `partial_fit` on a stream and a fit over processes under torch.distributed give the
same parameters. Parameters, smoothing and attribute names are scikit-learn's, and so are the
predictions; on top of them each model has an exact `log_prob` and draws samples.
"""

from __future__ import annotations

import abc

import numpy as np
import scipy.sparse
import torch
from sklearn.utils.validation import check_is_fitted

from genzoo._validation import (
    Interval,
    check_labels,
    check_n_samples,
    validate_params,
)
from genzoo.base import GenerativeModel
from genzoo.bayesnet._naive_bayes_math import (
    all_reduce_max,
    batch_rows,
    bernoulli_joint,
    bernoulli_log_prob,
    categorical_joint,
    categorical_log_prob,
    category_counts,
    check_alpha,
    check_category_codes,
    check_known_categories,
    class_sums,
    discrete_log_prior,
    gaussian_joint,
    gaussian_params,
    gaussian_stats,
    linear_joint,
    log_multinomial_coefficient,
    merge_categorical,
    merge_gaussian,
    min_categories_array,
    multinomial_log_prob,
    padded,
    sample_categorical,
    sample_multinomial,
    sum_batches,
)
from genzoo.registry import register

__all__ = [
    "BernoulliNaiveBayes",
    "CategoricalNaiveBayes",
    "GaussianNaiveBayes",
    "MultinomialNaiveBayes",
]

_COMMON_CONSTRAINTS = {"random_state": ["random_state"], "device": ["device"], "dtype": ["dtype"]}
_DISCRETE_CONSTRAINTS = {
    **_COMMON_CONSTRAINTS,
    "alpha": [Interval(float, 0, None), "array-like"],
    "force_alpha": [bool],
    "fit_prior": [bool],
    "class_prior": ["array-like", None],
}


# --- the shared model


class _BaseNaiveBayes(GenerativeModel):
    """Naive Bayes: classes with a prior, features independent given the class.

    A variant writes the hooks `_statistics` (summed statistics of X and class indices y),
    `_stats_from_attributes` (the same statistics recovered from the fitted attributes),
    `_params_from_stats` (fitted attributes, with smoothing), `_joint` (log p(x, y=k), (n, K))
    and `_sample_given` (features of rows of the given classes).
    """

    likelihood_kind = "exact"
    conditional = True

    # --- hooks

    @abc.abstractmethod
    def _statistics(self, X: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict:
        """Statistics of rows X with class indices y, summed over batches and processes."""

    @abc.abstractmethod
    def _stats_from_attributes(self) -> dict:
        """The statistics the fitted attributes were computed from."""

    @abc.abstractmethod
    def _params_from_stats(self, stats: dict) -> dict:
        """The fitted attributes (numpy) from summed statistics."""

    @abc.abstractmethod
    def _joint(self, X: torch.Tensor) -> torch.Tensor:
        """log p(x, y=k) for each row of validated X and each class, (n, K)."""

    @abc.abstractmethod
    def _sample_given(self, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Features of one row per class index in y, (len(y), d)."""

    def _check_values(self, X: np.ndarray) -> np.ndarray:
        """The variant's own checks of finite numeric X (counts, categories, ...)."""
        return X

    def _merge_stats(self, old: dict, new: dict) -> dict:
        return {k: old[k] + new[k] for k in old}

    def _log_prior(self) -> torch.Tensor:
        return self._tensor(self.class_log_prior_)

    # --- input

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        if scipy.sparse.issparse(X):
            X = X.toarray()  # counts from a vectoriser; the arithmetic here is dense
        return self._check_values(super()._check_X(X, reset=reset))

    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self._dtype(), device=self._device())

    def _fitted_attributes(self, stats: dict, d: int) -> dict:
        stats = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in stats.items()}
        return {**self._params_from_stats(stats), "n_features_in_": d, "input_shape_": [d]}

    # --- fitting

    def _fit(self, X, y, gen) -> dict:
        # The base made y indices into the sorted labels, each label present: K = max + 1.
        stats = self._statistics(self._to_tensor(X), y, int(y.max()) + 1)
        return self._fitted_attributes(stats, X.shape[1])

    def partial_fit(self, X, y, classes=None):
        """Add one batch of labelled rows to the fit; return self.

        The statistics of the batch are added to those of every row seen so far, so a series
        of `partial_fit` calls gives the model `fit` gives on all the rows at once.
        `classes` (every label the stream will hold) is required on the first call, as in
        scikit-learn, and must repeat `classes_` afterwards.
        """
        validate_params(self, self._parameter_constraints)
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            classes, _ = check_labels(np.unique(classes), name="classes")
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"classes={list(classes)} differs from classes_={list(self.classes_)} "
                    "of the previous calls; a stream keeps its classes."
                )
        classes = classes if first else self.classes_
        X = self._check_X(X, reset=first)
        _, y_index = check_labels(y, n_samples=len(X), classes=classes)
        y_index = torch.as_tensor(y_index, device=self._device())
        stats = self._statistics(self._to_tensor(X), y_index, len(classes))
        if not first:
            stats = self._merge_stats(self._stats_from_attributes(), stats)
        self._set_fitted({"classes_": classes, **self._fitted_attributes(stats, X.shape[1])})
        return self

    # --- likelihoods and predictions

    def _log_prob(self, X: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self._joint(X), dim=1)

    def _labelled_log_prob(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._joint(X).gather(1, y[:, None])[:, 0]

    def _checked_joint(self, X) -> torch.Tensor:
        check_is_fitted(self)
        with torch.no_grad():
            return self._joint(self._to_tensor(self._check_X(X, reset=False)))

    def predict_joint_log_proba(self, X) -> np.ndarray:
        """Return log p(x, y=k) for each row of X and each class in `classes_`, (n, K)."""
        return self._checked_joint(X).cpu().numpy()

    def predict_log_proba(self, X) -> np.ndarray:
        """Return log p(y=k | x) for each row of X and each class in `classes_`, (n, K)."""
        joint = self._checked_joint(X)
        return (joint - torch.logsumexp(joint, dim=1, keepdim=True)).cpu().numpy()

    def predict_proba(self, X) -> np.ndarray:
        """Return p(y=k | x) for each row of X and each class in `classes_`, (n, K)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """Return the most probable class of each row of X, (n,)."""
        return self.classes_[self._checked_joint(X).max(1).indices.cpu().numpy()]

    # --- sampling

    def sample(
        self,
        n_samples: int = 1,
        *,
        y=None,
        random_state: int | None = None,
        return_labels: bool = False,
    ):
        """Draw `n_samples` rows, (n, d); with `return_labels`, also their labels, (n,).

        Without `y` the labels are drawn from the class prior; with `y` (one label, or one per
        sample) the rows are drawn from those classes. See `GenerativeModel.sample` for
        `random_state`.
        """
        if not return_labels:
            return super().sample(n_samples, y=y, random_state=random_state)
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        y_index = self._label_index(y, n_samples, broadcast=True)
        with torch.no_grad():
            X, labels = self._sample_with_labels(n_samples, y_index, self._generator(random_state))
        return self._to_numpy_samples(X), self.classes_[labels.cpu().numpy()]

    def _sample(self, n_samples: int, y, gen) -> torch.Tensor:
        return self._sample_with_labels(n_samples, y, gen)[0]

    def _sample_with_labels(self, n_samples: int, y, gen):
        if y is None:
            prior = torch.exp(self._log_prior())
            y = torch.multinomial(prior, n_samples, replacement=True, generator=gen)
        return self._sample_given(y, gen), y


class _DiscreteNaiveBayes(_BaseNaiveBayes):
    """Shared smoothing and class prior of the multinomial, Bernoulli and categorical models."""

    _parameter_constraints = _DISCRETE_CONSTRAINTS

    def _class_log_prior(self, class_count: np.ndarray) -> np.ndarray:
        return discrete_log_prior(class_count, self.class_prior, self.fit_prior)

    def _alpha(self, n_features: int):
        return check_alpha(self.alpha, self.force_alpha, n_features)

    def _statistics(self, X, y, n_classes):
        sums = sum_batches(
            lambda Xb, yb: class_sums(Xb, yb, n_classes), X, y, batch_rows(1, X.shape[1])
        )
        return {"class_count": sums["count"], "feature_count": sums["sum"]}

    def _stats_from_attributes(self):
        return {
            "class_count": self._tensor(self.class_count_),
            "feature_count": self._tensor(self.feature_count_),
        }


# --- the four models


@register(
    "gaussian_nb",
    family="bayesnet",
    data_kind="vectors",
    default_dataset="digits",
    fixture_size=300,
)
class GaussianNaiveBayes(_BaseNaiveBayes):
    """Gaussian naive Bayes: p(x, y) = p(y) prod_j N(x_j; theta_yj, var_yj).

    scikit-learn's GaussianNB as a generative model: the same parameters and predictions,
    plus `log_prob` (exact), `sample`, and a fit from per-class sufficient statistics (counts,
    means, summed squared deviations) that runs over batches and processes.

    Parameters
    ----------
    priors : array-like of shape (n_classes,) or None
        Class prior probabilities; None uses the class frequencies of the data.
    var_smoothing : float, default=1e-9
        Fraction of the largest feature variance (of all rows) added to every variance.
    random_state : int or None
        Seeds `sample` unless it gets its own.
    device : str, default="auto"
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    classes_ : (n_classes,) the labels, sorted
    class_count_ : (n_classes,) training rows per class
    class_prior_ : (n_classes,) p(y)
    theta_ : (n_classes, n_features) per-class means
    var_ : (n_classes, n_features) per-class variances, plus `epsilon_`
    epsilon_ : float, var_smoothing times the largest feature variance
    n_features_in_ : int

    Notes
    -----
    `partial_fit` gives exactly what `fit` gives on all the rows seen, `epsilon_` included
    (from the variance of all of them); scikit-learn's partial_fit takes `epsilon_` from the
    last batch only.

    Examples
    --------
    >>> from genzoo.bayesnet.naive_bayes import GaussianNaiveBayes
    >>> from genzoo.data import load
    >>> data = load("digits").as_vectors()
    >>> nb = GaussianNaiveBayes().fit(data.X_train, data.y_train)
    >>> nb.predict_proba(data.X_test).shape, nb.sample(4, y=3).shape
    ((360, 10), (4, 64))
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "priors": ["array-like", None],
        "var_smoothing": [Interval(float, 0, None)],
    }

    def __init__(
        self,
        *,
        priors=None,
        var_smoothing: float = 1e-9,
        random_state: int | None = None,
        device: str = "auto",
        dtype: str = "float64",
    ):
        self.priors = priors
        self.var_smoothing = var_smoothing
        self.random_state = random_state
        self.device = device
        self.dtype = dtype

    def _statistics(self, X, y, n_classes):
        return gaussian_stats(X, y, n_classes, batch_rows(1, X.shape[1]))

    def _merge_stats(self, old, new):
        return merge_gaussian(old, new)

    def _stats_from_attributes(self):
        count = self._tensor(self.class_count_)
        m2 = (self._tensor(self.var_) - self.epsilon_) * count[:, None]
        return {"count": count, "theta": self._tensor(self.theta_), "m2": m2}

    def _params_from_stats(self, stats):
        return gaussian_params(stats, self.var_smoothing, self.priors)

    def _log_prior(self):
        return torch.log(self._tensor(self.class_prior_))

    def _joint(self, X):
        theta, var = self._tensor(self.theta_), self._tensor(self.var_)
        rows = batch_rows(len(theta), X.shape[1])
        return gaussian_joint(X, theta, var, self._log_prior(), rows)

    def _sample_given(self, y, gen):
        theta, var = self._tensor(self.theta_), self._tensor(self.var_)
        z = torch.randn(len(y), theta.shape[1], generator=gen, dtype=theta.dtype, device=y.device)
        return theta[y] + torch.sqrt(var[y]) * z


@register(
    "multinomial_nb",
    family="bayesnet",
    data_kind="counts",
    default_dataset="digits_counts",
    fixture_size=300,
)
class MultinomialNaiveBayes(_DiscreteNaiveBayes):
    """Multinomial naive Bayes over count vectors: p(x, y) = p(y) Multinomial(x; n, p_y).

    scikit-learn's MultinomialNB as a generative model. Counts may be non-negative reals (tf-idf
    weights, as scikit-learn accepts); negative counts are refused. `log_prob` is the exact
    log p(x | n) with n = sum_j x_j, the multinomial coefficient n! / prod_j x_j! included
    (lgamma for non-integer counts): the model is conditional on each row's total, which it
    does not model. `sample` draws each row's total from a Poisson with the class's mean
    training total, then the counts from Multinomial(total, p_y).

    Parameters
    ----------
    alpha : float or array-like of shape (n_features,), default=1.0
        Additive (Laplace/Lidstone) smoothing of the feature counts.
    force_alpha : bool, default=True
        Keep alpha as given; False raises an alpha below 1e-10 to 1e-10, as scikit-learn.
    fit_prior : bool, default=True
        Learn the class prior from the data; False uses a uniform one.
    class_prior : array-like of shape (n_classes,) or None
        Given class prior probabilities (then `fit_prior` is ignored).
    random_state : int or None
        Seeds `sample` unless it gets its own.
    device : str, default="auto"
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    classes_ : (n_classes,)
    class_count_ : (n_classes,) training rows per class
    class_log_prior_ : (n_classes,) log p(y)
    feature_count_ : (n_classes, n_features) summed counts per class
    feature_log_prob_ : (n_classes, n_features) log p_yj
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo.bayesnet.naive_bayes import MultinomialNaiveBayes
    >>> from genzoo.data import load
    >>> data = load("digits_counts")
    >>> nb = MultinomialNaiveBayes().fit(data.X_train, data.y_train)
    >>> bool((nb.predict(data.X_test) == data.y_test).mean() > 0.8)
    True
    """

    data_kind = "counts"

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        force_alpha: bool = True,
        fit_prior: bool = True,
        class_prior=None,
        random_state: int | None = None,
        device: str = "auto",
        dtype: str = "float64",
    ):
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.fit_prior = fit_prior
        self.class_prior = class_prior
        self.random_state = random_state
        self.device = device
        self.dtype = dtype

    def _check_values(self, X):
        if X.min() < 0:
            raise ValueError("X contains negative counts; a multinomial model takes counts >= 0.")
        return X

    def _params_from_stats(self, stats):
        count, feature_count = stats["class_count"], stats["feature_count"]
        return {
            "class_count_": count,
            "class_log_prior_": self._class_log_prior(count),
            "feature_count_": feature_count,
            "feature_log_prob_": multinomial_log_prob(
                feature_count, self._alpha(feature_count.shape[1])
            ),
        }

    def _joint(self, X):
        return linear_joint(X, self._tensor(self.feature_log_prob_), self._log_prior())

    def _log_prob(self, X):
        return super()._log_prob(X) + log_multinomial_coefficient(X)

    def _labelled_log_prob(self, X, y):
        return super()._labelled_log_prob(X, y) + log_multinomial_coefficient(X)

    def _sample_given(self, y, gen):
        count = self._tensor(self.class_count_)
        mean_total = self._tensor(self.feature_count_).sum(1) / count.clamp(min=1)
        totals = torch.poisson(mean_total[y], generator=gen)
        return sample_multinomial(totals, torch.exp(self._tensor(self.feature_log_prob_))[y], gen)


@register(
    "bernoulli_nb",
    family="bayesnet",
    data_kind="vectors",
    default_dataset="digits_binary",
    fixture_size=300,
)
class BernoulliNaiveBayes(_DiscreteNaiveBayes):
    """Bernoulli naive Bayes over binary vectors: p(x, y) = p(y) prod_j p_yj^x_j (1-p_yj)^(1-x_j).

    scikit-learn's BernoulliNB as a generative model. With `binarize` a threshold, X is first
    turned into x > binarize, and `log_prob` is the probability of that binary vector; with
    `binarize=None` X must already hold 0s and 1s. `sample` draws binary rows.

    Parameters
    ----------
    alpha : float or array-like of shape (n_features,), default=1.0
        Additive smoothing: p_yj = (count_yj + alpha) / (count_y + 2 alpha).
    force_alpha : bool, default=True
        Keep alpha as given; False raises an alpha below 1e-10 to 1e-10, as scikit-learn.
    binarize : float or None, default=0.0
        Threshold above which a feature is 1; None when X is binary already.
    fit_prior : bool, default=True
        Learn the class prior from the data; False uses a uniform one.
    class_prior : array-like of shape (n_classes,) or None
        Given class prior probabilities (then `fit_prior` is ignored).
    random_state : int or None
        Seeds `sample` unless it gets its own.
    device : str, default="auto"
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    classes_ : (n_classes,)
    class_count_ : (n_classes,) training rows per class
    class_log_prior_ : (n_classes,) log p(y)
    feature_count_ : (n_classes, n_features) rows per class with each feature 1
    feature_log_prob_ : (n_classes, n_features) log p_yj
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo.bayesnet.naive_bayes import BernoulliNaiveBayes
    >>> from genzoo.data import load
    >>> data = load("digits_binary")
    >>> nb = BernoulliNaiveBayes().fit(data.X_train, data.y_train)
    >>> X, y = nb.sample(5, random_state=0, return_labels=True)
    >>> X.shape, y.shape
    ((5, 64), (5,))
    """

    _parameter_constraints = {
        **_DISCRETE_CONSTRAINTS,
        "binarize": [Interval(float, None, None), None],
    }

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        force_alpha: bool = True,
        binarize: float | None = 0.0,
        fit_prior: bool = True,
        class_prior=None,
        random_state: int | None = None,
        device: str = "auto",
        dtype: str = "float64",
    ):
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.binarize = binarize
        self.fit_prior = fit_prior
        self.class_prior = class_prior
        self.random_state = random_state
        self.device = device
        self.dtype = dtype

    def _check_values(self, X):
        if self.binarize is not None:
            return (X > self.binarize).astype(np.float64)
        if ((X != 0) & (X != 1)).any():
            raise ValueError("X must hold only 0 and 1 when binarize is None.")
        return X

    def _params_from_stats(self, stats):
        count, feature_count = stats["class_count"], stats["feature_count"]
        return {
            "class_count_": count,
            "class_log_prior_": self._class_log_prior(count),
            "feature_count_": feature_count,
            "feature_log_prob_": bernoulli_log_prob(
                feature_count, count, self._alpha(feature_count.shape[1])
            ),
        }

    def _joint(self, X):
        return bernoulli_joint(X, self._tensor(self.feature_log_prob_), self._log_prior())

    def _sample_given(self, y, gen):
        return torch.bernoulli(torch.exp(self._tensor(self.feature_log_prob_))[y], generator=gen)


@register(
    "categorical_nb",
    family="bayesnet",
    data_kind="counts",
    default_dataset="digits_counts",
    fixture_size=300,
    # digits pixels take 17 values; declaring them all keeps held-out rows in range
    test_params={"min_categories": 17},
    quick_params={"min_categories": 17},
)
class CategoricalNaiveBayes(_DiscreteNaiveBayes):
    """Categorical naive Bayes: p(x, y) = p(y) prod_j p_j(x_j | y), each x_j a category code.

    scikit-learn's CategoricalNB as a generative model. Feature j takes the integer codes
    0 .. n_categories_[j] - 1, where n_categories_[j] is one more than the largest code seen
    in training, or `min_categories` if that is larger. A code at or above n_categories_ at
    predict or `log_prob` time raises ValueError naming the feature and the value (scikit-learn
    raises IndexError); declare every possible code with `min_categories`. Codes must be
    non-negative integers (as floats or ints).

    Parameters
    ----------
    alpha : float, default=1.0
        Additive smoothing of the category counts.
    force_alpha : bool, default=True
        Keep alpha as given; False raises an alpha below 1e-10 to 1e-10, as scikit-learn.
    fit_prior : bool, default=True
        Learn the class prior from the data; False uses a uniform one.
    class_prior : array-like of shape (n_classes,) or None
        Given class prior probabilities (then `fit_prior` is ignored).
    min_categories : int, array-like of shape (n_features,) or None
        Least number of categories of each feature.
    random_state : int or None
        Seeds `sample` unless it gets its own.
    device : str, default="auto"
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    classes_ : (n_classes,)
    class_count_ : (n_classes,) training rows per class
    class_log_prior_ : (n_classes,) log p(y)
    category_count_ : list of n_features arrays (n_classes, n_categories_[j])
    feature_log_prob_ : list of n_features arrays (n_classes, n_categories_[j])
    n_categories_ : (n_features,) int; after `partial_fit`, over every row seen (scikit-learn
        keeps the last batch's)
    n_features_in_ : int

    Examples
    --------
    >>> from genzoo.bayesnet.naive_bayes import CategoricalNaiveBayes
    >>> from genzoo.data import load
    >>> data = load("digits_counts")
    >>> nb = CategoricalNaiveBayes(min_categories=17).fit(data.X_train, data.y_train)
    >>> nb.log_prob(data.X_test[:3]).shape
    (3,)
    """

    data_kind = "counts"
    _parameter_constraints = {
        **_DISCRETE_CONSTRAINTS,
        "alpha": [Interval(float, 0, None)],
        "min_categories": [Interval(int, 1, None), "array-like", None],
    }

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        force_alpha: bool = True,
        fit_prior: bool = True,
        class_prior=None,
        min_categories=None,
        random_state: int | None = None,
        device: str = "auto",
        dtype: str = "float64",
    ):
        self.alpha = alpha
        self.force_alpha = force_alpha
        self.fit_prior = fit_prior
        self.class_prior = class_prior
        self.min_categories = min_categories
        self.random_state = random_state
        self.device = device
        self.dtype = dtype

    def _check_values(self, X):
        return check_category_codes(X)

    def _statistics(self, X, y, n_classes):
        least = min_categories_array(self.min_categories, X.shape[1])
        least = torch.as_tensor(least, device=X.device)
        n_categories = all_reduce_max(torch.maximum(X.amax(0).long() + 1, least))
        width = int(n_categories.max())
        stats = category_counts(X, y, n_classes, width, batch_rows(1, X.shape[1]))
        return {**stats, "n_categories": n_categories.to(X.dtype)}

    def _merge_stats(self, old, new):
        return merge_categorical(old, new)

    def _stats_from_attributes(self):
        return {
            "count": self._tensor(self.class_count_),
            "category_count": self._tensor(padded(self.category_count_, self.n_categories_)),
            "n_categories": self._tensor(self.n_categories_),
        }

    def _params_from_stats(self, stats):
        count, n_categories = stats["count"], stats["n_categories"].astype(np.int64)
        category_count, feature_log_prob = categorical_log_prob(
            stats["category_count"], n_categories, self._alpha(len(n_categories))
        )
        return {
            "class_count_": count,
            "class_log_prior_": self._class_log_prior(count),
            "category_count_": category_count,
            "feature_log_prob_": feature_log_prob,
            "n_categories_": n_categories,
        }

    def _joint(self, X):
        check_known_categories(X, self._tensor(self.n_categories_), self.n_categories_)
        # (n_features, width, n_classes), padded with 0 past each feature's categories
        table = self._tensor(padded(self.feature_log_prob_, self.n_categories_).transpose(1, 2, 0))
        rows = batch_rows(table.shape[2], X.shape[1])
        return categorical_joint(X, table, self._log_prior(), rows)

    def _sample_given(self, y, gen):
        log_probs = [self._tensor(log_prob) for log_prob in self.feature_log_prob_]
        return sample_categorical(log_probs, y, gen)
