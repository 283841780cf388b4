"""The tutorial's identities, each checked to a stated tolerance, through the project's losses."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml

from pipeline.evaluation import theory
from pipeline.settings import config
from tests.conftest import ROOT

N01 = theory.Gaussian1D(0.0, 1.0)


def test_trained_discriminator_approaches_the_optimal_one():
    res = theory.optimal_discriminator_1d(N01, theory.Gaussian1D(1.0, 0.7), steps=1500, seed=0)
    assert res["max_error"] < 0.05  # where both densities exceed 5% of their peak


def test_trained_discriminator_in_2d():
    assert theory.optimal_discriminator_2d(steps=4000, seed=0)["max_error"] < 0.15


@pytest.mark.parametrize("p_g", [theory.Gaussian1D(1.0, 0.7), theory.Gaussian1D(0.0, 1.0), theory.Gaussian1D(3.0, 2.0),
                                 theory.Mixture1D((theory.Gaussian1D(-2, 0.5), theory.Gaussian1D(2, 0.5)))])
def test_value_at_the_optimum_is_2jsd_minus_log4(p_g):
    v = theory.value_at_optimum(N01, p_g)
    assert v["value"] == pytest.approx(v["identity"], abs=1e-6)
    assert 0.0 <= v["jsd"] <= math.log(2) + 1e-9


def test_value_limits():
    same = theory.value_at_optimum(N01, N01)
    assert same["jsd"] == pytest.approx(0.0, abs=1e-9) and same["value"] == pytest.approx(-math.log(4), abs=1e-9)
    apart = theory.value_at_optimum(N01, theory.Gaussian1D(20.0, 1.0), lo=-40, hi=60)
    assert apart["jsd"] == pytest.approx(math.log(2), abs=1e-6) and apart["value"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("eta", [0.5, 0.1, 0.01])
def test_simultaneous_gradient_descent_on_xy_spirals_out_by_sqrt_1_plus_eta2(eta):
    path = theory.bilinear_game(eta, 300, simultaneous=True)
    assert theory.radius_growth(path) == pytest.approx(math.sqrt(1 + eta**2), abs=1e-12)
    alternating = theory.bilinear_game(eta, 300, simultaneous=False)
    assert np.linalg.norm(alternating, axis=1).max() < 1 + eta  # area-preserving map: a bounded orbit


def test_small_steps_follow_the_continuous_time_circle():
    drift = []
    for eta in (0.1, 0.01, 0.001):
        steps = int(round(2 * math.pi / eta))
        path = theory.bilinear_game(eta, steps, simultaneous=True)
        t = eta * np.arange(steps + 1)
        drift.append(np.abs(path - np.stack([np.cos(t), np.sin(t)], 1)).max())
    assert drift[0] > drift[1] > drift[2] and drift[2] < 0.01


def test_ml_and_kl_costs_have_the_kl_gradients_at_the_optimal_discriminator():
    g = theory.generator_cost_gradients(N01, g_mean=1.0, g_std=1.2, samples=1_000_000, seed=0)
    for cost, target in (("ml", "kl_data_g"), ("kl", "kl_g_data")):
        measured, analytic = np.array(g[cost]), np.array(g[target])
        assert np.abs(measured - analytic).max() / np.abs(analytic).max() < 0.02, cost


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="eta must be > 0"):
        theory.bilinear_game(0.0, 10, simultaneous=True)
    with pytest.raises(ValueError, match="std > 0"):
        theory.Gaussian1D(0.0, 0.0)


@pytest.mark.parametrize("mutate, key, words", [
    (lambda t: t.update(step_sizes=[0.1, 0.0]), "theory.step_sizes[1]", "must be > 0"),
    (lambda t: t["pairs"][1]["g"].update(std=0.0), "theory.pairs[1].g", "std > 0"),
    (lambda t: t["pairs"][1]["data"]["mixture"][0].update(std=-1.0), "theory.pairs[1].data.mixture[0]", "std > 0"),
    (lambda t: t["pairs"][0].update(model="x"), "theory.pairs[0].model", "unknown key (allowed: data, g)"),
    (lambda t: t["tolerances"].pop("value"), "theory.tolerances.value", "is required"),
    (lambda t: t["tolerances"].update(value="tight"), "theory.tolerances.value", "must be float"),
    (lambda t: t.update(disc_step=10), "theory.disc_step", "unknown key"),
])
def test_bad_theory_params_name_the_key(mutate, key, words):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw = copy.deepcopy(raw)
    mutate(raw["theory"])
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw, "params.yaml")
    assert info.value.key == key and words in str(info.value)
