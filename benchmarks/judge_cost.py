"""What stopping by the patience rule costs and saves, one trial at a time: each trial trained
twice from the same seed, alone in this process, once with the `Judge` that stops it
(params.yaml `convergence`) and once to its budget's last step without one; the seconds of each,
the judge's own seconds, and the steps each trained.

    python benchmarks/judge_cost.py [--trial parzen:fashion_mnist:gan ...]

It reads this project's data/ and evalnets/ (what `dvc repro` made) and params.yaml. A trial is
`study:dataset:model`, the study's first trial of that row at seed 0 (the study's own budget and
nets). What it answers (issue 20): the judge's evaluations against the training they save, so a
cold run's wall time can be read against them; and what the evaluation after training saves by
reading the judge's validation numbers instead of scoring each snapshot a second time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipeline.data import places  # noqa: E402
from pipeline.evaluation import evalnet  # noqa: E402
from pipeline.evaluation.evaluate import Judge, assess  # noqa: E402
from pipeline.settings import config  # noqa: E402
from pipeline.settings.trials import expand  # noqa: E402
from pipeline.training.fit import fit  # noqa: E402
from pipeline.trial.train import stop_rule  # noqa: E402

DEFAULT = ("pm1992:pm92:pm", "factorial:digits:pm", "generation:digits:gan", "modes2d:ring8:gan", "parzen:fashion_mnist:gan")


class TimedJudge(Judge):
    """The pipeline's judge, with the seconds it spends."""

    def __init__(self, *args):
        super().__init__(*args)
        self.seconds, self.calls = 0.0, 0

    def __call__(self, step, model):
        start = time.perf_counter()
        try:
            return super().__call__(step, model)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def one(cfg: config.Config, spec: str) -> str:
    study, dataset, model = spec.split(":")
    trial = next(t for t in expand(cfg, study) if (t.dataset, t.model, t.seed) == (dataset, model, 0))
    ds = places.load(dataset)
    state = evalnet.load_state(dataset, places.evalnet_folder(dataset))
    classifier = evalnet.from_state(state, torch.device("cpu")) if state else None
    rule = stop_rule(trial)
    if rule is None:
        return f"{spec}: params.yaml `convergence.stop_training` is off; nothing to compare"
    judge = TimedJudge(ds, trial.train.eval_samples, trial.seed, classifier, rule)
    start = time.perf_counter()
    judged = fit(trial, ds, judge=judge)
    with_judge = time.perf_counter() - start
    # What the evaluation after training costs, reading the judge's numbers for the snapshots (as a
    # sweep does) against scoring every snapshot again (as it did before 0a47b0d).
    start = time.perf_counter()
    assess(judged, ds, trial.train.eval_samples, trial.seed, classifier, scored=judge.curves)
    reading = time.perf_counter() - start
    start = time.perf_counter()
    assess(judged, ds, trial.train.eval_samples, trial.seed, classifier)
    rescoring = time.perf_counter() - start
    plain = trial.model_copy(update={"train": trial.train.model_copy(update={"stop_patience": 0})})
    start = time.perf_counter()
    full = fit(plain, ds)
    without = time.perf_counter() - start
    return (f"{spec:28s} judged: {judged.steps:>6,} of {trial.train.steps:,} steps"
            f"{' (plateau)' if judged.plateaued else ''} in {with_judge:6.1f} s, of which the judge "
            f"{judge.seconds:5.1f} s in {judge.calls} calls ({judge.seconds / with_judge:.0%}) | "
            f"to the last step, no judge: {full.steps:,} steps in {without:6.1f} s | judged / plain {with_judge / without:.2f} | "
            f"assess after it: {reading:5.1f} s reading the judge's snapshot numbers, {rescoring:5.1f} s scoring "
            f"{len(judged.snapshots)} snapshots again")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial", nargs="+", default=list(DEFAULT), help="study:dataset:model (seed 0)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as a trial on one CPU (resources.cpus_per_trial)
    cfg = config.load(ROOT / "params.yaml")
    for spec in args.trial:
        print(one(cfg, spec), flush=True)


if __name__ == "__main__":
    main()
