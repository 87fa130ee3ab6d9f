"""The steps the zoo shares with `genzoo train` and `genzoo evaluate`: put a data set in the
form a model takes, fit it under the likelihood protocol, and measure it.

Measuring means three things. The held-out likelihood under the protocol of
`genzoo.metrics.likelihood` (discrete data scored as discrete, continuous models on
dequantized data), in nats per example and bits per dimension. Sample quality: MMD and sliced
Wasserstein on the data, and the Fréchet distance, precision, recall, density and coverage in
the features of a small shipped classifier for 8x8 and 28x28 images (in the data space for
other vectors), each beside its floor, the same figure between the training and the test part
of the real data. And, on labelled data, the accuracy of the model turned into a classifier by
Bayes' rule beside logistic regression on the same split.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from sklearn.base import clone

from genzoo import data as gdata
from genzoo.base import LikelihoodUnavailable
from genzoo.data.kinds import kind_of
from genzoo.metrics import sample_quality
from genzoo.metrics.likelihood import (
    DequantizationWarning,
    bits_per_dim,
    dequantize,
    quantize,
    score_log_likelihood,
)

__all__ = [
    "FEATURE_METRICS",
    "MAX_EVAL_SAMPLES",
    "QUALITY_METRICS",
    "bayes_accuracy",
    "evaluate_model",
    "fit_model",
    "is_dequantized",
    "logistic_accuracy",
    "prepare_data",
    "quality_floors",
    "sampled_domain",
]

MAX_EVAL_SAMPLES = 2000  # samples drawn for the sample-quality metrics
# Figures in the features of a shipped classifier (images) or of the data (other vectors).
FEATURE_METRICS = ("fid", "precision", "recall", "density", "coverage")
_DISTANCE_METRICS = ("mmd", "sliced_wasserstein")
# Every sample-quality figure that has a floor.
QUALITY_METRICS = (*FEATURE_METRICS, *_DISTANCE_METRICS)
# Shapes (c, h, w) of the images a shipped feature network reads.
_FEATURE_NET_SHAPES = {(1, 8, 8): "digits8", (1, 28, 28): "mnist28"}


# --- data in the model's form


def prepare_data(entry, dataset: gdata.Dataset) -> tuple[gdata.Dataset, tuple[int, ...] | None]:
    """Return `dataset` in the form the model of registry `entry` takes, and its image shape.

    Images are flattened for models of vectors, and discrete images or vectors become their
    level indices for models of counts (so that categorical naive Bayes scores the same
    digits as a Gaussian); the image shape (c, h, w), None for vectors, lets samples be
    shown as images again.
    """
    image_shape = dataset.image_shape
    if entry.data_kind == "vectors" and dataset.kind in ("images", "counts"):
        return dataset.as_vectors(), image_shape
    if entry.data_kind == "counts" and dataset.kind in ("images", "vectors"):
        if dataset.levels is None:
            raise ValueError(
                f"model {entry.name!r} takes counts, but data set {dataset.name!r} holds "
                f"continuous {dataset.kind}"
            )
        return dataset.as_counts(), image_shape
    # A model of images takes rows of numbers too (a 2-D toy set), through MLPs.
    if entry.data_kind == "images" and dataset.kind not in ("images", "vectors"):
        raise ValueError(
            f"model {entry.name!r} takes images or vectors, but data set {dataset.name!r} "
            f"holds {dataset.kind}"
        )
    return dataset, image_shape


def is_dequantized(model, dataset: gdata.Dataset) -> bool:
    """Whether the protocol trains and scores `model` on dequantized `dataset`: a
    continuous density on discrete data with levels."""
    if dataset.levels is None:
        return False
    return model.likelihood_support(dataset.X_train) == "continuous"


def fit_model(model, dataset: gdata.Dataset, *, random_state: int = 0) -> float:
    """Fit `model` on the training part of `dataset`; return the seconds the fit took.

    A continuous density on discrete data is fitted on one dequantized draw of the training
    part, (k + u) / L, as the likelihood protocol requires (`random_state` seeds the draw).
    """
    if model.conditional and dataset.y_train is None:
        raise ValueError(
            f"{type(model).__name__} is conditional, but data set {dataset.name!r} has no labels"
        )
    _declare_levels(model, dataset)
    X = _training_values(model, dataset, random_state)
    args, kwargs = kind_of(dataset).fit_args(
        dataset, "train", conditional=model.conditional, second_domain=model.second_domain, X=X
    )
    start = time.perf_counter()
    model.fit(*args, **kwargs)
    return time.perf_counter() - start


def _declare_levels(model, dataset: gdata.Dataset) -> None:
    """A model of categories learns every level the data declare (scikit-learn's
    `min_categories`), so a held-out level unseen in training keeps a probability."""
    if dataset.levels is None or "min_categories" not in model.get_params(deep=False):
        return
    declared = model.get_params(deep=False)["min_categories"]
    if declared is None or np.all(np.asarray(declared) < dataset.levels):
        model.set_params(min_categories=dataset.levels)


def _training_values(model, dataset: gdata.Dataset, random_state: int):
    """The dequantized training part, or None for the data as they are."""
    if not is_dequantized(model, dataset):
        return None
    return dequantize(dataset.level_indices("train"), dataset.levels, random_state=random_state)


def _to_data_levels(samples, model, dataset: gdata.Dataset) -> np.ndarray:
    """Samples of a model trained on dequantized data, back on the data's grid."""
    if not is_dequantized(model, dataset):
        return samples
    return quantize(samples, dataset.levels) * dataset.level_step


# --- measuring


def evaluate_model(
    model,
    dataset: gdata.Dataset,
    *,
    random_state: int = 0,
    trained_on: bool = True,
    n_draws: int = 1,
    image_shape: tuple[int, ...] | None = None,
    results: dict | None = None,
) -> tuple[dict, np.ndarray]:
    """Return the held-out likelihood and sample quality of a fitted model, and its samples.

    The likelihood follows `genzoo.metrics.likelihood`: discrete models on the discrete test
    part as it is, continuous models on `n_draws` dequantized copies of it (a lower bound on
    the discrete likelihood). Draws as many samples as `dataset` has test rows (at most
    MAX_EVAL_SAMPLES) with seed `random_state`; a model trained on dequantized data has its
    samples put back on the data's levels. The samples are compared with the test part (and,
    when `trained_on` says the model was fitted on this training part, checked for
    memorization against it); a translation model's with those of the second domain, which
    its samples belong to (`sampled_domain`).

    Parameters
    ----------
    model : a fitted genzoo model
    dataset : Dataset
        In the form the model takes (see `prepare_data`).
    random_state : int, default=0
    trained_on : bool, default=True
    n_draws : int, default=1
        Draws of the dequantization noise per test example.
    image_shape : tuple or None
        (c, h, w) of the images behind flattened vectors, for the feature-network metrics;
        None: the data set's own.
    results : dict or None, default=None
        Filled in place as each figure is computed, so a caller keeps what was measured before
        a later step fails.

    Returns
    -------
    results : dict
        "support", "likelihood_kind" (combined with the protocol's), "log_likelihood" (mean
        nats per example on discrete data), "bits_per_dim", "log_density" (mean nats per
        example on continuous data), "log_likelihood_per_token", "likelihood_note" (why there
        is none, or a warning), the sample-quality figures of `sample_quality_figures`.
    samples : ndarray
    """
    results = {} if results is None else results
    results["support"] = dataset.support_label
    results.update(_likelihood(model, dataset, random_state, n_draws))
    target = sampled_domain(model, dataset)
    samples = _draw_samples(model, target, random_state)
    samples = _to_data_levels(samples, model, target)
    results.update(
        sample_quality_figures(
            samples,
            target,
            trained_on=trained_on,
            image_shape=image_shape,
            random_state=random_state,
        )
    )
    return results, samples


def sampled_domain(model, dataset: gdata.Dataset) -> gdata.Dataset:
    """The data `model`'s samples are compared with: the second domain for a translation
    model (`second_domain`), else `dataset` itself."""
    return dataset.domain_b() if model.second_domain else dataset


def _likelihood(model, dataset: gdata.Dataset, random_state: int, n_draws: int) -> dict:
    kind = kind_of(dataset)
    out = dict.fromkeys(
        ("log_likelihood", "bits_per_dim", "log_density", "log_likelihood_per_token")
    )
    out["likelihood_kind"], out["likelihood_note"] = model.likelihood_kind, None
    if model.likelihood_kind is None:
        out["likelihood_note"] = model.no_likelihood_reason
        return out
    # Bits per dimension count the values of vectors (pixels on a grid of levels, columns of
    # a table), and the tokens of sequences, sentences and word counts.
    n_tokens = None if dataset.levels is not None else kind.n_tokens(dataset, "test")
    n_dims = dataset.n_features if not n_tokens else 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", DequantizationWarning)
            score = score_log_likelihood(
                model,
                dataset.X_test,
                levels=dataset.levels,
                level_step=dataset.level_step or 1.0,
                discrete_data=dataset.support == "discrete",
                n_dims=n_dims,
                n_draws=n_draws,
                random_state=random_state,
                **kind.eval_kwargs(dataset, "test"),
            )
    except LikelihoodUnavailable as err:
        out["likelihood_kind"], out["likelihood_note"] = None, str(err)
        return out
    out["likelihood_kind"], out["likelihood_note"] = score.kind, score.note
    if score.discrete and score.mean > 0:
        # A probability is at most 1: an estimate above it is an estimate gone wrong (AIS
        # underestimating log Z), and it is withheld rather than ranked first.
        out["likelihood_note"] = (
            f"withheld: the {score.kind.replace('_', ' ')} {score.mean:.4g} nats per example is "
            "above 0, impossible for a probability of discrete data (the model's log-partition "
            "estimate is too low)"
        )
        return out
    if score.discrete:
        out["log_likelihood"], out["bits_per_dim"] = score.mean, score.bits_per_dim
        if n_tokens:
            out["log_likelihood_per_token"] = float(np.sum(score.log_likelihood)) / n_tokens
            out["bits_per_dim"] = bits_per_dim(out["log_likelihood_per_token"], 1)
    else:
        out["log_density"] = score.mean
    return out


def _draw_samples(model, dataset: gdata.Dataset, random_state: int):
    """As many samples as the test part has items (capped), of the same classes or lengths."""
    n = min(kind_of(dataset).n_items(dataset, "test"), MAX_EVAL_SAMPLES)
    return kind_of(dataset).draw(model, dataset, n, random_state)


def sample_quality_figures(
    samples,
    dataset: gdata.Dataset,
    *,
    trained_on: bool = True,
    image_shape: tuple[int, ...] | None = None,
    random_state: int = 0,
) -> dict:
    """The sample-quality figures of `samples` against the test part of `dataset`.

    "mmd", "sliced_wasserstein" and "memorization" on the numbers each data kind compares
    (`DataKind.features`); for vectors, images and counts also "fid" (images a shipped
    network reads, else None), "precision", "recall", "density" and "coverage".
    """
    X_train = dataset.X_train if trained_on else None
    s, t, tr = kind_of(dataset).features(samples, dataset.X_test, X_train)
    quality = sample_quality(s, t, tr, random_state=random_state)
    figures = {
        "mmd": quality["mmd"],
        "sliced_wasserstein": quality["sliced_wasserstein"],
        "memorization": quality.get("memorization"),
    }
    figures.update(dict.fromkeys(FEATURE_METRICS))
    if dataset.kind in ("vectors", "images", "counts"):
        shape = image_shape or dataset.image_shape
        figures.update(_feature_figures(samples, dataset.X_test, dataset, shape, random_state))
    return figures


def quality_floors(
    dataset: gdata.Dataset, *, image_shape: tuple[int, ...] | None = None, random_state: int = 0
) -> dict:
    """Each sample-quality figure between real data: as many training rows as the test part
    has, drawn at random, against the test part. What a model that samples the data's own
    distribution would score; keys end in "_floor". Empty for sequences, tables and sentences.
    """
    if dataset.kind not in ("vectors", "images", "counts"):
        return {}
    n = min(len(dataset.X_test), MAX_EVAL_SAMPLES, len(dataset.X_train))
    rows = np.random.default_rng(random_state).choice(len(dataset.X_train), n, replace=False)
    real = dataset.X_train[np.sort(rows)]
    quality = sample_quality(real, dataset.X_test, random_state=random_state)
    floors = {name: quality[name] for name in _DISTANCE_METRICS}
    shape = image_shape or dataset.image_shape
    floors.update(_feature_figures(real, dataset.X_test, dataset, shape, random_state))
    return {f"{name}_floor": value for name, value in floors.items()}


def _feature_figures(samples, X_test, dataset, image_shape, random_state: int) -> dict:
    """Fréchet distance, precision, recall, density and coverage in a network's features for
    images it reads, else precision, recall, density and coverage on the values."""
    from genzoo.metrics.image_quality import density_coverage, feature_quality, precision_recall

    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    X_test = np.asarray(X_test, dtype=np.float64).reshape(len(X_test), -1)
    net = _FEATURE_NET_SHAPES.get(tuple(image_shape or ()))
    if net is not None:
        from genzoo.metrics.feature_nets import image_features

        to_unit = dataset.unit_values
        fake = image_features(np.clip(to_unit(samples), 0, 1).reshape(-1, *image_shape), net)
        real = image_features(to_unit(X_test).reshape(-1, *image_shape), net)
        return feature_quality(fake, real, random_state=random_state)
    figures = dict.fromkeys(FEATURE_METRICS)
    figures["precision"], figures["recall"] = precision_recall(
        X_test, samples, random_state=random_state
    )
    figures["density"], figures["coverage"] = density_coverage(
        X_test, samples, random_state=random_state
    )
    return figures


# --- Bayes' rule against logistic regression


def bayes_accuracy(
    model, dataset: gdata.Dataset, *, random_state: int = 0, class_params: dict | None = None
) -> float | None:
    """Test accuracy of `model` turned into a classifier by Bayes' rule, or None.

    A conditional model that predicts (naive Bayes, `GenerativeClassifier`) is used as it is
    fitted; any other model with a likelihood is fitted once per class of the training part
    in a `GenerativeClassifier` (with `class_params` changed on each per-class model), under
    the protocol (dequantized for continuous densities on discrete data, then classifying the
    cells' centres). None without labels or likelihood.
    """
    from genzoo.classify import GenerativeClassifier

    if dataset.y_train is None or model.likelihood_kind is None:
        return None
    X_test = dataset.X_test
    if is_dequantized(model, dataset):
        X_test = (dataset.level_indices("test") + 0.5) / dataset.levels
    if model.conditional and hasattr(model, "predict"):
        classifier = model
    else:
        per_class = clone(model).set_params(**(class_params or {}))
        classifier = GenerativeClassifier(per_class, random_state=random_state)
        X = _training_values(model, dataset, random_state)
        args, kwargs = kind_of(dataset).fit_args(dataset, "train", conditional=True, X=X)
        classifier.fit(*args, **kwargs)
    return float(np.mean(classifier.predict(X_test) == dataset.y_test))


def logistic_accuracy(dataset: gdata.Dataset, *, random_state: int = 0) -> float | None:
    """Test accuracy of standardised logistic regression on the same split, or None."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if dataset.y_train is None or dataset.kind not in ("vectors", "images", "counts"):
        return None
    flat = dataset.as_vectors() if dataset.kind == "images" else dataset
    classifier = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000, random_state=random_state)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier.fit(flat.X_train, flat.y_train)
    return float(np.mean(classifier.predict(flat.X_test) == flat.y_test))


def finite_or_none(value):
    """JSON has no inf or NaN: such values become None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value
