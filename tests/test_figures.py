"""The report's comparison figures: every model's samples of a dataset side by side, with real
test images as the first panel on image data (a toy's data are drawn under every panel)."""
from __future__ import annotations

import numpy as np

from pipeline.data import datasets as data
from pipeline.reporting import report
from pipeline.trial.train import train
from tests.conftest import trial


def test_an_image_dataset_s_samples_are_shown_beside_real_test_images(datasets, tmp_path):
    digits = data.make_digits(0, 0.1, 0.2)
    data.save(digits, tmp_path / "data")
    data.save(datasets["ring8"], tmp_path / "data")
    (panel,) = report._real_images("digits", tmp_path / "data")
    assert panel[0] == "data (test images)"
    np.testing.assert_array_equal(panel[1], digits.x["test"][:36])  # the real images, as the samples are drawn
    assert report._real_images("ring8", tmp_path / "data") == []  # a toy's data lie under its samples instead

    result = train(trial("ae", digits, steps=20), digits)
    rows = report.study_figures("generation", [result], tmp_path / "figures", tmp_path / "data", every_curve=False)
    (heading, (figure,)) = rows[0]
    assert heading == "digits: samples of every model" and figure.name == "comparison-digits.png"
    assert figure.stat().st_size > 10_000
