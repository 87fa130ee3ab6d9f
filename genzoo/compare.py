"""Generative versus discriminative classifiers, measured on one split.

A generative classifier learns P(X, y) and classifies by Bayes' rule; a discriminative one
learns P(y | X) directly. Ng and Jordan (2001) showed that the generative one (naive Bayes)
approaches its, often higher, asymptotic error with far fewer training samples than its
discriminative partner (logistic regression). `compare_classifiers` measures both kinds on the
same split, at full size and along a learning curve; `animals_example` works the seed text's
animal table through Bayes' rule.
"""

from __future__ import annotations

import itertools
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedShuffleSplit
from tqdm.auto import tqdm

from genzoo import data as gdata
from genzoo.classify import GenerativeClassifier
from genzoo.mixture import GaussianMixture
from genzoo.registry import make

__all__ = ["Comparison", "animals_example", "compare_classifiers"]

# How each classifier sees the data: real vectors, or counts quantised to 17 levels (0..16).
_LEVELS = 16


def _generative(n_min: int) -> dict[str, tuple]:
    """The generative classifiers, with the representation each takes; n_min: smallest class."""
    return {
        "gaussian_nb": (make("gaussian_nb"), "vectors"),
        "multinomial_nb": (make("multinomial_nb"), "counts"),
        "bernoulli_nb": (make("bernoulli_nb", binarize=0.5), "vectors"),
        "categorical_nb": (make("categorical_nb", min_categories=_LEVELS + 1), "counts"),
        "gmm_per_class": (
            GenerativeClassifier(GaussianMixture(min(3, n_min), reg_covar=1e-2), random_state=0),
            "vectors",
        ),
    }


def _discriminative(random_state: int) -> dict[str, tuple]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logistic_regression": (LogisticRegression(max_iter=2000), "vectors"),
        "k_nearest_neighbours": (KNeighborsClassifier(), "vectors"),
        "svm": (SVC(probability=True, random_state=random_state), "vectors"),
        "decision_tree": (DecisionTreeClassifier(random_state=random_state), "vectors"),
        "random_forest": (
            RandomForestClassifier(n_estimators=200, random_state=random_state),
            "vectors",
        ),
        "mlp": (
            MLPClassifier((128,), max_iter=500, random_state=random_state),
            "vectors",
        ),
    }


@dataclass
class Comparison:
    """What `compare_classifiers` measured.

    Attributes
    ----------
    results : DataFrame, one row per classifier: kind (generative or discriminative),
        accuracy, log_loss and fit_seconds on the full training set.
    curve : DataFrame, one row per classifier and training-set size: mean and standard
        deviation of the test accuracy over the repeats.
    dataset : str
    """

    results: object
    curve: object
    dataset: str

    def table(self) -> str:
        """The results as a plain-text table."""
        return self.results.to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def curve_table(self) -> str:
        """Accuracy by training-set size, one column per size."""
        wide = self.curve.pivot(index="classifier", columns="n_train", values="accuracy")
        return wide.to_string(float_format=lambda v: f"{v:.3f}")

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write results.csv, learning_curve.csv and learning_curve.png into `out`."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "results": out / "results.csv",
            "curve": out / "learning_curve.csv",
            "plot": out / "learning_curve.png",
        }
        self.results.to_csv(paths["results"], index=False)
        self.curve.to_csv(paths["curve"], index=False)
        _plot_curve(self.curve, self.results, paths["plot"], self.dataset)
        return paths


def compare_classifiers(
    data: str | os.PathLike = "digits",
    *,
    train_sizes: tuple[int, ...] | None = None,
    n_repeats: int = 3,
    random_state: int = 0,
    progress: bool = True,
) -> Comparison:
    """Train generative and discriminative classifiers on one split and measure them.

    Parameters
    ----------
    data : str or path-like, default="digits"
        A built-in data set with labels, or a user's labelled file (see `genzoo.data.load`).
        Features are scaled to [0, 1] by the training set's range; count-based models see
        them quantised to 17 levels.
    train_sizes : tuple of int or None
        Training-set sizes of the learning curve; None picks sizes from 2 per class up to
        the whole training set.
    n_repeats : int, default=3
        Stratified subsamples per size; the curve reports their mean and standard deviation.
    random_state : int, default=0
    progress : bool, default=True

    Returns
    -------
    Comparison
    """
    import pandas as pd

    dataset = gdata.load(data, random_state=random_state)
    if dataset.y_train is None:
        raise ValueError(f"data set {dataset.name!r} has no labels to classify")
    X_train, X_test = _scaled(dataset)
    y_train, y_test = dataset.y_train, dataset.y_test
    n_classes = len(np.unique(y_train))
    sizes = train_sizes or _default_sizes(len(y_train), n_classes)
    rows = []
    bar = tqdm(total=len(sizes) * n_repeats + 1, desc="compare", disable=not progress)
    for kind, name, model, rep in _classifiers(y_train, random_state):
        rows.append(_evaluate(name, kind, model, rep, X_train, y_train, X_test, y_test))
    bar.update(1)
    curve = []
    for size, repeat in itertools.product(sizes, range(n_repeats)):
        idx = _subsample(y_train, size, random_state + repeat)
        for kind, name, model, rep in _classifiers(y_train[idx], random_state + repeat):
            row = _evaluate(name, kind, model, rep, X_train[idx], y_train[idx], X_test, y_test)
            curve.append({"classifier": name, "kind": kind, "n_train": size, **row})
        bar.update(1)
    bar.close()
    curve = pd.DataFrame(curve)
    summary = curve.groupby(["classifier", "kind", "n_train"], as_index=False).agg(
        accuracy=("accuracy", "mean"), accuracy_std=("accuracy", "std")
    )
    return Comparison(pd.DataFrame(rows), summary, dataset.name)


def _classifiers(y, random_state: int):
    n_min = int(np.bincount(y).min()) if len(y) else 1
    for kind, models in (
        ("generative", _generative(n_min)),
        ("discriminative", _discriminative(random_state)),
    ):
        for name, (model, representation) in models.items():
            yield kind, name, model, representation


def _scaled(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Vectors scaled to [0, 1] by the training set's range (tests are clipped to it)."""
    vectors = dataset.as_vectors()
    low, high = vectors.X_train.min(0), vectors.X_train.max(0)
    span = np.where(high > low, high - low, 1.0)
    return (vectors.X_train - low) / span, np.clip((vectors.X_test - low) / span, 0.0, 1.0)


def _default_sizes(n_train: int, n_classes: int) -> tuple[int, ...]:
    sizes = np.unique(np.geomspace(2 * n_classes, n_train, 7).astype(int))
    return tuple(int(s) for s in sizes)


def _subsample(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    if size >= len(y):
        return np.arange(len(y))
    split = StratifiedShuffleSplit(n_splits=1, train_size=size, random_state=seed)
    return next(split.split(np.zeros(len(y)), y))[0]


def _evaluate(name, kind, model, representation, X_train, y_train, X_test, y_test) -> dict:
    if representation == "counts":
        X_train, X_test = np.round(_LEVELS * X_train), np.round(_LEVELS * X_test)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from small training sets
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    proba = model.predict_proba(X_test)
    classes = np.asarray(model.classes_)
    predicted = model.predict(X_test)  # SVC's Platt probabilities can disagree with it
    return {
        "classifier": name,
        "kind": kind,
        "accuracy": float(np.mean(predicted == y_test)),
        "log_loss": float(log_loss(y_test, np.clip(proba, 1e-15, 1), labels=classes)),
        "fit_seconds": seconds,
    }


def _plot_curve(curve, results, path: Path, dataset: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, group in curve.groupby("classifier", sort=False):
        generative = group["kind"].iloc[0] == "generative"
        ax.errorbar(
            group["n_train"], group["accuracy"], yerr=group["accuracy_std"].fillna(0.0),
            label=name, linestyle="-" if generative else "--", marker="o" if generative else "s",
            markersize=3, capsize=2, linewidth=1.2,
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("training-set size")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{dataset}: generative (solid) vs discriminative (dashed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png")


# --- the seed text's animals


def animals_example():
    """The animal table of the seed text as a joint distribution, then Bayes' rule.

    Returns
    -------
    joint : DataFrame
        Every combination of features and label with non-zero probability P(X, y).
    posterior : DataFrame
        For each combination of features that occurs, P(label | features) for every label.
    """
    import pandas as pd

    from genzoo.data.networks import network_spec

    spec = network_spec("animals")
    names = list(spec["states"])
    rows = []
    for combo in itertools.product(*(range(len(spec["states"][v])) for v in names)):
        state = dict(zip(names, combo, strict=True))
        p = 1.0
        for var in names:
            index = (state[var], *(state[u] for u in spec["parents"][var]))
            p *= float(spec["cpds"][var][index])
        if p > 0:
            rows.append({v: spec["states"][v][state[v]] for v in names} | {"probability": p})
    joint = pd.DataFrame(rows)
    features = [v for v in names if v != "label"]
    marginal = joint.groupby(features, as_index=False)["probability"].sum()
    posterior = joint.merge(marginal, on=features, suffixes=("", "_features"))
    posterior["P(label | features)"] = posterior["probability"] / posterior["probability_features"]
    posterior = posterior[[*features, "label", "P(label | features)"]]
    return joint, posterior
