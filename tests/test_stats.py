"""The studies' one comparison procedure (pipeline/studies/stats.py): its false-positive rate
and power measured by simulation, its three outcomes, and the rows it reads (sample standard
deviations, undefined seeds counted apart)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.studies import stats
from pipeline.studies.base import Row

SIMULATIONS = 4000
MONTE_CARLO = 3 * math.sqrt(stats.ALPHA * (1 - stats.ALPHA) / SIMULATIONS)  # three standard errors of a rate near ALPHA


def rate(rng, n: int, shift: float, fixed: bool = False) -> float:
    """Share of simulated studies where the one-sided test calls a better than b significant."""
    hits = 0
    for _ in range(SIMULATIONS):
        b = 0.0 if fixed else rng.normal(size=n)
        hits += stats.welch(rng.normal(size=n) + shift, b, "higher")[3] < stats.ALPHA
    return hits / SIMULATIONS


@pytest.mark.parametrize("n", [3, 5, 10])
def test_with_no_difference_the_test_fires_at_most_alpha_of_the_time(n):
    """The stated error rate: at most 5% (Welch is slightly conservative at 3 seeds: ~3.6%)."""
    rng = np.random.default_rng(n)
    assert rate(rng, n, 0.0) <= stats.ALPHA + MONTE_CARLO
    assert abs(rate(rng, n, 0.0, fixed=True) - stats.ALPHA) <= MONTE_CARLO  # one-sample t: exact


def test_power_against_one_standard_deviation_grows_with_the_seeds():
    """What a row of n seeds can detect: a one-sd difference is found ~22% of the time at 3 seeds,
    ~70% at 10 (normal data); the report states each test's detectable effect for this reason."""
    rng = np.random.default_rng(1)
    powers = [rate(rng, n, 1.0) for n in (3, 10)]
    assert 0.15 < powers[0] < 0.3 and 0.6 < powers[1] < 0.8


def row(name: str, values: list[float], fixed: bool = False, undefined: int = 0) -> Row:
    return Row("d", name, "default", len(values) + undefined, 0, 0, {"m": values}, undefined={"m": undefined} if undefined else {},
               baseline=fixed, fixed=fixed)


def test_three_outcomes_and_never_a_refutation_from_a_failed_test():
    strong, weak, control = row("a", [1.0, 1.1, 0.9]), row("a", [0.55, 0.3, 0.8]), row("b", [0.5, 0.4, 0.6])
    assert stats.compare(strong, control, "m", "higher").part().outcome() == "holds"
    assert stats.compare(weak, control, "m", "higher").part().outcome() == "inconclusive"
    assert stats.compare(control, strong, "m", "higher").part().outcome() == "does not hold"  # reversed
    assert stats.compare(strong, control, "m", "lower").part().outcome() == "does not hold"


def test_a_comparison_states_its_effect_interval_and_what_it_could_detect():
    c = stats.compare(row("a", [1.0, 1.1, 0.9]), row("b", [0.5, 0.4, 0.6]), "m", "higher")
    assert c.effect == pytest.approx(0.5) and c.low < 0.5 < c.high and c.low > 0
    assert 0 < c.detectable < 0.5  # found, and with room
    assert "effect +0.5 in the claimed direction" in c.sentence() and "95% CI" in c.sentence() and "detectable" in c.sentence()
    lower = stats.compare(row("b", [0.5, 0.4, 0.6]), row("a", [1.0, 1.1, 0.9]), "m", "lower")
    assert lower.effect == pytest.approx(0.5) and lower.p_support == pytest.approx(c.p_support)


def test_a_fixed_reference_is_a_one_sample_test_and_rows_without_two_values_prove_nothing():
    pixels = row("pixels", [0.9], fixed=True)
    c = stats.compare(row("a", [0.95, 0.96, 0.94]), pixels, "m", "higher")
    assert c.n_b == 0 and c.p_support < 0.05 and "fixed" in c.sentence()
    one = stats.compare(row("a", [0.99]), row("b", [0.1, 0.2, 0.15]), "m", "higher")
    assert one.part().outcome() == "inconclusive" and one.p_support == 1.0


def test_the_conjunction_holds_only_when_every_part_holds_and_refutes_at_alpha_over_k():
    holds, open_, reversed_ = stats.Part("h", 0.01, 0.99), stats.Part("i", 0.3, 0.7), stats.Part("r", 0.99, 0.001)
    assert stats.conclude([holds, holds]) == "holds"
    assert stats.conclude([holds, open_]) == "inconclusive"
    assert stats.conclude([holds, reversed_]) == "does not hold"
    borderline = stats.Part("b", 0.97, 0.03)  # reversed at 5% alone, not at 5% / 2
    assert stats.conclude([borderline]) == "does not hold" and stats.conclude([holds, borderline]) == "inconclusive"
    assert stats.conclude([]) == "inconclusive"


def test_non_inferiority_within_a_margin():
    ref = row("ref", [1.0, 1.02, 0.98])
    assert stats.no_worse(row("a", [1.05, 1.06, 1.04]), ref, "m", "lower", 0.25).outcome() == "holds"
    assert stats.no_worse(row("a", [2.0, 2.1, 1.9]), ref, "m", "lower", 0.25).outcome() == "does not hold"
    assert stats.no_worse(row("a", [0.9, 1.6, 1.2]), ref, "m", "lower", 0.25).outcome() == "inconclusive"


def test_a_share_of_successes_against_a_published_rate():
    assert stats.binomial(9, 10, 0.8, 0.3, "x").outcome() == "holds"
    assert stats.binomial(1, 10, 0.8, 0.3, "x").outcome() == "does not hold"
    assert stats.binomial(6, 10, 0.8, 0.3, "x").outcome() == "inconclusive"


def test_rows_use_the_sample_std_and_count_undefined_seeds_apart():
    r = row("a", [1.0, 2.0, 3.0], undefined=1)
    assert r.std("m") == pytest.approx(1.0)  # ddof 1 (ddof 0 would be 0.816)
    assert r.fmt("m") == "2.000 ± 1.000 (n=3 of 4)"
    assert math.isnan(row("a", [1.0]).std("m")) and row("p", [0.9], fixed=True).std("m") == 0.0


def test_an_exact_quantity_holds_or_is_reversed_with_certainty():
    assert stats.exact(38.0, 94.0, "lower", "flops").outcome() == "holds"
    assert stats.exact(94.0, 38.0, "lower", "flops").outcome() == "does not hold"
    assert stats.exact(38.0, 38.0, "lower", "flops").outcome() == "inconclusive"
    assert stats.exact(float("nan"), 38.0, "lower", "flops").outcome() == "inconclusive"
