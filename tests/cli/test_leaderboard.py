"""The honest leaderboard: likelihoods that compare across families on discrete digits, sample
quality beside the real data's floor, Bayes-rule accuracy, repeats, and users' images."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import genzoo
from genzoo.bayesnet import GaussianNaiveBayes
from genzoo.cli import cli
from genzoo.data import load
from genzoo.metrics import DequantizationWarning
from genzoo.zoo import _takes, evaluate_model, prepare_data, run_zoo


@pytest.fixture(scope="module")
def digits_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits_zoo")
    models = ["gaussian_nb", "categorical_nb", "generative_classifier", "dae"]
    rows = run_zoo(models, quick=True, out=out, progress=False)
    return [row for row in rows if row["dataset"] == "digits"], out


def test_continuous_and_discrete_families_share_one_scale_on_digits(digits_rows):
    rows, _ = digits_rows
    by_model = {row["model"]: row for row in rows}
    assert {row["dataset"] for row in rows} == {"digits"}
    for row in rows:
        assert row["status"] == "ok", row
        assert row["support"] == "discrete (17 levels)"
    # Continuous densities are scored on dequantized pixels: a lower bound on a probability.
    for name in ("gaussian_nb", "generative_classifier"):
        assert by_model[name]["likelihood_kind"] == "lower_bound"
    assert by_model["categorical_nb"]["likelihood_kind"] == "exact"
    for name in ("gaussian_nb", "categorical_nb", "generative_classifier"):
        row = by_model[name]
        # Within a few bits of each other, below the uniform model's log2(17) = 4.09 bits.
        assert 1.5 < row["bits_per_dim"] < math.log2(17), row
        assert row["bits_per_dim"] == pytest.approx(-row["log_likelihood"] / (64 * math.log(2)))
        assert row["log_density"] is None
    assert by_model["dae"]["bits_per_dim"] is None and by_model["dae"]["likelihood_kind"] is None


def test_every_likelihood_model_is_also_a_bayes_rule_classifier(digits_rows):
    rows, _ = digits_rows
    by_model = {row["model"]: row for row in rows}
    logistic = {row["logistic_accuracy"] for row in rows}
    assert len(logistic) == 1 and 0.9 < logistic.pop() <= 1  # one split, one baseline
    for name in ("gaussian_nb", "categorical_nb", "generative_classifier"):
        assert 0.8 < by_model[name]["bayes_accuracy"] <= 1, name
    assert by_model["dae"]["bayes_accuracy"] is None  # no likelihood, no Bayes' rule


def test_image_quality_is_measured_in_a_classifiers_features_beside_the_floor(digits_rows):
    rows, out = digits_rows
    for row in rows:
        for key in ("fid", "precision", "recall", "density", "coverage", "fid_floor"):
            assert row[key] is not None and math.isfinite(row[key]), (row["model"], key)
        assert row["fid"] > row["fid_floor"] > 0  # real data are closer to real data
        assert row["precision_floor"] > 0.5 and row["recall_floor"] > 0.5
    # The floor is the same for every model on the data set.
    assert len({row["fid_floor"] for row in rows}) == 1
    assert (out / "real_digits.png").is_file()
    saved = json.loads((out / "leaderboard.json").read_text())
    assert [row["model"] for row in saved if row["dataset"] == "digits"] == [
        row["model"] for row in rows
    ]


def test_evaluate_warns_about_a_density_fitted_to_raw_levels():
    digits = load("digits").as_vectors()
    raw = GaussianNaiveBayes().fit(digits.X_train, digits.y_train)
    with pytest.warns(DequantizationWarning):
        results, _ = evaluate_model(raw, digits, image_shape=(1, 8, 8))
    assert "not comparable" in results["likelihood_note"]


def test_repeats_report_mean_and_standard_deviation(tmp_path):
    rows = run_zoo(["gmm"], quick=True, out=tmp_path, seeds=3, random_state=5, progress=False)
    (row,) = rows
    assert row["seeds"] == 3 and row["status"] == "ok"
    singles = [
        run_zoo(["gmm"], quick=True, out=tmp_path / str(s), random_state=s, progress=False)[0]
        for s in (5, 6, 7)
    ]
    values = [single["log_density"] for single in singles]
    assert row["log_density"] == pytest.approx(np.mean(values), rel=1e-12)
    assert row["log_density_std"] == pytest.approx(np.std(values, ddof=1), rel=1e-9)
    saved = json.loads((tmp_path / "leaderboard.json").read_text())
    assert "mmd_std" in saved[0] and saved[0]["seeds"] == 3
    assert " ± " in (tmp_path / "leaderboard.md").read_text()
    with pytest.raises(ValueError, match="seeds must be an int in"):
        run_zoo(["gmm"], quick=True, out=tmp_path, seeds=0, progress=False)


def test_zoo_runs_the_image_models_on_a_users_images(tmp_path):
    digits = load("digits")
    images = np.concatenate([digits.X_train, digits.X_test])[:600, 0]
    path = tmp_path / "mine.npz"
    np.savez(path, X=np.round(images * 255).astype(np.uint8), y=np.arange(600) % 10)
    result = CliRunner().invoke(
        cli,
        [
            "zoo",
            "--quick",
            "--models",
            "gaussian_nb,categorical_nb",
            "--data",
            str(path),
            "--out",
            str(tmp_path / "zoo"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "zoo" / "leaderboard.json").read_text())
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert {row["support"] for row in rows} == {"discrete (256 levels)"}
    assert all(0 < row["bits_per_dim"] < 8 for row in rows)  # below a uniform byte
    assert all(row["fid"] is not None for row in rows)  # 8x8 images: the digits network


def test_the_zoo_picks_the_models_that_take_a_users_data():
    images = load("digits")
    binary = load("digits_binary")
    takes = {
        name: (
            _takes(genzoo.get_entry(name), images, False),
            _takes(genzoo.get_entry(name), binary, False),
        )
        for name in ("vae", "gaussian_nb", "categorical_nb", "rbm", "bernoulli_nb", "hmm", "pcfg")
    }
    assert takes == {
        "vae": (True, True),
        "gaussian_nb": (True, True),
        "categorical_nb": (True, True),
        "rbm": (False, True),  # binary models only on two levels
        "bernoulli_nb": (False, True),
        "hmm": (False, False),
        "pcfg": (False, False),
    }


def test_models_of_counts_take_discrete_images_as_their_levels():
    entry = genzoo.get_entry("categorical_nb")
    counts, image_shape = prepare_data(entry, load("digits"))
    assert counts.kind == "counts" and image_shape == (1, 8, 8)
    assert counts.X_train.max() == 16
    with pytest.raises(ValueError, match="takes counts, but data set 'moons' holds continuous"):
        prepare_data(entry, load("moons", n_samples=20))


def test_an_impossible_estimate_is_withheld_not_ranked_first(monkeypatch):
    binary = load("digits_binary", n_samples=300)
    model = genzoo.make("bernoulli_mixture", n_components=3, random_state=0).fit(binary.X_train)
    # As AIS can when it underestimates log Z: a "probability" above 1.
    monkeypatch.setattr(model, "log_prob", lambda X, **kw: np.full(len(X), 0.8))
    results, _ = evaluate_model(model, binary)
    assert results["log_likelihood"] is None and results["bits_per_dim"] is None
    assert results["likelihood_note"].startswith("withheld: the exact 0.8 nats")
