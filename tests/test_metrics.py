"""Each metric on inputs with a known answer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline import evalnet, metrics
from tests.conftest import params


def test_total_correlation_of_independent_noise_is_zero():
    rng = np.random.default_rng(0)
    assert metrics.total_correlation_gaussian(rng.normal(size=(50_000, 5))) < 1e-3
    assert metrics.total_correlation_gaussian(rng.uniform(size=(50_000, 5))) < 1e-3


def test_total_correlation_of_correlated_pair_is_analytic():
    rho = 0.9
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=200_000)
    assert metrics.total_correlation_gaussian(z) == pytest.approx(-0.5 * math.log(1 - rho**2), rel=0.02)


def test_total_correlation_survives_a_dead_unit():
    z = np.random.default_rng(0).normal(size=(1000, 3))
    z[:, 1] = 0.5  # constant unit: finite, not inf or nan
    assert math.isfinite(metrics.total_correlation_gaussian(z))


def test_mmd_near_zero_for_same_distribution_and_large_for_different():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1000, 4, generator=gen), torch.randn(1000, 4, generator=gen)
    assert abs(metrics.mmd(a, b)) < 0.01
    assert metrics.mmd(a, b + 1.0) > 0.1


def test_mode_metrics_on_data_and_on_a_collapsed_generator(datasets):
    ds = datasets["ring8"]
    centres, std = np.array(ds.meta["centres"]), ds.meta["std"]
    exact = metrics.mode_metrics(ds.x["train"][:2500], centres, std, min_count=20)
    assert exact["modes"] == 8
    assert exact["high_quality"] > 0.98  # 3 std holds ~98.9% of a 2-D Gaussian
    assert exact["reverse_kl"] < 0.01

    collapsed = np.repeat(centres[:1], 2500, axis=0)
    one = metrics.mode_metrics(collapsed, centres, std, min_count=20)
    assert one == {"modes": 1.0, "high_quality": 1.0, "reverse_kl": pytest.approx(math.log(8))}

    far = metrics.mode_metrics(collapsed + 10.0, centres, std, min_count=20)
    assert far["modes"] == 0 and far["high_quality"] == 0 and math.isnan(far["reverse_kl"])


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
