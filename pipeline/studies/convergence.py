"""Whether a row had stopped improving on the numbers its study decides on: the patience rule of
params.yaml's `convergence` (pipeline/evaluation/plateau.py), applied to each seed's validation
curve of every metric the study's rule read for that row (pipeline/studies/trajectory.py records
which), and whether its training stopped there or ran to its maximum.
"""
from __future__ import annotations

import dataclasses

from pipeline.evaluation import metrics
from pipeline.evaluation.plateau import Rule, plateau_step

from .base import Read

__all__ = ["Rule", "plateau_step", "rows", "describe"]


@dataclasses.dataclass
class RowConvergence:
    """One row's seeds on the metrics its study decided on: which had plateaued, and by when."""

    label: str  # 'digits/pm[lam=0.3]'
    seeds: int
    plateaued: int  # seeds whose every deciding curve had plateaued
    last_plateau: int | None  # the latest plateau step over those seeds and curves
    improving: dict[str, int]  # metric -> seeds still improving on it
    steps: int  # the budget: the most steps a seed may train
    used: tuple[int, int] = (0, 0)  # the fewest and the most steps its seeds trained
    stopped: int = 0  # seeds whose training stopped by the rule before the budget's last step


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
        used = [r.steps for r in seeds]
        out.append(RowConvergence(label, len(seeds), plateaued, last, improving, max(r.trial.train.steps for r in seeds),
                                  (min(used), max(used)), sum(bool(r.metrics.get("train/plateaued")) for r in seeds)))
    return out


def describe(found: list[RowConvergence], rule: Rule) -> list[str]:
    """The study page's lines: how many rows had plateaued on the numbers the verdict reads, and
    each row still improving with the metrics it was improving on."""
    if not found:
        return []
    return _stopping(found) + _plateaus(found, rule)


def _steps(row: RowConvergence) -> str:
    low, high = row.used
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _stopping(found: list[RowConvergence]) -> list[str]:
    """How each row's training ended: stopped by the rule (on every validation metric, params.yaml
    `convergence.stop_training`) or at its budget's maximum."""
    seeds, stopped = sum(c.seeds for c in found), sum(c.stopped for c in found)
    rows = "; ".join(f"{c.label} {_steps(c)} of {c.steps:,} steps ({c.stopped} of {c.seeds} stopped)" for c in found)
    return [f"**Training** stopped at a plateau of every validation metric in {stopped} of {seeds} seeds; the others "
            f"trained to their maximum. Steps used: {rows}.", ""]


def _plateaus(found: list[RowConvergence], rule: Rule) -> list[str]:
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
