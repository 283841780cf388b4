"""The Tune trainable: one trial on a Ray worker, recorded in its training's MLflow run.

A trial whose training the store holds is evaluated (or its stored evaluation replayed)
without training again; an interrupted trial goes on from the last checkpoint the driver found
for it (pipeline/orchestration/recovery.py: read as data, never through Tune's pickled state).
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import torch

from pipeline.evaluation.evaluate import Assessment, progress_curves
from pipeline.files import figures
from pipeline.orchestration.resources import take_trial_threads
from pipeline.settings.trials import TrialConfig
from pipeline.tracking import mlflow_api as tracking
from pipeline.tracking import trial_runs
from pipeline.training.fit import is_trained
from pipeline.trial.results import TrialResult
from pipeline.trial.train import CHECKPOINT_FILE, train


class TrackingHooks:
    """train.Hooks that record a trial in its MLflow run: every logged point, and at the end
    the final metrics, sample and curve figures, result.json, the evaluation's key and (with
    `log_checkpoint`) the checkpoint. Without a run (its training and evaluation are recorded
    already, pipeline/tracking/trial_runs.py) they record nothing."""

    def __init__(self, run: tracking.TrialRun | None, reference=None, log_checkpoint: bool = True):
        self.run = run
        self.reference = reference  # a toy's data points, an image dataset's test images (sample_grid)
        self.log_checkpoint = log_checkpoint

    def log(self, step, values):
        if self.run is not None:
            self.run.log(step, values)

    def checkpoint(self, step, checkpoint):
        pass  # intermediate checkpoints stay in Tune's storage; MLflow keeps the final one

    def finish(self, result: TrialResult, checkpoint: Path) -> None:
        if self.run is None:
            return
        files = {"result.json": result.model_dump_json(indent=1)}
        for sampler, drawn in result.samples.items():
            files[f"samples-{sampler}.png"] = sample_grid(result.run_name, sampler, drawn, self.reference)
        if result.curves:
            files["curves.png"] = figures.curves_figure(progress_curves(result.curves), result.run_name)
        evaluation_key = result.provenance.get("evaluation_key")
        self.run.finish(result.steps, result.outcome, result.metrics, files,
                        checkpoint if self.log_checkpoint else None,
                        {trial_runs.EVALUATION_TAG: evaluation_key} if evaluation_key else {})


def sample_grid(run_name: str, sampler: str, drawn, reference=None):
    """A trial's samples for its MLflow run: an image dataset's beside a panel of its real test
    images (`reference`, images), a toy's scattered over its data (`reference`, points)."""
    if drawn.ndim == 4 and reference is not None:
        return figures.comparison_figure([("data (test images)", reference), (f"samples ({sampler})", drawn)],
                                         run_name, per_row=2)
    return figures.samples_figure(drawn, f"{run_name} ({sampler})", reference=reference)


class _TuneHooks(TrackingHooks):
    """TrackingHooks that also report to Tune and hand it the checkpoints.

    Tune only needs a heartbeat for its status and scheduling, and each `tune.report`
    is a round trip to the trial's actor, so intermediate reports are throttled to one
    per REPORT_EVERY_S."""

    REPORT_EVERY_S = 10.0

    def __init__(self, run: tracking.TrialRun | None, reference=None, log_checkpoint: bool = True):
        super().__init__(run, reference, log_checkpoint)
        self._last_report = time.monotonic()

    def log(self, step, values):
        from ray import tune

        super().log(step, values)
        if time.monotonic() - self._last_report > self.REPORT_EVERY_S:
            tune.report({**values, "step": step})
            self._last_report = time.monotonic()

    def checkpoint(self, step, checkpoint):
        from ray import tune

        tune.report({"step": step}, checkpoint=tune.Checkpoint.from_directory(str(checkpoint.parent)))

    def finish(self, result, checkpoint):
        from ray import tune

        super().finish(result, checkpoint)
        result.save(checkpoint.parent)  # beside the final checkpoint: what the driver collects
        metrics = {"step": result.steps, "outcome": result.outcome,
                   **{k: v for k, v in result.metrics.items() if v is not None}}
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint.parent)))


def ray_node() -> str:
    """The Ray node this process runs on, as '<ip>/<first 8 hex digits of its id>': the address
    tells machines apart, the id nodes that share one (a restarted machine, this repo's tests)."""
    import ray

    return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:8]}"


def run_trial(config: dict, *, datasets: dict, classifiers: dict, tracking_info: dict, trainings: dict) -> None:
    """The Tune trainable: one trial, recorded in its training's MLflow run when it is the one to
    record there (`trainings[trial_id]['run']`, pipeline/tracking/trial_runs.py). A trial whose training
    the store holds (`trainings[trial_id]['stored']`, its final checkpoint in Ray's object store)
    is evaluated without training again; one with `trainings[trial_id]['resume']` goes on from
    that checkpoint."""
    import logging

    import ray

    # One line per checkpoint per trial drowns the progress lines; the paths are in MLflow.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)

    take_trial_threads()
    cfg = TrialConfig.from_dict(config["trial"])
    training = trainings[cfg.trial_id]
    stored, assessment, resume = (ray.get(training[k]) if training.get(k) is not None else None
                                  for k in ("stored", "assessment", "resume"))
    play(cfg, datasets[cfg.dataset], classifiers.get(cfg.dataset), tracking_info, training, ray_node(),
         stored, assessment, resume, _TuneHooks)


def replay(cfg: TrialConfig, ds, classifier_state: dict | None, tracking_info: dict, training: dict,
           where: str) -> TrialResult:
    """A trial the store holds trained and evaluated (`training`'s stored checkpoint and assessment,
    as bytes: sweep._trainings), replayed in this process (the sweep's driver):
    its result, as the trainable hands it to the driver, recorded in its MLflow run where that run
    needs it. What Tune would add is a worker's start and a round of its controller, for no
    training and no evaluation (pipeline/orchestration/sweep.py)."""
    result = play(cfg, ds, classifier_state, tracking_info, training, where, training["stored"],
                  training["assessment"], None, TrackingHooks)
    with tempfile.TemporaryDirectory() as folder:  # as the driver reads a Tune trial's (recovery.collect): the same to the byte
        result.save(Path(folder))
        return TrialResult.load(Path(folder))


def play(cfg: TrialConfig, ds, classifier_state: dict | None, tracking_info: dict, training: dict, node: str,
         stored: bytes | None, assessment: bytes | None, resume: bytes | None, hooks_class) -> TrialResult:
    """One trial on `node`: trained (or taken from `stored`, its final checkpoint), evaluated (or
    taken from `assessment`), recorded through `hooks_class(run, reference, log_checkpoint)`."""
    # what a trial's samples are drawn against: a toy's data points, an image dataset's test images
    reference = ds.x["train"][:2000] if ds.kind == "toy2d" else ds.x["test"][:36] if ds.kind == "image" else None
    reused, scored = stored is not None, assessment is not None
    planned = training["run"]
    # the nodes that train it, in order (a trial resumed elsewhere after its node was lost keeps the
    # first); a node that only evaluates a stored training is `evaluated_on`
    run = tracking.TrialRun(tracking_info["uri"], planned["run_id"], {"evaluated_on": node} if reused else None,
                            None if reused else {"ray_node": node}) if planned["record"] else None
    provenance = tracking_info["provenance"] | {"data_version": ds.meta.get("version"), "ray_node": node,
                                                "training_key": training["key"], "reused_training": reused,
                                                "evaluation_key": training["evaluation_key"], "reused_evaluation": scored,
                                                "mlflow_run": planned["run_id"]}
    assessed = Assessment.from_bytes(assessment) if scored else None
    hooks = hooks_class(run, reference, planned["log_checkpoint"])
    try:
        with contextlib.ExitStack() as stack:
            resume_from = trained = None
            if reused:
                trained = Path(stack.enter_context(tempfile.TemporaryDirectory())) / CHECKPOINT_FILE
                trained.write_bytes(stored)
            elif resume is not None:  # an interrupted or lost trial: go on from its last checkpoint
                resume_from = Path(stack.enter_context(tempfile.TemporaryDirectory())) / CHECKPOINT_FILE
                resume_from.write_bytes(resume)
                saved = torch.load(resume_from, map_location="cpu", weights_only=True)
                if is_trained(saved):
                    trained, resume_from = resume_from, None  # it had finished training: evaluate it
                else:  # said where the user looks (Ray forwards a worker's output to the driver)
                    print(f"pm2gan: {cfg.run_name} goes on from its checkpoint at step {saved['step']:,} on {node}",
                          flush=True)
            return train(cfg, ds, classifier_state, hooks, resume_from, provenance, trained, assessed)
    except Exception as err:  # record the failure where the user looks, then let Tune (or the driver) see it
        if run is not None:
            run.fail(err)
        raise
