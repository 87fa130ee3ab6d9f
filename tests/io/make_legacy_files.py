"""Write tests/io/legacy_v1/: every registered model saved by genzoo's file format 1.

Run once at commit d302e35 (the last release before issue 11 changed the saved state) with
`python -m tests.io.make_legacy_files`; test_legacy_files.py checks that this genzoo still
loads those files and gives the same numbers. Do not rerun it with a newer genzoo: the point
is files written by the old code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genzoo import VAE
from genzoo.mixture import GaussianMixture
from genzoo.registry import get_entry, list_models
from tests.conftest import Fixture, fitted_model, fixture_data

HERE = Path(__file__).parent / "legacy_v1"
# Keeps the checked-in files small (the default per-class model is a full-covariance mixture).
_SMALL = {"generative_classifier": {"estimator": GaussianMixture(2, covariance_type="diag")}}


def _expected(entry, model, fixture) -> dict:
    out = {}
    if entry.likelihood_kind is not None:
        out["log_prob"] = [float(v) for v in fixture.log_prob(model)]
    if hasattr(model, "encode") and fixture.kind in ("vectors", "images"):
        X = fixture.X("test")[:5]
        if entry.conditional:
            out["encode"] = np.asarray(model.encode(X, fixture.labels("test")[:5])).tolist()
        else:
            out["encode"] = np.asarray(model.encode(X)).tolist()
    return out


def main() -> None:
    HERE.mkdir(exist_ok=True)
    expected = {}
    for entry in list_models():
        model, fixture = fitted_model(entry, **_SMALL.get(entry.name, {}))
        model.save(HERE / f"{entry.name}.safetensors")
        expected[entry.name] = _expected(entry, model, fixture)
    # Two states the registered fixtures do not reach: GMM statistics kept for partial_fit,
    # and a conditional VAE (classes_ and class_log_prior_).
    gmm, fixture = fitted_model(get_entry("gmm"))
    gmm.partial_fit(fixture.X("train")[:50])
    gmm.save(HERE / "gmm_partial_fit.safetensors")
    expected["gmm_partial_fit"] = {"log_prob": [float(v) for v in fixture.log_prob(gmm)]}
    entry = get_entry("vae")
    fixture = Fixture(entry, fixture_data(entry))
    vae = VAE(**{**entry.test_params, "conditional": True})
    vae.fit(fixture.X(), fixture.labels())
    vae.save(HERE / "vae_conditional.safetensors")
    X, y = fixture.X("test"), fixture.labels("test")
    expected["vae_conditional"] = {"log_prob": [float(v) for v in vae.log_prob(X, y)]}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
