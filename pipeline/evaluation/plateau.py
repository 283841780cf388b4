"""The patience rule (params.yaml's `convergence`): whether a validation curve had stopped
improving, and the first evaluation at which every curve of a trial had. Training stops there
(`Judge` in pipeline/evaluation/evaluate.py); the report judges its rows by the same rule
(pipeline/studies/convergence.py).

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


@dataclasses.dataclass(frozen=True)
class Rule:
    patience: int  # evaluations without an improvement that make a plateau
    min_change: float  # the least relative gain that counts as an improvement
    earliest: int = 0  # training's grace period: no stop at an evaluation before this step


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


def judged(curves: dict[str, list[tuple[int, float]]]) -> dict[str, list[tuple[int, float]]]:
    """The curves training stops on: every validation metric with a direction that scored a
    number. Every one, not only those some study reads: a training is shared by every study that
    asks for it (pipeline/trial/store.py), so it must have settled on whatever any of them decides on."""
    return {k: c for k, c in curves.items() if k.startswith("val/") and any(math.isfinite(v) for _, v in c)
            and metrics.BETTER.get(k.rsplit("/", 1)[-1]) in ("lower", "higher")}


def all_plateaued(curves: dict[str, list[tuple[int, float]]], rule: Rule) -> bool:
    """Whether every judged curve had plateaued (and there is one to judge)."""
    found = judged(curves)
    return bool(found) and all(plateau_step(c, metrics.BETTER[k.rsplit("/", 1)[-1]], rule, k.rsplit("/", 1)[-1])
                               is not None for k, c in found.items())


def stop_step(curves: dict[str, list[tuple[int, float]]], rule: Rule, steps: list[int]) -> int | None:
    """The first of `steps` (the evaluations at which training asked the rule) at which every
    judged curve, read up to it, had plateaued; None when none did. Steps before the rule's
    `earliest` are never stops."""
    for step in sorted(s for s in steps if s >= rule.earliest):
        if all_plateaued({k: [p for p in c if p[0] <= step] for k, c in curves.items()}, rule):
            return step
    return None
