"""The patience rule (pipeline/studies/convergence.py) on constructed validation curves: a plateau,
a curve still rising, a noisy flat one, and a row judged on exactly the numbers its verdict reads."""
from __future__ import annotations

import math

import numpy as np

from pipeline.studies import STUDIES, Table
from pipeline.studies import convergence as conv
from pipeline.studies.base import reading
from tests.test_trajectory import PCA, study_trials

RULE = conv.Rule(patience=3, min_change=0.05)
STEPS = [250 * (i + 1) for i in range(8)]  # the quick profile's 8 evaluations of 2,000 steps


def curve(values) -> list[tuple[int, float]]:
    return list(zip(STEPS, values))


def test_a_curve_that_levelled_off_has_plateaued_where_it_last_improved():
    assert conv.plateau_step(curve([9, 5, 3, 2.0, 1.99, 2.01, 1.98, 2.0]), "lower", RULE) == 1000
    assert conv.plateau_step(curve([0.1, 0.5, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8]), "higher", RULE) == 1000


def test_a_curve_still_rising_at_its_end_has_not_plateaued():
    assert conv.plateau_step(curve([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]), "higher", RULE) is None
    # improved within the last `patience` evaluations: not shown to have stopped
    assert conv.plateau_step(curve([9, 5, 3, 3, 3, 3, 3, 2.5]), "lower", RULE) is None
    assert conv.plateau_step(curve([9, 5, 3, 3, 2.5, 2.5, 2.5, 2.5]), "lower", RULE) == 1250  # then 3 flat


def test_a_noisy_flat_curve_has_plateaued_when_its_noise_stays_under_the_least_gain():
    rng = np.random.default_rng(0)
    noisy = 10 + rng.uniform(-0.2, 0.2, 8)  # within 2% of its level: no gain reaches 5%
    assert conv.plateau_step(curve(noisy), "lower", RULE) == 250
    loud = [10, 7, 10.5, 6, 11, 4.5, 9, 3]  # swings of 30% that keep reaching new lows: not flat
    assert conv.plateau_step(curve(loud), "lower", RULE) is None


def test_undefined_values_and_counts_follow_the_registry():
    nan = math.nan
    assert conv.plateau_step(curve([nan, nan, 1.0, 1.0, nan, 1.0, 1.0, 1.0]), "lower", RULE, "reverse_kl") == 750
    # modes count: the registry's least change is one mode, absolute
    assert conv.plateau_step(curve([3, 5, 6, 6, 6, 6, 6, 6]), "higher", RULE, "modes") == 750
    assert conv.plateau_step(curve([1, 2, 3]), "none", RULE) is None  # a diagnostic has no direction


def test_a_row_is_judged_on_the_numbers_its_verdict_reads():
    results = study_trials([2.0, 0.4, 0.2, 0.1])  # PM and the AAE: still improving at the end
    with reading() as reads:
        STUDIES["factorial"].verdict(Table(results, PCA))
    found = {c.label: c for c in conv.rows(results, reads, conv.Rule(patience=2, min_change=0.05))}
    assert set(found) == {"ica/ae", "ica/pm", "ica/aae"}  # the PCA baseline is read too, but is no trained row
    assert found["ica/pm"].improving == {"total_correlation_knn": 3} and found["ica/pm"].plateaued == 0
    assert found["ica/ae"].improving == {} and found["ica/ae"].plateaued == 3 and found["ica/ae"].last_plateau == 500
    lines = conv.describe(list(found.values()), conv.Rule(patience=2, min_change=0.05))
    assert "1 of 3 rows had plateaued" in lines[2] and "ica/pm (total_correlation_knn in 3 of 3" in lines[2]
    # how each row's training ended: these trials trained to their maximum (none was stopped)
    assert "in 0 of 9 seeds" in lines[0] and "ica/pm 2,000 of 2,000 steps (0 of 3 stopped)" in lines[0]
