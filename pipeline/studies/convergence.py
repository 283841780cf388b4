"""Whether a row had stopped improving on the numbers its study decides on: the patience rule of
params.yaml's `convergence`, applied to each seed's validation curve of every metric the study's
rule read for that row (pipeline/studies/trajectory.py records which).

The rule is early stopping's (Keras's `EarlyStopping`, Ray Tune's plateau stoppers): an
evaluation *improves* on a curve when it beats the best value so far by at least `min_change`
of that value (relative; a count such as the modes held by at least one, the registry's own
`change`). A curve has *plateaued* at the step of its last improvement when the `patience`
evaluations after it bring none; it was *still improving* when its last improvement lies within
its last `patience` evaluations: it had not shown that it stopped, and its number is a lower bound.
"""
from __future__ import annotations

import dataclasses
import math

from pipeline.evaluation import metrics

from .base import Read


@dataclasses.dataclass(frozen=True)
class Rule:
    patience: int  # evaluations without an improvement that make a plateau
    min_change: float  # the least relative gain that counts as an improvement


def _margin(name: str, best: float, rule: Rule) -> float:
    least, relative = next((g.change[name] for g in metrics.METRICS if name in g.change), (rule.min_change, True))
    return least * abs(best) if relative else least


def plateau_step(curve: list[tuple[int, float]], better: str, rule: Rule, name: str = "") -> int | None:
    """The step of the curve's last improvement when `rule.patience` evaluations followed it with
    none; None while it was still improving (or has too few evaluations to tell). Undefined
    values (NaN) are no improvement."""
    if better not in ("lower", "higher"):
        return None
    best, best_step, since = None, None, 0
    for step, value in curve:
        if not math.isfinite(value):
            since += 1
            continue
        gain = (best - value if better == "lower" else value - best) if best is not None else math.inf
        if best is None or gain >= _margin(name, best, rule) and gain > 0:
            best, best_step, since = value, step, 0
        else:
            since += 1
    return best_step if best_step is not None and since >= rule.patience else None


@dataclasses.dataclass
class RowConvergence:
    """One row's seeds on the metrics its study decided on: which had plateaued, and by when."""

    label: str  # 'digits/pm[lam=0.3]'
    seeds: int
    plateaued: int  # seeds whose every deciding curve had plateaued
    last_plateau: int | None  # the latest plateau step over those seeds and curves
    improving: dict[str, int]  # metric -> seeds still improving on it
    steps: int  # the budget


def rows(results: list, reads: set[Read], rule: Rule) -> list[RowConvergence]:
    """For every trained row the rule read, each completed seed judged on the validation curves of
    the metrics read for it (those with a direction; curves the trial lacks are skipped)."""
    wanted: dict[tuple[str, str, str], set[str]] = {}
    for dataset, model, variant, baseline, metric in reads:
        if not baseline and metrics.BETTER.get(metric.split("/")[-1]) in ("lower", "higher"):
            wanted.setdefault((dataset, model, variant), set()).add(metric)
    out = []
    for (dataset, model, variant), names in sorted(wanted.items()):
        seeds = [r for r in results if (r.trial.dataset, r.trial.model, r.variant) == (dataset, model, variant)
                 and r.outcome == "completed"]
        if not seeds or not any(r.curves.get(f"val/{n}") for r in seeds for n in names):
            continue  # no validation curve of what it decides on (Parzen's, test split only): nothing to judge
        improving: dict[str, int] = {}
        plateaued, last = 0, None
        for r in seeds:
            steps = {name: plateau_step(curve, metrics.BETTER[short], rule, short)
                     for name in sorted(names) if (curve := r.curves.get(f"val/{name}"))
                     for short in [name.rsplit("/", 1)[-1]]}
            for name, step in steps.items():
                if step is None:
                    improving[name] = improving.get(name, 0) + 1
            if steps and None not in steps.values():  # every curve it is judged on had plateaued
                plateaued += 1
                last = max(last or 0, *steps.values())
        label = f"{dataset}/{model}" + ("" if variant == "default" else f"[{variant}]")
        out.append(RowConvergence(label, len(seeds), plateaued, last, improving, max(r.trial.train.steps for r in seeds)))
    return out


def describe(found: list[RowConvergence], rule: Rule) -> list[str]:
    """The study page's lines: how many rows had plateaued on the numbers the verdict reads, and
    each row still improving with the metrics it was improving on."""
    if not found:
        return []
    still = [c for c in found if c.improving]
    head = (f"**Convergence** (on the numbers the verdict reads; patience {rule.patience} evaluations, least gain "
            f"{rule.min_change:.0%}: params.yaml `convergence`): {len(found) - len(still)} of {len(found)} rows had "
            "plateaued in every seed")
    if not still:
        latest = max((c.last_plateau or 0) for c in found)
        return [head + f", the last by step {latest:,}.", ""]
    items = [f"{c.label} ({', '.join(f'{m} in {n} of {c.seeds}' for m, n in sorted(c.improving.items()))}; "
             f"{c.steps:,} steps)" for c in still]
    return [head + ". Still improving at their last evaluation, so their numbers are lower bounds: "
            + "; ".join(items) + ".", ""]
