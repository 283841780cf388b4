"""Each metric on inputs with a known answer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.evaluation import evalnet, metrics
from tests.conftest import params


def test_total_correlation_of_independent_noise_is_zero():
    rng = np.random.default_rng(0)
    for tc in (metrics.total_correlation_gaussian, metrics.total_correlation_knn):
        assert abs(tc(rng.normal(size=(5000, 5)))) < 0.02, tc.__name__
        assert abs(tc(rng.uniform(size=(5000, 5)))) < 0.02, tc.__name__


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_total_correlation_of_correlated_gaussians_is_analytic(rho):
    z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=5000)
    exact = -0.5 * math.log(1 - rho**2)
    assert metrics.total_correlation_gaussian(z) == pytest.approx(exact, abs=0.02)
    assert metrics.total_correlation_knn(z) == pytest.approx(exact, abs=0.05)


@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_the_knn_estimate_is_unbiased_on_gaussians_to_a_hundredth(rho):
    """Gao et al.'s form (strict neighbour counts, digamma): the mean over 10 draws of 2,500 codes
    is within 0.01 nats of the exact answer (the earlier inclusive counts with log ran ~0.03 low:
    -0.024 at rho 0, 0.118 against 0.1438 at rho 0.5)."""
    rng = np.random.default_rng(1)
    cov = [[1, rho], [rho, 1]]
    mean = np.mean([metrics.total_correlation_knn(rng.multivariate_normal([0, 0], cov, size=2500)) for _ in range(10)])
    assert mean == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.01)


def test_only_the_knn_estimate_sees_nonlinear_dependence():
    u = np.random.default_rng(0).normal(size=5000)
    codes = np.stack([u, u**2], 1)  # uncorrelated, yet u^2 is a function of u
    assert metrics.total_correlation_gaussian(codes) < 0.01
    assert metrics.total_correlation_knn(codes) > 2.0


def test_the_knn_estimate_handles_codes_that_repeat():
    """A deterministic encoder on discrete data (bars) repeats codes exactly; plain KSG then
    diverged (44 nats on bars for every such family). With the ties rule: a binary unit and its
    copy share log 2 nats, a 4-level unit and its parity log 2, independent sparse binary
    units about 0 (biased low by a few tenths of a nat at 16 units)."""
    rng = np.random.default_rng(0)
    bit = (rng.random(2500) < 0.5).astype(float)
    level = rng.integers(0, 4, 2500).astype(float)
    assert metrics.total_correlation_knn(np.stack([bit, bit], 1)) == pytest.approx(math.log(2), abs=0.02)
    assert metrics.total_correlation_knn(np.stack([level, level % 2], 1)) == pytest.approx(math.log(2), abs=0.02)
    bars_factors = (rng.random((2500, 16)) < 1 / 8).astype(float)
    assert abs(metrics.total_correlation_knn(bars_factors)) < 0.5


def test_on_discrete_data_an_injective_code_has_total_correlation_m_minus_1_times_the_entropy():
    """Why the k-NN estimate is left out on discrete data: 8 equiprobable inputs, each coded by
    3 units that each tell all 8 apart, have TC = 2 H = 2 log 8 (the estimate agrees), though
    nothing about the code's structure is measured."""
    rng = np.random.default_rng(0)
    which = rng.integers(0, 8, 2500)
    codes = rng.normal(size=(8, 3))[which]  # every unit injective on the 8 inputs
    assert metrics.total_correlation_knn(codes) == pytest.approx(2 * math.log(8), abs=0.1)


def test_a_dead_unit_is_detected_and_adds_nothing():
    z = np.random.default_rng(0).normal(size=(2000, 3))
    constant = np.concatenate([z, np.full((2000, 1), 0.5)], 1)
    assert metrics.dead_units(constant, scale=1.0).tolist() == [False, False, False, True]
    for tc in (metrics.total_correlation_gaussian, metrics.total_correlation_knn):
        assert tc(constant) == pytest.approx(tc(z), abs=0.01), tc.__name__


def test_a_near_dead_collinear_unit_is_dead_and_would_inflate_the_gaussian_estimate():
    """Finding 5 of issue 7: a tiny unit that is a linear function of another adds nats to the
    scale-invariant Gaussian estimate. It is counted dead, and the code metrics leave it out."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 3))
    tiny = 0.01 * z[:, :1] + 1e-4 * rng.normal(size=(2000, 1))
    codes = np.concatenate([z, tiny], 1)
    dead = metrics.dead_units(codes, scale=1.0)
    assert dead.tolist() == [False, False, False, True]
    assert metrics.total_correlation_gaussian(codes) > 2.0  # the artefact
    assert metrics.total_correlation_gaussian(codes[:, ~dead]) < 0.01  # what the evaluation reports


def test_dead_units_without_a_code_scale_are_relative_to_the_widest_unit():
    z = np.random.default_rng(0).normal(size=(1000, 3)) * np.array([10.0, 5.0, 0.5])
    assert metrics.dead_units(z, scale=None).tolist() == [False, False, True]
    assert metrics.dead_units(np.zeros((100, 4)), scale=0.5).all()  # a collapsed sigmoid code


def test_energy_distance_near_zero_for_same_distribution_and_large_for_different():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1000, 4, generator=gen), torch.randn(1000, 4, generator=gen)
    assert abs(metrics.energy_distance(a, b)) < 0.01
    assert metrics.energy_distance(a, b + 1.0) > 0.3
    assert metrics.energy_distance(a, 0.5 * b) > 0.1  # a code too narrow for the prior


def ring(n: int, modes=range(8), seed: int = 0):
    rng = np.random.default_rng(seed)
    angles = np.arange(8) * 2 * math.pi / 8
    centres = np.stack([np.cos(angles), np.sin(angles)], 1)
    picked = rng.choice(list(modes), n)
    return centres[picked] + 0.01 * rng.normal(size=(n, 2)), centres


def test_mode_metrics_of_true_samples_half_the_modes_and_one_mode():
    true, centres = ring(2500)
    exact = metrics.mode_metrics(true, centres, 0.01)
    assert exact["modes"] == 8
    assert exact["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # P(chi2_2 < 9)
    assert exact["reverse_kl"] < 0.01
    half = metrics.mode_metrics(ring(2500, modes=range(4))[0], centres, 0.01)
    assert half["modes"] == 4 and half["reverse_kl"] == pytest.approx(math.log(2), abs=0.01)
    collapsed = metrics.mode_metrics(np.repeat(centres[:1], 2500, 0), centres, 0.01)
    assert collapsed == {"modes": 1.0, "high_quality": 1.0, "reverse_kl": pytest.approx(math.log(8))}
    far = metrics.mode_metrics(centres[:1] + 10.0 + np.zeros((2500, 2)), centres, 0.01)
    assert far["modes"] == 0 and far["high_quality"] == 0 and math.isnan(far["reverse_kl"])


def test_one_high_quality_sample_captures_a_mode():
    """PacGAN's rule: a mode counts with a single high-quality sample, whatever the sample size."""
    true, centres = ring(2500, modes=range(7))
    lone = np.concatenate([true, centres[7:] + 0.02])  # one sample 2.8 std from the 8th mode
    assert metrics.mode_metrics(true, centres, 0.01)["modes"] == 7
    assert metrics.mode_metrics(lone, centres, 0.01)["modes"] == 8


def test_noise_games_the_mode_counts_but_not_the_likelihood_of_the_samples():
    """Uniform noise over the grid's box 'captures' most modes with a small divergence over its
    few high-quality samples; the samples' likelihood under the true mixture exposes it."""
    rng = np.random.default_rng(0)
    centres = np.array([(a, b) for a in range(-4, 5, 2) for b in range(-4, 5, 2)], float)
    noise = rng.uniform(-5, 5, (2500, 2))
    four = centres[rng.integers(0, 4, 2500)] + 0.05 * rng.normal(size=(2500, 2))
    n, g = metrics.mode_metrics(noise, centres, 0.05), metrics.mode_metrics(four, centres, 0.05)
    assert n["modes"] > g["modes"] and n["reverse_kl"] < g["reverse_kl"]  # the trap
    assert metrics.mixture_log_likelihood(noise, centres, 0.05) < metrics.mixture_log_likelihood(four, centres, 0.05) - 50


def test_likelihood_of_true_samples_is_minus_the_mixture_entropy():
    true, centres = ring(20000)
    entropy = math.log(8) + math.log(2 * math.pi * math.e * 0.01**2)  # modes far apart: log K + a 2-D Gaussian's entropy
    assert metrics.mixture_log_likelihood(true, centres, 0.01) == pytest.approx(-entropy, abs=0.03)


def test_still_improving_reads_the_last_quarter_of_a_curve():
    rising = [(s, 0.1 * s) for s in range(250, 2001, 250)]
    flat = [(s, 5.0) for s in range(250, 2001, 250)]
    assert metrics.still_improving(rising, "higher", (0.05, True))
    assert not metrics.still_improving(flat, "higher", (0.05, True))
    assert metrics.still_improving([(s, 100 - 0.01 * s) for s in range(250, 2001, 250)], "lower", (0.05, True))
    assert not metrics.still_improving(rising[:2], "higher", (0.05, True))  # too few points to tell


@pytest.fixture(scope="module")
def classifier(datasets):
    net, summary = evalnet.train_classifier(datasets["digits"], params().evalnet.model_copy(update={"steps": 300}))
    assert summary["test_accuracy"] > 0.85
    return net


def test_frechet_distance_zero_for_identical_sets_and_grows_with_noise(datasets, classifier):
    x = torch.from_numpy(datasets["digits"].x["test"])
    same = metrics.frechet_distance(x, x.clone(), classifier)
    noisy = metrics.frechet_distance(x, (x + 0.3 * torch.rand_like(x)).clamp(0, 1), classifier)
    noise = metrics.frechet_distance(x, torch.rand_like(x), classifier)
    assert abs(same) < 1e-2
    assert 0.1 < noisy < noise


def test_class_histogram_kl(datasets, classifier):
    ds = datasets["digits"]
    x = torch.from_numpy(ds.x["test"])
    assert metrics.class_histogram_kl(x, classifier, ds.y["test"]) < 0.05
    only_zeros = x[torch.from_numpy(ds.y["test"] == 0)].repeat(10, 1, 1, 1)
    assert metrics.class_histogram_kl(only_zeros, classifier, ds.y["test"]) > 1.0


def test_evalnet_save_load_round_trip(datasets, classifier, tmp_path):
    evalnet.save(classifier, {"dataset": "digits"}, "digits", tmp_path)
    again = evalnet.from_state(evalnet.load_state("digits", tmp_path))
    x = torch.from_numpy(datasets["digits"].x["test"][:10])
    assert torch.equal(again(x), classifier(x))


def test_mig_and_dci_of_an_identity_code_are_one_and_of_noise_near_zero():
    rng = np.random.default_rng(0)
    factors = (rng.random((2000, 6)) < 0.3).astype(float)
    assert metrics.mig(factors, factors) == pytest.approx(1.0, abs=0.01)
    assert metrics.mig(rng.normal(size=(2000, 6)), factors) < 0.02
    perfect = metrics.dci(factors[:, ::-1], factors)  # a permutation is still perfectly disentangled
    assert perfect["dci_disentanglement"] > 0.95 and perfect["dci_completeness"] > 0.95
    assert perfect["dci_informativeness"] > 0.95
    noise = metrics.dci(rng.normal(size=(2000, 6)), factors)
    assert noise["dci_disentanglement"] < 0.2 and noise["dci_informativeness"] < 0.05


def test_amari_distance_is_zero_for_the_true_unmixing_up_to_order_and_scale():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(4, 4))
    assert metrics.amari_distance(np.linalg.inv(mixing), mixing) < 1e-12
    permuted = 3.0 * np.linalg.inv(mixing)[[2, 0, 3, 1]]
    assert metrics.amari_distance(permuted, mixing) < 1e-12
    assert metrics.amari_distance(rng.normal(size=(4, 4)), mixing) > 0.2
    sources = rng.laplace(size=(3000, 4))
    assert metrics.amari_distance(metrics.linear_unmixing(sources @ mixing.T, sources), mixing) < 1e-9


def test_predictability_of_independent_units_is_zero_and_of_a_copy_is_one():
    rng = np.random.default_rng(0)
    assert abs(metrics.predictability_r2(rng.normal(size=(2000, 4)))) < 0.15
    u = rng.normal(size=2000)
    assert metrics.predictability_r2(np.stack([u, u, u], 1)) > 0.99


def test_on_discrete_data_exact_code_values_fool_the_predictor_and_the_forest_but_not_mig():
    """Why predictability R^2 and DCI are n/a on discrete data (the 1992 ensembles, bars): a
    deterministic encoder gives each input pattern one exact code, so the tiny differences
    between the codes of a binary factorial code already tell a fresh predictor every pattern
    (R^2 = 1 for a code that is perfectly factorial), and a collapsed code with one dead unit
    looks perfectly disentangled to DCI's forest. MIG bins the code values (20 equal-width bins,
    as Chen et al. do) and is fooled less."""
    rng = np.random.default_rng(0)
    which = rng.integers(0, 4, 2000)
    bits = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    factorial = (bits + 1e-4 * rng.normal(size=(4, 2)))[which]  # a binary factorial code, as trained nets give
    assert metrics.predictability_r2(factorial) > 0.99  # the artefact: the code is factorial
    assert metrics.mig(factorial, bits[which]) == pytest.approx(1.0, abs=0.01)
    near_binary = np.array([[0.9, 0.8], [0.2, 0.85], [0.88, 0.1], [0.15, 0.2]])[which]  # factorial, not yet binary
    assert metrics.mig(near_binary, bits[which]) > 0.2  # kept distinct values gave 0: each unit told all 4 apart
    # bit 2 only in a dead unit's tiny variation: the forest calls it perfectly disentangled
    dead_carrier = np.stack([bits[which, 0] + 1e-4 * rng.normal(size=2000), 1e-3 * bits[which, 1]], 1)
    assert metrics.dci(dead_carrier, bits[which])["dci_disentanglement"] > 0.95  # the artefact
    assert metrics.mig(dead_carrier, bits[which]) > 0.95  # binning is scale-free: the wiggle counts as the factor
    dead = metrics.dead_units(dead_carrier, scale=0.5)
    assert dead.tolist() == [False, True]
    assert metrics.mig(metrics.dead_as_constant(dead_carrier, dead), bits[which]) == pytest.approx(0.5, abs=0.01)


def test_the_registry_leaves_out_the_exact_value_metrics_on_discrete_data():
    from pipeline.trial.train import train
    from tests.conftest import small, trial

    ds = small("pm92_nonuniform")
    measured = train(trial("pm", ds, steps=20, code_dim=2), ds).metrics
    assert measured["eval/predictability_r2"] is None and measured["eval/dci_disentanglement"] is None
    assert measured["eval/mig"] is not None  # the factors are known here; MIG bins the values


def test_ks_to_the_prior():
    rng = np.random.default_rng(0)
    assert metrics.ks_to_prior(rng.normal(size=(2500, 3)), rng.normal(size=(2500, 3))) < 0.05
    assert metrics.ks_to_prior(rng.normal(size=(2500, 3)) + 1, rng.normal(size=(2500, 3))) > 0.3


def test_probes_clustering_and_nearest_neighbours_with_known_answers():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1000)
    onehot = np.eye(10)[labels]
    assert metrics.clustering_accuracy((labels + 3) % 10, labels) == 1.0  # perfect, whatever the numbering
    assert metrics.clustering_accuracy(rng.integers(0, 10, 1000), labels) < 0.2
    assert metrics.linear_probe_accuracy(onehot, labels, onehot, labels) == 1.0
    assert metrics.nearest_neighbour_accuracy(onehot, labels, onehot, labels) == 1.0  # the training set on itself
    noise = rng.normal(size=(1000, 8))
    assert metrics.nearest_neighbour_accuracy(noise[:500], labels[:500], noise[500:], labels[500:]) < 0.2


def test_pairwise_cosine():
    assert metrics.mean_pairwise_cosine(np.ones((10, 3))) == pytest.approx(1.0)
    assert metrics.mean_pairwise_cosine(np.eye(5)) == pytest.approx(0.0)


def test_the_1992_criterion_and_v_c_on_the_papers_codes():
    """The paper's non-uniform ensemble: code F is factorial (V_C = 2), code B invertible but
    not factorial (V_C = 19/10); a near-binary code passes within 0.05, a fuzzy one does not."""
    probs = np.array([1, 2, 2, 4]) / 9
    code_f = np.array([[1, 1], [0, 1], [1, 0], [0, 0]], float)
    code_b = np.array([[0, 1], [0, 0], [1, 0], [1, 1]], float)
    f, b = metrics.factorial_code_criteria(code_f, probs), metrics.factorial_code_criteria(code_b, probs)
    assert f["success"] == 1 and f["v_c"] == pytest.approx(2.0)
    assert b["success"] == 0 and b["factorial"] == 0 and b["distinct_codes"] == 4 and b["v_c"] == pytest.approx(1.9)
    assert metrics.factorial_code_criteria(np.abs(code_f - 0.04), probs)["binary"] == 1
    assert metrics.factorial_code_criteria(np.abs(code_f - 0.2), probs)["success"] == 0


def test_the_early_generator_gradient_reads_the_first_tenth_of_the_curve():
    curve = [(s, 1.0 if s <= 100 else 50.0) for s in range(10, 1001, 10)]
    assert metrics.early_mean(curve, steps=1000) == pytest.approx(1.0)  # the later, larger norms are left out
    assert metrics.early_mean(curve[20:], steps=1000) is None  # no point in the first tenth: n/a, not 0


def test_parzen_of_samples_from_the_test_density_itself_is_its_log_likelihood():
    """Samples and test points from N(0, s^2 I): the estimate approaches the true mean log-density
    (the kernel's width adds sigma^2 to the variance, which the smallest grid value keeps small)."""
    rng = np.random.default_rng(0)
    s, d = 0.3, 2
    samples, val, test = (torch.from_numpy(rng.normal(0, s, (n, d))) for n in (20000, 1000, 2000))
    out = metrics.parzen_estimate(samples, val, test)
    true = -d / 2 * math.log(2 * math.pi * s**2) - d / 2
    assert out["parzen_sigma"] == pytest.approx(0.1)  # the grid's smallest width: the closest to no smoothing
    assert out["parzen_ll"] == pytest.approx(true, abs=0.05)
    assert out["parzen_se"] == pytest.approx(np.std(metrics.parzen_log_likelihoods(samples, test, 0.1).numpy())
                                             / math.sqrt(2000))


def test_parzen_matches_the_formula_and_punishes_samples_off_the_data():
    rng = np.random.default_rng(1)
    samples, x = rng.random((7, 5)), rng.random((3, 5))
    sigma = 0.4
    d2 = ((x[:, None] - samples[None]) ** 2).sum(2)
    by_hand = (np.log(np.exp(-0.5 * d2 / sigma**2).mean(1)) - 5 * math.log(sigma * math.sqrt(2 * math.pi)))
    ll = metrics.parzen_log_likelihoods(torch.from_numpy(samples), torch.from_numpy(x), sigma).numpy()
    assert np.allclose(ll, by_hand)
    data = torch.from_numpy(rng.random((3000, 16)))
    on = metrics.parzen_estimate(data[:1000], data[1000:2000], data[2000:])["parzen_ll"]
    off = metrics.parzen_estimate(data[:1000] + 2.0, data[1000:2000], data[2000:])["parzen_ll"]
    assert on > off + 10  # samples two units from every image: far less likely
