"""A verdict over training: a study's own rule applied, at every evaluation point of its trials,
to their numbers on the validation split beside the baselines on the same split; and whether the
verdict has settled.

The protocol:
- **Points** are fractions of each trial's own budget, since a study's datasets may train for
  different numbers of steps and be evaluated at different intervals. At fraction f a trial's
  value of a metric is its last validation evaluation at or before f x its steps. The points are
  every fraction at which some trial was evaluated, from the first at which all of them had been.
- **The rule** is the study's `verdict`, on a Table of those values (validation metrics under the
  test split's names) and of the study's baselines computed on the validation split
  (`StudyResults.val_references`). A diverged trial counts as diverged at every point: its
  snapshots are not evaluated. Numbers read off the training losses (`CURVE_METRICS`) are the
  final ones at every point.
- **Settled**: the verdict has not changed over the last half of the budget, that is the
  verdict that holds at the end was already reached at or before f = SETTLED_AFTER. A verdict
  whose rule, at the end, decides on a number that some point lacks (Parzen's log-likelihood is
  scored on the test split only; a baseline missing on validation data) cannot be traced, and is
  not called settled: a rule that finds nothing to compare is constant, not settled.
- A study run under a profile's CPU cap (`reference`, capped) is drawn but not judged: its rule
  weighs published numbers, "not comparable yet" at any point of a capped run.
- The report's verdict is the test split's. The trajectory's last point is the validation
  split's, at the same weights; where the two differ the report says so.
"""
from __future__ import annotations

import dataclasses
import math

from pipeline.evaluation.metrics import CURVE_METRICS

from .base import Read, Study, Table, Verdict, reading

SETTLED_AFTER = 0.5  # a verdict is settled when it has not changed over the last half of the budget
TOLERANCE = 1e-9  # fractions are compared with this slack (2000 / 8 and 2500 / 5 are exact; 1000 / 3 is not)


@dataclasses.dataclass
class Point:
    fraction: float  # of each trial's budget
    verdict: Verdict
    table: Table
    untraced: list[str]  # the numbers the rule read that this point lacks (present at the end, on test data)


@dataclasses.dataclass
class Trajectory:
    points: list[Point]
    reads: set[Read]  # every number the rule read, at any point
    capped: bool = False  # run under a profile's CPU cap: its verdict weighs published numbers it cannot reach

    @property
    def outcomes(self) -> list[tuple[float, str]]:
        return [(p.fraction, p.verdict.outcome) for p in self.points]

    @property
    def untraced(self) -> list[str]:
        return sorted({u for p in self.points for u in p.untraced})

    def settled_from(self) -> float | None:
        """The fraction of the budget from which the verdict has not changed, when that is at or
        before SETTLED_AFTER; None when it changed in the last half, cannot be traced, or is capped."""
        if self.untraced or self.capped:
            return None
        return settled_from(self.outcomes)


def settled_from(outcomes: list[tuple[float, str]], after: float = SETTLED_AFTER) -> float | None:
    """The first fraction of the last run of equal outcomes, if it starts at or before `after`;
    None if the outcome changed after it (or nothing was evaluated before it)."""
    if not outcomes:
        return None
    final = outcomes[-1][1]
    since = outcomes[-1][0]
    for fraction, outcome in reversed(outcomes):
        if outcome != final:
            break
        since = fraction
    return since if since <= after + TOLERANCE else None


def _value_at(curve: list[tuple[int, float]], step: float) -> float | None:
    """The curve's last value at or before `step`."""
    found = None
    for s, v in curve:
        if s <= step + TOLERANCE:
            found = v
    return found


def fractions(results: list) -> list[float]:
    """Every fraction of its budget at which some completed trial was evaluated on validation
    data, from the first at which every completed trial had been."""
    per_trial = []
    for r in results:
        if r.outcome != "completed":
            continue
        steps = {s for key, curve in r.curves.items() if key.startswith("val/") for s, _ in curve}
        if steps:
            per_trial.append(sorted(s / r.trial.train.steps for s in steps))
    if not per_trial:
        return []
    start = max(points[0] for points in per_trial)
    return sorted({round(f, 9) for points in per_trial for f in points if f >= start - TOLERANCE})


def at_fraction(results: list, fraction: float) -> list:
    """Each trial as it stood at `fraction` of its budget: its validation metrics then, under the
    test split's names ('val/prior/frechet' -> 'eval/prior/frechet'); its test-split metrics
    dropped; speed, size and the numbers read off its training losses (`CURVE_METRICS`: a
    generator's gradient early in training) kept as they are."""
    out = []
    for r in results:
        metrics = {k: v for k, v in r.metrics.items()
                   if not k.startswith(("eval/", "val/")) or k.removeprefix("eval/") in CURVE_METRICS}
        if r.outcome == "completed":
            step = fraction * r.trial.train.steps
            for key, curve in r.curves.items():
                if key.startswith("val/") and (value := _value_at(curve, step)) is not None:
                    metrics["eval/" + key[len("val/"):]] = value
        out.append(r.model_copy(update={"metrics": metrics}))
    return out


def _has(table: Table, read: Read) -> bool:
    dataset, model, variant, baseline, metric = read
    row = table.baseline(dataset, model) if baseline else table.row(dataset, model, variant)
    # an undefined value (NaN: a reverse KL with no high-quality sample) is a number the point has
    return row is not None and bool(row.values.get(metric) or row.undefined.get(metric))


def trace(study: Study, results: list, val_references: dict, final: Table) -> Trajectory:
    """`study`'s verdict at every point of `results` (already selected on validation data, as the
    report's table is); `final` is the report's table, on the test split, which says what numbers
    the rule can read at all."""
    with reading() as decisive:  # what the rule reads at the end, on the test split
        study.verdict(final)
    decisive = {r for r in decisive if _has(final, r)}
    points, reads = [], set()
    for fraction in fractions(results):
        table = Table(at_fraction(results, fraction), val_references)
        table.provenance = final.provenance
        with reading() as read:
            verdict = study.verdict(table)
        reads |= read
        # A number the rule decides on at the end that this point lacks (a metric of the test
        # split only, a baseline not computed on validation data): not the same rule here.
        untraced = sorted(f"{r[0]}/{r[1]}: {r[4]}" for r in decisive if not _has(table, r))
        points.append(Point(fraction, verdict, table, untraced))
    return Trajectory(points, reads, capped=bool(final.provenance.get("cap")))


def describe(trajectory: Trajectory, final: Verdict, budgets: dict[str, int]) -> str:
    """One paragraph for the study's page: settled or not, from where, and the verdict at each point."""
    if not trajectory.points:
        return ("**Over training.** Not traced: its trials were not evaluated before the end of training "
                "(`eval_every` 0), so nothing says whether the verdict had settled.")
    budget = ", ".join(f"{d} {s:,}" for d, s in sorted(budgets.items()))
    path = "; ".join(f"{_percent(f)}: {o}" for f, o in trajectory.outcomes)
    if trajectory.capped:
        head = ("**Over training: not judged.** The run is capped (the `reference` profile's CPU cap): its verdict "
                "weighs published numbers that only the papers' budgets can reach, so it is \"not comparable yet\" at "
                "any point of a capped run. The figure shows how far the capped runs got.")
    elif trajectory.untraced:
        head = ("**Over training: not traced.** The rule decides on numbers that the validation split lacks ("
                + ", ".join(trajectory.untraced[:4]) + ("…" if len(trajectory.untraced) > 4 else "")
                + "; a metric scored on the test split only, or a baseline not computed on validation data), so its "
                "verdict on validation data is not the same rule.")
    elif (since := trajectory.settled_from()) is not None:
        head = (f"**Over training: settled** from {_percent(since)} of the budget: the verdict on validation data "
                f"has not changed since.")
    else:
        last_change = _last_change(trajectory.outcomes)
        head = (f"**Over training: not settled.** The verdict on validation data changed at {_percent(last_change)} "
                f"of the budget, within its last half: a longer budget may move it again.")
    end = trajectory.outcomes[-1][1]
    differs = (f" At the end it is **{end}** on validation data, **{final.outcome}** on test data."
               if end != final.outcome else "")
    return f"{head}{differs} Verdict at each point (fraction of each trial's steps: {budget}): {path}."


def cell(trajectory: Trajectory) -> str:
    """The index's short form: settled from where, or why not."""
    if not trajectory.points:
        return "not traced (not evaluated before the end)"
    if trajectory.capped:
        return "not judged (a capped run)"
    if trajectory.untraced:
        return "not traced (decides on numbers validation data lack)"
    since = trajectory.settled_from()
    if since is not None:
        return f"settled from {_percent(since)}"
    return f"**not settled** (changed at {_percent(_last_change(trajectory.outcomes))})"


def _last_change(outcomes: list[tuple[float, str]]) -> float:
    for (_, before), (fraction, after) in zip(reversed(outcomes[:-1]), reversed(outcomes[1:])):
        if before != after:
            return fraction
    return outcomes[0][0]


def _percent(fraction: float) -> str:
    value = 100 * fraction
    return f"{value:.0f}%" if math.isclose(value, round(value)) else f"{value:.1f}%"
