"""Training stops by the patience rule (params.yaml `convergence`): on constructed curves, in a
real training whose judge leaves it otherwise untouched, across an interruption, and for a stored
training that today's evaluation code would stop elsewhere."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch

from pipeline.evaluation.evaluate import Judge, assess
from pipeline.evaluation.plateau import Rule, all_plateaued, stop_step
from pipeline.settings import config
from pipeline.trial.train import fit, load_trained, save_trained, stop_rule, stopped_as_judged, train
from tests.conftest import ROOT, trial

RULE = Rule(patience=2, min_change=0.05)


def steps(values, every=100):
    return [(every * (i + 1), v) for i, v in enumerate(values)]


def test_training_stops_where_every_judged_curve_has_plateaued():
    flat_early = steps([5, 2, 1, 1, 1, 1, 1, 1])  # last improvement at 300: plateaued from 500
    flat_later = steps([9, 6, 4, 3, 3, 3, 3, 3])  # last improvement at 400: from 600
    rising = steps([1, 2, 3, 4, 5, 6, 7, 8])
    asked = [s for s, _ in flat_early]
    assert stop_step({"val/recon_mse": flat_early}, RULE, asked) == 500
    assert stop_step({"val/recon_mse": flat_early, "val/total_correlation_knn": flat_later}, RULE, asked) == 600
    assert stop_step({"val/recon_mse": flat_early, "val/prior/high_quality": rising}, RULE, asked) is None
    # only validation curves with a direction count; a curve with no number is not judged
    assert all_plateaued({"val/recon_mse": flat_early, "loss/gen": rising, "val/dead_units_frac": rising,
                          "val/mig": steps([math.nan] * 8)}, RULE)
    assert not all_plateaued({"loss/recon": flat_early}, RULE)  # nothing to judge: never a plateau
    # the grace period: no stop at an evaluation before `earliest`, however flat the curves were there
    assert stop_step({"val/recon_mse": flat_early}, Rule(2, 0.05, earliest=650), asked) == 700
    assert stop_step({"val/recon_mse": flat_early}, Rule(2, 0.05, earliest=900), asked) is None


def judged_trial(ds, steps=4000, patience=2):
    cfg = trial("pm", ds, steps=steps, log_every=100, eval_every=100)
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"stop_patience": patience})})


def judge_for(cfg, ds):
    return Judge(ds, cfg.train.eval_samples, cfg.seed, None, stop_rule(cfg))


def same_numbers(a: dict, b: dict) -> bool:
    """Equal, NaN equal to NaN."""
    both = lambda x, y: x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))  # noqa: E731
    return a.keys() == b.keys() and all(both(a[k], b[k]) for k in a)


def test_a_trial_stops_at_its_plateau_and_the_judge_changes_nothing_else(datasets):
    ds = datasets["ica"]
    cfg = judged_trial(ds)
    judge = judge_for(cfg, ds)
    done = fit(cfg, ds, judge=judge)
    assert done.plateaued and done.outcome == "completed" and done.steps < cfg.train.steps
    assert max(done.snapshots) < done.steps  # the model at the stop is the final one, not a snapshot
    # the evaluation scores what the judge scored, so it finds the same stop
    assessed = assess(done, ds, cfg.train.eval_samples, cfg.seed)
    assert stopped_as_judged(done, assessed, Rule(2, 0.05))
    assert stop_step(assessed.curves, Rule(2, 0.05), [*done.snapshots, done.steps]) == done.steps
    # so the evaluation may read the judge's numbers instead of scoring each snapshot again: the same assessment
    read = assess(done, ds, cfg.train.eval_samples, cfg.seed, scored=judge.curves)
    assert read.curves == assessed.curves and same_numbers(read.metrics, assessed.metrics)
    assert {s for points in judge.curves.values() for s, _ in points} == {*done.snapshots, done.steps}
    # trained to that step without a judge: the very same weights (the judge drew from no stream training uses)
    plain = cfg.model_copy(update={"train": cfg.train.model_copy(update={"steps": done.steps, "stop_patience": 0})})
    alone = fit(plain, ds)
    assert not alone.plateaued
    for name, tensor in alone.model.state_dict().items():
        assert torch.equal(tensor, done.model.state_dict()[name]), name


def test_the_grace_period_keeps_a_trial_training_past_an_early_plateau(datasets):
    ds = datasets["ica"]
    cfg = judged_trial(ds)
    first_plateau = fit(cfg, ds, judge=judge_for(cfg, ds)).steps
    grace = (first_plateau + 300) / cfg.train.steps  # the first stop it may make is 3 evaluations later
    graced = cfg.model_copy(update={"train": cfg.train.model_copy(update={"stop_grace": grace})})
    assert stop_rule(graced).earliest == first_plateau + 300
    done = fit(graced, ds, judge=judge_for(graced, ds))
    assert done.steps >= first_plateau + 300 and max(done.snapshots) >= first_plateau
    # the evaluation, asked with the same rule, finds the same stop (a stored training keeps it)
    assessed = assess(done, ds, graced.train.eval_samples, graced.seed)
    assert stopped_as_judged(done, assessed, stop_rule(graced))
    assert not stopped_as_judged(done, assessed, stop_rule(cfg))  # without the grace it would have stopped earlier


class Checkpoints:
    def __init__(self, folder: Path):
        self.folder, self.saved = folder, []

    def log(self, step, values):
        pass

    def checkpoint(self, step, checkpoint):
        target = self.folder / f"{step}.pt"
        target.write_bytes(checkpoint.read_bytes())
        self.saved.append(target)

    def finish(self, result, checkpoint):
        pass


def test_an_interrupted_trial_stops_where_an_uninterrupted_one_does(datasets, tmp_path):
    ds = datasets["ica"]
    cfg = judged_trial(ds)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"checkpoint_every": 200})})
    hooks = Checkpoints(tmp_path)
    whole = fit(cfg, ds, hooks, judge=judge_for(cfg, ds))
    assert whole.plateaued and len(hooks.saved) >= 2
    resumed = fit(cfg, ds, resume_from=hooks.saved[len(hooks.saved) // 2], judge=judge_for(cfg, ds))
    assert resumed.plateaued and resumed.steps == whole.steps
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, whole.model.state_dict()[name]), name


def test_a_stored_training_is_trained_again_when_the_rule_would_now_stop_it_elsewhere(datasets):
    ds = datasets["ica"]
    cfg = judged_trial(ds)
    first = train(cfg, ds, provenance={"reused_training": False})
    assert first.metrics["train/plateaued"] == 1.0 and first.steps < cfg.train.steps
    with tempfile.TemporaryDirectory() as folder:
        stored = Path(folder) / "checkpoint.pt"
        done = fit(cfg, ds, judge=judge_for(cfg, ds))
        save_trained(stored, done)
        again = train(cfg, ds, provenance={"reused_training": True}, trained=stored)
        assert again.provenance["reused_training"] is True and again.steps == first.steps
        # As if stored by a judge whose numbers differed (an edited metric): it stopped at an
        # earlier evaluation, where today's rule does not stop it. Today's code trains it again, and says so.
        moved = load_trained(stored)
        early = sorted(moved.snapshots)[-3]
        moved.model.load_state_dict(moved.snapshots[early])
        moved.snapshots = {s: w for s, w in moved.snapshots.items() if s < early}
        moved.steps = early
        save_trained(stored, moved)
        retrained = train(cfg, ds, provenance={"reused_training": True}, trained=stored)
        assert retrained.provenance["reused_training"] is False and retrained.steps == first.steps
        timing = "perf/steps_per_s"  # the one number a rerun does not repeat
        assert {k: v for k, v in retrained.metrics.items() if k != timing} == {
            k: v for k, v in first.metrics.items() if k != timing}


def test_params_convergence_sets_every_trials_stopping_rule():
    raw = config.read_yaml(ROOT / "params.yaml")
    cfg = config.parse(raw, "params.yaml")
    budgets = [t.train for t in config.trial_settings(cfg, "generation")]
    assert cfg.convergence.stop_training
    assert {(b.stop_patience, b.stop_min_change, b.stop_grace) for b in budgets} == {
        (cfg.convergence.patience, cfg.convergence.min_change, cfg.convergence.stop_grace)}
    assert 0 < cfg.convergence.stop_grace < 1
    raw["convergence"]["stop_training"] = False
    off = config.parse(raw, "params.yaml")
    assert {(t.train.stop_patience, t.train.stop_grace) for t in config.trial_settings(off, "generation")} == {(0, 0.0)}
