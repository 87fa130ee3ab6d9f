"""Known answers for GaussianMixture: scipy densities, scikit-learn's EM, recovered parameters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.model_selection import GridSearchCV

from genzoo import GaussianMixture
from genzoo.mixture._gaussian import COVARIANCE_TYPES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TRUE_MEANS = np.array([[0.0, 0.0, 0.0], [8.0, 8.0, 0.0], [-8.0, 8.0, 4.0]])
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_COVS = np.array(
    [
        [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.5]],
        [[2.0, 0.0, 0.3], [0.0, 0.5, 0.0], [0.3, 0.0, 1.0]],
        [[0.6, -0.2, 0.0], [-0.2, 0.6, 0.0], [0.0, 0.0, 1.5]],
    ]
)


def draw_mixture(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    chol = np.linalg.cholesky(TRUE_COVS)
    X = TRUE_MEANS[labels] + np.einsum("nij,nj->ni", chol[labels], rng.normal(size=(n, 3)))
    return X, labels


def _match_components(estimated_means):
    """Order of the fitted components that lines them up with TRUE_MEANS."""
    d = ((estimated_means[:, None] - TRUE_MEANS[None]) ** 2).sum(-1)
    return d.argmin(0)


def test_recovers_parameters_of_a_well_separated_mixture():
    X, _ = draw_mixture(6000)
    gmm = GaussianMixture(3, random_state=0).fit(X)
    order = _match_components(gmm.means_)
    assert sorted(order) == [0, 1, 2]
    n_k = 6000 * TRUE_WEIGHTS
    # tolerances: a few standard errors of each estimate
    np.testing.assert_allclose(gmm.weights_[order], TRUE_WEIGHTS, atol=4 * np.sqrt(0.25 / 6000))
    for k in range(3):
        se_mean = np.sqrt(np.diag(TRUE_COVS[k]) / n_k[k])
        np.testing.assert_allclose(gmm.means_[order[k]], TRUE_MEANS[k], atol=5 * se_mean.max())
        se_cov = np.sqrt(2 / n_k[k]) * np.diag(TRUE_COVS[k]).max()
        np.testing.assert_allclose(gmm.covariances_[order[k]], TRUE_COVS[k], atol=5 * se_cov)
    assert gmm.converged_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_prob_equals_scipy_density(covariance_type):
    X, _ = draw_mixture(500, seed=1)
    gmm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    c = gmm.covariances_
    if covariance_type == "full":
        covs = c
    elif covariance_type == "tied":
        covs = np.repeat(c[None], 3, axis=0)
    elif covariance_type == "diag":
        covs = np.stack([np.diag(v) for v in c])
    else:
        covs = np.stack([v * np.eye(3) for v in c])
    per_component = np.stack(
        [
            multivariate_normal(gmm.means_[k], covs[k]).logpdf(X) + np.log(gmm.weights_[k])
            for k in range(3)
        ],
        axis=1,
    )
    expected = logsumexp(per_component, axis=1)
    np.testing.assert_allclose(gmm.log_prob(X), expected, rtol=1e-8, atol=1e-8)
    posterior = np.exp(per_component - expected[:, None])
    np.testing.assert_allclose(gmm.predict_proba(X), posterior, atol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_equals_scikit_learn_from_the_same_start(covariance_type):
    X, _ = draw_mixture(800, seed=2)
    start = GaussianMixture(3, covariance_type=covariance_type, max_iter=1, random_state=0)
    start.fit(X)
    init = {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }
    ours = GaussianMixture(3, covariance_type=covariance_type, max_iter=15, tol=0, **init)
    theirs = SklearnGaussianMixture(3, covariance_type=covariance_type, max_iter=15, tol=0, **init)
    ours.fit(X)
    theirs.fit(X)
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-10)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_allclose(
            getattr(ours, name), getattr(theirs, name), rtol=1e-7, atol=1e-9, err_msg=name
        )
    np.testing.assert_allclose(ours.log_prob(X), theirs.score_samples(X), rtol=1e-9)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-9)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-9)


def test_bic_picks_the_true_number_of_components():
    X, _ = draw_mixture(1500, seed=3)
    bics = {k: GaussianMixture(k, random_state=0, n_init=2).fit(X).bic(X) for k in range(1, 7)}
    assert min(bics, key=bics.get) == 3


def test_grid_search_over_n_components_with_default_score():
    X, _ = draw_mixture(600, seed=4)
    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2, 3]}, cv=3)
    search.fit(X)
    assert search.best_params_["n_components"] == 3
    assert np.isfinite(search.best_score_)


def test_sampled_labels_follow_the_components():
    X, _ = draw_mixture(3000, seed=5)
    gmm = GaussianMixture(3, random_state=0).fit(X)
    samples, labels = gmm.sample(4000, random_state=0, return_labels=True)
    assert samples.shape == (4000, 3) and labels.shape == (4000,)
    assert (gmm.predict(samples) == labels).mean() > 0.99
    counts = np.bincount(labels, minlength=3) / 4000
    np.testing.assert_allclose(counts, gmm.weights_, atol=4 * np.sqrt(0.25 / 4000))
    for k in range(3):
        chosen = samples[labels == k]
        np.testing.assert_allclose(chosen.mean(0), gmm.means_[k], atol=0.15)
        np.testing.assert_allclose(np.cov(chosen.T), gmm.covariances_[k], atol=0.25)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunked_fit_equals_the_fit_in_memory(covariance_type):
    X, _ = draw_mixture(900, seed=6)
    kwargs = {"covariance_type": covariance_type, "random_state": 0, "max_iter": 20, "tol": 0}
    in_memory = GaussianMixture(3, **kwargs).fit(X)
    chunked = GaussianMixture(3, **kwargs).fit([X[:300], X[300:650], X[650:]])
    batched = GaussianMixture(3, batch_size=128, **kwargs).fit(X)
    for other in (chunked, batched):
        np.testing.assert_allclose(other.means_, in_memory.means_, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(other.covariances_, in_memory.covariances_, rtol=1e-9)
        assert other.lower_bound_ == pytest.approx(in_memory.lower_bound_, rel=1e-12)


def test_chunks_from_a_re_iterable_reader_and_one_shot_refusal():
    X, _ = draw_mixture(600, seed=7)

    class Reader:  # what a user's on-disk reader looks like: a fresh pass per iter()
        def __iter__(self):
            return (X[i : i + 200] for i in range(0, 600, 200))

    fitted = GaussianMixture(3, random_state=0).fit(Reader())
    assert fitted.n_features_in_ == 3
    with pytest.raises(ValueError, match="one-shot"):
        GaussianMixture(3).fit(X[i : i + 200] for i in range(0, 600, 200))
    with pytest.raises(ValueError, match="features"):
        GaussianMixture(3).fit([X[:300], X[300:, :2]])


def test_partial_fit_on_a_stream_approaches_the_batch_fit():
    X, _ = draw_mixture(6000, seed=8)
    X_test, _ = draw_mixture(2000, seed=9)
    online = GaussianMixture(3, random_state=0)
    for start in range(0, 6000, 200):
        online.partial_fit(X[start : start + 200])
    batch = GaussianMixture(3, random_state=0).fit(X)
    assert online.n_iter_ == 30
    assert online.score(X_test) > batch.score(X_test) - 0.02
    np.testing.assert_allclose(np.sort(online.means_[:, 0]), np.sort(batch.means_[:, 0]), atol=0.15)


def test_partial_fit_after_fit_keeps_the_solution():
    X, _ = draw_mixture(3000, seed=10)
    gmm = GaussianMixture(3, random_state=0).fit(X)
    before = gmm.score(X)
    gmm.partial_fit(X[:500])
    assert gmm.score(X) > before - 0.01
    with pytest.raises(ValueError, match="features"):
        gmm.partial_fit(X[:, :2])


def test_warm_start_continues_from_the_current_solution():
    X, _ = draw_mixture(1000, seed=11)
    few = GaussianMixture(3, max_iter=2, tol=0, random_state=0, warm_start=True).fit(X)
    first_bound = few.lower_bound_
    few.fit(X)
    assert few.lower_bound_ >= first_bound - 1e-12
    cold = GaussianMixture(3, max_iter=4, tol=0, random_state=0).fit(X)
    assert few.lower_bound_ == pytest.approx(cold.lower_bounds_[3], rel=1e-10)


def test_lower_bound_never_decreases():
    X, _ = draw_mixture(1000, seed=12)
    for covariance_type in COVARIANCE_TYPES:
        gmm = GaussianMixture(
            3,
            covariance_type=covariance_type,
            max_iter=30,
            tol=0,
            init_params="random",
            random_state=1,
        ).fit(X)
        assert np.all(np.diff(gmm.lower_bounds_) >= -1e-10)


def test_float32_on_request():
    X, _ = draw_mixture(800, seed=13)
    f32 = GaussianMixture(3, dtype="float32", random_state=0).fit(X)
    f64 = GaussianMixture(3, random_state=0).fit(X)
    assert f32.means_.dtype == np.float32
    assert f32.sample(4).dtype == np.float32
    assert f32.score(X) == pytest.approx(f64.score(X), rel=1e-4)


def test_collapsed_component_gives_a_clear_error():
    X = np.vstack([np.zeros((20, 2)), np.ones((20, 2))])
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)
    fitted = GaussianMixture(2, random_state=0).fit(X)  # the default reg_covar guards it
    assert np.isfinite(fitted.score(X))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_components": 0}, "n_components"),
        ({"covariance_type": "banana"}, "covariance_type"),
        ({"reg_covar": -1.0}, "reg_covar"),
        ({"init_params": "magic"}, "init_params"),
        ({"max_iter": 0}, "max_iter"),
        ({"dtype": "float16"}, "dtype"),
        ({"device": "quantum"}, "device"),
        ({"means_init": np.zeros((2, 3))}, "means_init"),
        ({"weights_init": np.array([0.5, 0.6, -0.1])}, "weights_init"),
        ({"precisions_init": -np.ones((3, 3, 3))}, "precisions_init"),
    ],
)
def test_bad_parameters_are_named(params, message):
    X, _ = draw_mixture(100, seed=15)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**{"n_components": 3, **params}).fit(X)


def test_convergence_warning():
    X, _ = draw_mixture(300, seed=16)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        GaussianMixture(3, max_iter=1, tol=0, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianMixture(3, random_state=0).fit(X)


def test_n_init_keeps_its_own_best_initialisation(monkeypatch):
    import genzoo.training.em as em_module  # the restarts run through best_em_run there

    X, _ = draw_mixture(600, seed=14)
    bounds = []
    real_run_em = em_module.run_em

    def recording_run_em(*args, **kwargs):
        result = real_run_em(*args, **kwargs)
        bounds.append(result.lower_bound)
        return result

    monkeypatch.setattr(em_module, "run_em", recording_run_em)
    model = GaussianMixture(3, init_params="random_from_data", n_init=4, random_state=0).fit(X)
    assert len(bounds) == 4 and len(set(bounds)) > 1
    assert model.lower_bound_ == max(bounds)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_online_statistics_of_parameters_give_them_back(covariance_type):
    import torch

    from genzoo.mixture._gaussian import params_from_sums, stats_centre, stats_from_params

    X, _ = draw_mixture(500, seed=17)
    reg = 0.3  # large, so subtracting it from the wrong entries would show
    model = GaussianMixture(3, covariance_type=covariance_type, reg_covar=reg, random_state=0)
    params = model.fit(X)._params()
    centre = stats_centre(params, covariance_type) + torch.tensor([1.0, -2.0, 0.5])
    stats = stats_from_params(params, centre, reg, covariance_type)
    back = params_from_sums(stats, centre, params["shift"], reg, covariance_type)
    for key in ("weights", "means", "covariances"):
        torch.testing.assert_close(back[key], params[key], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_seeding_ignores_row_order_and_batch_size(init_params):
    X, labels = draw_mixture(1200, seed=18)
    X = X[np.argsort(labels, kind="stable")]  # sorted by component: the worst case for seeding
    reference = GaussianMixture(3, init_params=init_params, random_state=0).fit(X)
    small = GaussianMixture(3, init_params=init_params, batch_size=100, random_state=0).fit(X)
    chunked = GaussianMixture(3, init_params=init_params, random_state=0).fit(
        [X[:200], X[200:900], X[900:]]
    )
    for other in (small, chunked):
        np.testing.assert_allclose(other.means_, reference.means_, rtol=1e-9, atol=1e-9)
    assert sorted(_match_components(reference.means_)) == [0, 1, 2]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_apart_narrow_clusters_stay_accurate(dtype, covariance_type):
    """Clusters 1e4 (float64) or 300 (float32) apart with spread 0.01 or 0.1."""
    sep, std = (1e4, 0.01) if dtype == "float64" else (300.0, 0.1)
    rng = np.random.default_rng(19)
    centres = np.array([[0.0, 0.0], [sep, 0.0], [0.0, sep]])
    X = centres[rng.integers(0, 3, 900)] + std * rng.normal(size=(900, 2))
    gmm = GaussianMixture(3, covariance_type=covariance_type, dtype=dtype, random_state=0).fit(X)
    variances = np.asarray(gmm.covariances_, dtype=np.float64)
    if covariance_type == "full":
        variances = np.diagonal(variances, axis1=1, axis2=2)
    elif covariance_type == "tied":
        variances = np.diag(variances)
    np.testing.assert_allclose(variances, std**2, rtol=0.2)
    expected = logsumexp(
        np.stack(
            [
                multivariate_normal(gmm.means_[k].astype(np.float64), _full_cov(gmm, k)).logpdf(X)
                + np.log(gmm.weights_[k])
                for k in range(3)
            ],
            axis=1,
        ),
        axis=1,
    )
    atol = 1e-7 if dtype == "float64" else 2e-3
    np.testing.assert_allclose(gmm.log_prob(X), expected, atol=atol)


def _full_cov(gmm, k):
    c = np.asarray(gmm.covariances_, dtype=np.float64)
    d = gmm.n_features_in_
    return {
        "full": lambda: c[k],
        "tied": lambda: c,
        "diag": lambda: np.diag(c[k]),
        "spherical": lambda: c[k] * np.eye(d),
    }[gmm.covariance_type]()


def test_continuing_a_fit_after_changing_its_shape_is_refused():
    X, _ = draw_mixture(400, seed=20)
    gmm = GaussianMixture(3, warm_start=True, random_state=0).fit(X)
    gmm.set_params(n_components=4)
    with pytest.raises(ValueError, match="n_components"):
        gmm.fit(X)
    with pytest.raises(ValueError, match="n_components"):
        gmm.partial_fit(X)
    gmm.set_params(n_components=3, covariance_type="diag")
    with pytest.raises(ValueError, match="covariance_type"):
        gmm.partial_fit(X)


def test_unavailable_device_and_unfitted_criteria():
    import torch
    from sklearn.exceptions import NotFittedError

    X, _ = draw_mixture(100, seed=21)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            GaussianMixture(2, device="cuda").fit(X)
    with pytest.raises(NotFittedError):
        GaussianMixture(2).bic(X)
    with pytest.raises(ValueError, match="precisions_init"):
        GaussianMixture(
            3, precisions_init=np.tile(np.array([[1.0, 5.0, 0], [0, 1, 0], [0, 0, 1]]), (3, 1, 1))
        ).fit(X)
    with pytest.raises(ValueError, match="learning_offset"):
        GaussianMixture(2, learning_offset=0.0).partial_fit(X)


# --- the one-product E-step and M-step against the direct formulas


def _random_params(covariance_type, d=3, K=4, seed=22):
    import torch

    from genzoo.mixture._gaussian import make_params, precision_cholesky

    rng = np.random.default_rng(seed)
    A = rng.normal(size=(K, d, d))
    full = A @ A.transpose(0, 2, 1) + np.eye(d)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        "spherical": np.diagonal(full, axis1=1, axis2=2).mean(1),
    }[covariance_type]
    cov = torch.tensor(cov)
    weights = torch.tensor(rng.dirichlet(np.ones(K)))
    means = torch.tensor(rng.normal(scale=2.0, size=(K, d)))
    prec_chol = precision_cholesky(cov, covariance_type)
    shift = torch.tensor(rng.normal(size=d))
    return make_params(weights, means, cov, prec_chol, covariance_type, shift=shift)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_product_log_densities_equal_the_centred_form(covariance_type):
    import torch

    from genzoo.mixture._gaussian import shifted_batch, weighted_log_prob

    params = _random_params(covariance_type)
    assert not params["centred"] and params["expanded"] is not None
    X = torch.tensor(np.random.default_rng(23).normal(scale=3.0, size=(50, 3)))
    batch = shifted_batch(X, params["shift"], covariance_type)
    expanded = weighted_log_prob(batch, params, covariance_type)
    centred = weighted_log_prob(batch, params | {"centred": True}, covariance_type)
    torch.testing.assert_close(expanded, centred, rtol=1e-12, atol=1e-10)
    assert expanded.shape == (4, 50)  # components first


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_product_statistics_equal_the_weighted_sums(covariance_type):
    import torch

    from genzoo.mixture._gaussian import centred_sums, gaussian_sums, shifted_batch

    rng = np.random.default_rng(24)
    X = torch.tensor(rng.normal(size=(40, 3)))
    resp = torch.softmax(torch.tensor(rng.normal(size=(4, 40))), dim=0)
    shift = X.mean(0)
    ours = gaussian_sums(shifted_batch(X, shift, covariance_type), resp, covariance_type)
    direct = centred_sums((X - shift).expand(4, -1, -1), resp, covariance_type)
    for key in ("nk", "sx", "sxx"):
        torch.testing.assert_close(ours[key], direct[key], rtol=1e-12, atol=1e-12)


def test_responsibilities_equal_softmax_and_logsumexp():
    import torch

    from genzoo.mixture._gaussian import responsibilities

    weighted = torch.tensor(np.random.default_rng(25).normal(scale=30.0, size=(5, 200)))
    resp, log_norm = responsibilities(weighted.clone())
    torch.testing.assert_close(resp, torch.softmax(weighted, dim=0), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(log_norm, torch.logsumexp(weighted, dim=0), rtol=1e-14, atol=0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hard_assignment_start_equals_sums_about_every_centre(covariance_type):
    import torch

    from genzoo.mixture._gaussian import centred_sums, gaussian_sums, nearest, shifted_batch

    rng = np.random.default_rng(26)
    X = torch.tensor(rng.normal(size=(60, 3)))
    centres = X[:4].clone()
    labels = nearest(X, centres)
    resp = torch.nn.functional.one_hot(labels, 4).to(X.dtype).T
    own = shifted_batch(X - centres[labels], 0.0, covariance_type)
    ours = gaussian_sums(own, resp, covariance_type)
    direct = centred_sums(X[None] - centres[:, None], resp, covariance_type)
    for key in ("nk", "sx", "sxx"):
        torch.testing.assert_close(ours[key], direct[key], rtol=1e-12, atol=1e-12)


def test_non_finite_parameters_are_refused_by_name():
    import torch

    from genzoo.mixture._gaussian import make_params

    params = _random_params("diag")
    means = params["means"].clone()
    means[0, 0] = float("nan")
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        make_params(
            params["weights"],
            means,
            params["covariances"],
            params["precisions_cholesky"],
            "diag",
            shift=params["shift"],
        )
    assert torch.isfinite(params["expanded"]).all()


def test_fits_leave_the_users_tf32_setting_as_it_was():
    import torch

    matmul = torch.backends.cuda.matmul
    if not hasattr(matmul, "fp32_precision"):
        pytest.skip("this torch has only allow_tf32")
    saved = matmul.fp32_precision
    matmul.fp32_precision = "tf32"
    try:
        X, _ = draw_mixture(200, seed=27)
        GaussianMixture(3, random_state=0).fit(X).predict(X)
        assert matmul.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision = saved
