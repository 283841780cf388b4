"""A study's verdict over training, drawn: the figure of pipeline/studies/trajectory.py's
trajectory (the verdict at each point, then every number the rule read with its 95% interval
over seeds and the validation baselines beside it)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from pipeline.files import figures
from pipeline.studies.base import Row
from pipeline.studies.trajectory import SETTLED_AFTER, Trajectory

MAX_PANELS = 11  # with the verdict's panel, three rows of four


def _interval(values: list[float], fixed: bool) -> tuple[float, float, float]:
    """Mean and two-sided 95% t-interval of the mean (no band for one value or a fixed baseline)."""
    if not values:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(values))
    if fixed or len(values) < 2:
        return mean, mean, mean
    half = scipy_stats.t.ppf(0.975, len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


# Numbers a rule may read to describe, never to decide (prior's "steps/s, not tested"): they move
# with the machine and its load, not with training, and a figure of them would change at each run.
MACHINE_TIMINGS = ("steps_per_s",)


def panels(trajectory: Trajectory) -> list[tuple[str, list[figures.Series]]]:
    """One panel per dataset and metric the rule read (samplers of one metric share a panel):
    the trained rows' series, then the baselines' (dashed)."""
    grouped: dict[tuple[str, str], list[tuple[str, str, str, bool, str]]] = {}
    for read in sorted(trajectory.reads, key=lambda r: (r[0], r[4].split("/")[-1], r[3], r[1], r[2], r[4])):
        dataset, _, _, _, metric = read
        grouped.setdefault((dataset, metric.split("/")[-1]), []).append(read)
    out = []
    xs = [p.fraction for p in trajectory.points]
    for (dataset, metric), reads in grouped.items():
        if metric in MACHINE_TIMINGS:
            continue
        series = []
        for d, model, variant, baseline, full in reads:
            rows: list[Row | None] = [p.table.baseline(d, model) if baseline else p.table.row(d, model, variant)
                                      for p in trajectory.points]
            stats = [_interval(r.get(full), r.fixed) if r is not None else (math.nan,) * 3 for r in rows]
            if all(math.isnan(m) for m, _, _ in stats):
                continue  # a number the rule asked for that no row has (a family without that metric)
            label = model + ("" if variant == "default" else f"[{variant}]") + (f" ({full.split('/')[0]})" if "/" in full else "")
            series.append((label, xs, *[list(v) for v in zip(*stats)], baseline))
        if any(not s[5] for s in series):
            out.append((f"{dataset}: {metric}", series))
    return out[:MAX_PANELS]


def draw(trajectory: Trajectory, study: str, path: Path) -> Path | None:
    """reports/figures/<study>/over-training.png, or None when there is nothing to draw."""
    if not trajectory.points:
        return None
    title = (f"{study}: the verdict and the numbers it reads, on validation data over training (mean and 95% "
             f"interval over seeds; dashed: baselines on validation data; dotted: half the budget)")
    figures.save(figures.trajectory_figure(trajectory.outcomes, panels(trajectory), title, SETTLED_AFTER), path)
    return path
