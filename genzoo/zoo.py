"""The zoo: every registered model on its data sets, compared in one leaderboard.

`run_zoo` fits each model, measures its held-out log-likelihood and the quality of its
samples, saves a picture of the samples and writes the leaderboard as Markdown, CSV and JSON.
`prepare_data`, `fit_model` and `evaluate_model` are the steps it shares with `genzoo train`
and `genzoo evaluate`.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from genzoo import data as gdata
from genzoo.base import LikelihoodUnavailable
from genzoo.data.kinds import kind_of
from genzoo.metrics import sample_quality
from genzoo.plotting import save_samples_png
from genzoo.registry import get_entry, list_models, make

__all__ = [
    "LEADERBOARD_COLUMNS",
    "MAX_EVAL_SAMPLES",
    "evaluate_model",
    "fit_model",
    "leaderboard_markdown",
    "prepare_data",
    "run_zoo",
    "write_leaderboard",
]

logger = logging.getLogger(__name__)

LEADERBOARD_COLUMNS = (
    "model",
    "family",
    "dataset",
    "log_likelihood",
    "log_likelihood_per_token",
    "likelihood_kind",
    "mmd",
    "sliced_wasserstein",
    "memorization",
    "fit_seconds",
    "status",
)
MAX_EVAL_SAMPLES = 2000  # samples drawn for the sample-quality metrics
_QUICK_TRAIN_ROWS = 2000
_FULL_TOY_ROWS = 10_000  # training points drawn from a toy set in full mode
_KIND_NOTE = (
    "log_likelihood is the mean held-out log-density in nats per sample (higher is better). "
    "Its kind matters: *exact* values compare with each other, a *lower bound* (ELBO) "
    "understates the true value and an *estimate* (AIS, importance sampling, ODE) is noisy, so "
    "numbers of different kinds are not comparable. log_likelihood_per_token divides the held-out "
    "total by its tokens: the steps of sequences, the words of sentences and of count "
    "documents. *none*: the model has no likelihood; "
    "compare it by sample quality. mmd and sliced_wasserstein: lower is better. memorization: "
    "share of samples nearer a training point than training points typically are to each "
    "other; about 0.5 for fresh samples, 1 for copies of the training data."
)


# --- steps shared with the command line


def prepare_data(entry, dataset: gdata.Dataset) -> tuple[gdata.Dataset, tuple[int, ...] | None]:
    """Return `dataset` in the form the model of registry `entry` takes, and its image shape.

    Images are flattened for models of vectors; the image shape (c, h, w), None for vectors,
    lets samples be shown as images again.
    """
    image_shape = dataset.image_shape
    if entry.data_kind == "vectors" and dataset.kind in ("images", "counts"):
        return dataset.as_vectors(), image_shape
    # A model of images takes rows of numbers too (a 2-D toy set), through MLPs.
    if entry.data_kind == "images" and dataset.kind not in ("images", "vectors"):
        raise ValueError(
            f"model {entry.name!r} takes images or vectors, but data set {dataset.name!r} "
            f"holds {dataset.kind}"
        )
    return dataset, image_shape


def fit_model(model, dataset: gdata.Dataset) -> float:
    """Fit `model` on the training part of `dataset`; return the seconds the fit took."""
    if model.conditional and dataset.y_train is None:
        raise ValueError(
            f"{type(model).__name__} is conditional, but data set {dataset.name!r} has no labels"
        )
    args, kwargs = kind_of(dataset).fit_args(dataset, "train", conditional=model.conditional)
    start = time.perf_counter()
    model.fit(*args, **kwargs)
    return time.perf_counter() - start


def evaluate_model(
    model,
    dataset: gdata.Dataset,
    *,
    random_state: int = 0,
    trained_on: bool = True,
    results: dict | None = None,
) -> tuple[dict, np.ndarray]:
    """Return the held-out likelihood and sample quality of a fitted model, and its samples.

    Draws as many samples as `dataset` has test rows (at most MAX_EVAL_SAMPLES) with seed
    `random_state`, and compares them with the test part (and, when `trained_on` says the
    model was fitted on this training part, measures memorization against it).

    Parameters
    ----------
    model : a fitted genzoo model
    dataset : Dataset
        In the form the model takes (see `prepare_data`).
    random_state : int, default=0
    trained_on : bool, default=True
    results : dict or None, default=None
        Filled in place as each figure is computed, so a caller keeps what was measured before
        a later step fails.

    Returns
    -------
    results : dict
        "log_likelihood" (mean nats per sample, None without a likelihood),
        "log_likelihood_per_token" (nats per step, word or counted word; None for other
        data), "likelihood_kind", "likelihood_note" (why there is none, else None), "mmd",
        "sliced_wasserstein" and "memorization" (None when not `trained_on`).
    samples : ndarray
    """
    results = {} if results is None else results
    results["likelihood_kind"] = model.likelihood_kind
    results["log_likelihood_per_token"] = None
    try:
        log_prob = model.log_prob(dataset.X_test, **kind_of(dataset).eval_kwargs(dataset, "test"))
        results["log_likelihood"] = float(np.mean(log_prob))
        results["likelihood_note"] = None
        n_tokens = kind_of(dataset).n_tokens(dataset, "test")
        if n_tokens:
            results["log_likelihood_per_token"] = float(np.sum(log_prob)) / n_tokens
    except LikelihoodUnavailable as err:
        results["log_likelihood"], results["likelihood_kind"] = None, None
        results["likelihood_note"] = str(err)
    samples = _draw_samples(model, dataset, random_state)
    results.update(_quality(samples, dataset, trained_on, random_state))
    return results, samples


def _draw_samples(model, dataset: gdata.Dataset, random_state: int):
    """As many samples as the test part has items (capped), of the same classes or lengths."""
    n = min(kind_of(dataset).n_items(dataset, "test"), MAX_EVAL_SAMPLES)
    return kind_of(dataset).draw(model, dataset, n, random_state)


def _quality(samples, dataset: gdata.Dataset, trained_on: bool, random_state: int) -> dict:
    """MMD, sliced Wasserstein and memorization of samples against the held-out part.

    Each kind says which rows the metrics compare (`DataKind.features`): sequences step by
    step, tables as one-hot rows, sentences as word frequencies plus length; memorization is
    left out where repeats of training items are expected.
    """
    X_train = dataset.X_train if trained_on else None
    samples, X_test, X_train = kind_of(dataset).features(samples, dataset.X_test, X_train)
    quality = sample_quality(samples, X_test, X_train, random_state=random_state)
    return {
        "mmd": quality["mmd"],
        "sliced_wasserstein": quality["sliced_wasserstein"],
        "memorization": quality.get("memorization"),
    }


# --- the zoo


def run_zoo(
    models: list[str] | None = None,
    *,
    quick: bool = False,
    out: str | os.PathLike = "zoo_out",
    random_state: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Fit and compare every registered model (or those named) on its data sets.

    Each model is fitted on each of its registry entry's `zoo_datasets` (its default data set
    first; the autoencoders also run on a 2-D toy set), then scored on the held-out
    part: mean log-likelihood (with its kind) and the sample-quality metrics of
    `genzoo.metrics.sample_quality`. A model that raises is recorded with its error and the
    zoo goes on. Library warnings (such as ConvergenceWarning) are silenced here.

    Writes into `out`: ``<model>.png`` (a picture of its samples on its default data set),
    ``<model>_<dataset>.png`` for each further data set, ``<model>_topics.png`` for topic
    models of pictures, and ``leaderboard.md``,
    ``leaderboard.csv`` and ``leaderboard.json``.

    Parameters
    ----------
    models : list of str or None, default=None
        Registry names; None runs every registered model. An unknown name raises
        UnknownModelError before anything runs.
    quick : bool, default=False
        Use each entry's `quick_params` and at most 2000 training rows. Otherwise use the
        entry's `zoo_params` and more data (10000 points of a toy set, all of any other).
    out : str or path-like, default="zoo_out"
    random_state : int, default=0
        Seed of the data, of every model (its `random_state`) and of the samples.
    progress : bool, default=True
        Show a progress bar over the models.

    Returns
    -------
    list of dict
        One row per model and data set with the keys LEADERBOARD_COLUMNS, sorted by family
        then model, each model's default data set first.
    """
    entries = list_models() if models is None else [get_entry(name) for name in models]
    entries = sorted({e.name: e for e in entries}.values(), key=lambda e: (e.family, e.name))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache: dict[str, gdata.Dataset] = {}
    rows = []
    runs = [(entry, name) for entry in entries for name in entry.zoo_datasets]
    bar = tqdm(runs, desc="zoo", unit="run", disable=not progress)
    for entry, name in bar:
        bar.set_postfix(model=entry.name, data=name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows.append(_run_one(entry, name, quick, out, random_state, cache))
    bar.close()
    write_leaderboard(rows, out)
    return rows


def _run_one(entry, data_name: str, quick: bool, out: Path, random_state: int, cache: dict):
    """One leaderboard row: fit, score and picture one model on one data set.

    Errors become the row's status.
    """
    row = dict.fromkeys(LEADERBOARD_COLUMNS)
    row.update(model=entry.name, family=entry.family, dataset=data_name)
    row["likelihood_kind"] = entry.likelihood_kind
    # The default data set's picture keeps the plain name; others add the data set's.
    stem = entry.name if data_name == entry.default_dataset else f"{entry.name}_{data_name}"
    try:
        data = _zoo_data(data_name, quick, random_state, cache)
        dataset, image_shape = prepare_data(entry, data)
        model = _zoo_model(entry, quick, random_state)
        row["fit_seconds"] = fit_model(model, dataset)
        results = {}
        try:
            _, samples = evaluate_model(model, dataset, random_state=random_state, results=results)
        finally:
            row.update({k: v for k, v in results.items() if k in row})
        save_samples_png(
            samples,
            out / f"{stem}.png",
            kind=dataset.kind,
            image_shape=image_shape,
            reference=kind_of(dataset).reference(dataset),
            title=f"{entry.name} on {data_name}",
        )
        if image_shape is not None and hasattr(model, "topic_word_"):
            # Topics of a corpus of pictures (the bars) are pictures too.
            save_samples_png(
                model.topic_word_ / model.topic_word_.max(axis=1, keepdims=True),
                out / f"{stem}_topics.png",
                kind="images",
                image_shape=image_shape,
                title=f"{entry.name} topics on {data_name}",
            )
        row["status"] = "ok"
    except Exception as err:  # a failing model is recorded, and the zoo goes on
        row["status"] = _one_line_error(err)
        logger.warning("zoo: %s on %s failed: %s", entry.name, data_name, row["status"])
        logger.debug("zoo: %s on %s traceback", entry.name, data_name, exc_info=True)
    return row


def _zoo_data(name: str, quick: bool, random_state: int, cache: dict) -> gdata.Dataset:
    if name not in cache:
        if quick:
            n_samples = _QUICK_TRAIN_ROWS
        else:
            n_samples = _FULL_TOY_ROWS if name in gdata.TOY_DATASETS else None
        cache[name] = gdata.load(name, n_samples=n_samples, random_state=random_state)
    return cache[name]


def _zoo_model(entry, quick: bool, random_state: int):
    model = make(entry.name, **(entry.quick_params if quick else entry.zoo_params))
    names = model.get_params(deep=False)
    if "random_state" in names:
        model.set_params(random_state=random_state)
    if "verbose" in names:
        model.set_params(verbose=0)  # the zoo's own bar shows progress
    return model


def _one_line_error(err: BaseException) -> str:
    """Return "ErrorType: message" on one line."""
    message = " ".join(str(err).split())
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


# --- the leaderboard files


def write_leaderboard(rows: list[dict], out: str | os.PathLike) -> dict[str, Path]:
    """Write `rows` as leaderboard.md, leaderboard.csv and leaderboard.json into `out`."""
    out = Path(out)
    paths = {ext: out / f"leaderboard.{ext}" for ext in ("md", "csv", "json")}
    paths["md"].write_text(leaderboard_markdown(rows), encoding="utf-8")
    with open(paths["csv"], "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=LEADERBOARD_COLUMNS)
        writer.writeheader()
        writer.writerows(
            {k: "" if row[k] is None else row[k] for k in LEADERBOARD_COLUMNS} for row in rows
        )
    # JSON has no inf or NaN: such values are written as null.
    clean = [{k: _finite_or_none(row[k]) for k in LEADERBOARD_COLUMNS} for row in rows]
    paths["json"].write_text(json.dumps(clean, indent=2) + "\n", encoding="utf-8")
    return paths


def leaderboard_markdown(rows: list[dict]) -> str:
    """Return the leaderboard as a Markdown table with a note on the likelihood kinds."""
    lines = [
        "| " + " | ".join(LEADERBOARD_COLUMNS) + " |",
        "|" + "|".join(" --- " for _ in LEADERBOARD_COLUMNS) + "|",
    ]
    for row in rows:
        cells = [_markdown_cell(key, row[key]) for key in LEADERBOARD_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _KIND_NOTE + "\n"


def _markdown_cell(key: str, value) -> str:
    if key == "likelihood_kind":
        return "none" if value is None else str(value).replace("_", " ")
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _finite_or_none(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value
