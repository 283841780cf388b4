"""The trivial baselines (pipeline/evaluation/baselines.py) on their known answers: what noise, a circle,
PCA, a random projection, real images and a Gaussian fit score under the trials' protocol."""
from __future__ import annotations

import types

import numpy as np
import pytest

from pipeline.evaluation import baselines, evalnet
from tests.conftest import small


def test_noise_over_grid25s_box_holds_most_modes_with_almost_no_high_quality_samples(datasets):
    """The issue's measurement: uniform noise holds ~21 of 25 modes, ~2% of its samples within 3 std."""
    noise = baselines.toy_noise(datasets["grid25"], 2500)["uniform noise over the box"]
    assert len(noise["prior/modes"]) == baselines.DRAWS
    assert 18 <= np.mean(noise["prior/modes"]) <= 25 and np.mean(noise["prior/high_quality"]) < 0.05
    assert "uniform on the ring's circle" not in baselines.toy_noise(datasets["grid25"], 500, draws=2)


def test_points_on_the_rings_circle_hold_all_eight_modes(datasets):
    circle = baselines.toy_noise(datasets["ring8"], 2500, draws=3)["uniform on the ring's circle"]
    assert circle["prior/modes"] == [8.0, 8.0, 8.0]
    # the share of a circle within 3 std of a mode: 8 arcs of half-width 3 std over the circumference
    meta = datasets["ring8"].meta
    radius = float(np.linalg.norm(meta["centres"][0]))
    expected = 8 * 2 * np.arcsin(3 * meta["std"] / radius) / (2 * np.pi)
    assert np.mean(circle["prior/high_quality"]) == pytest.approx(expected, abs=0.02)


def test_pca_codes_are_uncorrelated_and_a_random_projection_is_not_pca(datasets):
    ds = datasets["digits"]
    out = baselines.code_baselines(ds, 8, draws=2)
    pca, projection = out["PCA (8 components)"], out["random projection (8 units)"]
    assert pca["total_correlation"] < 0.2  # decorrelated by construction (fit on train, read on test)
    assert np.mean(projection["total_correlation"]) > pca["total_correlation"]
    assert pca["knn_accuracy"] > 0.8 and len(projection["knn_accuracy"]) == 2
    assert 0.1 < np.mean(projection["knn_accuracy"]) < pca["knn_accuracy"]


def test_real_images_are_the_frechet_floor_and_a_gaussian_fit_sits_above_it(tmp_path):
    ds = small("digits")
    net, summary = evalnet.train_classifier(ds, types.SimpleNamespace(seed=0, hidden=64, lr=1e-3, steps=300,
                                                                      batch_size=64))
    evalnet.save(net, summary, "digits", tmp_path)  # as the evalnet stage stores it, read back as the study does
    out = baselines.image_baselines(ds, evalnet.load_state("digits", tmp_path), 500, draws=2)
    floor, fit = out["real training images"], out["Gaussian fit to the pixels"]
    assert len(fit["prior/frechet"]) == 2
    assert np.mean(floor["prior/frechet"]) < np.mean(fit["prior/frechet"])
    assert np.mean(floor["prior/class_kl"]) < np.mean(fit["prior/class_kl"]) + 0.05


def test_baselines_on_the_validation_split_are_computed_on_its_examples(datasets):
    """held_out_as puts the validation split where the test split was: the very code that scores the
    test split then scores the validation one (its examples, labels and factors), and nothing else moves."""
    ds = datasets["digits"]
    val = baselines.held_out_as(ds, "val")
    assert val.x["test"] is ds.x["val"] and val.y["test"] is ds.y["val"] and val.x["train"] is ds.x["train"]
    assert ds.x["test"] is not ds.x["val"]  # the dataset itself is untouched
    on_val = baselines.code_baselines(val, 8)["PCA (8 components)"]
    on_test = baselines.code_baselines(ds, 8)["PCA (8 components)"]
    assert on_val["knn_accuracy"] != on_test["knn_accuracy"]
    ica = baselines.held_out_as(datasets["ica"], "val")
    assert ica.factors["test"] is datasets["ica"].factors["val"]
