"""A verdict over training (pipeline/studies/trajectory.py): the settling rule on constructed
outcome sequences, and the real `factorial` rule traced over constructed validation curves: a
verdict that flips late is unsettled, one reached early is settled from there, and one whose
numbers are missing on validation data is not traced at all."""
from __future__ import annotations

import pytest

from pipeline.studies import STUDIES, Table
from pipeline.studies import trajectory as tr
from pipeline.studies.base import Verdict, reading
from pipeline.studies.summary import index_page
from pipeline.trial.results import TrialResult
from tests.conftest import small, trial

STEPS = 2000
PCA = {"ica": {"PCA (4 components)": {"total_correlation_knn": 0.5}}}


def traced(model: str, seed: int, tc: list[float], steps: int = STEPS, dataset: str = "ica") -> TrialResult:
    """A completed trial whose validation total correlation at each point is `tc`; its test-split
    number is the last one (as a final evaluation on other examples of the same weights would be)."""
    cfg = trial(model, small(dataset), seed=seed, steps=steps)
    points = [steps * (i + 1) // len(tc) for i in range(len(tc))]
    return TrialResult(trial=cfg, outcome="completed", steps=steps, curves={"val/total_correlation_knn": list(zip(points, tc))},
                       metrics={"eval/total_correlation_knn": tc[-1], "val/total_correlation_knn": tc[-1]})


def study_trials(pm_and_aae: list[float]) -> list[TrialResult]:
    """The factorial study on ica: the autoencoder control at 1.1 throughout, PM and the AAE on the
    given validation curve (three seeds each, a little apart)."""
    out = []
    for seed in range(3):
        out.append(traced("ae", seed, [1.1 + 0.01 * seed] * len(pm_and_aae)))
        for model in ("pm", "aae"):
            out.append(traced(model, seed, [v + 0.01 * seed for v in pm_and_aae]))
    return out


@pytest.mark.parametrize("outcomes, expected", [
    ([(0.25, "inconclusive"), (0.5, "holds"), (0.75, "holds"), (1.0, "holds")], 0.5),  # reached at half: settled
    ([(0.25, "holds"), (0.5, "holds"), (0.75, "holds"), (1.0, "inconclusive")], None),  # flipped at the end
    ([(0.25, "holds"), (0.5, "inconclusive"), (0.75, "holds"), (1.0, "holds")], None),  # flipped back late
    ([(0.2, "inconclusive"), (0.4, "inconclusive"), (1.0, "inconclusive")], 0.2),  # never changed
    ([(0.4, "holds"), (0.6, "inconclusive"), (1.0, "inconclusive")], None),  # 0.4's verdict held until 0.6
    ([(1.0, "holds")], None),  # nothing evaluated before the end: no evidence
    ([], None),
])
def test_settled_means_unchanged_over_the_last_half_of_the_budget(outcomes, expected):
    assert tr.settled_from(outcomes) == expected


def test_a_verdict_that_flips_late_is_reported_unsettled():
    study, results = STUDIES["factorial"], study_trials([0.2, 0.2, 0.2, 2.0])  # better than the control until 75%
    final = Table(results, PCA)
    assert study.verdict(final).outcome == "does not hold"
    trajectory = tr.trace(study, results, PCA, final)
    assert trajectory.outcomes == [(0.25, "holds"), (0.5, "holds"), (0.75, "holds"), (1.0, "does not hold")]
    assert trajectory.settled_from() is None
    text = tr.describe(trajectory, study.verdict(final), {"ica": STEPS})
    assert "not settled" in text and "changed at 100%" in text
    assert "**not settled**" in index_page({"factorial": study.verdict(final)}, over_training={"factorial": trajectory})
    assert "0 of 1 trained studies' verdicts are settled" in index_page({}, over_training={"factorial": trajectory})
    # an analytic study trains nothing, so no budget moves its verdict: counted beside the trained ones, not among them
    page = index_page({"theory": Verdict("holds", ["exact"])}, over_training={"factorial": trajectory})
    assert "0 of 1 trained studies' verdicts are settled" in page
    assert "Counting `theory`, exact and trained on nothing, 1 of the talk's 2 verdicts are settled." in page


def test_a_verdict_reached_early_is_settled_from_there():
    study, results = STUDIES["factorial"], study_trials([2.0, 0.2, 0.25, 0.2])
    trajectory = tr.trace(study, results, PCA, Table(results, PCA))
    assert [o for _, o in trajectory.outcomes] == ["does not hold", "holds", "holds", "holds"]
    assert trajectory.settled_from() == 0.5
    assert "settled** from 50% of the budget" in tr.describe(trajectory, study.verdict(Table(results, PCA)), {"ica": STEPS})
    assert tr.cell(trajectory) == "settled from 50%"


def test_a_rule_whose_numbers_validation_data_lack_is_not_traced():
    """Without the baseline on validation data the rule finds nothing to compare PM's code with:
    a constant verdict, which must not pass for a settled one."""
    study, results = STUDIES["factorial"], study_trials([0.2, 0.2, 0.2, 0.2])
    trajectory = tr.trace(study, results, {}, Table(results, PCA))
    assert trajectory.untraced == ["ica/PCA (4 components): total_correlation_knn"]
    assert trajectory.settled_from() is None and tr.cell(trajectory).startswith("not traced")


def test_points_are_fractions_of_each_trials_own_budget():
    """ring8 trains 2,500 steps evaluated every 500, ica 2,000 every 500: the points are every
    fraction either was evaluated at, from the first at which both had been; each trial's value
    at a point is its last evaluation at or before it."""
    ring = traced("ae", 0, [5.0, 4.0, 3.0, 2.0, 1.0], steps=2500, dataset="ring8")  # 20%, 40%, ... 100%
    ica = traced("ae", 0, [8.0, 7.0, 6.0, 5.0])  # 25%, 50%, 75%, 100%
    assert tr.fractions([ring, ica]) == [0.25, 0.4, 0.5, 0.6, 0.75, 0.8, 1.0]
    at = {r.trial.dataset: r.metrics for r in tr.at_fraction([ring, ica], 0.6)}
    assert at["ring8"]["eval/total_correlation_knn"] == 3.0 and at["ica"]["eval/total_correlation_knn"] == 7.0
    assert "val/total_correlation_knn" not in at["ica"]


def test_reading_records_every_number_a_rule_reads():
    results = study_trials([0.2, 0.2, 0.2, 0.2])
    with reading() as reads:
        STUDIES["factorial"].verdict(Table(results, PCA))
    assert ("ica", "pm", "default", False, "total_correlation_knn") in reads
    assert ("ica", "PCA (4 components)", "default", True, "total_correlation_knn") in reads
    assert all(not r[3] or r[1].startswith("PCA") for r in reads)


def test_an_undefined_value_at_a_point_is_a_number_the_point_has():
    """A reverse KL with no high-quality sample is NaN at that point: undefined, counted apart by the
    table, not missing; the rule is still the same rule there."""
    results = study_trials([0.2, 0.2, 0.2, 0.2])
    for r in results:
        if r.trial.model == "pm":
            r.curves["val/total_correlation_knn"][0] = (500, float("nan"))
    trajectory = tr.trace(STUDIES["factorial"], results, PCA, Table(results, PCA))
    assert trajectory.untraced == [] and trajectory.points[0].table.row("ica", "pm").undefined == {"total_correlation_knn": 3}


def test_a_capped_run_is_drawn_but_not_judged():
    """Under the reference profile's CPU cap the published numbers are "not comparable yet" at every
    point: a constant verdict that must not pass for a settled one."""
    study, results = STUDIES["factorial"], study_trials([0.2, 0.2, 0.2, 0.2])
    final = Table(results, PCA)
    assert tr.trace(study, results, PCA, final).settled_from() == 0.25
    final.provenance = {"profile": "reference", "cap": {"seeds": 3, "steps": 2000}}
    trajectory = tr.trace(study, results, PCA, final)
    assert trajectory.capped and trajectory.settled_from() is None and len(trajectory.points) == 4
    assert tr.cell(trajectory) == "not judged (a capped run)"
    assert "not judged" in tr.describe(trajectory, study.verdict(final), {"ica": STEPS})
