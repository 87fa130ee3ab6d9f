"""The zoo: every registered model on its data sets, compared in one leaderboard.

`run_zoo` fits each model under the likelihood protocol, measures its held-out likelihood
(nats per example and bits per dimension, with its kind), the quality of its samples beside
the floor of real data, and the accuracy of its Bayes-rule classifier beside logistic
regression; saves a picture of its samples; and writes the leaderboard as Markdown, CSV and
JSON, and as one page to look at, report.html. `prepare_data`, `fit_model` and
`evaluate_model` are the steps it shares with `genzoo train` and `genzoo evaluate`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from genzoo import data as gdata
from genzoo._evaluation import (
    MAX_EVAL_SAMPLES,
    QUALITY_METRICS,
    bayes_accuracy,
    evaluate_model,
    finite_or_none,
    fit_model,
    logistic_accuracy,
    prepare_data,
    quality_floors,
    sampled_domain,
)
from genzoo._files import atomic_write_text
from genzoo.data.kinds import kind_of
from genzoo.plotting import (
    MAX_GRID_IMAGES,
    save_history_png,
    save_pairs_png,
    save_path_png,
    save_samples_png,
)
from genzoo.registry import get_entry, list_models, make

__all__ = [
    "LEADERBOARD_COLUMNS",
    "MAX_EVAL_SAMPLES",
    "MAX_SEEDS",
    "evaluate_model",
    "fit_model",
    "leaderboard_markdown",
    "prepare_data",
    "run_zoo",
    "write_leaderboard",
]

logger = logging.getLogger(__name__)

_QUALITY = QUALITY_METRICS
LEADERBOARD_COLUMNS = (
    "model",
    "family",
    "dataset",
    "support",
    "likelihood_kind",
    "log_likelihood",
    "bits_per_dim",
    "log_density",
    "log_likelihood_per_token",
    "bayes_accuracy",
    "logistic_accuracy",
    *_QUALITY,
    "memorization",
    *(f"{name}_floor" for name in _QUALITY),
    "fit_seconds",
    "seeds",
    "status",
    "likelihood_note",
    "picture",
)
# Figures averaged over seeds, each with a "<name>_std" column when there are several: every
# column from the log-likelihood to the fit's seconds.
_NUMERIC = LEADERBOARD_COLUMNS[
    LEADERBOARD_COLUMNS.index("log_likelihood") : LEADERBOARD_COLUMNS.index("fit_seconds") + 1
]
MAX_SEEDS = 100
_QUICK_TRAIN_ROWS = 2000
_FULL_TOY_ROWS = 10_000  # training points drawn from a toy set in full mode
_KIND_NOTE = (
    "**Likelihoods.** On discrete data (pixels with 17 or 256 levels, binary pixels, counts, "
    "symbols, words) log_likelihood is the mean held-out log-probability in nats per example and "
    "bits_per_dim is -log2 P per dimension (pixel, or token of sequences and sentences); "
    "continuous models there are trained and scored on uniformly dequantized data, (k + u) / L, "
    "which gives a lower bound on the discrete log-likelihood (Theis et al. 2016), so the figures "
    "of every family on one data set compare. On continuous data (the 2-D toy sets) log_density "
    "is the mean log-density in nats, which compares only within its data set. The kind says how "
    "far to trust a figure: *exact*; *lower bound* (an ELBO, or a dequantized density), which "
    "understates the true value; *estimate* (AIS, importance sampling), which is noisy; *none*: "
    "the model has no likelihood, compare it by sample quality. "
    "**Classification.** bayes_accuracy: the model turned into a classifier by Bayes' rule (one "
    "model per class), beside logistic_accuracy on the same split. "
    "**Samples.** fid (Fréchet distance in the features of a small classifier shipped with "
    "genzoo, for 8x8 and 28x28 images), mmd and sliced_wasserstein: lower is better. precision "
    "(samples that look real) and recall (real data the samples cover), density and coverage: "
    "higher is better; in the classifier's features for images, in the data for other vectors. "
    "Each *_floor column is the same figure for real training data against the test data: what "
    "a perfect model would score. memorization: share of samples nearer a training point than "
    "training points typically are to each other; about 0.5 for fresh samples, 1 for copies. "
    "With several seeds, each figure is a mean and *_std its standard deviation."
)


# --- the zoo


def run_zoo(
    models: list[str] | None = None,
    *,
    quick: bool = False,
    out: str | os.PathLike = "zoo_out",
    random_state: int = 0,
    seeds: int = 1,
    data: str | os.PathLike | None = None,
    n_draws: int = 1,
    progress: bool = True,
) -> list[dict]:
    """Fit and compare every registered model (or those named) on its data sets.

    Each model is fitted on each of its registry entry's `zoo_datasets` (its default data set
    first), or on the data set `data` only, then measured by `evaluate_model` (likelihood under
    the dequantization protocol, sample quality beside the real data's floor) and, on
    labelled data, by the accuracy of its Bayes-rule classifier beside logistic regression. A
    model that raises is recorded with its error and the zoo goes on. Library warnings (such
    as ConvergenceWarning) are silenced here.

    Writes into `out`: ``<model>.png`` (a picture of its samples on its default data set),
    ``<model>_<dataset>.png`` for each further data set, ``<model>_topics.png`` for topic
    models of pictures, ``real_<dataset>.png``, ``leaderboard.md``, ``leaderboard.csv``,
    ``leaderboard.json`` and ``report.html``.

    Parameters
    ----------
    models : list of str or None, default=None
        Registry names; None runs every registered model (with `data`: every model that
        takes that data). An unknown name raises UnknownModelError before anything runs.
    quick : bool, default=False
        Use each entry's `quick_params` and at most 2000 training rows. Otherwise use the
        entry's `zoo_params` and more data (10000 points of a toy set, all of any other).
    out : str or path-like, default="zoo_out"
    random_state : int, default=0
        Seed of the data, of every model (its `random_state`) and of the samples; repeats
        use the seeds that follow it.
    seeds : int, default=1
        Repeats of every run, each with its own seed; figures are their mean, with the
        standard deviation in a "<name>_std" column.
    data : str, path-like or None, default=None
        A built-in data set or a user's file or folder (see `genzoo.data.load`) to run the
        models on instead of their own data sets: images (MNIST's IDX files, a folder of
        PNGs) go to every model of images or vectors that takes them.
    n_draws : int, default=1
        Draws of the dequantization noise per test example.
    progress : bool, default=True
        Show a progress bar over the runs.

    Returns
    -------
    list of dict
        One row per model and data set with the keys LEADERBOARD_COLUMNS (and "<name>_std"
        with several seeds), sorted by family then model, each model's default data set first.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, numbers.Integral):
        raise ValueError(f"seeds must be an int in [1, {MAX_SEEDS}], got {seeds!r}")
    if not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"seeds must be an int in [1, {MAX_SEEDS}], got {seeds}")
    entries = list_models() if models is None else [get_entry(name) for name in models]
    entries = sorted({e.name: e for e in entries}.values(), key=lambda e: (e.family, e.name))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache: dict = {}
    if data is None:
        runs = [(entry, name) for entry in entries for name in entry.zoo_datasets]
    else:
        user = _zoo_data(data, quick, random_state, cache)
        runs = [(entry, data) for entry in entries if _takes(entry, user, models is not None)]
        if not runs:
            raise ValueError(f"no model takes data set {user.name!r} ({user.kind})")
    repeats = [(seed, run) for run in runs for seed in range(random_state, random_state + seeds)]
    bar = tqdm(repeats, desc="zoo", unit="run", disable=not progress)
    by_run: dict[tuple, list[dict]] = {}
    for seed, (entry, name) in bar:
        bar.set_postfix(model=entry.name, data=str(name), seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = _run_one(entry, name, quick, out, seed, cache, picture=seed == random_state)
        by_run.setdefault((entry.name, str(name)), []).append(row)
    bar.close()
    rows = [_aggregate(reps, seeds) for reps in by_run.values()]
    write_leaderboard(rows, out)
    return rows


def _takes(entry, dataset: gdata.Dataset, named: bool) -> bool:
    """Whether the zoo runs the model of `entry` on a user's data set: models of images and
    vectors on images or vectors, binary models only on two levels, models of counts on
    discrete data; a model named by the user always runs (and may fail with its reason)."""
    if named:
        return True
    if dataset.kind not in ("images", "vectors"):
        return entry.data_kind == dataset.kind
    if entry.data_kind == "counts":
        return dataset.levels is not None
    if entry.data_kind not in ("images", "vectors"):
        return False
    binary = make(entry.name).discrete_likelihood
    return not binary or dataset.levels == 2


def _aggregate(repeats: list[dict], seeds: int) -> dict:
    """One row from the repeats of a run: mean and standard deviation of every figure."""
    first = repeats[0]
    ok = [row for row in repeats if row["status"] == "ok"]
    if len(repeats) == 1:
        return {**first, "seeds": 1 if ok else 0}
    row = dict(first)
    row["seeds"] = len(ok)
    failed = [r["status"] for r in repeats if r["status"] != "ok"]
    row["status"] = "ok" if not failed else f"{len(failed)} of {seeds} seeds failed: {failed[0]}"
    for name in _NUMERIC:
        values = [r[name] for r in ok if isinstance(r.get(name), (int, float))]
        values = [v for v in values if np.isfinite(v)]
        row[name] = float(np.mean(values)) if values else None
        row[f"{name}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return row


def _run_one(
    entry, data_name, quick: bool, out: Path, seed: int, cache: dict, *, picture: bool
) -> dict:
    """One leaderboard row: fit, score and picture one model on one data set.

    Errors become the row's status.
    """
    row = dict.fromkeys(LEADERBOARD_COLUMNS)
    row.update(model=entry.name, family=entry.family, dataset=str(data_name))
    row["likelihood_kind"] = entry.likelihood_kind
    try:
        data = _zoo_data(data_name, quick, seed, cache)
        row["dataset"], row["support"] = data.name, data.support_label
        # The default data set's picture keeps the plain name; others add the data set's.
        plain = data_name == entry.default_dataset
        stem = entry.name if plain else f"{entry.name}_{_file_safe(data.name)}"
        dataset, image_shape = prepare_data(entry, data)
        model = _zoo_model(entry, quick, seed)
        row["fit_seconds"] = fit_model(model, dataset, random_state=seed)
        results = {}
        try:
            _, samples = evaluate_model(
                model, dataset, random_state=seed, image_shape=image_shape, results=results
            )
        finally:
            row.update({k: v for k, v in results.items() if k in row})
        if row["likelihood_kind"] is None:
            row["likelihood_note"] = None  # "none" says it; the reason is in `genzoo list`
        row.update(_floors(sampled_domain(model, dataset), image_shape, seed, cache))
        row["bayes_accuracy"] = bayes_accuracy(
            model, dataset, random_state=seed, class_params=dict(entry.classifier_params)
        )
        row["logistic_accuracy"] = _cached(
            cache, ("logistic", data.name, seed), lambda: logistic_accuracy(data, random_state=seed)
        )
        if picture:
            row["picture"] = _pictures(entry, model, data, dataset, samples, image_shape, out, stem)
        row["status"] = "ok"
    except Exception as err:  # a failing model is recorded, and the zoo goes on
        row["status"] = _one_line_error(err)
        logger.warning("zoo: %s on %s failed: %s", entry.name, data_name, row["status"])
        logger.debug("zoo: %s on %s traceback", entry.name, data_name, exc_info=True)
    return row


def _cached(cache: dict, key, compute):
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _floors(dataset, image_shape, seed: int, cache: dict) -> dict:
    """The real data's figures, once per data set (or domain), seed and form (pixels or
    counts)."""
    key = ("floors", dataset.name, dataset.kind, seed)
    return _cached(
        cache, key, lambda: quality_floors(dataset, image_shape=image_shape, random_state=seed)
    )


def _pictures(entry, model, data, dataset, samples, image_shape, out: Path, stem: str) -> str:
    """Save the samples' picture (and the real data's, once); return the picture's name.

    A translation model's picture is of pairs: test rows of the first domain and their
    translations, over the second domain's test part.
    """
    if model.second_domain:
        inputs = dataset.X_test[: MAX_GRID_IMAGES // 2 if image_shape else MAX_EVAL_SAMPLES]
        target = dataset.domain_b()
        save_pairs_png(
            _shown(inputs, dataset, image_shape),
            _shown(model.translate(inputs), target, image_shape),
            out / f"{stem}.png",
            image_shape=image_shape,
            reference=kind_of(target).reference(target),
            title=f"{entry.name} on {data.name}: input and translation",
        )
    else:
        save_samples_png(
            _shown(samples, dataset, image_shape),
            out / f"{stem}.png",
            kind=dataset.kind,
            image_shape=image_shape,
            reference=kind_of(dataset).reference(dataset),
            title=f"{entry.name} on {data.name}",
        )
    real = out / f"real_{_file_safe(data.name)}.png"
    if not real.exists() and data.kind != "sequences":
        X = data.X_test
        if data.kind in ("vectors", "images", "counts"):
            X = _shown(X[:MAX_EVAL_SAMPLES], data, data.image_shape)
        save_samples_png(
            X,
            real,
            kind=data.kind,
            image_shape=data.image_shape,
            reference=kind_of(data).reference(data),
            title=f"real {data.name} (test part)",
        )
    if getattr(model, "history_", None):
        # What was measured during training (a GAN's precision, recall, FID): collapse shows.
        save_history_png(
            model.history_,
            out / f"{stem}_history.png",
            title=f"{entry.name} on {data.name}: measured during training",
        )
    if hasattr(model, "denoising_path"):
        # A diffusion model's samples followed from noise to data, in a strip.
        n = 8 if image_shape is not None else MAX_EVAL_SAMPLES
        frames = model.denoising_path(n, n_frames=8, random_state=0)
        save_path_png(
            np.stack([_shown(f, dataset, image_shape) for f in frames]),
            out / f"{stem}_path.png",
            image_shape=image_shape,
            reference=None if image_shape is not None else kind_of(dataset).reference(dataset),
            title=f"{entry.name} on {data.name}: noise to data",
        )
    if image_shape is not None and hasattr(model, "topic_word_"):
        # Topics of a corpus of pictures (the bars) are pictures too.
        save_samples_png(
            model.topic_word_ / model.topic_word_.max(axis=1, keepdims=True),
            out / f"{stem}_topics.png",
            kind="images",
            image_shape=image_shape,
            title=f"{entry.name} topics on {data.name}",
        )
    return f"{stem}.png"


def _shown(values, dataset, image_shape):
    """Discrete pictures in [0, 1] as the data's pixels are (`Dataset.unit_values`)."""
    return values if image_shape is None else dataset.unit_values(values)


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


def _zoo_data(name, quick: bool, random_state: int, cache: dict) -> gdata.Dataset:
    is_toy = isinstance(name, str) and name in gdata.TOY_DATASETS
    key = ("data", str(name), random_state if is_toy else None)
    if key not in cache:
        if quick:
            n_samples = _QUICK_TRAIN_ROWS
        else:
            n_samples = _FULL_TOY_ROWS if is_toy else None
        cache[key] = gdata.load(name, n_samples=n_samples, random_state=random_state)
    return cache[key]


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


def _columns(rows: list[dict]) -> list[str]:
    """LEADERBOARD_COLUMNS, each figure followed by its "_std" column when rows have one."""
    columns = []
    for name in LEADERBOARD_COLUMNS:
        columns.append(name)
        if any(f"{name}_std" in row for row in rows):
            columns.append(f"{name}_std")
    return columns


def write_leaderboard(rows: list[dict], out: str | os.PathLike) -> dict[str, Path]:
    """Write `rows` as leaderboard.md, .csv and .json and as report.html into `out`.

    Each file is written whole or not at all (a temporary file, then a rename).
    """
    from genzoo.report import write_report

    out = Path(out)
    columns = _columns(rows)
    paths = {ext: out / f"leaderboard.{ext}" for ext in ("md", "csv", "json")}
    atomic_write_text(paths["md"], leaderboard_markdown(rows))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if row.get(k) is None else row[k] for k in columns} for row in rows)
    atomic_write_text(paths["csv"], buffer.getvalue())
    # JSON has no inf or NaN: such values are written as null.
    clean = [{k: finite_or_none(row.get(k)) for k in columns} for row in rows]
    atomic_write_text(paths["json"], json.dumps(clean, indent=2) + "\n")
    paths["html"] = write_report(clean, out)
    return paths


def leaderboard_markdown(rows: list[dict]) -> str:
    """Return the leaderboard as Markdown: a table per data set with the columns that have a
    value there, the real data's floors under it, and a note on reading the figures."""
    parts = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        group = [row for row in rows if row["dataset"] == dataset]
        support = next((r["support"] for r in group if r.get("support")), None)
        shown = [
            name
            for name in LEADERBOARD_COLUMNS
            if not name.endswith("_floor")
            and name not in ("dataset", "support", "picture", "likelihood_note")
            and any(row.get(name) is not None for row in group)
        ]
        heading = f"### {dataset}" + (f" ({support})" if support else "")
        lines = [
            heading,
            "",
            "| " + " | ".join(shown) + " |",
            "|" + "|".join(" --- " for _ in shown) + "|",
        ]
        for row in group:
            cells = [_markdown_cell(row, key) for key in shown]
            lines.append("| " + " | ".join(cells) + " |")
        floors = {
            name.removesuffix("_floor"): value
            for name, value in next((r for r in group if r["status"] == "ok"), group[0]).items()
            if name.endswith("_floor") and value is not None
        }
        if floors:
            listed = ", ".join(f"{name} {value:.4g}" for name, value in floors.items())
            lines += ["", f"Real data against the test part (the floor): {listed}."]
        notes = [
            f"- {row['model']}: {row['likelihood_note']}"
            for row in group
            if row.get("likelihood_note") and row.get("likelihood_kind")
        ]
        if notes:
            lines += ["", "Likelihood notes:", *notes]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n\n" + _KIND_NOTE + "\n"


def _markdown_cell(row: dict, key: str) -> str:
    value = row.get(key)
    if key == "likelihood_kind":
        return "none" if value is None else str(value).replace("_", " ")
    if value is None:
        return "—"
    if isinstance(value, float):
        std = row.get(f"{key}_std")
        return f"{value:.4g}" + (f" ± {std:.2g}" if isinstance(std, float) else "")
    return str(value).replace("|", "\\|")
