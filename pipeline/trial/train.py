"""The one entry point: `train(cfg) -> result`, which is training (pipeline/training/fit.py) and then
evaluation of the trained model (pipeline/evaluation/evaluate.py), two steps that share nothing but the
saved weights: a trial reused from the store (`trained=`) skips the first.

The Ray Tune trainable, the CLI, the benchmarks and the tests all call this.
It knows nothing of Tune or MLflow: progress, checkpoints and the final
result leave through `Hooks`, which the sweep fills with Tune and MLflow.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import torch

from models import Family
from pipeline.data.datasets import Dataset, as_tensor
from pipeline.evaluation import evaluate as evaluation
from pipeline.evaluation.evalnet import from_state
from pipeline.evaluation.plateau import Rule, stop_step
from pipeline.settings.trials import TrialConfig
from pipeline.training.cost import flops_per_step
from pipeline.training.fit import (  # noqa: F401
    CHECKPOINT_FILE,
    Hooks,
    NoHooks,
    Trained,
    build,
    fit,
    load_trained,
    resolve_device,
    save_trained,
)
from pipeline.trial.results import TrialResult
from pipeline.trial.store import ASSESSMENT_FILE, training_config


def build_model(cfg: TrialConfig, ds: Dataset, device: torch.device) -> Family:
    return build(cfg, ds.shape, ds.bounded, device)


def load_checkpoint(path: Path, ds: Dataset | None = None, device: torch.device | str = "cpu") -> tuple[Family, dict]:
    """A model rebuilt from a checkpoint alone (its config and its data's shape are inside; `ds`
    for checkpoints written before the shape was), and the raw checkpoint."""
    ckpt = torch.load(path, map_location=device, weights_only=True)  # no pickled code from shared storage
    cfg = TrialConfig.from_dict(ckpt["config"])
    if ds is None and "data" not in ckpt:
        raise ValueError(f"{path}: a checkpoint without its data's shape: pass the dataset it was trained on")
    shape, bounded = (ds.shape, ds.bounded) if ds is not None else (ckpt["data"]["shape"], ckpt["data"]["bounded"])
    model = build(cfg, shape, bounded, torch.device(device))
    model.load_checkpoint_state(ckpt["state"])
    return model, ckpt


def load_from_mlflow(run_id: str, tracking_uri: str | None = None, device: str = "cpu") -> Family:
    """The trained model of a trial's MLflow run, in one call: `load_from_mlflow("<run id>")`.
    The run's `checkpoint/` artifact is downloaded (MLflow's own download) and rebuilt with
    weights only: a checkpoint is data, never code."""
    return trial_from_mlflow(run_id, tracking_uri, device)[0]


def trial_from_mlflow(run_id: str, tracking_uri: str | None = None, device: str = "cpu") -> tuple[Family, TrialConfig]:
    """The trained model of a trial's MLflow run and the trial's config (its dataset, seed, ...)."""
    import mlflow.artifacts

    folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoint",
                                                 tracking_uri=tracking_uri)  # None: MLFLOW_TRACKING_URI
    model, ckpt = load_checkpoint(Path(folder) / CHECKPOINT_FILE, device=device)
    return model, TrialConfig.from_dict(ckpt["config"])


def _log_points(hooks: Hooks, curves: dict[str, list[tuple[int, float]]]) -> None:
    """Curves drawn after the fact, logged step by step as if live: a reused trial's training
    curves, and the validation points evaluated on the snapshots (the final ones go with the
    final metrics)."""
    by_step: dict[int, dict[str, float]] = {}
    for key, points in curves.items():
        for step, value in points:
            by_step.setdefault(step, {})[key] = value
    for step, values in sorted(by_step.items()):
        hooks.log(step, values)


def stop_rule(cfg: TrialConfig) -> Rule | None:
    """The patience rule a trial's training stops by (params.yaml `convergence`), or None: it trains to
    its last step. Its grace period, a share of the budget, becomes the first step it may stop at."""
    if not cfg.train.stop_patience:
        return None
    return Rule(cfg.train.stop_patience, cfg.train.stop_min_change, math.ceil(cfg.train.stop_grace * cfg.train.steps))


def stopped_as_judged(done: Trained, assessed: evaluation.Assessment, rule: Rule | None) -> bool:
    """Whether the rule, read on the evaluation's validation curves, stops the trial where its
    training stopped: at its last step if it plateaued, at none of its evaluation points if it
    ran to its budget. The judge scored those very numbers during training, with the evaluation
    code of its day; a stored training whose stop today's code would move is not the trial
    today's code would train."""
    if rule is None or done.outcome != "completed":
        return True
    asked = [*done.snapshots, done.steps] if done.plateaued else list(done.snapshots)
    return stop_step(assessed.curves, rule, asked) == (done.steps if done.plateaued else None)


def train(cfg: TrialConfig, ds: Dataset, classifier_state: dict | None = None, hooks: Hooks | None = None,
          resume_from: Path | None = None, provenance: dict[str, Any] | None = None,
          trained: Path | None = None, assessed: evaluation.Assessment | None = None) -> TrialResult:
    """Train one trial (or take it trained from `trained`, a final checkpoint), evaluate it (or
    take its evaluation, `assessed`), return its result: the config, `outcome` ('completed' or
    'diverged'), the final `metrics` (None where a metric does not apply), `curves` (training's
    and validation's), `provenance` and the samples drawn. Training stops where its validation
    metrics plateau (`stop_rule`); a stored training the rule would now stop elsewhere (an edited
    metric) is trained again, and says so in `provenance['reused_training']`."""
    hooks = hooks or NoHooks()
    provenance = dict(provenance or {})
    device = resolve_device(cfg.device)
    classifier = from_state(classifier_state, device) if classifier_state else None
    rule = stop_rule(cfg)

    def judge():
        return evaluation.Judge(ds, cfg.train.eval_samples, cfg.seed, classifier, rule) if rule else None

    scored = None  # validation curves the judge scored in this process, with this code (below)
    if trained is not None:
        done = load_trained(trained, device)
        if training_config(TrialConfig.from_dict(done.config)) != training_config(cfg):  # the store's key prevents it
            raise ValueError(f"{trained}: trained for another config than trial {cfg.run_name}")
        if assessed is None:
            assessed = evaluation.assess(done, ds, cfg.train.eval_samples, cfg.seed, classifier)
            if not stopped_as_judged(done, assessed, rule):
                print(f"pm2gan: {cfg.run_name}: the stored training stopped at step {done.steps:,}, where today's "
                      "evaluation code would not stop it; training it again", flush=True)
                judged = judge()
                done, assessed, scored = fit(cfg, ds, hooks, None, judged), None, judged.curves
                provenance["reused_training"] = False
        if provenance.get("reused_training", True):
            _log_points(hooks, done.curves)
    else:
        judged = judge()
        done = fit(cfg, ds, hooks, resume_from, judged)
        # The judge scored every snapshot with this code, in this process: assess reads its numbers
        # (they are equal, tests/test_stopping.py). Not after a resume: the checkpoint's were scored earlier.
        scored = judged.curves if judged is not None and resume_from is None else None
    if assessed is None:
        assessed = evaluation.assess(done, ds, cfg.train.eval_samples, cfg.seed, classifier, scored)
    _log_points(hooks, {k: [p for p in points if p[0] < done.steps] for k, points in assessed.curves.items()})
    metrics = dict(assessed.metrics)
    metrics["perf/steps_per_s"] = done.steps_per_s
    metrics["model/parameters"] = float(done.model.parameter_count())
    metrics["train/plateaued"] = float(done.plateaued)  # stopped by the rule before its budget's last step
    if done.outcome == "completed":  # the work of one step, where a study compares costs (cost.py)
        batch = as_tensor(ds.x["train"][:cfg.train.batch_size], device)
        metrics["model/flops_per_step"] = flops_per_step(done.model, batch)
    result = TrialResult(trial=cfg, outcome=done.outcome, steps=done.steps, metrics=metrics,
                         curves={**done.curves, **assessed.curves}, improving=assessed.improving,
                         provenance=provenance, samples=assessed.samples)

    with tempfile.TemporaryDirectory() as folder:
        save_trained(Path(folder) / CHECKPOINT_FILE, done)
        (Path(folder) / ASSESSMENT_FILE).write_bytes(assessed.to_bytes())
        hooks.finish(result, Path(folder) / CHECKPOINT_FILE)
    return result
