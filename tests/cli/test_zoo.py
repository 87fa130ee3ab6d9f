"""The zoo: one leaderboard over models, failures recorded, files written."""

from __future__ import annotations

import csv
import json
import math
from types import MappingProxyType

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import genzoo
from genzoo import registry
from genzoo.cli import cli
from genzoo.mixture import GaussianMixture
from genzoo.zoo import LEADERBOARD_COLUMNS, evaluate_model, fit_model, prepare_data, run_zoo


class _BrokenMixture(GaussianMixture):
    """A model whose fit always fails."""

    def _fit(self, X, y, gen):
        raise RuntimeError("numerical trouble\non two lines")


class _MixtureWithoutLikelihood(GaussianMixture):
    """A model that hides its likelihood, as GANs have none."""

    likelihood_kind = None
    no_likelihood_reason = "a test model that only samples."


def _add_entry(monkeypatch, name: str, cls: type, zoo_datasets=()) -> None:
    entry = registry.ModelEntry(
        name=name,
        cls=cls,
        family="mixture",
        data_kind="vectors",
        default_dataset="eight_gaussians",
        fixture_dataset="eight_gaussians",
        quick_params=MappingProxyType({"n_components": 8}),
        zoo_datasets=zoo_datasets,
    )
    monkeypatch.setitem(registry._REGISTRY, name, entry)


def test_zoo_command_writes_the_leaderboard_files(tmp_path):
    out = tmp_path / "zoo"
    result = CliRunner().invoke(cli, ["zoo", "--quick", "--models", "gmm", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "### eight_gaussians (continuous)" in result.stdout
    assert "| gmm | mixture | exact |" in result.stdout
    assert "dequantized" in result.stdout and str(out) in result.stdout
    with open(out / "leaderboard.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == LEADERBOARD_COLUMNS
    assert [(r["model"], r["status"], r["likelihood_kind"]) for r in rows] == [
        ("gmm", "ok", "exact")
    ]
    (row,) = json.loads((out / "leaderboard.json").read_text())
    assert tuple(row) == LEADERBOARD_COLUMNS
    assert row["status"] == "ok" and row["dataset"] == "eight_gaussians"
    assert row["support"] == "continuous" and row["picture"] == "gmm.png"
    # A density of continuous data: log_density, never a log-likelihood in bits per dimension.
    assert row["log_likelihood"] is None and row["bits_per_dim"] is None
    for key in ("log_density", "mmd", "sliced_wasserstein", "memorization", "fit_seconds"):
        assert math.isfinite(row[key])
    for key in ("precision", "recall", "precision_floor", "mmd_floor"):
        assert 0 <= row[key] <= 1 or key == "mmd_floor"
    assert row["fid"] is None  # no feature network reads 2-D points
    markdown = (out / "leaderboard.md").read_text()
    assert f"| gmm | mixture | exact | {row['log_density']:.4g} |" in markdown
    assert "Real data against the test part (the floor): precision" in markdown
    with Image.open(out / "gmm.png") as image:
        assert image.size == (600, 600)
    assert (out / "real_eight_gaussians.png").is_file()
    assert "<table" in (out / "report.html").read_text()


def test_zoo_records_failures_and_goes_on(tmp_path, monkeypatch):
    _add_entry(monkeypatch, "broken_gmm", _BrokenMixture)
    _add_entry(monkeypatch, "sampler_gmm", _MixtureWithoutLikelihood)
    rows = run_zoo(["sampler_gmm", "gmm", "broken_gmm"], quick=True, out=tmp_path, progress=False)
    assert [row["model"] for row in rows] == ["broken_gmm", "gmm", "sampler_gmm"]
    broken, gmm, sampler = rows
    assert broken["status"] == "RuntimeError: numerical trouble on two lines"
    assert broken["fit_seconds"] is None and broken["mmd"] is None
    assert not (tmp_path / "broken_gmm.png").exists()
    assert gmm["status"] == "ok" and (tmp_path / "gmm.png").is_file()
    assert sampler["status"] == "ok"
    assert sampler["log_likelihood"] is None and sampler["likelihood_kind"] is None
    assert math.isfinite(sampler["mmd"])
    markdown = (tmp_path / "leaderboard.md").read_text()
    sampler_line = next(line for line in markdown.splitlines() if "sampler_gmm" in line)
    assert "| none |" in sampler_line
    assert len(json.loads((tmp_path / "leaderboard.json").read_text())) == 3


def test_zoo_seed_reaches_the_models(tmp_path):
    first = run_zoo(["gmm"], quick=True, out=tmp_path / "a", random_state=1, progress=False)
    again = run_zoo(["gmm"], quick=True, out=tmp_path / "b", random_state=1, progress=False)
    other = run_zoo(["gmm"], quick=True, out=tmp_path / "c", random_state=2, progress=False)
    assert first[0]["mmd"] == again[0]["mmd"]
    assert first[0]["mmd"] != other[0]["mmd"]


def test_unknown_model_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(genzoo.UnknownModelError, match="unknown model"):
        run_zoo(["gmm", "no_such_model"], quick=True, out=tmp_path / "zoo", progress=False)
    assert not (tmp_path / "zoo").exists()


def test_per_token_likelihood_of_sequences_and_sentences(tmp_path):
    rows = run_zoo(["hmm", "pcfg"], quick=True, out=tmp_path, progress=False)
    for row in rows:
        assert row["status"] == "ok", row
        assert (tmp_path / f"{row['model']}.png").is_file()
    hmm, pcfg = sorted(rows, key=lambda r: r["model"])
    casino = genzoo.data.load("casino", n_samples=2000, random_state=0)
    steps_per_sequence = len(casino.X_test) / len(casino.lengths_test)
    assert hmm["log_likelihood_per_token"] == pytest.approx(
        hmm["log_likelihood"] / steps_per_sequence, rel=1e-12
    )
    # Bits per dimension of sequences and sentences count their tokens.
    for row in (hmm, pcfg):
        assert row["bits_per_dim"] == pytest.approx(
            -row["log_likelihood_per_token"] / math.log(2), rel=1e-12
        )
    treebank = genzoo.data.load("treebank", n_samples=2000, random_state=0)
    words_per_sentence = sum(map(len, treebank.X_test)) / len(treebank.X_test)
    assert pcfg["log_likelihood_per_token"] == pytest.approx(
        pcfg["log_likelihood"] / words_per_sentence, rel=1e-12
    )
    # a grammar fitted on its own treebank: a few nats per word, far above uniform guessing
    assert (
        -np.log(len({w for s in treebank.X_train for w in s}))
        < pcfg["log_likelihood_per_token"]
        < 0
    )
    assert abs(pcfg["mmd"]) < 0.05  # unbiased MMD: near 0, either sign, for a good fit


def test_a_model_runs_on_each_of_its_zoo_datasets(tmp_path, monkeypatch):
    _add_entry(monkeypatch, "two_sets_gmm", GaussianMixture, ("moons", "eight_gaussians"))
    entry = registry.get_entry("two_sets_gmm")
    assert entry.zoo_datasets == ("eight_gaussians", "moons")  # the default leads, once
    rows = run_zoo(["two_sets_gmm"], quick=True, out=tmp_path, progress=False)
    assert [(r["dataset"], r["status"]) for r in rows] == [
        ("eight_gaussians", "ok"),
        ("moons", "ok"),
    ]
    assert rows[0]["log_density"] != rows[1]["log_density"]
    assert (tmp_path / "two_sets_gmm.png").is_file()
    assert (tmp_path / "two_sets_gmm_moons.png").is_file()


def test_the_autoencoders_also_run_on_a_2d_toy_set():
    for name in ("vae", "dae", "sparse_ae"):
        entry = genzoo.get_entry(name)
        toy = [d for d in entry.zoo_datasets if d in genzoo.data.TOY_DATASETS]
        assert entry.zoo_datasets[0] == "digits" and toy, entry


def test_a_model_of_images_takes_a_toy_set_of_vectors_in_the_zoo(tmp_path):
    entry = genzoo.get_entry("vae")
    dataset, image_shape = prepare_data(entry, genzoo.data.load("moons", n_samples=300))
    assert dataset.kind == "vectors" and image_shape is None
    model = genzoo.make("vae", **entry.test_params)
    assert fit_model(model, dataset) > 0
    results, samples = evaluate_model(model, dataset)
    assert samples.shape == (len(dataset.X_test), 2)
    assert results["likelihood_kind"] == "lower_bound" and math.isfinite(results["log_density"])
    with pytest.raises(ValueError, match="takes images or vectors"):
        prepare_data(entry, genzoo.data.load("casino"))


def test_a_diffusion_model_draws_its_path_from_noise_to_data(tmp_path, monkeypatch):
    ddpm = genzoo.get_entry("ddpm")
    entry = registry.ModelEntry(
        name="small_ddpm",
        cls=ddpm.cls,
        family="diffusion",
        data_kind=ddpm.data_kind,
        default_dataset="moons",
        fixture_dataset="moons",
        quick_params=MappingProxyType({**ddpm.test_params, "network": "mlp"}),
    )
    monkeypatch.setitem(registry._REGISTRY, "small_ddpm", entry)
    [row] = run_zoo(["small_ddpm"], quick=True, out=tmp_path, progress=False)
    assert row["status"] == "ok", row
    assert row["likelihood_kind"] == "lower_bound" and math.isfinite(row["log_density"])
    with Image.open(tmp_path / "small_ddpm_path.png") as picture:
        assert picture.size == (600, 600)
    assert (tmp_path / "small_ddpm.png").is_file()
