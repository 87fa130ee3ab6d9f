"""Generative versus discriminative classifiers, and the seed text's animals."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from genzoo.cli import cli
from genzoo.compare import animals_example, compare_classifiers

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def comparison():
    return compare_classifiers("digits", train_sizes=(30, 200), n_repeats=2, progress=False)


def test_every_classifier_is_measured_on_the_same_split(comparison):
    results = comparison.results
    generative = set(results.loc[results["kind"] == "generative", "classifier"])
    discriminative = set(results.loc[results["kind"] == "discriminative", "classifier"])
    assert generative == {
        "gaussian_nb", "multinomial_nb", "bernoulli_nb", "categorical_nb", "gmm_per_class"
    }  # fmt: skip
    assert discriminative == {
        "logistic_regression", "k_nearest_neighbours", "svm", "decision_tree",
        "random_forest", "mlp",
    }  # fmt: skip
    assert results["accuracy"].between(0, 1).all() and (results["log_loss"] > 0).all()
    accuracy = dict(zip(results["classifier"], results["accuracy"], strict=True))
    # Known levels on the 8x8 digits: these are far above chance (0.1) on the fixed split.
    assert accuracy["gmm_per_class"] > 0.95 and accuracy["logistic_regression"] > 0.93
    assert accuracy["multinomial_nb"] > 0.85 and accuracy["gaussian_nb"] > 0.7
    assert set(comparison.curve["n_train"]) == {30, 200}


def test_learning_curves_rise_with_the_training_set(comparison):
    """Every classifier is better with 200 training digits than with 30 (2 repeats each)."""
    curve = comparison.curve.set_index(["classifier", "n_train"])["accuracy"]
    for name in comparison.results["classifier"]:
        assert curve[name, 200] > curve[name, 30], name
    assert (comparison.curve["accuracy_std"] >= 0).all()


def test_the_comparison_writes_its_table_and_plot(comparison, tmp_path):
    paths = comparison.save(tmp_path)
    assert paths["plot"].read_bytes().startswith(b"\x89PNG")
    assert "accuracy" in paths["results"].read_text()
    assert "gaussian_nb" in comparison.curve_table()


def test_animals_joint_and_bayes_rule():
    joint, posterior = animals_example()
    assert len(joint) == 4 and np.isclose(joint["probability"].sum(), 1.0)
    rows = posterior.set_index("label")["P(label | features)"]
    # Fur, four legs and a tail: cat or dog, equally; feathers: a bird for sure.
    assert rows["Cat"] == pytest.approx(0.5) and rows["Dog"] == pytest.approx(0.5)
    assert rows["Bird"] == pytest.approx(1.0) and rows["Snake"] == pytest.approx(1.0)


def test_animals_and_compare_from_the_command_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["animals"])
    assert result.exit_code == 0 and "Bayes' rule" in result.output and "Snake" in result.output
