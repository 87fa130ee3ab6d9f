"""The `genzoo` command: list, datasets, train (skip, resume, force), sample, evaluate, errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import genzoo
from genzoo.cli import cli
from genzoo.data import load as load_dataset

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

REPO_ROOT = Path(genzoo.__file__).resolve().parents[1]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def train(run, *sets, data="eight_gaussians", extra=()):
    args = ["train", "gmm", "--data", data, "--out", run, "--quiet", *extra]
    for item in sets:
        args += ["--set", item]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def run_record(run) -> dict:
    return json.loads((Path(run) / "run.json").read_text())


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("genzoo: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


# --- list and datasets


def test_list_shows_gmm_with_its_likelihood_kind():
    result = invoke("list")
    assert result.exit_code == 0
    header, _, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["name", "class", "family"]
    gmm = next(row.split() for row in rows if row.split()[0] == "gmm")
    assert gmm == ["gmm", "GaussianMixture", "mixture", "exact", "vectors", "eight_gaussians"]


def test_datasets_lists_the_built_in_names():
    result = invoke("datasets")
    assert result.exit_code == 0
    assert result.stdout.split() == genzoo.data.list_datasets()
    assert {"moons", "eight_gaussians", "digits"} <= set(result.stdout.split())


# --- train


def test_train_writes_model_and_run_record_and_beats_one_gaussian(tmp_path):
    run, single = tmp_path / "run", tmp_path / "single"
    result = train(run, "n_components=8")
    train(single, "n_components=1")
    assert "saved to" in result.stdout and "held-out log-density" in result.stdout
    assert (run / "model.safetensors").is_file()
    record = run_record(run)
    assert record["status"] == "done"
    assert (record["model"], record["data"], record["seed"]) == ("gmm", "eight_gaussians", 0)
    assert record["params"]["n_components"] == 8
    assert record["params"]["random_state"] == 0  # from --seed
    assert (record["n_train"], record["n_test"]) == (2000, 500)
    assert record["likelihood_kind"] == "exact"
    assert math.isfinite(record["log_density"])
    assert record["log_density"] > run_record(single)["log_density"] + 0.5
    assert set(record["sample_quality"]) == {
        "mmd",
        "sliced_wasserstein",
        "memorization",
        "precision",
        "recall",
        "density",
        "coverage",
    }
    assert record["support"] == "continuous" and record["log_likelihood"] is None
    assert record["genzoo_version"] == genzoo.__version__
    assert record["fit_seconds"] > 0
    # The saved model is the run's model.
    data = load_dataset("eight_gaussians", random_state=0)
    model = genzoo.load(run)
    assert model.score(data.X_test) == pytest.approx(record["log_density"])


def test_train_again_finds_the_run_complete_and_does_not_refit(tmp_path):
    run = tmp_path / "run"
    train(run, "n_components=8")
    model_file = run / "model.safetensors"
    before = (model_file.stat().st_mtime_ns, (run / "run.json").read_text())
    result = train(run, "n_components=8")
    assert "complete" in result.stdout
    assert (model_file.stat().st_mtime_ns, (run / "run.json").read_text()) == before


def test_train_resumes_an_interrupted_run_from_its_saved_model(tmp_path):
    run = tmp_path / "run"
    sets = ("n_components=8", "init_params=random")
    train(run, *sets)
    data = load_dataset("eight_gaussians", random_state=0)
    # As if interrupted after saving: a model one EM step in, and no status in run.json.
    early = genzoo.make("gmm", n_components=8, init_params="random", max_iter=1, random_state=0)
    early.fit(data.X_train).save(run)
    record = run_record(run)
    del record["status"]
    (run / "run.json").write_text(json.dumps(record))
    result = train(run, *sets)
    assert "resuming" in result.stdout
    resumed = run_record(run)
    assert resumed["status"] == "done" and resumed["resumed"] is True
    assert resumed["log_density"] >= early.score(data.X_test)
    model = genzoo.load(run)
    # The run's own arguments, not the interrupted model's, and no lasting warm start.
    assert (model.max_iter, model.warm_start) == (100, False)
    assert model.n_iter_ > 1


def test_train_of_a_neural_model_resumes_from_the_run_checkpoint(tmp_path):
    run = tmp_path / "run"
    args = ["train", "vae", "--data", "digits", "--n-samples", "100", "--out", run, "--quiet"]
    args += ["--set", "max_steps=20", "--set", "latent_dim=4", "--set", "channels=(8, 16)"]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    checkpoint = run / "checkpoint" / "checkpoint.safetensors"
    assert checkpoint.is_file()
    assert genzoo.load(run).checkpoint_every == 200  # the CLI's default
    weights = genzoo.load(run).encoder_state_
    # As if killed after the last checkpoint but before the model was saved.
    (run / "model.safetensors").unlink()
    record = run_record(run)
    record["status"] = "interrupted"
    (run / "run.json").write_text(json.dumps(record))
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "resuming the interrupted training" in again.stdout
    resumed = genzoo.load(run).encoder_state_
    assert all(np.array_equal(weights[k], resumed[k]) for k in weights)
    # --force starts over: the old checkpoint is removed before training.
    forced = invoke(*args, "--force")
    assert forced.exit_code == 0 and "resuming" not in forced.stdout


def test_train_with_other_params_on_a_finished_run_is_refused(tmp_path):
    run = tmp_path / "run"
    train(run, "n_components=8")
    result = invoke(
        "train", "gmm", "--data", "eight_gaussians", "--set", "n_components=4", "--out", run
    )
    assert_one_line_error(result, "--force", "another --out")
    assert run_record(run)["params"]["n_components"] == 8
    result = invoke("train", "gmm", "--data", "moons", "--set", "n_components=8", "--out", run)
    assert_one_line_error(result, "data_source")


def test_force_starts_over(tmp_path):
    run = tmp_path / "run"
    train(run, "n_components=8")
    (run / "model.safetensors").write_bytes(b"stale")
    train(run, "n_components=4", extra=["--force"])
    record = run_record(run)
    assert record["status"] == "done" and record["resumed"] is False
    assert genzoo.load(run).n_components == 4


def test_set_values_are_python_literals_or_strings(tmp_path):
    run = tmp_path / "run"
    train(run, "n_components=3", "covariance_type=diag", "tol=1e-4", "weights_init=None")
    params = run_record(run)["params"]
    assert params["n_components"] == 3 and params["covariance_type"] == "diag"
    assert params["tol"] == 1e-4 and params["weights_init"] is None


def test_images_are_flattened_for_vector_models_and_their_shape_kept(tmp_path):
    run = tmp_path / "run"
    train(
        run,
        "n_components=2",
        "covariance_type=diag",
        "max_iter=5",
        data="digits",
        extra=["--n-samples", 300],
    )
    record = run_record(run)
    assert record["image_shape"] == [1, 8, 8] and record["data_kind"] == "images"
    assert record["n_train"] == 300
    out = tmp_path / "digits.png"
    assert invoke("sample", run, "-n", 16, "--out", out).exit_code == 0
    assert Image.open(out).size == (600, 600)


# --- sample and evaluate


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    train(run, "n_components=8")
    return run


def test_sample_to_npy_is_finite_and_reproducible(trained_run, tmp_path):
    paths = [tmp_path / name for name in ("a.npy", "b.npy", "c.npy")]
    for path, seed in zip(paths, (1, 1, 2), strict=True):
        result = invoke("sample", trained_run, "-n", 50, "--out", path, "--seed", seed)
        assert result.exit_code == 0, result.output
    a, b, c = (np.load(path, allow_pickle=False) for path in paths)
    assert a.shape == (50, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_to_png(trained_run, tmp_path):
    out = tmp_path / "samples.png"
    result = invoke("sample", trained_run, "-n", 200, "--out", out)
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (600, 600)


def test_evaluate_writes_eval_json(trained_run):
    result = invoke("evaluate", trained_run, "--data", "eight_gaussians")
    assert result.exit_code == 0, result.output
    assert "held-out log-density" in result.stdout and "mmd" in result.stdout
    report = json.loads((trained_run / "eval.json").read_text())
    assert report["likelihood_kind"] == "exact" and report["n_test"] == 500
    # The run's own data, split as in training: the same held-out figure.
    assert report["log_density"] == pytest.approx(run_record(trained_run)["log_density"])
    for key in ("mmd", "sliced_wasserstein", "memorization"):
        assert math.isfinite(report[key])
    assert 0.0 <= report["memorization"] <= 1.0


def test_evaluate_on_other_data_reports_no_memorization(trained_run, tmp_path):
    result = invoke("evaluate", trained_run, "--data", "moons")
    assert result.exit_code == 0, result.output
    report = json.loads((trained_run / "eval.json").read_text())
    assert report["memorization"] is None
    assert report["log_density"] < run_record(trained_run)["log_density"]


# --- errors


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "no_such_model", "--out", "{tmp}/r"], "unknown model"),
        (["train", "gmm", "--data", "no_such_data", "--out", "{tmp}/r"], "no_such_data"),
        (["train", "gmm", "--set", "no_such_param=1", "--out", "{tmp}/r"], "no_such_param"),
        (["train", "gmm", "--set", "n_components=0", "--out", "{tmp}/r"], "n_components"),
        (["train", "gmm", "--set", "n_components", "--out", "{tmp}/r"], "KEY=VALUE"),
        (["sample", "{tmp}/missing", "--out", "{tmp}/s.npy"], "missing"),
        (["sample", "{tmp}", "--out", "{tmp}/s.bmp"], ".npy, .csv, .txt or .png"),
        (["evaluate", "{tmp}/missing", "--data", "moons"], "missing"),
        (["zoo", "--models", "gmm,no_such_model", "--out", "{tmp}/zoo"], "unknown model"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(tmp_path, args, fragment):
    result = invoke(*[a.format(tmp=tmp_path) for a in args])
    assert_one_line_error(result, fragment)


def test_a_failed_fit_does_not_block_the_run_folder(tmp_path):
    run = tmp_path / "run"
    bad = invoke("train", "gmm", "--set", "n_components=0", "--out", run)
    assert_one_line_error(bad, "n_components")
    assert run_record(run)["status"] == "failed"
    train(run, "n_components=2")
    assert run_record(run)["status"] == "done"


def test_debug_variable_keeps_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_DEBUG", "1")
    result = invoke("train", "no_such_model", "--out", tmp_path / "r")
    assert isinstance(result.exception, ValueError)
    assert "unknown model" in str(result.exception)


def test_console_entry_point(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("GENZOO_DEBUG", None)
    command = [sys.executable, "-c", "from genzoo.cli import main; main()"]
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0
    for name in ("list", "datasets", "train", "sample", "evaluate", "zoo"):
        assert name in helped.stdout
    failed = subprocess.run(
        [*command, "sample", str(tmp_path / "missing"), "--out", "x.npy"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [f"genzoo: error: no run at {tmp_path}/missing"]


def test_samples_of_a_dequantized_run_come_back_on_the_datas_levels(tmp_path):
    run = tmp_path / "run"
    result = invoke("train", "gaussian_nb", "--data", "digits", "--out", run, "--quiet")
    assert result.exit_code == 0, result.output
    record = run_record(run)
    assert record["dequantized_levels"] == 17 and record["bits_per_dim"] > 0
    assert record["likelihood_kind"] == "lower_bound"
    result = invoke("sample", run, "-n", "50", "--out", tmp_path / "s.npy", "--seed", "0")
    assert result.exit_code == 0, result.output
    samples = np.load(tmp_path / "s.npy")
    np.testing.assert_allclose(samples * 16, np.round(samples * 16), atol=1e-9)
    assert samples.min() >= 0 and samples.max() <= 1
