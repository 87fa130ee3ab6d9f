"""The `genzoo` command: list models and data sets, train, sample, evaluate, and run the zoo.

Expected errors (a missing path, an unknown model or data set, a bad parameter or option
value, a fit that rejects its input, a damaged run, a run folder in use, running out of
memory) are printed as one line, ``genzoo: error: <message>``, with exit code 2. Set the
environment variable GENZOO_DEBUG=1 to see the traceback instead.

Every file the command writes goes through `atomic_write`, and `train`, `evaluate` and `zoo`
hold a `RunLock` on their folder, so a killed run leaves whole files and two runs never write
into one folder at once.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import torch
from safetensors import SafetensorError

import genzoo
from genzoo import data as gdata
from genzoo._evaluation import QUALITY_METRICS, is_dequantized
from genzoo._files import RunLock, atomic_write, atomic_write_text, remove_stale_temporaries
from genzoo.data.kinds import get_kind, kind_of
from genzoo.io import MODEL_FILE, read_metadata
from genzoo.metrics.likelihood import MAX_DRAWS, quantize
from genzoo.plotting import save_samples_png
from genzoo.zoo import (
    MAX_SEEDS,
    evaluate_model,
    fit_model,
    leaderboard_markdown,
    prepare_data,
    run_zoo,
)

__all__ = ["cli", "main"]

RUN_FILE = "run.json"
EVAL_FILE = "eval.json"
CHECKPOINT_DIR = "checkpoint"  # the trainer's checkpoint of a gradient-trained model
CHECKPOINT_EVERY = 200  # steps between checkpoints, unless --set checkpoint_every=...
# Errors a user can fix; anything else is a bug and keeps its traceback.
_USER_ERRORS = (ValueError, TypeError, KeyError, OSError)
# What identifies a run: training again with the same values continues or skips it.
_RUN_KEYS = ("model", "data_source", "n_samples", "seed", "set")
# Most samples one `sample` call draws, and most training samples --n-samples asks for: more
# is a typo or a job for a script, and would fail late, after filling the memory.
MAX_SAMPLES = 10**7
_FORCE_HINT = "the run cannot be continued: pass --force to start afresh"
_DAMAGED_HINT = "the run is damaged or unreadable (genzoo train --force trains it afresh)"


def _int_range(low: int, high: int) -> click.IntRange:
    """Integers from `low` to `high`; help and errors call them integers, not "integer range"."""
    kind = click.IntRange(low, high)
    kind.name = "integer"
    return kind


_N_SAMPLES = _int_range(1, MAX_SAMPLES)
_SEED = _int_range(0, 2**32 - 1)  # scikit-learn's range of random_state


class _Group(click.Group):
    """A click group that reports user errors as one line on stderr, with exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.MissingParameter:
            raise  # click's message with the usage line says best what is missing
        except click.BadParameter as err:
            _fail(ctx, err.format_message())
        except (*_USER_ERRORS, MemoryError, RuntimeError) as err:
            user_error = isinstance(err, _USER_ERRORS)
            debug = os.environ.get("GENZOO_DEBUG", "") not in ("", "0")
            if debug or not (user_error or _out_of_memory(err)):
                raise
            _fail(ctx, ("" if user_error else "out of memory: ") + _error_message(err))


def _fail(ctx: click.Context, message: str) -> None:
    click.echo(f"genzoo: error: {message}", err=True)
    ctx.exit(2)


def _out_of_memory(err: BaseException) -> bool:
    # A failed CPU allocation in torch is a plain RuntimeError.
    return isinstance(err, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(err, RuntimeError) and "can't allocate memory" in str(err)
    )


def _error_message(err: BaseException) -> str:
    # str(KeyError("x")) is "'x'"; its argument reads better.
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(genzoo.__version__, prog_name="genzoo")
def cli() -> None:
    """Generative models of every family behind one API."""


def main() -> None:
    """Run the `genzoo` command line."""
    cli(prog_name="genzoo")


# --- list and datasets


@cli.command("list")
def list_command() -> None:
    """List the registered models."""
    rows = [
        (
            e.name,
            e.cls.__name__,
            e.family,
            e.likelihood_kind or "none",
            e.data_kind,
            e.default_dataset,
        )
        for e in genzoo.list_models()
    ]
    headers = ("name", "class", "family", "likelihood kind", "data kind", "default dataset")
    click.echo(_table(headers, rows))


@cli.command("datasets")
def datasets_command() -> None:
    """List the built-in data sets (a path to a file or folder works too)."""
    for name in gdata.list_datasets():
        click.echo(name)


# --- train


@cli.command()
@click.argument("model_name", metavar="MODEL")
@click.option("--data", help="Built-in data set or path. [default: the model's default]")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A constructor argument; VALUE is a Python literal, else a string. Repeatable.",
)
@click.option(
    "--out", "out", required=True, help="Run folder to write (or resume); one run at a time."
)
@click.option("--seed", type=_SEED, default=0, show_default=True, help="Seed of data and model.")
@click.option("--n-samples", type=_N_SAMPLES, help="Training samples to use (draw, for toy sets).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True, help="Start over, replacing a run already in --out.")
def train(model_name, data, settings, out, seed, n_samples, quiet, force) -> None:
    """Fit MODEL to data and save it, with run.json, into the folder --out.

    Training again into the same folder skips a finished run and resumes an interrupted one.
    While a run trains, its folder is locked: a second train (or evaluate) on it is refused.
    """
    entry = genzoo.get_entry(model_name)
    sets = _parse_settings(settings)
    data = data or entry.default_dataset
    run = Path(out)
    if run.exists() and not run.is_dir():
        raise ValueError(f"--out {run} is a file; give a folder for the run")
    model = _new_model(entry.name, sets, seed, quiet)
    identity = {
        "model": entry.name,
        "data_source": _data_source(data),
        "n_samples": n_samples,
        "seed": seed,
        "set": _jsonable({k: v for k, v in sets.items() if k != "verbose"}),
    }
    with RunLock(run, advice="wait for it to finish or choose another --out"):
        remove_stale_temporaries(run)  # of a save killed in an earlier run
        _train_locked(run, entry, model, identity, data, sets, force)


def _train_locked(run: Path, entry, model, identity: dict, data: str, sets: dict, force) -> None:
    """The train command once it holds the lock on the run folder."""
    state = _previous_run(run, identity, force)
    if state == "done":
        click.echo(f"{run}: the run is complete; nothing to do (pass --force to train again).")
        return
    _use_run_checkpoints(model, run, sets, resume=not force and _same_run(run, identity))
    seed = identity["seed"]
    original = gdata.load(data, n_samples=identity["n_samples"], random_state=seed)
    dataset, image_shape = prepare_data(entry, original)
    warm_start = model.get_params(deep=False).get("warm_start")
    if force:
        for name in (MODEL_FILE, RUN_FILE, EVAL_FILE):
            (run / name).unlink(missing_ok=True)
        shutil.rmtree(run / CHECKPOINT_DIR, ignore_errors=True)
    if state == "resume":
        click.echo(f"{run}: resuming the interrupted run from its saved model.")
        model = _resumed_model(run, entry, model)
    record = {
        "status": "running",
        **identity,
        "data": str(data),
        "family": entry.family,
        "data_kind": original.kind,
        "image_shape": None if image_shape is None else list(image_shape),
        # How samples go back to the data's levels, for a model trained on dequantized data.
        "dequantized_levels": dataset.levels if is_dequantized(model, dataset) else None,
        "level_step": dataset.level_step,
        "params": _jsonable(model.get_params(deep=False)),
        "n_train": len(dataset.X_train),
        "n_test": len(dataset.X_test),
        "resumed": state == "resume",
        "genzoo_version": genzoo.__version__,
    }
    _fit_and_record(model, dataset, run, record, warm_start=warm_start)
    click.echo(
        f"Trained {entry.name} on {original.name} ({record['n_train']} train, "
        f"{record['n_test']} test samples) in {record['fit_seconds']:.3g} s; saved to {run}."
    )
    click.echo(_results_table(record))


def _parse_settings(settings: tuple[str, ...]) -> dict:
    """The --set KEY=VALUE pairs as a dict; values are Python literals, else strings."""
    out = {}
    for item in settings:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--set expects KEY=VALUE with KEY a parameter name, got {item!r}")
        try:
            out[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out[key] = text  # a bare word such as diag or cuda:0
    return out


def _data_source(data: str) -> str:
    """A built-in name, or the absolute path of a user's file (what identifies the data)."""
    return data if data in gdata.list_datasets() else str(Path(data).resolve())


def _previous_run(run: Path, identity: dict, force: bool) -> str:
    """What is in the run folder: "new" (start), "resume" (continue) or "done" (skip).

    A model file or run.json that cannot be read is an error that suggests --force.
    """
    if force:
        return "new"
    with _unreadable_run(_FORCE_HINT):
        record = _read_json(run / RUN_FILE)
        has_model = (run / MODEL_FILE).is_file() and bool(read_metadata(run))
    if record is None:
        if has_model:
            raise ValueError(
                f"{run} holds a model that no {RUN_FILE} describes; choose another --out or "
                "pass --force to replace it"
            )
        return "new"
    differ = [k for k in _RUN_KEYS if record.get(k) != identity[k]]
    if differ and (has_model or record.get("status") == "done"):
        what = ", ".join(f"{k} {record.get(k)!r} (now {identity[k]!r})" for k in differ)
        raise ValueError(
            f"{run} holds another run ({what}); choose another --out or pass --force to start over"
        )
    if differ or not has_model:
        return "new"  # nothing saved to lose or to continue from
    return "done" if record.get("status") == "done" else "resume"


def _same_run(run: Path, identity: dict) -> bool:
    """Whether run.json in `run` describes this very run (same model, data, seed, settings)."""
    record = _read_json(run / RUN_FILE)
    return record is not None and all(record.get(k) == identity[k] for k in _RUN_KEYS)


def _use_run_checkpoints(model, run: Path, sets: dict, *, resume: bool) -> None:
    """Point a gradient-trained model's checkpoints into the run folder.

    Its trainer then resumes from the last checkpoint when the same run is started again after
    an interruption. A checkpoint left by another run (or before --force) is removed first.
    """
    params = model.get_params(deep=False)
    if "checkpoint_dir" not in params or "checkpoint_dir" in sets:
        return
    folder = run / CHECKPOINT_DIR
    if folder.exists() and not resume:
        shutil.rmtree(folder)
    elif folder.exists():
        click.echo(f"{run}: resuming the interrupted training from its last checkpoint.")
    model.set_params(checkpoint_dir=str(folder))
    if "checkpoint_every" in params and "checkpoint_every" not in sets:
        model.set_params(checkpoint_every=CHECKPOINT_EVERY)


def _new_model(name: str, sets: dict, seed: int, quiet: bool):
    """The model with the user's arguments; the seed and verbosity unless set explicitly."""
    model = genzoo.make(name, **sets)
    params = model.get_params(deep=False)
    if "random_state" in params and "random_state" not in sets:
        model.set_params(random_state=seed)
    if "verbose" in params and "verbose" not in sets:
        model.set_params(verbose=0 if quiet else 1)
    return model


def _resumed_model(run: Path, entry, fresh):
    """The saved model of an interrupted run, with this run's arguments, set to warm-start."""
    with _unreadable_run(_FORCE_HINT):
        saved_name = read_metadata(run)["model"]
        model = genzoo.load(run)
    if saved_name != entry.name:
        raise ValueError(
            f"{run / MODEL_FILE} holds a {saved_name!r} model, not {entry.name!r}; pass --force "
            "to start over"
        )
    model.set_params(**fresh.get_params(deep=False))
    if "warm_start" in model.get_params(deep=False):
        model.set_params(warm_start=True)  # models without it are fitted afresh
    return model


def _fit_and_record(model, dataset, run: Path, record: dict, warm_start) -> None:
    """Fit, save and evaluate, keeping run.json up to date with the run's status."""
    run.mkdir(parents=True, exist_ok=True)
    _write_json(run / RUN_FILE, record)
    try:
        record["fit_seconds"] = fit_model(model, dataset, random_state=record["seed"])
        if record["resumed"] and "warm_start" in model.get_params(deep=False):
            # Save the run's own warm_start; warm-starting was only how it resumed.
            model.set_params(warm_start=warm_start)
        genzoo.save(model, run)
        results, _ = evaluate_model(
            model,
            dataset,
            random_state=record["seed"],
            image_shape=tuple(record["image_shape"] or ()) or None,
        )
    except BaseException as err:
        record["status"] = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        record["error"] = _error_message(err)
        _write_json(run / RUN_FILE, record)
        raise
    record.update(
        **{k: results[k] for k in _LIKELIHOOD_FIGURES},
        sample_quality={k: results[k] for k in _QUALITY_FIGURES if results.get(k) is not None},
        status="done",
    )
    _write_json(run / RUN_FILE, record)


# --- sample and evaluate


@cli.command()
@click.argument("run")
@click.option(
    "-n",
    "--n-samples",
    "n",
    type=_N_SAMPLES,
    default=64,
    show_default=True,
    help="How many samples to draw.",
)
@click.option(
    "--out", "out", required=True, help="File to write: .npy (the array), .csv, .txt or .png."
)
@click.option("--seed", type=_SEED, help="Seed of the draw. [default: the model's random_state]")
def sample(run, n, out, seed) -> None:
    """Draw samples from the model saved in RUN (a run folder or a .safetensors file)."""
    out = Path(out)
    if out.suffix.lower() not in (".npy", ".png", ".csv", ".txt"):
        raise ValueError(f"--out must end in .npy, .csv, .txt or .png, got {out.name!r}")
    model, record = _load_run(Path(run))
    samples = _draw(model, n, seed)
    if record.get("dequantized_levels"):
        # Trained on (k + u) / L: its samples go back to the data's levels, as the zoo's do.
        samples = quantize(samples, record["dequantized_levels"]) * record["level_step"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        _write_samples(samples, tmp, out.suffix.lower(), record)
    click.echo(f"Wrote {len(samples)} samples to {out}.")


def _draw(model, n: int, seed: int | None):
    """`n` samples of `model`; running out of memory is reported as asking for too many."""
    try:
        return model.sample(n, random_state=seed)
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        raise ValueError(
            f"drawing {n:,} samples needs more memory than is free; ask for fewer with -n"
        ) from None


def _write_samples(samples, out: Path, suffix: str, record: dict) -> None:
    """Write samples to `out` in the format of `suffix` (out itself may be a temporary name)."""
    is_table = hasattr(samples, "to_csv")
    is_text = isinstance(samples, list)  # sentences: lists of tokens
    if suffix == ".txt" or is_text and suffix != ".png":
        if not is_text:
            raise ValueError(".txt holds sentences; write these samples as .npy, .csv or .png")
        if suffix != ".txt":
            raise ValueError(f"sentences are written as .txt (or drawn as .png), not {suffix}")
        out.write_text("".join(" ".join(s) + "\n" for s in samples), encoding="utf-8")
    elif suffix == ".csv":
        (samples if is_table else _frame(samples)).to_csv(out, index=False)
    elif suffix == ".npy":
        if is_table:
            raise ValueError("tables are written as .csv (or drawn as .png), not .npy")
        np.save(out, samples, allow_pickle=False)
    else:
        image_shape = record.get("image_shape")
        default = "sentences" if is_text else "images" if samples.ndim > 2 else "vectors"
        kind = record.get("data_kind", default)
        kind = "images" if image_shape else kind
        reference = _training_data(record) if get_kind(kind).draws_reference else None
        title = " ".join(str(record[k]) for k in ("model", "data") if k in record)
        save_samples_png(
            samples, out, kind=kind, image_shape=image_shape, reference=reference, title=title
        )


@cli.command()
@click.argument("run")
@click.option("--data", help="Built-in data set or path. [default: the run's data]")
@click.option("--seed", type=_SEED, help="Seed of the samples. [default: the run's seed]")
def evaluate(run, data, seed) -> None:
    """Report held-out log-likelihood and sample quality of RUN, and write eval.json."""
    path = Path(run)
    if not path.exists():
        raise FileNotFoundError(f"no run at {path}")
    # Not while the run trains: the model, run.json and eval.json would describe other models.
    lock = RunLock(path, advice="wait for it to finish") if path.is_dir() else None
    with lock or contextlib.nullcontext():
        report, target = _evaluate_run(path, data, seed)
    click.echo(_results_table({**report, "sample_quality": report}))
    click.echo(f"Wrote {target}.")


def _evaluate_run(path: Path, data: str | None, seed: int | None) -> tuple[dict, Path]:
    """Evaluate the run at `path` and write its report; return the report and its file."""
    model, record = _load_run(path)
    if data is None and "data_source" not in record:
        raise ValueError(f"{path} has no {RUN_FILE} naming its data; pass --data")
    data = data or record["data_source"]
    # Same split as training: the run's seed and size for the run's own data.
    same = bool(record) and _data_source(data) == record.get("data_source")
    data_seed = record.get("seed", 0 if seed is None else seed)
    n_samples = record.get("n_samples") if same else None
    seed = record.get("seed", 0) if seed is None else seed
    entry = genzoo.get_entry(read_metadata(path)["model"])
    loaded = gdata.load(data, n_samples=n_samples, random_state=data_seed)
    dataset, image_shape = prepare_data(entry, loaded)
    results, _ = evaluate_model(
        model, dataset, random_state=seed, trained_on=same, image_shape=image_shape
    )
    report = {
        "model": entry.name,
        "data": str(data),
        "seed": seed,
        "n_test": len(dataset.X_test),
        **results,
        "genzoo_version": genzoo.__version__,
    }
    target = path / EVAL_FILE if path.is_dir() else path.with_suffix(".eval.json")
    _write_json(target, report)
    return report, target


def _load_run(path: Path) -> tuple[object, dict]:
    """The saved model of a run folder (or file) and its run.json (empty when absent)."""
    if not path.exists():
        raise FileNotFoundError(f"no run at {path}")
    with _unreadable_run(_DAMAGED_HINT):
        model = genzoo.load(path)
        record = _read_json(path / RUN_FILE) if path.is_dir() else None
    return model, record or {}


@contextlib.contextmanager
def _unreadable_run(hint: str) -> Iterator[None]:
    """Add `hint` to the message of an error in reading a run's files (a missing one aside)."""
    try:
        yield
    except FileNotFoundError:
        raise
    except (ValueError, OSError, SafetensorError) as err:
        raise ValueError(f"{_error_message(err)}; {hint}") from err


def _training_data(record: dict) -> np.ndarray | None:
    """The run's training data, to draw behind samples; None if it cannot be read again."""
    if "data_source" not in record:
        return None
    try:
        dataset = gdata.load(
            record["data_source"], n_samples=record.get("n_samples"), random_state=record["seed"]
        )
    except (ValueError, OSError) as err:
        click.echo(f"genzoo: note: training data not drawn: {_error_message(err)}", err=True)
        return None
    return kind_of(dataset).reference(dataset)


def _frame(samples: np.ndarray):
    """Samples as a DataFrame for CSV: one row per sample, flattened."""
    import pandas as pd

    return pd.DataFrame(samples.reshape(len(samples), -1))


# --- zoo


@cli.command()
@click.option("--quick", is_flag=True, help="Fast parameters and at most 2000 training rows.")
@click.option("--models", help="Comma-separated model names. [default: all]")
@click.option("--out", default="zoo_out", show_default=True, help="Folder for the results.")
@click.option("--seed", type=_SEED, default=0, show_default=True)
@click.option(
    "--seeds",
    type=click.IntRange(1, MAX_SEEDS),
    default=1,
    show_default=True,
    help="Repeats of every run (seeds --seed, --seed + 1, ...): mean and standard deviation.",
)
@click.option(
    "--data",
    help="Run the models that take it on this data set or path (images: MNIST IDX files, a "
    "folder of PNGs) instead of their own data sets.",
)
@click.option(
    "--draws",
    type=click.IntRange(1, MAX_DRAWS),
    default=1,
    show_default=True,
    help="Draws of the dequantization noise per test example.",
)
def zoo(quick, models, out, seed, seeds, data, draws) -> None:
    """Fit every model on its data sets and write one leaderboard and report.html."""
    names = None
    if models is not None:
        names = [name.strip() for name in models.split(",") if name.strip()]
        if not names:
            raise ValueError("--models names no model")
    with _locked_out(out):
        rows = run_zoo(
            names,
            quick=quick,
            out=out,
            random_state=seed,
            seeds=seeds,
            data=data,
            n_draws=draws,
        )
    click.echo(leaderboard_markdown(rows))
    failed = sum(row["status"] != "ok" for row in rows)
    if failed:
        click.echo(f"{failed} of {len(rows)} models failed; see the status column.")
    click.echo(
        f"Wrote report.html, leaderboard.md, leaderboard.csv, leaderboard.json and a "
        f"<model>.png per model (<model>_<dataset>.png beyond its default data set) to {out}."
    )


# --- generative versus discriminative


@cli.command("compare-classifiers")
@click.option("--data", default="digits", show_default=True, help="Labelled data set or path.")
@click.option("--quick", is_flag=True, help="One repeat and four sizes on the learning curve.")
@click.option("--out", default="compare_out", show_default=True, help="Folder for CSVs and plot.")
@click.option("--seed", type=_SEED, default=0, show_default=True)
def compare_classifiers_command(data, quick, out, seed) -> None:
    """Generative versus discriminative classifiers on one split, with a learning curve."""
    from genzoo.compare import compare_classifiers

    sizes = None
    if quick:
        n_train = len(gdata.load(data, random_state=seed).X_train)
        sizes = tuple(int(s) for s in np.unique(np.geomspace(20, n_train, 4).astype(int)))
    with _locked_out(out):
        result = compare_classifiers(
            data, train_sizes=sizes, n_repeats=1 if quick else 3, random_state=seed
        )
        click.echo(f"Trained on the full training set of {result.dataset}:")
        click.echo(result.table())
        click.echo("\nTest accuracy by training-set size (mean over repeats):")
        click.echo(result.curve_table())
        paths = result.save(out)
    click.echo(f"\nWrote {', '.join(p.name for p in paths.values())} to {out}.")


@cli.command("animals")
def animals_command() -> None:
    """The seed text's animal table: the joint P(features, label), then Bayes' rule."""
    from genzoo.compare import animals_example

    joint, posterior = animals_example()
    click.echo("The joint distribution P(covering, legs, tail, beak, label) (non-zero rows):")
    click.echo(joint.to_string(index=False))
    click.echo("\nBayes' rule: P(label | features) = P(features, label) / P(features):")
    click.echo(posterior.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


# --- output helpers


def _locked_out(out: str) -> RunLock:
    """The lock of an --out folder, so that two commands never write into it at once."""
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    return RunLock(out, advice="wait for it to finish or choose another --out")


_LIKELIHOOD_FIGURES = (
    "support",
    "log_likelihood",
    "bits_per_dim",
    "log_density",
    "likelihood_kind",
    "likelihood_note",
)
_QUALITY_FIGURES = (*QUALITY_METRICS, "memorization")


def _results_table(record: dict) -> str:
    """Held-out likelihood (under the protocol) and sample quality as a two-column table."""
    kind = str(record.get("likelihood_kind")).replace("_", " ")
    rows = [("data support", record.get("support") or "-")]
    if record.get("log_likelihood") is not None:
        bits = record.get("bits_per_dim")
        rows.append(("held-out log-likelihood", f"{record['log_likelihood']:.4f} nats ({kind})"))
        if bits is not None:
            rows.append(("bits per dimension", f"{bits:.4f}"))
    elif record.get("log_density") is not None:
        rows.append(("held-out log-density", f"{record['log_density']:.4f} nats ({kind})"))
    else:
        note = record.get("likelihood_note") or "the model has no likelihood"
        rows.append(("held-out log-likelihood", f"unavailable: {note}"))
    if record.get("log_likelihood") is not None and record.get("likelihood_note"):
        rows.append(("warning", record["likelihood_note"]))
    quality = record.get("sample_quality") or {}
    for key in _QUALITY_FIGURES:
        value = quality.get(key)
        if value is not None or key in ("mmd", "sliced_wasserstein"):
            rows.append((key, "-" if value is None else f"{value:.4g}"))
    return _table(("metric", "value"), rows)


def _table(headers: tuple[str, ...], rows: list[tuple]) -> str:
    """A plain text table with aligned columns."""
    cells = [tuple(str(c) for c in row) for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _jsonable(value):
    """`value` in JSON types; large arrays become a short description."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 1000 else f"<array of shape {value.shape}>"
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _read_json(path: Path) -> dict | None:
    """The JSON object in `path`; None if there is no such file."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is truncated or corrupt: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{path} is corrupt: it holds a JSON {type(value).__name__}, not an object"
        )
    return value


def _write_json(path: Path, value: dict) -> None:
    """Write `value` as JSON, atomically: a reader, or a killed run, never leaves half of it."""
    atomic_write_text(path, json.dumps(_jsonable(value), indent=2) + "\n")


if __name__ == "__main__":
    main()
