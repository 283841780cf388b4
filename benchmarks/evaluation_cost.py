"""Where a cold run's evaluation time goes: trained trials taken from a full trial store (a cold
`make repro` leaves every quick-profile training there), evaluated again exactly as the sweep
evaluates them (`pipeline.evaluation.evaluate.assess`), with each metric group and each sampler
timed on each split. Training time comes from each checkpoint's own steps per second, as the run
that trained it measured them: beside other trials there, so it can be slower than alone.

    PM2GAN_TRIAL_STORE=/path/to/store python benchmarks/evaluation_cost.py [--studies factorial generation]
                                                                            [--per-study 4]

It reads this project's data/ and evalnets/ (what `dvc repro` made) and params.yaml's default
profile. For each study, the first seed of up to `--per-study` distinct (model, dataset) rows it
trains. What it answers (issue 20, "fewer redundant evaluations"): how much of a trial's time is
evaluation, and how much of that is the validation snapshots, metric by metric, against the
final test-split evaluation the tables read.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipeline.data import places  # noqa: E402
from pipeline.evaluation import evaluate as evaluation  # noqa: E402
from pipeline.evaluation import metrics  # noqa: E402
from pipeline.evaluation import samplers  # noqa: E402
from pipeline.evaluation.evalnet import from_state, load_state  # noqa: E402
from pipeline.settings import config  # noqa: E402
from pipeline.settings.trials import expand  # noqa: E402
from pipeline.studies import STUDIES  # noqa: E402
from pipeline.training.fit import load_trained  # noqa: E402
from pipeline.trial.store import TrialStore  # noqa: E402

# (what, split) -> seconds, filled by the timed wrappers below while `assess` runs
SPENT: dict[tuple[str, str], float] = defaultdict(float)


def timed_metrics() -> tuple[metrics.Metric, ...]:
    """The metric registry with each group's compute timed under its first name and the probe's split."""
    def wrap(group: metrics.Metric):
        def compute(probe, *args):
            started = time.perf_counter()
            try:
                return group.compute(probe, *args)
            finally:
                SPENT[(group.names[0], probe.split)] += time.perf_counter() - started
        return dataclasses.replace(group, compute=compute)
    return tuple(wrap(g) for g in metrics.METRICS)


def timed_samplers() -> dict:
    """The samplers, timed as 'sampler:<name>' (they draw for either split and are not told which:
    charged to 'either')."""
    def wrap(name, draw):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return draw(*args, **kwargs)
            finally:
                SPENT[(f"sampler:{name}", "either")] += time.perf_counter() - started
        return timed
    return {name: wrap(name, draw) for name, draw in samplers.SAMPLERS.items()}


def rows_of(cfg: config.Config, study: str, per_study: int) -> list:
    """The first trial of each of the study's first `per_study` rows: (dataset, model, variant), the
    report's row (pipeline/reporting/report.py, _first_seeds)."""
    first: dict[tuple[str, str, str], object] = {}
    for trial in expand(cfg, study):
        first.setdefault((trial.dataset, trial.model, trial.variant_label), trial)
    return list(first.values())[:per_study]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="*", help="default: every trained study of the default profile")
    parser.add_argument("--per-study", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as a trial runs: one CPU each (resources.cpus_per_trial)
    cfg = config.load(ROOT / "params.yaml")
    studies = args.studies or [s for s, study in STUDIES.items() if study.kind != "analytic"
                               and cfg.profile_of(s)[0] == cfg.profile_name]
    store = TrialStore()
    metrics.METRICS = timed_metrics()  # evaluate.py reads the registry from the module at each call
    samplers.SAMPLERS.update(timed_samplers())
    totals = {"train": 0.0, "assess": 0.0, "val snapshots": 0}
    print(f"trial store {store.root}; profile {cfg.profile_name}; one thread")
    print(f"{'study':10} {'row':34} {'steps':>6} {'train s':>8} {'assess s':>9} {'val evals':>9}")
    for study in studies:
        datasets, classifiers = {}, {}
        for trial in rows_of(cfg, study, args.per_study):
            if trial.dataset not in datasets:
                datasets[trial.dataset] = places.load(trial.dataset)
                state = load_state(trial.dataset, places.evalnet_folder(trial.dataset))
                classifiers[trial.dataset] = from_state(state, "cpu") if state else None
            ds = datasets[trial.dataset]
            checkpoint = store.checkpoint(store.key(trial, ds.meta.get("version", "")))
            if checkpoint is None:
                print(f"{study:10} {trial.run_name:34} not in the store: skipped")
                continue
            trained = load_trained(checkpoint)
            started = time.perf_counter()
            evaluation.assess(trained, ds, trial.train.eval_samples, trial.seed, classifiers[trial.dataset])
            took = time.perf_counter() - started
            training = trained.steps / trained.steps_per_s if trained.steps_per_s else float("nan")
            totals["train"] += training
            totals["assess"] += took
            totals["val snapshots"] += len(trained.snapshots)
            print(f"{study:10} {trial.run_name:34} {trained.steps:6d} {training:8.1f} {took:9.1f} "
                  f"{len(trained.snapshots) + 1:9d}", flush=True)
    timed = sum(SPENT.values())
    print(f"\nall rows: training {totals['train']:.0f} s (the checkpoints' steps/s), evaluation "
          f"{totals['assess']:.0f} s ({totals['assess'] / max(totals['train'] + totals['assess'], 1e-9):.0%} of both); "
          f"{totals['val snapshots']} validation snapshots besides the final model's test and validation evaluations")
    by_split = defaultdict(float)
    for (_, split), seconds in SPENT.items():
        by_split[split] += seconds
    print("evaluation by split: " + ", ".join(f"{split} {s:.0f} s ({s / timed:.0%})" for split, s in sorted(by_split.items())))
    splits = ("val", "test", "either")
    print(f"\n{'metric group (first name) or sampler':40}" + "".join(f"{split + ' s':>9}" for split in splits) + f"{'share':>7}")
    groups = sorted({what for what, _ in SPENT}, key=lambda w: -sum(s for (x, _), s in SPENT.items() if x == w))
    for what in groups:
        spent = [SPENT.get((what, split), 0.0) for split in splits]
        print(f"{what:40}" + "".join(f"{s:9.1f}" for s in spent) + f"{sum(spent) / timed:7.0%}")
    print(f"{'(timed in groups and samplers)':40} {timed:.1f} of {totals['assess']:.1f} s of evaluation")


if __name__ == "__main__":
    main()
